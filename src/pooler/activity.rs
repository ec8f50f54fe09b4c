//! What `audit` reads about connections besides the catalogs: the server's connection limits
//! and, in one query on `pg_stat_activity`, the client sessions per role and
//! `application_name`. The rules `connection-budget` and `shared-credentials` and the
//! per-service session counts are pure functions of it.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Serialize;

use super::budget::{Entry, ServerLimits};
use crate::catalog::model::ClusterState;
use crate::manifest::Manifest;

/// Client sessions of one role with one `application_name`, cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionCount {
    pub role: String,
    /// `None` where the reading role may not see it (another role's session, without
    /// `pg_read_all_stats`).
    pub application_name: Option<String>,
    pub sessions: i64,
}

/// The connections side of a cluster, as `audit` reads it, with what the manifest says about
/// pools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connections {
    pub server: ServerLimits,
    /// Sorted.
    pub sessions: Vec<SessionCount>,
    /// Whether every session's `application_name` was visible (superuser or
    /// `pg_read_all_stats`).
    pub all_visible: bool,
    /// From the manifest: each role's pool_size.
    pub pools: BTreeMap<String, u32>,
    /// From the manifest: PgBouncer instances (1 without a pooler).
    pub instances: u32,
    /// From the manifest: PgBouncer's auth_user, with auth_query.
    pub auth_user: Option<String>,
}

const SESSIONS: &str = "SELECT a.usename::text AS role, a.application_name, count(*) AS sessions, \
     pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE') AS all_visible \
     FROM pg_catalog.pg_stat_activity a \
     WHERE a.usename IS NOT NULL AND a.backend_type = 'client backend' \
     GROUP BY 1, 2";

impl Connections {
    /// Reads the server's limits and the sessions; no manifest yet.
    pub async fn read(client: &impl tokio_postgres::GenericClient) -> anyhow::Result<Connections> {
        let server = ServerLimits::read(client).await?;
        let rows = client
            .query(SESSIONS, &[])
            .await
            .context("cannot read pg_stat_activity")?;
        let mut all_visible = true;
        let mut sessions = Vec::new();
        for row in rows {
            all_visible &= row.try_get::<_, bool>("all_visible")?;
            sessions.push(SessionCount {
                role: row.try_get("role")?,
                application_name: row.try_get("application_name")?,
                sessions: row.try_get("sessions")?,
            });
        }
        sessions.sort();
        Ok(Connections {
            server,
            sessions,
            all_visible,
            pools: BTreeMap::new(),
            instances: 1,
            auth_user: None,
        })
    }

    /// Adds what `manifest` says about pools.
    pub fn with_manifest(mut self, manifest: &Manifest) -> Connections {
        self.pools = manifest
            .services
            .iter()
            .flat_map(|s| &s.roles)
            .filter_map(|r| Some((r.name.clone(), r.pool_size?)))
            .collect();
        self.instances = super::budget::instances(manifest);
        self.auth_user = super::auth_query::lookup_roles(manifest)
            .map(|_| super::auth_query::AUTH_USER.to_string());
        self
    }

    /// The sessions of `role`, over every application_name.
    pub fn sessions_of(&self, role: &str) -> i64 {
        self.sessions
            .iter()
            .filter(|s| s.role == role)
            .map(|s| s.sessions)
            .sum()
    }

    /// The budget entry of a live login role: its connection limit as the server has it, and
    /// its pool from the manifest. `None` for a role that does not exist or cannot log in.
    pub fn entry(&self, state: &ClusterState, role: &str) -> Option<Entry> {
        let attributes = &state.roles.get(role)?.attributes;
        attributes.login.then(|| Entry {
            role: role.to_string(),
            limit: (attributes.connection_limit >= 0).then_some(attributes.connection_limit),
            pool: self.pools.get(role).copied(),
        })
    }
}

