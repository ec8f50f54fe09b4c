//! Rendering of results for people and machines. Renderers write to any `io::Write`.

pub mod codeowners;
pub mod findings;
pub mod github;
pub mod markdown;
pub mod plan;
pub mod sarif;
pub mod status;

/// Sets each finding's owner (the manifest's `team` and `contact`): of the service whose schema
/// it is in, else of the service its role belongs to. Here rather than in `finding`, which the
/// manifest's validation uses.
pub fn assign_owners(
    findings: &mut [crate::finding::Finding],
    manifest: &crate::manifest::Manifest,
) {
    for finding in findings {
        let service = finding
            .schema
            .as_deref()
            .and_then(|schema| manifest.service_of_schema(schema))
            .or_else(|| {
                finding
                    .role
                    .as_deref()
                    .and_then(|role| manifest.service_of_role(role))
            });
        finding.owner = service
            .filter(|s| s.team.is_some() || s.contact.is_some())
            .map(|s| crate::finding::Owner {
                team: s.team.clone(),
                contact: s.contact.clone(),
            });
    }
}
