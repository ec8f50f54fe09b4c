//! `connection-budget`: the login roles' connection limits (for a role without one, its
//! `pool_size × instances`), plus the slots the server reserves, exceed `max_connections`.
//! The arithmetic is `plan`'s (`pooler::budget::tally`), over the limits the live roles have.

use std::collections::BTreeSet;

use crate::audit::Audit;
use crate::finding::{Finding, Location, RuleId};
use crate::pooler::budget::tally;

/// One finding on the database when the budget cannot fit, with the numbers. Counted: the
/// services' login roles, login observers and, with auth_query, PgBouncer's auth_user.
pub fn check(audit: &mut Audit<'_>) {
    let Some(connections) = audit.connections else {
        return;
    };
    let roles: BTreeSet<&String> = audit
        .services
        .role_service
        .keys()
        .chain(audit.services.observers.keys())
        .chain(connections.auth_user.iter())
        .collect();
    let entries = roles
        .into_iter()
        .filter_map(|role| connections.entry(audit.state, role));
    let budget = tally(entries, connections.instances, connections.server);
    if budget.exceeded() {
        audit.findings.push(Finding::new(
            RuleId::ConnectionBudget,
            Location::Object {
                object: audit.database.to_string(),
            },
            budget.message(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::audit::testing::{Cluster, declared};
    use crate::audit::{Services, audit_with};
    use crate::pooler::activity::Connections;
    use crate::pooler::budget::ServerLimits;

    fn connections(max_connections: i64, reserved: Option<i64>) -> Connections {
        Connections {
            server: ServerLimits {
                max_connections,
                superuser_reserved_connections: 3,
                reserved_connections: reserved,
            },
            sessions: Vec::new(),
            all_visible: true,
            pools: BTreeMap::from([("billing_ro".to_string(), 10)]),
            instances: 3,
            auth_user: None,
        }
    }

    fn cluster() -> (Cluster, Services) {
        let cluster = Cluster::new()
            .schema("billing", "billing_owner")
            .role_with("billing_rw", |r| {
                r.attributes.login = true;
                r.attributes.connection_limit = 40;
            })
            .role_with("billing_ro", |r| r.attributes.login = true)
            .role_with("billing_migrator", |r| r.attributes.login = true)
            .role_with("billing_owner", |r| r.attributes.connection_limit = 500);
        let services = declared(&[(
            "billing",
            "billing",
            "billing_owner",
            &["billing_rw", "billing_ro", "billing_migrator"],
        )]);
        (cluster, services)
    }

    #[test]
    fn limits_and_pools_of_login_roles_that_cannot_fit_are_an_error_with_the_numbers() {
        let (cluster, services) = cluster();
        // 40 + 10 × 3 + 3 = 73: fits 73, not 72; the NOLOGIN owner's limit is not counted.
        let fits = audit_with(
            &cluster.state,
            "app",
            &services,
            None,
            Some(&connections(73, None)),
        );
        assert!(fits.findings.is_empty(), "{:?}", fits.findings);
        let over = audit_with(
            &cluster.state,
            "app",
            &services,
            None,
            Some(&connections(75, Some(5))),
        );
        let messages: Vec<(&str, &str)> = over
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [(
                "connection-budget",
                "the connection limits of 2 roles (70) + superuser_reserved_connections 3 + reserved_connections 5 = 78 exceed max_connections 75; not counted, without a connection_limit or pool_size: billing_migrator"
            )]
        );
        assert_eq!(over.findings[0].severity.as_str(), "error");
    }

    #[test]
    fn without_the_servers_limits_nothing_is_judged() {
        let (cluster, services) = cluster();
        assert!(cluster.audit(&services).findings.is_empty());
    }
}
