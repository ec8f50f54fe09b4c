//! What each key of services.toml means: its type, allowed values, default and description, for
//! the JSON Schema. Which keys exist is not decided here: the manifest reader's key lists
//! ([`crate::manifest::KEY_TABLES`]) are, and a test fails when a key there has no entry here
//! (or an entry here names no key there).

/// The type of a key's value.
#[derive(Debug, Clone, Copy)]
pub enum Type {
    /// Free text.
    Text {
        min: u32,
        max: Option<u32>,
    },
    /// A PostgreSQL name: not empty, at most 63 bytes.
    Name,
    /// An environment variable's name.
    EnvName,
    /// A whole number in a range.
    Integer {
        min: i64,
        max: i64,
    },
    /// Exactly this number.
    Const(i64),
    Boolean,
    /// An array of PostgreSQL names (or `"*"` where the description says so).
    Names,
    /// One of these strings, each with what it means.
    OneOf(&'static [(&'static str, &'static str)]),
    /// A table of this definition.
    Table(&'static str),
    /// A table of named tables of this definition (`[services.<name>]`).
    Named(&'static str),
    /// An array of inline tables of this definition.
    Tables(&'static str),
}

/// A default, as the validator fills it in.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    Text(&'static str),
    Integer(i64),
    Boolean(bool),
}

/// One key of one table.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The table, as named in [`crate::manifest::KEY_TABLES`].
    pub table: &'static str,
    pub key: &'static str,
    pub type_: Type,
    pub required: bool,
    pub default: Option<Default>,
    pub description: &'static str,
}

const fn key(
    table: &'static str,
    key: &'static str,
    type_: Type,
    description: &'static str,
) -> Key {
    Key {
        table,
        key,
        type_,
        required: false,
        default: None,
        description,
    }
}

impl Key {
    const fn required(mut self) -> Key {
        self.required = true;
        self
    }

    const fn default(mut self, default: Default) -> Key {
        self.default = Some(default);
        self
    }
}

/// What a table is, for its `description`.
pub const TABLE_DESCRIPTIONS: &[(&str, &str)] = &[
    (
        "manifest",
        "services.toml: which service owns which schema in a shared PostgreSQL database, and which roles each service logs in as (dbsplit).",
    ),
    ("database", "The database the services share."),
    (
        "service",
        "A service: its schema, the NOLOGIN role owning it, and the roles it logs in as.",
    ),
    (
        "role",
        "A login role of the service. Its name is the key: roles.billing_rw = { access = \"readwrite\" }.",
    ),
    (
        "read",
        "A declared read of another schema (a shared schema or another service's), with the reason it is allowed.",
    ),
    (
        "shared",
        "A schema any service may read (reference data); only its owner writes it.",
    ),
    (
        "observer",
        "A role outside every service, read-only where named (BI, CDC, backups). dbsplit creates it when missing and never changes its other attributes or memberships.",
    ),
    (
        "cluster",
        "A PostgreSQL server of the fleet: how to reach it, without a password (~/.pgpass or PGPASSWORD supply it).",
    ),
    (
        "fleet_database",
        "A database of the fleet: the cluster it lives on and its settings, as [database] has them.",
    ),
    (
        "pooler",
        "PgBouncer in front of the database: `dbsplit pooler --out DIR` writes its configuration.",
    ),
];

const ACCESS: &[(&str, &str)] = &[
    (
        "owner",
        "member of the service's owner role: DDL and migrations",
    ),
    (
        "readwrite",
        "USAGE on the schema; SELECT, INSERT, UPDATE, DELETE on tables; USAGE, SELECT on sequences; EXECUTE on functions",
    ),
    (
        "readonly",
        "USAGE on the schema; SELECT on tables and sequences",
    ),
];

const PUBLIC_SCHEMA: &[(&str, &str)] = &[
    (
        "lockdown",
        "revoke CREATE on schema public from PUBLIC and from every managed role",
    ),
    ("drop", "drop schema public, only if it is empty"),
    ("unmanaged", "leave schema public alone"),
];

const POOL_MODE: &[(&str, &str)] = &[
    (
        "session",
        "a server connection per client connection, for its whole session",
    ),
    (
        "transaction",
        "a server connection per transaction (session state does not survive a transaction)",
    ),
    (
        "statement",
        "a server connection per statement (no multi-statement transactions)",
    ),
];

const POOLER_AUTH: &[(&str, &str)] = &[
    (
        "userlist",
        "a userlist.txt of the server's own SCRAM verifiers (written by a superuser's `dbsplit pooler`)",
    ),
    (
        "auth_query",
        "an auth_query through a schema-qualified SECURITY DEFINER lookup function on the server",
    ),
];

const ROLE_NAME: Type = Type::Name;
const CONNECTION_LIMIT: Type = Type::Integer {
    min: -1,
    max: i32::MAX as i64,
};
const PASSWORD_VERSION: Type = Type::Integer {
    min: 1,
    max: u32::MAX as i64,
};

/// Every key of every table.
pub const KEYS: &[Key] = &[
    // The top level.
    key("manifest", "version", Type::Const(1), "The manifest format's version; this dbsplit reads 1.").required(),
    key("manifest", "database", Type::Table("database"), "The database the services share."),
    key("manifest", "services", Type::Named("service"), "The services, each under its name: [services.billing]. The name is the schema's and the owner role's default."),
    key("manifest", "shared", Type::Named("shared"), "Schemas any service may read and only their owner writes, each under its name: [shared.reference]."),
    key("manifest", "observers", Type::Named("observer"), "Roles outside every service that read where named, each under the role's name: [observers.warehouse_reader]."),
    key("manifest", "pooler", Type::Table("pooler"), "PgBouncer in front of the database (see `dbsplit pooler`)."),
    key("manifest", "clusters", Type::Named("cluster"), "The fleet's PostgreSQL servers, each under its name: [clusters.main]. Without it, one cluster from --database-url or the PG* variables."),
    key("manifest", "databases", Type::Named("fleet_database"), "The fleet's databases, each under its name: [databases.app]. Without it, the one [database]."),
    key("manifest", "migrations_dir", Type::Text { min: 1, max: None }, "The migrations folder of a fleet manifest, one folder per service below it; relative to the manifest's folder.").default(Default::Text("migrations")),
    // [clusters.<name>]
    key("cluster", "url", Type::Text { min: 1, max: None }, "A postgres:// URL or libpq key=value string without a password."),
    key("cluster", "url_env", Type::EnvName, "The environment variable holding the cluster's URL (instead of url)."),
    // [databases.<name>]
    key("fleet_database", "cluster", Type::Name, "The cluster the database lives on; default: the only cluster."),
    key("fleet_database", "name", ROLE_NAME, "The database's name on its cluster; default: the key."),
    key("fleet_database", "public_schema", Type::OneOf(PUBLIC_SCHEMA), "What dbsplit does with schema public there.").default(Default::Text("lockdown")),
    key("fleet_database", "revoke_public_connect", Type::Boolean, "REVOKE CONNECT and TEMPORARY on the database from PUBLIC, and grant CONNECT to the service roles.").default(Default::Boolean(true)),
    // [database]
    key("database", "name", ROLE_NAME, "The database the services share.").required(),
    key("database", "public_schema", Type::OneOf(PUBLIC_SCHEMA), "What dbsplit does with schema public.").default(Default::Text("lockdown")),
    key("database", "revoke_public_connect", Type::Boolean, "REVOKE CONNECT and TEMPORARY on the database from PUBLIC, and grant CONNECT to the service roles.").default(Default::Boolean(true)),
    key("database", "migrations_dir", Type::Text { min: 1, max: None }, "The migrations folder, one folder per service below it; relative to the manifest's folder.").default(Default::Text("migrations")),
    // [services.<name>]
    key("service", "schema", Type::Name, "The service's schema; default: the service's name. pg_*, information_schema and public are reserved."),
    key("service", "owner", ROLE_NAME, "The NOLOGIN role owning the schema and its objects; default: \"<service>_owner\"."),
    key("service", "roles", Type::Named("role"), "The roles the service logs in as, each under its name: roles.billing_rw = { access = \"readwrite\" }."),
    key("service", "search_path", Type::Names, "The login roles' search_path (ALTER ROLE ... IN DATABASE ... SET search_path); default: the service's schema alone (public is not in it). Only declared schemas."),
    key("service", "reads", Type::Tables("read"), "Other schemas the service reads, each with a reason: reads = [{ schema = \"reference\", reason = \"currency codes\" }]. Read-only, for its roles and its owner role."),
    key("service", "team", Type::Text { min: 1, max: None }, "Who answers for the service, as CODEOWNERS names owners: \"@org/team\", \"@user\" or an email address. Shown with its plan changes and findings; `dbsplit codeowners` gives it migrations/<service>/."),
    key("service", "contact", Type::Text { min: 1, max: Some(200) }, "How to reach the team (a channel, an email, a URL): one line, shown with its plan changes and findings."),
    key("service", "database", Type::Name, "The database the service is placed in (a key of [databases]); default: the only database. Another database than the one holding its schema is a pending `dbsplit move`."),
    // roles.<name>
    key("role", "access", Type::OneOf(ACCESS), "What the role may do in its service's schema (and nowhere else).").required(),
    key("role", "password_env", Type::EnvName, "The environment variable holding the role's password; dbsplit sends it as a SCRAM-SHA-256 verifier and never prints it. Without it the role's password is left alone."),
    key("role", "connection_limit", CONNECTION_LIMIT, "The role's CONNECTION LIMIT; -1 for none."),
    key("role", "password_version", PASSWORD_VERSION, "Raise it when the password changes: without access to pg_authid, a higher version than the one recorded in the role's comment re-sends the password. Needs password_env."),
    key("role", "member_of", Type::Names, "Roles outside the manifest this role is (and stays) a member of, e.g. [\"rds_iam\", \"pg_monitor\"]; its other memberships outside its service are revoked. Roles that reach every schema (pg_read_all_data, pg_write_all_data, ...) are refused."),
    key("role", "pool_size", Type::Integer { min: 1, max: 100_000 }, "Server connections PgBouncer keeps for this role, per pooler instance; times [pooler] instances it must fit connection_limit."),
    // reads = [{ ... }]
    key("read", "schema", Type::Name, "The schema read: a shared schema or another service's.").required(),
    key("read", "reason", Type::Text { min: 1, max: None }, "Why this read is allowed; audit reports it.").required(),
    // [shared.<name>]
    key("shared", "schema", Type::Name, "The shared schema; default: its name."),
    key("shared", "owner", ROLE_NAME, "The NOLOGIN role owning it, the only one writing it; default: \"<name>_owner\"."),
    key("shared", "database", Type::Name, "The database the shared schema lives in (a key of [databases]); default: the only database."),
    // [observers.<role>]
    key("observer", "reads", Type::Names, "The schemas it reads (USAGE, SELECT on tables and sequences), or [\"*\"] for every service and shared schema.").required(),
    key("observer", "reason", Type::Text { min: 1, max: None }, "Why it reads them; audit reports it.").required(),
    key("observer", "login", Type::Boolean, "Whether the role logs in (created LOGIN rather than NOLOGIN).").default(Default::Boolean(false)),
    key("observer", "password_env", Type::EnvName, "The environment variable holding its password (with login = true)."),
    key("observer", "connection_limit", CONNECTION_LIMIT, "Its CONNECTION LIMIT (with login = true); -1 for none."),
    key("observer", "password_version", PASSWORD_VERSION, "Raise it when the password changes (with login = true and password_env)."),
    // [pooler]
    key("pooler", "instances", Type::Integer { min: 1, max: 1000 }, "How many PgBouncer processes run this configuration; each opens its own pools.").default(Default::Integer(1)),
    key("pooler", "pool_mode", Type::OneOf(POOL_MODE), "PgBouncer's pool_mode.").default(Default::Text("transaction")),
    key("pooler", "listen_port", Type::Integer { min: 1, max: 65_535 }, "The port PgBouncer listens on.").default(Default::Integer(6432)),
    key("pooler", "auth", Type::OneOf(POOLER_AUTH), "How PgBouncer checks the passwords of the roles it lets in.").default(Default::Text("userlist")),
];