/// One login role's sessions and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleSessions {
    pub role: String,
    pub sessions: i64,
    /// Its connection limit on the server, when it has one.
    pub connection_limit: Option<i32>,
    /// Server connections PgBouncer may open for it: pool_size × instances.
    pub pool: Option<i64>,
}

/// One service's sessions: what its login roles use, against their limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceSessions {
    pub service: String,
    pub sessions: i64,
    /// The sum of its roles' connection limits; `None` when one of them has none.
    pub limit: Option<i64>,
    pub roles: Vec<RoleSessions>,
}

/// Per service (`role_service` maps each role to its service), its login roles' sessions and
/// limits, services in name order.
pub fn per_service(
    connections: &Connections,
    state: &ClusterState,
    role_service: &BTreeMap<String, String>,
) -> Vec<ServiceSessions> {
    let mut services: BTreeMap<&str, ServiceSessions> = BTreeMap::new();
    for (role, service) in role_service {
        let Some(entry) = connections.entry(state, role) else {
            continue;
        };
        let pool = entry
            .pool
            .map(|p| i64::from(p) * i64::from(connections.instances));
        let line = RoleSessions {
            role: role.clone(),
            sessions: connections.sessions_of(role),
            connection_limit: entry.limit,
            pool,
        };
        let summary = services
            .entry(service.as_str())
            .or_insert_with(|| ServiceSessions {
                service: service.clone(),
                sessions: 0,
                limit: Some(0),
                roles: Vec::new(),
            });
        summary.sessions += line.sessions;
        summary.limit = match (summary.limit, line.connection_limit) {
            (Some(total), Some(limit)) => Some(total + i64::from(limit)),
            _ => None,
        };
        summary.roles.push(line);
    }
    services.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::{Role, RoleAttributes};

    fn connections(sessions: &[(&str, Option<&str>, i64)]) -> Connections {
        Connections {
            server: ServerLimits {
                max_connections: 100,
                superuser_reserved_connections: 3,
                reserved_connections: None,
            },
            sessions: sessions
                .iter()
                .map(|(role, name, n)| SessionCount {
                    role: role.to_string(),
                    application_name: name.map(str::to_string),
                    sessions: *n,
                })
                .collect(),
            all_visible: true,
            pools: BTreeMap::from([("billing_ro".to_string(), 4)]),
            instances: 2,
            auth_user: None,
        }
    }

    fn state(roles: &[(&str, bool, Option<i32>)]) -> ClusterState {
        let mut state = ClusterState::default();
        for (name, login, limit) in roles {
            let role = Role {
                attributes: RoleAttributes::unprivileged(*login, *limit),
                ..Role::default()
            };
            state.roles.insert(name.to_string(), role);
        }
        state
    }

    #[test]
    fn each_service_sums_its_login_roles_sessions_and_limits() {
        let connections = connections(&[
            ("billing_rw", Some("billing"), 3),
            ("billing_rw", Some("psql"), 1),
            ("billing_ro", None, 2),
            ("notify_rw", Some("notify"), 5),
        ]);
        let state = state(&[
            ("billing_rw", true, Some(10)),
            ("billing_ro", true, None),
            ("billing_owner", false, None),
            ("notify_rw", true, Some(5)),
        ]);
        let role_service = BTreeMap::from(
            [
                ("billing_rw", "billing"),
                ("billing_ro", "billing"),
                ("billing_owner", "billing"),
                ("notify_rw", "notify"),
            ]
            .map(|(r, s)| (r.to_string(), s.to_string())),
        );
        let services = per_service(&connections, &state, &role_service);
        let summary: Vec<(String, i64, Option<i64>)> = services
            .iter()
            .map(|s| (s.service.clone(), s.sessions, s.limit))
            .collect();
        assert_eq!(
            summary,
            [
                ("billing".to_string(), 6, None),
                ("notify".to_string(), 5, Some(5))
            ]
        );
        assert_eq!(services[0].roles[0].pool, Some(8));
        assert_eq!(services[0].roles.len(), 2, "the NOLOGIN owner is left out");
    }
}
