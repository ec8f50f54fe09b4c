//! `search-path-leak`: a service role whose search_path names another service's schema or
//! public.

use crate::audit::{Audit, Exception};
use crate::catalog::model::ALL_DATABASES;
use crate::desired::parse_search_path;
use crate::finding::{Finding, Location, RuleId};

/// A service role whose search_path (for this database or for all) names another service's
/// schema or public. A declared read on the path is an exception.
pub fn check(audit: &mut Audit<'_>) {
    for (role, service) in &audit.services.role_service {
        let Some(settings) = audit.state.roles.get(role).map(|r| &r.settings) else {
            continue;
        };
        for database in [audit.database, ALL_DATABASES] {
            let Some(path) = settings
                .get(database)
                .and_then(|s| s.get(crate::pg::SEARCH_PATH))
            else {
                continue;
            };
            for schema in parse_search_path(path) {
                let foreign = match audit.services.of_schema(&schema) {
                    Some(other) => other != service,
                    None => schema == crate::pg::PUBLIC_SCHEMA,
                };
                if !foreign {
                    continue;
                }
                if let Some(reason) = audit.services.may_read(service, &schema) {
                    audit.exceptions.push(Exception {
                        rule: RuleId::SearchPathLeak,
                        object: role.clone(),
                        role: Some(role.clone()),
                        reason,
                    });
                    continue;
                }
                let scope = if database == ALL_DATABASES {
                    "in every database".to_string()
                } else {
                    format!("in database {database}")
                };
                let mut finding = Finding::new(
                    RuleId::SearchPathLeak,
                    Location::Object {
                        object: role.clone(),
                    },
                    format!("search_path of `{role}` {scope} names `{schema}`: unqualified names resolve outside service {service}"),
                )
                .target_schema(&schema)
                .role(role);
                if let Some(own) = audit.services.schemas_of(service).first() {
                    finding = finding.schema(*own);
                }
                audit.findings.push(finding);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, DB, declared, lines};

    fn path(database: &str, value: &str) -> impl FnOnce(&mut crate::catalog::model::Role) {
        let (database, value) = (database.to_string(), value.to_string());
        move |r| {
            r.settings
                .entry(database)
                .or_default()
                .insert("search_path".into(), value);
        }
    }

    #[test]
    fn paths_naming_public_or_another_service_are_found_declared_reads_are_exceptions() {
        let cluster = Cluster::new()
            .schema("billing", "billing_owner")
            .schema("monolith", "monolith_owner")
            .schema("reference", "reference_owner")
            .role_with("billing_rw", path(DB, r#"billing, "reference""#))
            .role_with("billing_ro", path("", "billing, public"))
            .role_with("monolith_rw", path(DB, "monolith, billing"))
            .role_with("monolith_ro", path("other_db", "monolith, billing"));
        let mut services = declared(&[
            (
                "billing",
                "billing",
                "billing_owner",
                &["billing_rw", "billing_ro"],
            ),
            (
                "monolith",
                "monolith",
                "monolith_owner",
                &["monolith_rw", "monolith_ro"],
            ),
            ("reference", "reference", "reference_owner", &[]),
        ]);
        services
            .reads
            .insert(("billing".into(), "reference".into()), "codes".into());
        let report = cluster.audit(&services);
        assert_eq!(
            lines(&report, "search-path-leak"),
            [
                "billing_ro | billing -> public | billing_ro",
                "monolith_rw | monolith -> billing | monolith_rw",
            ],
            "another database's setting is not this one's"
        );
        assert_eq!(report.exceptions.len(), 1, "{:#?}", report.exceptions);
    }
}
