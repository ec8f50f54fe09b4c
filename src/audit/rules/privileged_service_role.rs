//! `privileged-service-role`: a service role that can step over any boundary privileges draw:
//! SUPERUSER, BYPASSRLS, CREATEROLE or CREATEDB, or membership (direct or through other roles,
//! inherited or not) in a predefined role that reaches every schema, or ADMIN OPTION on a
//! membership (it may hand the role, its owner role included, to any other role).

use crate::audit::{Audit, services};
use crate::finding::{Finding, Location, RuleId};

/// The predefined roles that reach every schema (DESIGN.md, "Who connects").
pub const REACH_EVERY_SCHEMA: [&str; 5] = [
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
];

pub fn check(audit: &mut Audit<'_>) {
    for (role, service) in &audit.services.role_service {
        let Some(member) = audit.state.roles.get(role) else {
            continue;
        };
        let attributes = &member.attributes;
        let mut held: Vec<String> = [
            (attributes.superuser, "SUPERUSER"),
            (attributes.bypassrls, "BYPASSRLS"),
            (attributes.createrole, "CREATEROLE"),
            (attributes.createdb, "CREATEDB"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name.to_string())
        .collect();
        let groups = services::member_of_all(audit.state, role);
        let direct: Vec<&str> = services::groups(member).collect();
        for predefined in REACH_EVERY_SCHEMA {
            if groups.contains(predefined) {
                let how = if direct.contains(&predefined) {
                    ""
                } else {
                    " (through other roles)"
                };
                held.push(format!("membership in `{predefined}`{how}"));
            }
        }
        let mut administered: Vec<&str> = member
            .memberships
            .iter()
            .filter(|m| m.admin)
            .map(|m| m.group.as_str())
            .collect();
        administered.dedup();
        for group in administered {
            held.push(format!("ADMIN OPTION on `{group}`"));
        }
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

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, lines};
    use crate::catalog::model::Membership;

    #[test]
    fn attributes_and_predefined_roles_reaching_every_schema_are_found() {
        let cluster = Cluster::new()
            .schema("billing", "billing_owner")
            .member("billing_rw", "billing_owner")
            .member("billing_ro", "billing_owner")
            .member("billing_job", "billing_owner")
            .member("billing_mon", "billing_owner")
            .member("billing_rw", "pg_write_all_data")
            .member("billing_ro", "readers")
            .member("readers", "pg_read_all_data")
            .role_with("billing_ro", |r| r.attributes.inherit = false)
            .member("billing_mon", "pg_signal_backend")
            .member("billing_mon", "pg_monitor")
            .role_with("billing_job", |r| r.attributes.createdb = true);
        let report = cluster.audit_inferred();
        assert_eq!(
            lines(&report, "privileged-service-role"),
            [
                "billing_job | billing -> - | billing_job",
                "billing_ro | billing -> - | billing_ro",
                "billing_rw | billing -> - | billing_rw",
            ],
            "pg_signal_backend and pg_monitor reach no schema"
        );
        let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
        assert!(
            messages.contains(
                &"service billing's role `billing_ro` has membership in `pg_read_all_data` (through other roles)"
            ),
            "{messages:#?}"
        );
        assert!(
            messages.contains(
                &"service billing's role `billing_rw` has membership in `pg_write_all_data`"
            ),
            "{messages:#?}"
        );
    }

    #[test]
    fn admin_option_on_a_membership_is_found() {
        let cluster = Cluster::new()
            .schema("billing", "billing_owner")
            .member("billing_migrator", "billing_owner")
            .member("billing_rw", "billing_owner")
            .role_with("billing_migrator", |r| {
                r.memberships.push(Membership {
                    admin: true,
                    ..Membership::wanted("billing_owner")
                })
            })
            .role_with("billing_rw", |r| {
                r.memberships.push(Membership::wanted("billing_owner"))
            });
        let report = cluster.audit_inferred();
        assert_eq!(
            lines(&report, "privileged-service-role"),
            ["billing_migrator | billing -> - | billing_migrator"],
            "a plain membership is no privilege"
        );
        assert_eq!(
            report.findings[0].message,
            "service billing's role `billing_migrator` has ADMIN OPTION on `billing_owner`"
        );
    }
}
