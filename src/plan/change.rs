//! A change to a cluster, as data: what to create, grant, set or revoke, and which part of the
//! manifest it serves. Rendering to SQL lives in `plan::sql`, to tables and JSON in `report`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::model::{
    DefaultObjects, Grantee, ObjectKind, Privileges, RoleAttributes, RoleMark,
};

/// The part of the manifest a change serves; plans are grouped by it for people.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    Service(String),
    Shared(String),
    Observer(String),
    /// The database as a whole: CONNECT from PUBLIC, schema public.
    Database(String),
}

impl Scope {
    /// The service name, when the change belongs to a service.
    pub fn service(&self) -> Option<&str> {
        match self {
            Scope::Service(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Service(name) => write!(f, "service {name}"),
            Scope::Shared(name) => write!(f, "shared schema {name}"),
            Scope::Observer(name) => write!(f, "observer {name}"),
            Scope::Database(name) => write!(f, "database {name}"),
        }
    }
}

/// Something a privilege is granted on, or whose owner changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Object {
    Database(String),
    Schema(String),
    /// A table, view, sequence, routine or type inside a schema.
    InSchema {
        kind: ObjectKind,
        schema: String,
        name: String,
        /// A routine's identity arguments as PostgreSQL prints them.
        args: Option<String>,
    },
    Column {
        schema: String,
        table: String,
        column: String,
    },
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Database(name) => write!(f, "database {name}"),
            Object::Schema(name) => write!(f, "schema {name}"),
            Object::InSchema {
                kind,
                schema,
                name,
                args,
            } => match args {
                Some(args) => write!(f, "{} {schema}.{name}({args})", kind.noun()),
                None => write!(f, "{} {schema}.{name}", kind.noun()),
            },
            Object::Column {
                schema,
                table,
                column,
            } => write!(f, "column {schema}.{table}.{column}"),
        }
    }
}

/// What to do with a role that already exists when asked to create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Existing {
    /// Bring its attributes to the desired ones (roles dbsplit owns).
    Alter,
    /// Leave it alone (observers, whose other attributes are managed elsewhere).
    Keep,
}

/// An option of a role membership grant (PostgreSQL 16 has all three; before 16, ADMIN only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RoleOption {
    Admin,
    Inherit,
    Set,
}

impl RoleOption {
    pub fn keyword(self) -> &'static str {
        match self {
            RoleOption::Admin => "ADMIN",
            RoleOption::Inherit => "INHERIT",
            RoleOption::Set => "SET",
        }
    }
}

