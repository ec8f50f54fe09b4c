//! The manifest, `services.toml`: which service owns which schema and which roles it logs in as.
//!
//! Loading is two steps: `raw` reads the TOML's shape (keys, types) with spans, `validate` checks
//! its meaning and fills in defaults. Both collect every problem of the file, so a user fixes them
//! all in one round. The result is a [`Manifest`] whose names are all checked identifiers.
//!
//! A manifest is always a fleet: `[clusters.*]` and `[databases.*]` name them, and a v1 manifest
//! (one `[database]`, the cluster from `--database-url` or the PG* variables) is a fleet of one
//! cluster, [`DEFAULT_CLUSTER`], holding one database. Every service and shared schema is placed
//! in one database ([`Manifest::placement`]).

mod diagnostic;
mod raw;
mod validate;

use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, ManifestErrors, line_column};
pub use raw::KEY_TABLES;

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read manifest {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(#[from] ManifestErrors),
}

/// A validated manifest with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The file it was read from; relative paths in it are relative to its folder.
    pub path: PathBuf,
    pub database: DatabaseSettings,
    /// Services, in the order of the file.
    pub services: Vec<Service>,
    /// Shared schemas (`[shared.*]`), in the order of the file.
    pub shared: Vec<SharedSchema>,
    /// Observer roles (`[observers.*]`), in the order of the file.
    pub observers: Vec<Observer>,
    /// `[pooler]`: PgBouncer in front of the database, when declared.
    pub pooler: Option<Pooler>,
    /// What is allowed but probably a mistake, as `file:line:column: warning: message`.
    pub warnings: Vec<String>,
    /// Whether the file declares `[clusters.*]` or `[databases.*]`; `false` for a v1 manifest,
    /// whose output keeps the v1 shape (no `cluster`/`database` per change).
    pub fleet: bool,
    /// The clusters, in the order of the file; a v1 manifest's one is [`DEFAULT_CLUSTER`].
    pub clusters: Vec<Cluster>,
    /// The databases, in the order of the file; a v1 manifest's one is its `[database]`, under
    /// its name as the key.
    pub databases: Vec<FleetDatabase>,
}

/// The name of the one cluster of a manifest without `[clusters.*]`: the server that
/// `--database-url` or the PG* variables name.
pub const DEFAULT_CLUSTER: &str = "default";

/// `[clusters.<name>]`: one PostgreSQL server (or primary) of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
    pub connection: ClusterConnection,
}

/// Where the connection settings of a cluster come from. None of them holds a password:
/// validation refuses a URL with one, and `~/.pgpass` or `PGPASSWORD` supply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterConnection {
    /// `--database-url` or the PG* variables, as psql would (the cluster of a v1 manifest, or
    /// of `[databases.*]` without `[clusters.*]`).
    Args,
    /// `url = "..."`: a URL or `key=value` string, without password.
    Url(String),
    /// `url_env = "VAR"`: a variable holding a URL or `key=value` string.
    UrlEnv(String),
}

/// `[databases.<key>]`: one database of the fleet, on one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetDatabase {
    /// The key services name in `database = "<key>"`.
    pub key: String,
    /// The name of its cluster.
    pub cluster: String,
    /// Its name on the cluster and what dbsplit does with it.
    pub settings: DatabaseSettings,
}

/// Where a service or shared schema lives: its cluster and database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement<'a> {
    pub cluster: &'a Cluster,
    pub database: &'a FleetDatabase,
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    pub name: String,
    pub public_schema: PublicSchema,
    pub revoke_public_connect: bool,
    /// As written; see [`Manifest::migrations_dir`] for the resolved path.
    pub migrations_dir: PathBuf,
}

/// What dbsplit does with schema `public`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicSchema {
    /// Revoke CREATE from PUBLIC and from every managed role.
    Lockdown,
    /// Drop it, only if it is empty.
    Drop,
    /// Leave it alone.
    Unmanaged,
}

/// One service: its schema, the NOLOGIN role owning it, and the roles it logs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub schema: String,
    pub owner: String,
    pub roles: Vec<ServiceRole>,
    pub search_path: Vec<String>,
    pub reads: Vec<Read>,
    /// Who answers for the service, as a CODEOWNERS owner: `@org/team`, `@user` or an email.
    pub team: Option<String>,
    /// How to reach them (a channel, an email, a URL): free text on one line.
    pub contact: Option<String>,
    /// The key of the database it is placed in ([`Manifest::placement`]).
    pub database: String,
}

/// A login role of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRole {
    pub name: String,
    pub access: Access,
    pub password_env: Option<String>,
    pub connection_limit: Option<i32>,
    /// `password_version = N`: without `pg_authid` access, a higher N than the one recorded
    /// in the role's comment re-sends the password.
    pub password_version: Option<u32>,
    /// Roles outside the manifest this role stays (or becomes) a member of (`rds_iam`,
    /// `pg_monitor`); every other membership outside its service is revoked.
    pub member_of: Vec<String>,
    /// Server connections PgBouncer keeps for this role, per pooler instance.
    pub pool_size: Option<u32>,
}

