//! `privileged-service-role`: a service role that can step over any boundary privileges draw.

use crate::audit::Audit;
use crate::finding::{Finding, Location, RuleId};

/// A service role with SUPERUSER, BYPASSRLS, CREATEROLE or CREATEDB: it can step over any
/// boundary privileges draw.
pub fn check(audit: &mut Audit<'_>) {
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