/// One change, in the vocabulary of PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    CreateRole {
        role: String,
        attributes: RoleAttributes,
        /// Where the password comes from; offline plans only name it.
        password_env: Option<String>,
        existing: Existing,
    },
    /// Bring an existing role's attributes to `to`; only those that differ are named.
    AlterRole {
        role: String,
        from: RoleAttributes,
        to: RoleAttributes,
    },
    /// Rewrite dbsplit's mark in the role's comment (the databases it serves), keeping what
    /// the current mark records besides.
    MarkRole {
        role: String,
        mark: RoleMark,
    },
    /// Set the password from an environment variable; apply sends a SCRAM verifier.
    SetPassword {
        role: String,
        env: String,
    },
    CreateSchema {
        schema: String,
        owner: String,
    },
    AlterOwner {
        object: Object,
        owner: String,
    },
    GrantRole {
        group: String,
        members: Vec<String>,
    },
    /// `REVOKE group FROM members [GRANTED BY grantor]`: on 16 and later a grant made by
    /// another role is only revoked when its grantor is named.
    RevokeRole {
        group: String,
        members: Vec<String>,
        #[serde(default)]
        granted_by: Option<String>,
    },
    /// `GRANT group TO member WITH INHERIT TRUE, SET TRUE` (16+): turns on the options a
    /// membership lacks; `inherit`/`set` say which.
    GrantRoleOptions {
        group: String,
        member: String,
        inherit: bool,
        set: bool,
    },
    /// `REVOKE ADMIN|INHERIT|SET OPTION FOR group FROM member [GRANTED BY grantor]`.
    RevokeRoleOption {
        option: RoleOption,
        group: String,
        member: String,
        granted_by: Option<String>,
    },
    /// A non-superuser admin makes itself a member of an owner role it manages, so that it may
    /// create schemas owned by it and hand objects to it: `WITH INHERIT FALSE, SET TRUE` on 16
    /// and later (`set_option`), a plain grant before.
    SelfGrant {
        group: String,
        member: String,
        set_option: bool,
    },
    Grant {
        privileges: Privileges,
        on: Object,
        to: Vec<Grantee>,
    },
    DefaultPrivileges {
        owner: String,
        schema: Option<String>,
        objects: DefaultObjects,
        grant: bool,
        /// `None` means ALL.
        privileges: Option<Privileges>,
        grantees: Vec<Grantee>,
    },
    SetSearchPath {
        role: String,
        database: String,
        schemas: Vec<String>,
    },
    /// `ALTER ROLE ... [IN DATABASE ...] RESET search_path`.
    ResetSearchPath {
        role: String,
        database: Option<String>,
    },
    /// `ALTER ROLE ... IN DATABASE ... SET application_name = '<service>'`, or `RESET` when
    /// `name` is `None`.
    ApplicationName {
        role: String,
        database: String,
        name: Option<String>,
    },
    Revoke {
        /// `None` means ALL.
        privileges: Option<Privileges>,
        on: Object,
        from: Vec<Grantee>,
    },
    /// `REVOKE GRANT OPTION FOR ... CASCADE`: the grantee keeps the privileges but may no
    /// longer pass them on (grants it made with them go too).
    RevokeGrantOption {
        privileges: Privileges,
        on: Object,
        from: Vec<Grantee>,
    },
    DropSchema {
        schema: String,
    },
    /// `[pooler] auth = "auth_query"`: create or replace PgBouncer's lookup function
    /// (`pooler::auth_query`), owned by `owner`, which may read `pg_shadow`; executable by
    /// `auth_user`; returning the verifiers of `roles` only.
    AuthLookup {
        owner: String,
        auth_user: String,
        roles: Vec<String>,
    },
    /// `auth_query` left the manifest: drop the lookup function; `owner` no longer reads
    /// `pg_shadow`.
    DropAuthLookup {
        owner: String,
    },
    /// `--prune`: a role dbsplit created that the manifest no longer names, owning nothing.
    DropRole {
        role: String,
    },
}

/// The order changes are applied in: roles, schemas, grants, default privileges, role settings,
/// then revokes and the public lockdown (revokes last, so nothing is briefly unreachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Roles,
    Schemas,
    Grants,
    DefaultPrivileges,
    RoleSettings,
    Revokes,
}

/// How a change reads in a plan: `+` adds, `~` changes, `-` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Add,
    Change,
    Remove,
}

impl Marker {
    pub fn symbol(self) -> &'static str {
        match self {
            Marker::Add => "+",
            Marker::Change => "~",
            Marker::Remove => "-",
        }
    }
}

impl Action {
    pub fn phase(&self) -> Phase {
        match self {
            Action::CreateRole { .. }
            | Action::AlterRole { .. }
            | Action::MarkRole { .. }
            | Action::SetPassword { .. }
            | Action::SelfGrant { .. } => Phase::Roles,
            Action::CreateSchema { .. } | Action::AlterOwner { .. } => Phase::Schemas,
            Action::GrantRole { .. }
            | Action::GrantRoleOptions { .. }
            | Action::Grant { .. }
            | Action::AuthLookup { .. } => Phase::Grants,
            Action::DefaultPrivileges { .. } => Phase::DefaultPrivileges,
            Action::SetSearchPath { .. }
            | Action::ResetSearchPath { .. }
            | Action::ApplicationName { .. } => Phase::RoleSettings,
            Action::Revoke { .. }
            | Action::RevokeGrantOption { .. }
            | Action::RevokeRole { .. }
            | Action::RevokeRoleOption { .. }
            | Action::DropSchema { .. }
            | Action::DropAuthLookup { .. }
            | Action::DropRole { .. } => Phase::Revokes,
        }
    }

