//! Rules on the service roles themselves: role-membership-leak, search-path-leak,
//! privileged-service-role.

use crate::audit::{Audit, Exception, services};
use crate::desired::parse_search_path;
use crate::finding::{Finding, Location, RuleId};

/// A service role that is a member of another service's role.
pub fn role_membership_leak(audit: &mut Audit<'_>) {
    for (role, service) in &audit.services.role_service {
        let Some(member) = audit.state.roles.get(role) else {
            continue;
        };
        for group in services::groups(member) {
            let Some(other) = audit.services.of_role(group) else {
                continue;
            };
            if other == service {
                continue;
            }
            let target = audit
                .services
                .schemas_of(other)
                .first()
                .map(|s| s.to_string());
            let mut finding = Finding::new(
                RuleId::RoleMembershipLeak,
                Location::Object {
                    object: role.clone(),
                },
                format!("service {service}'s role `{role}` is a member of service {other}'s role `{group}`"),
            )
            .role(role);
            if let Some(schema) = audit.services.schemas_of(service).first() {
                finding = finding.schema(*schema);
            }
            if let Some(target) = target {
                finding = finding.target_schema(target);
            }
            audit.findings.push(finding);
        }
    }
}

/// A service role whose search_path (for this database or for all) names another service's
/// schema or public. A declared read on the path is an exception.
pub fn search_path_leak(audit: &mut Audit<'_>) {
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

/// A service role with SUPERUSER, BYPASSRLS, CREATEROLE or CREATEDB: it can step over any
/// boundary privileges draw.
pub fn privileged_service_role(audit: &mut Audit<'_>) {
    for (role, service) in &audit.services.role_service {
        let Some(attributes) = audit.state.roles.get(role).map(|r| &r.attributes) else {
            continue;
        };
        let held: Vec<&str> = [
            (attributes.superuser, "SUPERUSER"),
            (attributes.bypassrls, "BYPASSRLS"),
            (attributes.createrole, "CREATEROLE"),
            (attributes.createdb, "CREATEDB"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name)
        .collect();
        if held.is_empty() {
            continue;
        }
        let mut finding = Finding::new(
            RuleId::PrivilegedServiceRole,
            Location::Object {
                object: role.clone(),
            },
            format!("service {service}'s role `{role}` has {}", held.join(", ")),
        )
        .role(role);
        if let Some(own) = audit.services.schemas_of(service).first() {
            finding = finding.schema(*own);
        }
        audit.findings.push(finding);
    }
}
