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

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, declared, lines};

    #[test]
    fn membership_in_another_services_role_is_found_in_ones_own_is_not() {
        let cluster = Cluster::new()
            .schema("billing", "billing_owner")
            .schema("monolith", "monolith_owner")
            .member("monolith_rw", "billing_ro")
            .member("monolith_rw", "monolith_owner")
            .member("billing_ro", "pg_monitor");
        let services = declared(&[
            ("billing", "billing", "billing_owner", &["billing_ro"]),
            ("monolith", "monolith", "monolith_owner", &["monolith_rw"]),
        ]);
        assert_eq!(
            lines(&cluster.audit(&services), "role-membership-leak"),
            ["monolith_rw | monolith -> billing | monolith_rw"]
        );
    }
}