    /// Stable kebab-case name of the kind of change (the `kind` field of JSON plans).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateRole { .. } => "create-role",
            Action::AlterRole { .. } => "alter-role",
            Action::MarkRole { .. } => "mark-role",
            Action::SetPassword { .. } => "set-password",
            Action::CreateSchema { .. } => "create-schema",
            Action::AlterOwner { .. } => "alter-owner",
            Action::GrantRole { .. } => "grant-role",
            Action::RevokeRole { .. } => "revoke-role",
            Action::GrantRoleOptions { .. } => "grant-role-options",
            Action::RevokeRoleOption { .. } => "revoke-role-option",
            Action::SelfGrant { .. } => "self-grant",
            Action::ResetSearchPath { .. } => "reset-search-path",
            Action::DropRole { .. } => "drop-role",
            Action::Grant { .. } => "grant",
            Action::DefaultPrivileges { .. } => "default-privileges",
            Action::SetSearchPath { .. } => "set-search-path",
            Action::ApplicationName { name: Some(_), .. } => "set-application-name",
            Action::ApplicationName { name: None, .. } => "reset-application-name",
            Action::Revoke { .. } => "revoke",
            Action::RevokeGrantOption { .. } => "revoke-grant-option",
            Action::DropSchema { .. } => "drop-schema",
            Action::AuthLookup { .. } => "auth-lookup",
            Action::DropAuthLookup { .. } => "drop-auth-lookup",
        }
    }

    pub fn marker(&self) -> Marker {
        match self {
            Action::CreateRole { .. }
            | Action::CreateSchema { .. }
            | Action::GrantRole { .. }
            | Action::SelfGrant { .. }
            | Action::Grant { .. } => Marker::Add,
            Action::AuthLookup { .. } => Marker::Change,
            Action::DefaultPrivileges { grant: true, .. } => Marker::Add,
            Action::DefaultPrivileges { grant: false, .. } => Marker::Remove,
            Action::SetSearchPath { .. }
            | Action::ApplicationName { name: Some(_), .. }
            | Action::AlterRole { .. }
            | Action::MarkRole { .. }
            | Action::SetPassword { .. }
            | Action::GrantRoleOptions { .. }
            | Action::AlterOwner { .. } => Marker::Change,
            Action::Revoke { .. }
            | Action::RevokeGrantOption { .. }
            | Action::RevokeRole { .. }
            | Action::RevokeRoleOption { .. }
            | Action::ResetSearchPath { .. }
            | Action::ApplicationName { name: None, .. }
            | Action::DropSchema { .. }
            | Action::DropAuthLookup { .. }
            | Action::DropRole { .. } => Marker::Remove,
        }
    }

    /// What the change touches, e.g. `role billing_rw` or `schema billing`.
    pub fn object(&self) -> String {
        match self {
            Action::CreateRole { role, .. }
            | Action::AlterRole { role, .. }
            | Action::MarkRole { role, .. }
            | Action::SetPassword { role, .. }
            | Action::SetSearchPath { role, .. }
            | Action::ResetSearchPath { role, .. }
            | Action::ApplicationName { role, .. }
            | Action::DropRole { role } => format!("role {role}"),
            Action::AlterOwner { object, .. } => object.to_string(),
            Action::RevokeRole { group, .. }
            | Action::GrantRoleOptions { group, .. }
            | Action::RevokeRoleOption { group, .. }
            | Action::SelfGrant { group, .. } => format!("role {group}"),
            Action::CreateSchema { schema, .. } | Action::DropSchema { schema } => {
                format!("schema {schema}")
            }
            Action::GrantRole { group, .. } => format!("role {group}"),
            Action::AuthLookup { .. } | Action::DropAuthLookup { .. } => {
                use crate::pooler::auth_query::{ARGS, FUNCTION, SCHEMA};
                format!("function {SCHEMA}.{FUNCTION}({ARGS})")
            }
            Action::Grant { on, .. }
            | Action::Revoke { on, .. }
            | Action::RevokeGrantOption { on, .. } => on.to_string(),
            Action::DefaultPrivileges {
                owner,
                schema,
                objects,
                ..
            } => match schema {
                Some(schema) => format!(
                    "new {} of {owner} in schema {schema}",
                    objects.keyword().to_lowercase()
                ),
                None => format!("new {} of {owner}", objects.keyword().to_lowercase()),
            },
        }
    }

    /// One line for people: what the change does, without SQL syntax.
    pub fn describe(&self) -> String {
        match self {
            Action::CreateRole {
                attributes,
                password_env,
                existing,
                ..
            } => describe_create_role(attributes, password_env.as_deref(), *existing),
            Action::AlterRole { from, to, .. } => {
                format!(
                    "{} -> {}",
                    attribute_changes(from, to, false).join(" "),
                    attribute_changes(from, to, true).join(" ")
                )
            }
            Action::SetPassword { env, .. } => format!("password from ${env}"),
            Action::MarkRole { mark, .. } => describe_mark(mark),
            Action::CreateSchema { owner, .. } => format!("create, owned by {owner}"),
            Action::AlterOwner { owner, .. } => format!("owner -> {owner}"),
            Action::GrantRole { members, .. } => format!("members: {}", members.join(", ")),
            Action::RevokeRole {
                members,
                granted_by,
                ..
            } => {
                let members = members.join(", ");
                with_grantor(format!("remove members: {members}"), granted_by)
            }
            Action::GrantRoleOptions {
                member,
                inherit,
                set,
                ..
            } => {
                let on: Vec<&str> = [(*inherit, "INHERIT"), (*set, "SET")]
                    .into_iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, name)| name)
                    .collect();
                format!("member {member}: turn on {}", on.join(", "))
            }
            Action::RevokeRoleOption {
                option,
                member,
                granted_by,
                ..
            } => with_grantor(
                format!("member {member}: revoke {} OPTION", option.keyword()),
                granted_by,
            ),
            Action::SelfGrant {
                member, set_option, ..
            } => {
                if *set_option {
                    format!(
                        "member {member} (you), SET without INHERIT: to create and hand over objects"
                    )
                } else {
                    format!("member {member} (you): to create and hand over objects")
                }
            }
            Action::ResetSearchPath { database, .. } => match database {
                Some(database) => format!("reset search_path in {database}"),
                None => "reset search_path set for all databases".to_string(),
            },
            Action::DropRole { .. } => "drop: no longer in the manifest, owns nothing".to_string(),
            Action::Grant { privileges, to, .. } => {
                format!("grant {} to {}", keywords(privileges), grantees(to))
            }
            Action::Revoke {
                privileges, from, ..
            } => format!("revoke {} from {}", all_or(privileges), grantees(from)),
            Action::RevokeGrantOption {
                privileges, from, ..
            } => format!(
                "revoke the grant option for {} from {}",
                keywords(privileges),
                grantees(from)
            ),
            Action::DefaultPrivileges {
                grant,
                privileges,
                grantees: to,
                ..
            } if *grant => format!("grant {} to {}", all_or(privileges), grantees(to)),
            Action::DefaultPrivileges {
                privileges,
                grantees: to,
                ..
            } => format!("revoke {} from {}", all_or(privileges), grantees(to)),
            Action::SetSearchPath {
                database, schemas, ..
            } => format!("search_path = {} in {database}", schemas.join(", ")),
            Action::ApplicationName { database, name, .. } => match name {
                Some(name) => format!("application_name = {name} in {database}"),
                None => format!("reset application_name in {database}"),
            },
            Action::DropSchema { .. } => "drop, only if empty".to_string(),
            Action::AuthLookup {
                owner,
                auth_user,
                roles,
            } => describe_auth_lookup(owner, auth_user, roles),
            Action::DropAuthLookup { owner } => {
                format!("drop PgBouncer's auth_query function; {owner} no longer reads pg_shadow")
            }
        }
    }
}

