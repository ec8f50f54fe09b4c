//! `search-path-leak`: a service role whose search_path names another service's schema or
//! public.

use crate::audit::{Audit, Exception};
use crate::desired::parse_search_path;
use crate::finding::{Finding, Location, RuleId};

/// A service role whose search_path (for this database or for all) names another service's
/// schema or public. A declared read on the path is an exception.
pub fn check(audit: &mut Audit<'_>) {
    for (role, service) in &audit.services.role_service {
        let Some(settings) = audit.state.roles.get(role).map(|r| &r.settings) else {
            continue;
        };
        for database in [audit.database, ""] {
            let Some(path) = settings.get(database).and_then(|s| s.get("search_path")) else {
                continue;
            };
            for schema in parse_search_path(path) {
                let foreign = match audit.services.of_schema(&schema) {
                    Some(other) => other != service,
                    None => schema == "public",
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
                let scope = if database.is_empty() {
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
