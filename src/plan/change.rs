//! A change to a cluster, as data: what to create, grant, set or revoke, and which part of the
//! manifest it serves. Rendering to SQL lives in `plan::sql`, to tables and JSON in `report`.

use std::fmt;

use serde::Serialize;

use crate::catalog::model::{DefaultObjects, Grantee, Privileges, RoleAttributes};

/// The part of the manifest a change serves; plans are grouped by it for people.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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

/// Something a privilege is granted on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Object {
    Database(String),
    Schema(String),
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Database(name) => write!(f, "database {name}"),
            Object::Schema(name) => write!(f, "schema {name}"),
        }
    }
}

/// What to do with a role that already exists when asked to create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Existing {
    /// Bring its attributes to the desired ones (roles dbsplit owns).
    Alter,
    /// Leave it alone (observers, whose other attributes are managed elsewhere).
    Keep,
}

/// One change, in the vocabulary of PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Action {
    CreateRole {
        role: String,
        attributes: RoleAttributes,
        /// Where the password comes from; offline plans only name it.
        password_env: Option<String>,
        existing: Existing,
    },
    CreateSchema {
        schema: String,
        owner: String,
    },
    GrantRole {
        group: String,
        members: Vec<String>,
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
    Revoke {
        /// `None` means ALL.
        privileges: Option<Privileges>,
        on: Object,
        from: Vec<Grantee>,
    },
    DropSchema {
        schema: String,
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
            Action::CreateRole { .. } => Phase::Roles,
            Action::CreateSchema { .. } => Phase::Schemas,
            Action::GrantRole { .. } | Action::Grant { .. } => Phase::Grants,
            Action::DefaultPrivileges { .. } => Phase::DefaultPrivileges,
            Action::SetSearchPath { .. } => Phase::RoleSettings,
            Action::Revoke { .. } | Action::DropSchema { .. } => Phase::Revokes,
        }
    }

    /// Stable kebab-case name of the kind of change (the `kind` field of JSON plans).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateRole { .. } => "create-role",
            Action::CreateSchema { .. } => "create-schema",
            Action::GrantRole { .. } => "grant-role",
            Action::Grant { .. } => "grant",
            Action::DefaultPrivileges { .. } => "default-privileges",
            Action::SetSearchPath { .. } => "set-search-path",
            Action::Revoke { .. } => "revoke",
            Action::DropSchema { .. } => "drop-schema",
        }
    }

    pub fn marker(&self) -> Marker {
        match self {
            Action::CreateRole { .. }
            | Action::CreateSchema { .. }
            | Action::GrantRole { .. }
            | Action::Grant { .. } => Marker::Add,
            Action::DefaultPrivileges { grant: true, .. } => Marker::Add,
            Action::DefaultPrivileges { grant: false, .. } => Marker::Remove,
            Action::SetSearchPath { .. } => Marker::Change,
            Action::Revoke { .. } | Action::DropSchema { .. } => Marker::Remove,
        }
    }

    /// What the change touches, e.g. `role billing_rw` or `schema billing`.
    pub fn object(&self) -> String {
        match self {
            Action::CreateRole { role, .. } | Action::SetSearchPath { role, .. } => {
                format!("role {role}")
            }
            Action::CreateSchema { schema, .. } | Action::DropSchema { schema } => {
                format!("schema {schema}")
            }
            Action::GrantRole { group, .. } => format!("role {group}"),
            Action::Grant { on, .. } | Action::Revoke { on, .. } => on.to_string(),
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
            } => {
                let mut parts =
                    vec![if attributes.login { "LOGIN" } else { "NOLOGIN" }.to_string()];
                if attributes.connection_limit >= 0 {
                    parts.push(format!("connection limit {}", attributes.connection_limit));
                }
                if let Some(env) = password_env {
                    parts.push(format!("password from ${env}"));
                }
                if *existing == Existing::Keep {
                    parts.push("left as is when it exists".to_string());
                }
                format!("create {}", parts.join(", "))
            }
            Action::CreateSchema { owner, .. } => format!("create, owned by {owner}"),
            Action::GrantRole { members, .. } => format!("members: {}", members.join(", ")),
            Action::Grant { privileges, to, .. } => {
                format!("grant {} to {}", keywords(privileges), grantees(to))
            }
            Action::Revoke {
                privileges, from, ..
            } => {
                let what = privileges.as_ref().map_or("ALL".to_string(), keywords);
                format!("revoke {what} from {}", grantees(from))
            }
            Action::DefaultPrivileges {
                grant,
                privileges,
                grantees: to,
                ..
            } => {
                let what = privileges.as_ref().map_or("ALL".to_string(), keywords);
                if *grant {
                    format!("grant {what} to {}", grantees(to))
                } else {
                    format!("revoke {what} from {}", grantees(to))
                }
            }
            Action::SetSearchPath {
                database, schemas, ..
            } => format!("search_path = {} in {database}", schemas.join(", ")),
            Action::DropSchema { .. } => "drop, only if empty".to_string(),
        }
    }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub scope: Scope,
    pub action: Action,
}

/// An ordered list of changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The database the plan is for.
    pub database: String,
    pub changes: Vec<Change>,
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
