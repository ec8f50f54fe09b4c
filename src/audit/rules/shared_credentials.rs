//! `shared-credentials`: sessions of one service's role whose `application_name` names another
//! service. Each login role gets its own service's name as a default (`apply`), so such a
//! session set it itself: another service logs in with these credentials.

use crate::audit::Audit;
use crate::finding::{Finding, Location, RuleId};

/// One warning per role and foreign service name, with the number of sessions.
pub fn check(audit: &mut Audit<'_>) {
    let Some(connections) = audit.connections else {
        return;
    };
    let services = &audit.services;
    for count in &connections.sessions {
        let Some(own) = services.role_service.get(&count.role) else {
            continue;
        };
        let Some(name) = count.application_name.as_deref() else {
            continue;
        };
        let other = name != own && services.role_service.values().any(|s| s == name);
        if !other {
            continue;
        }
        let mut finding = Finding::new(
            RuleId::SharedCredentials,
            Location::Object {
                object: count.role.clone(),
            },
            format!(
                "{} session{} of `{}` (service {own}) set application_name `{name}`: service {name} logs in with {own}'s credentials",
                count.sessions,
                if count.sessions == 1 { "" } else { "s" },
                count.role,
            ),
        )
        .role(&count.role);
        if let Some(schema) = services.schemas_of(own).first() {
            finding = finding.schema(*schema);
        }
        if let Some(schema) = services.schemas_of(name).first() {
            finding = finding.target_schema(*schema);
        }
        audit.findings.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, declared, lines};
    use crate::audit::{Services, audit_with};
    use crate::pooler::activity::{Connections, SessionCount};
    use crate::pooler::budget::ServerLimits;

    fn sessions(list: &[(&str, Option<&str>, i64)]) -> Connections {
        Connections {
            server: ServerLimits {
                max_connections: 100,
                superuser_reserved_connections: 3,
                reserved_connections: None,
            },
            sessions: list
                .iter()
                .map(|(role, name, n)| SessionCount {
                    role: role.to_string(),
                    application_name: name.map(str::to_string),
                    sessions: *n,
                })
                .collect(),
            all_visible: true,
            pools: Default::default(),
            instances: 1,
            auth_user: None,
        }
    }

    fn services() -> (Cluster, Services) {
        let cluster = Cluster::new()
            .schema("billing", "billing_owner")
            .schema("notify", "notify_owner");
        let services = declared(&[
            ("billing", "billing", "billing_owner", &["billing_rw"]),
            ("notify", "notify", "notify_owner", &["notify_rw"]),
        ]);
        (cluster, services)
    }

    #[test]
    fn a_service_roles_sessions_naming_another_service_are_a_warning() {
        let (cluster, services) = services();
        let connections = sessions(&[
            ("billing_rw", Some("billing"), 4),
            ("billing_rw", Some("notify"), 2),
            ("billing_rw", Some("psql"), 1),
            ("billing_rw", None, 1),
            ("notify_rw", Some("notify"), 3),
            ("postgres", Some("billing"), 1),
        ]);
        let report = audit_with(&cluster.state, "app", &services, None, Some(&connections));
        assert_eq!(
            lines(&report, "shared-credentials"),
            ["billing_rw | billing -> notify | billing_rw"]
        );
        let finding = &report.findings[0];
        assert_eq!(finding.severity.as_str(), "warning");
        assert_eq!(
            finding.message,
            "2 sessions of `billing_rw` (service billing) set application_name `notify`: service notify logs in with billing's credentials"
        );
    }
}