/// [`Action::describe`] of a role to create: `create LOGIN, connection limit 5, ...`.
fn describe_create_role(
    attributes: &RoleAttributes,
    password_env: Option<&str>,
    existing: Existing,
) -> String {
    let mut parts = vec![if attributes.login { "LOGIN" } else { "NOLOGIN" }.to_string()];
    if attributes.connection_limit >= 0 {
        parts.push(format!("connection limit {}", attributes.connection_limit));
    }
    if let Some(env) = password_env {
        parts.push(format!("password from ${env}"));
    }
    if existing == Existing::Keep {
        parts.push("left as is when it exists".to_string());
    }
    format!("create {}", parts.join(", "))
}

/// [`Action::describe`] of a role's mark: what it records, or that it marks the role as ours.
fn describe_mark(mark: &RoleMark) -> String {
    let mut parts = Vec::new();
    if !mark.databases.is_empty() {
        let list: Vec<&str> = mark.databases.iter().map(String::as_str).collect();
        parts.push(format!("serves {}", list.join(", ")));
    }
    if let Some(version) = mark.password_version {
        parts.push(format!("password version {version}"));
    }
    if parts.is_empty() {
        "mark as dbsplit's".to_string()
    } else {
        format!("record: {}", parts.join("; "))
    }
}

