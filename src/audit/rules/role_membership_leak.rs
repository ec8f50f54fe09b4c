//! `role-membership-leak`: a service role that is a member of another service's role.

use crate::audit::{Audit, services};
use crate::finding::{Finding, Location, RuleId};

/// A service role that is a member of another service's role.
pub fn check(audit: &mut Audit<'_>) {
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
