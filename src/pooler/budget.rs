//! The connection budget (`connection-budget`): what the manifest's roles may open, plus the
//! connections the server keeps for superusers and `pg_use_reserved_connections`, must fit
//! `max_connections`. Pure but for [`ServerLimits::read`], which reads the server's settings.

use anyhow::Context;

use crate::manifest::Manifest;

/// The server settings the budget is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    pub max_connections: i64,
    pub superuser_reserved_connections: i64,
    /// `reserved_connections`, PostgreSQL 16 and later.
    pub reserved_connections: Option<i64>,
}

impl ServerLimits {
    /// The server's `max_connections` and reserved slots, read from `pg_settings`.
    pub async fn read(client: &impl tokio_postgres::GenericClient) -> anyhow::Result<ServerLimits> {
        let rows = client
            .query(
                "SELECT name, setting FROM pg_catalog.pg_settings WHERE name IN ('max_connections', 'superuser_reserved_connections', 'reserved_connections')",
                &[],
            )
            .await
            .context("cannot read max_connections")?;
        let setting = |name: &str| -> anyhow::Result<Option<i64>> {
            match rows.iter().find(|r| r.get::<_, &str>("name") == name) {
                Some(row) => {
                    let value: &str = row.get("setting");
                    Ok(Some(value.parse().with_context(|| {
                        format!("the server's {name} `{value}` is not a number")
                    })?))
                }
                None => Ok(None),
            }
        };
        Ok(ServerLimits {
            max_connections: setting("max_connections")?.unwrap_or(100),
            superuser_reserved_connections: setting("superuser_reserved_connections")?.unwrap_or(3),
            reserved_connections: setting("reserved_connections")?,
        })
    }
}

/// The budget's arithmetic, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The sum of the login roles' connection limits; a role without one counts its
    /// `pool_size × instances` when it has a pool.
    pub limits: i64,
    /// The roles counted.
    pub counted: usize,
    /// Login roles with neither a connection limit nor a pool: not counted.
    pub unlimited: Vec<String>,
    pub limits_of_server: ServerLimits,
}

impl Budget {
    /// What the roles and the reserved slots need together.
    pub fn needed(&self) -> i64 {
        self.limits
            + self.limits_of_server.superuser_reserved_connections
            + self.limits_of_server.reserved_connections.unwrap_or(0)
    }

    pub fn exceeded(&self) -> bool {
        self.needed() > self.limits_of_server.max_connections
    }

    /// `connection-budget: ...` with the numbers, lowercase like every finding.
    pub fn message(&self) -> String {
        let server = self.limits_of_server;
        let reserved = match server.reserved_connections {
            Some(reserved) => format!(
                " + superuser_reserved_connections {} + reserved_connections {reserved}",
                server.superuser_reserved_connections
            ),
            None => format!(
                " + superuser_reserved_connections {}",
                server.superuser_reserved_connections
            ),
        };
        let mut text = format!(
            "the connection limits of {} role{} ({}){reserved} = {} exceed max_connections {}",
            self.counted,
            crate::text::plural(self.counted),
            self.limits,
            self.needed(),
            server.max_connections
        );
        if !self.unlimited.is_empty() {
            text.push_str(&format!(
                "; not counted, without a connection_limit or pool_size: {}",
                self.unlimited.join(", ")
            ));
        }
        text
    }
}

/// One login role as the budget counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub role: String,
    /// Its connection limit; `None` (or negative) for none.
    pub limit: Option<i32>,
    /// Its `pool_size` per PgBouncer instance.
    pub pool: Option<u32>,
}

/// The budget's arithmetic, shared by `plan` (over the manifest) and `audit` (over the live
/// roles): each role counts its connection limit, or without one `pool × instances`; a role
/// with neither is listed as not counted.
pub fn tally(
    entries: impl IntoIterator<Item = Entry>,
    instances: u32,
    server: ServerLimits,
) -> Budget {
    let instances = i64::from(instances);
    let mut limits = 0;
    let mut counted = 0;
    let mut unlimited = Vec::new();
    for entry in entries {
        match (entry.limit.filter(|l| *l >= 0), entry.pool) {
            (Some(limit), _) => {
                limits += i64::from(limit);
                counted += 1;
            }
            (None, Some(pool)) => {
                limits += i64::from(pool) * instances;
                counted += 1;
            }
            (None, None) => unlimited.push(entry.role),
        }
    }
    Budget {
        limits,
        counted,
        unlimited,
        limits_of_server: server,
    }
}

/// The login roles of `manifest` as the budget counts them: service roles, login observers
/// and, with auth_query, PgBouncer's auth_user.
pub fn entries(manifest: &Manifest) -> Vec<Entry> {
    let services = manifest
        .services
        .iter()
        .flat_map(|s| &s.roles)
        .map(|r| Entry {
            role: r.name.clone(),
            limit: r.connection_limit,
            pool: r.pool_size,
        });
    let observers = manifest
        .observers
        .iter()
        .filter(|o| o.login)
        .map(|o| Entry {
            role: o.name.clone(),
            limit: o.connection_limit,
            pool: None,
        });
    let auth_user = super::auth_query::lookup_roles(manifest).map(|_| Entry {
        role: super::auth_query::AUTH_USER.to_string(),
        limit: Some(super::auth_query::auth_user_limit(manifest)),
        pool: None,
    });
    services.chain(observers).chain(auth_user).collect()
}

/// PgBouncer instances: each opens its own pools.
pub fn instances(manifest: &Manifest) -> u32 {
    manifest.pooler.as_ref().map_or(1, |p| p.instances)
}

/// The budget of `manifest` on a server with `server`'s settings.
pub fn budget(manifest: &Manifest, server: ServerLimits) -> Budget {
    tally(entries(manifest), instances(manifest), server)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest::parse(Path::new("services.toml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn limits_pools_and_reserved_slots_add_up() {
        let manifest = manifest(
            "version = 1\n[database]\nname = \"app\"\n[services.a]\n\
             roles.a_rw = { access = \"readwrite\", connection_limit = 40, pool_size = 10 }\n\
             roles.a_ro = { access = \"readonly\", pool_size = 15 }\n\
             roles.a_migrator = { access = \"owner\" }\n\
             [pooler]\ninstances = 2\n",
        );
        let on_15 = ServerLimits {
            max_connections: 100,
            superuser_reserved_connections: 3,
            reserved_connections: None,
        };
        let fits = budget(&manifest, on_15);
        assert_eq!((fits.limits, fits.needed()), (70, 73));
        assert!(!fits.exceeded());
        let on_16 = ServerLimits {
            max_connections: 75,
            superuser_reserved_connections: 3,
            reserved_connections: Some(5),
        };
        let over = budget(&manifest, on_16);
        assert!(over.exceeded());
        assert_eq!(
            over.message(),
            "the connection limits of 2 roles (70) + superuser_reserved_connections 3 + reserved_connections 5 = 78 exceed max_connections 75; not counted, without a connection_limit or pool_size: a_migrator"
        );
    }
}