/// [`Action::describe`] of PgBouncer's lookup function.
fn describe_auth_lookup(owner: &str, auth_user: &str, roles: &[String]) -> String {
    format!(
        "PgBouncer's auth_query: SECURITY DEFINER as {owner} (may read pg_shadow), executable by {auth_user}, returns the verifiers of {}",
        if roles.is_empty() {
            "no role".to_string()
        } else {
            roles.join(", ")
        }
    )
}

/// `line (granted by grantor)`, when the grant being revoked names its grantor.
fn with_grantor(line: String, granted_by: &Option<String>) -> String {
    match granted_by {
        Some(grantor) => format!("{line} (granted by {grantor})"),
        None => line,
    }
}

/// The privileges' keywords, or `ALL` when none are named.
fn all_or(privileges: &Option<Privileges>) -> String {
    privileges.as_ref().map_or("ALL".to_string(), keywords)
}

/// The attribute keywords that differ between `from` and `to`, as `from` has them
/// (`after = false`) or as `to` has them (`after = true`): `SUPERUSER`, `CONNECTION LIMIT 5`.
pub fn attribute_changes(from: &RoleAttributes, to: &RoleAttributes, after: bool) -> Vec<String> {
    let pick = |a: &RoleAttributes| -> Vec<(bool, &'static str)> {
        vec![
            (a.login, "LOGIN"),
            (a.superuser, "SUPERUSER"),
            (a.createdb, "CREATEDB"),
            (a.createrole, "CREATEROLE"),
            (a.inherit, "INHERIT"),
            (a.replication, "REPLICATION"),
            (a.bypassrls, "BYPASSRLS"),
        ]
    };
    let side = if after { to } else { from };
    let mut out: Vec<String> = pick(from)
        .into_iter()
        .zip(pick(to))
        .zip(pick(side))
        .filter(|((a, b), _)| a.0 != b.0)
        .map(|(_, (on, name))| {
            if on {
                name.to_string()
            } else {
                format!("NO{name}")
            }
        })
        .collect();
    if from.connection_limit != to.connection_limit {
        out.push(format!("CONNECTION LIMIT {}", side.connection_limit));
    }
    out
}

/// `SELECT, INSERT` for a privilege set.
pub fn keywords(privileges: &Privileges) -> String {
    privileges
        .iter()
        .map(|p| p.keyword())
        .collect::<Vec<_>>()
        .join(", ")
}

fn grantees(list: &[Grantee]) -> String {
    list.iter()
        .map(Grantee::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One change and the part of the manifest it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub scope: Scope,
    pub action: Action,
}

/// An ordered list of changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The database the plan is for.
    pub database: String,
    pub changes: Vec<Change>,
    /// What the plan leaves alone and why (unmanaged schemas, passwords it cannot compare).
    pub notes: Vec<String>,
}

impl Plan {
    /// Puts changes in apply order (by phase), keeping the order within a phase.
    pub fn sort(&mut self) {
        self.changes.sort_by_key(|c| c.action.phase());
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}