/// `[pooler]`: PgBouncer in front of the database (see `dbsplit pooler`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pooler {
    /// How many PgBouncer processes run with this configuration; each opens its own pools.
    pub instances: u32,
    pub pool_mode: PoolMode,
    pub listen_port: u16,
    pub auth: PoolerAuth,
}

/// PgBouncer's `pool_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    Session,
    Transaction,
    Statement,
}

impl PoolMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        }
    }
}

/// How PgBouncer checks the passwords of the roles it lets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolerAuth {
    /// A `userlist.txt` of the server's SCRAM verifiers.
    Userlist,
    /// An `auth_query` through a lookup function on the server.
    AuthQuery,
}

/// What a service role may do in its service's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Member of the owner role: DDL and migrations.
    Owner,
    /// Read and write data.
    ReadWrite,
    /// Read data.
    ReadOnly,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Owner => "owner",
            Access::ReadWrite => "readwrite",
            Access::ReadOnly => "readonly",
        }
    }
}

/// A declared read of another schema, with the reason it is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub schema: String,
    pub reason: String,
}

/// A schema every service may read and only its owner writes (`[shared.*]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSchema {
    pub name: String,
    pub schema: String,
    pub owner: String,
    /// The key of the database it is placed in.
    pub database: String,
}

/// A role outside every service with read access where named (`[observers.*]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observer {
    pub name: String,
    /// The schemas it reads; `"*"` in the file is expanded to every service and shared schema.
    pub reads: Vec<String>,
    pub reason: String,
    pub login: bool,
    pub password_env: Option<String>,
    pub connection_limit: Option<i32>,
    pub password_version: Option<u32>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Manifest::parse(path, &text)?)
    }

    /// Validates manifest text; `path` is used in messages and to resolve relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestErrors> {
        let mut diagnostics = Vec::new();
        let manifest = raw::parse(text, &mut diagnostics)
            .and_then(|raw| validate::validate(path, raw, text, &mut diagnostics));
        match manifest {
            Some(manifest) if diagnostics.is_empty() => Ok(manifest),
            _ => Err(ManifestErrors::new(path, text, diagnostics)),
        }
    }

    /// The migrations folder, relative to the manifest's folder unless absolute.
    pub fn migrations_dir(&self) -> PathBuf {
        let base = self.path.parent().unwrap_or(Path::new(""));
        base.join(&self.database.migrations_dir)
    }

    /// The database with this key.
    pub fn database_by_key(&self, key: &str) -> Option<&FleetDatabase> {
        self.databases.iter().find(|d| d.key == key)
    }

    /// The cluster with this name.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// Where the service `service` is placed: its cluster and database.
    pub fn placement(&self, service: &str) -> Option<Placement<'_>> {
        self.place(&self.service(service)?.database)
    }

    /// Where the shared schema with this key (`[shared.<key>]`) is placed.
    pub fn shared_placement(&self, shared: &str) -> Option<Placement<'_>> {
        self.place(&self.shared.iter().find(|s| s.name == shared)?.database)
    }

    /// The cluster and database of the database with this key.
    pub fn place(&self, database: &str) -> Option<Placement<'_>> {
        let database = self.database_by_key(database)?;
        Some(Placement {
            cluster: self.cluster(&database.cluster)?,
            database,
        })
    }

    /// The key of the database holding `schema` (a service's or a shared schema).
    pub fn database_of_schema(&self, schema: &str) -> Option<&str> {
        self.services
            .iter()
            .find(|s| s.schema == schema)
            .map(|s| s.database.as_str())
            .or_else(|| {
                self.shared
                    .iter()
                    .find(|s| s.schema == schema)
                    .map(|s| s.database.as_str())
            })
    }

    /// The service with this name.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The service a role belongs to: as its owner or as one of its roles.
    pub fn service_of_role(&self, role: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.owner == role || s.roles.iter().any(|r| r.name == role))
    }

    /// The service whose schema this is.
    pub fn service_of_schema(&self, schema: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.schema == schema)
    }

    /// Every service and shared schema.
    pub fn managed_schemas(&self) -> impl Iterator<Item = &str> {
        self.services
            .iter()
            .map(|s| s.schema.as_str())
            .chain(self.shared.iter().map(|s| s.schema.as_str()))
    }

    /// Every role the manifest declares: owners, service roles, shared owners, observers.
    pub fn managed_roles(&self) -> impl Iterator<Item = &str> {
        self.services
            .iter()
            .flat_map(|s| {
                std::iter::once(s.owner.as_str()).chain(s.roles.iter().map(|r| r.name.as_str()))
            })
            .chain(self.shared.iter().map(|s| s.owner.as_str()))
            .chain(self.observers.iter().map(|o| o.name.as_str()))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fleet_tests;
