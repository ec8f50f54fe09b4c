//! The in-memory model of a PostgreSQL cluster: roles, databases, schemas, objects and their
//! privileges.
//!
//! The manifest is turned into this model (the desired state, see `crate::desired`) and a live
//! cluster is read into the same model (introspection), so plan and audit compare like with like.
//! Everything is kept in ordered maps so that output built from it is deterministic. This module
//! holds data only; it never talks to a database.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// The key of [`Role::settings`] for the settings of every database (`ALTER ROLE ... SET`).
pub const ALL_DATABASES: &str = "";

/// Who a privilege is granted to: a role, or PUBLIC (every role).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grantee {
    /// The pseudo-role PUBLIC: every role, present and future.
    Public,
    /// A named role.
    Role(String),
}

impl Grantee {
    /// The role name, or `None` for PUBLIC.
    pub fn role(&self) -> Option<&str> {
        match self {
            Grantee::Public => None,
            Grantee::Role(name) => Some(name),
        }
    }
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grantee::Public => f.write_str("PUBLIC"),
            Grantee::Role(name) => f.write_str(name),
        }
    }
}

/// A privilege as PostgreSQL's `aclitem` knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    Truncate,
    References,
    Trigger,
    Create,
    Connect,
    Temporary,
    Execute,
    Usage,
    Set,
    AlterSystem,
    Maintain,
}

impl Privilege {
    /// Every privilege, in `aclitem` order.
    pub const ALL: [Privilege; 15] = [
        Privilege::Select,
        Privilege::Insert,
        Privilege::Update,
        Privilege::Delete,
        Privilege::Truncate,
        Privilege::References,
        Privilege::Trigger,
        Privilege::Create,
        Privilege::Connect,
        Privilege::Temporary,
        Privilege::Execute,
        Privilege::Usage,
        Privilege::Set,
        Privilege::AlterSystem,
        Privilege::Maintain,
    ];

    /// The SQL keyword(s), as written in GRANT and REVOKE.
    pub fn keyword(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::Truncate => "TRUNCATE",
            Privilege::References => "REFERENCES",
            Privilege::Trigger => "TRIGGER",
            Privilege::Create => "CREATE",
            Privilege::Connect => "CONNECT",
            Privilege::Temporary => "TEMPORARY",
            Privilege::Execute => "EXECUTE",
            Privilege::Usage => "USAGE",
            Privilege::Set => "SET",
            Privilege::AlterSystem => "ALTER SYSTEM",
            Privilege::Maintain => "MAINTAIN",
        }
    }

    /// The letter `aclitem` uses for this privilege (see `aclitemout` in PostgreSQL's acl.c).
    pub fn acl_char(self) -> char {
        match self {
            Privilege::Select => 'r',
            Privilege::Insert => 'a',
            Privilege::Update => 'w',
            Privilege::Delete => 'd',
            Privilege::Truncate => 'D',
            Privilege::References => 'x',
            Privilege::Trigger => 't',
            Privilege::Create => 'C',
            Privilege::Connect => 'c',
            Privilege::Temporary => 'T',
            Privilege::Execute => 'X',
            Privilege::Usage => 'U',
            Privilege::Set => 's',
            Privilege::AlterSystem => 'A',
            Privilege::Maintain => 'm',
        }
    }

    /// The privilege an `aclitem` letter stands for.
    pub fn from_acl_char(c: char) -> Option<Privilege> {
        Privilege::ALL.into_iter().find(|p| p.acl_char() == c)
    }
}

/// A set of privileges, rendered as a comma-separated keyword list.
pub type Privileges = BTreeSet<Privilege>;

/// The privileges each grantee holds on one object (grantors are not tracked).
///
/// In a desired state, an entry with an empty set means "this grantee must hold nothing here".
pub type Acl = BTreeMap<Grantee, Privileges>;

/// The attributes of a role, as in `pg_roles`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAttributes {
    pub login: bool,
    pub superuser: bool,
    pub createdb: bool,
    pub createrole: bool,
    pub inherit: bool,
    pub replication: bool,
    pub bypassrls: bool,
    /// -1 means no limit.
    pub connection_limit: i32,
}

impl RoleAttributes {
    /// What a service role must look like: no privilege beyond what grants give it.
    pub fn unprivileged(login: bool, connection_limit: Option<i32>) -> Self {
        RoleAttributes {
            login,
            superuser: false,
            createdb: false,
            createrole: false,
            inherit: true,
            replication: false,
            bypassrls: false,
            connection_limit: connection_limit.unwrap_or(-1),
        }
    }
}

/// One grant of membership in a role: a row of `pg_auth_members`, with PostgreSQL 16's options.
///
/// On 16 and later a member can hold several grants of the same role, one per grantor, each
/// with its own options; what the member may do is their union. Before 16 there is one grant
/// per member and role: `inherit` is the member's `rolinherit` and `set` is always true.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Membership {
    /// The role granted.
    pub group: String,
    /// Who granted it; `None` when the grantor no longer exists (before 16).
    pub grantor: Option<String>,
    /// WITH ADMIN OPTION: the member may grant the role to others.
    pub admin: bool,
    /// The member uses the role's privileges without SET ROLE.
    pub inherit: bool,
    /// The member may SET ROLE to the role (and create objects owned by it).
    pub set: bool,
}

impl Membership {
    /// A membership the manifest gives: INHERIT and SET (what a plain GRANT gives a member
    /// with INHERIT), no ADMIN OPTION, any grantor.
    pub fn wanted(group: &str) -> Membership {
        Membership {
            group: group.to_string(),
            grantor: None,
            admin: false,
            inherit: true,
            set: true,
        }
    }
}

/// A role of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub attributes: RoleAttributes,
    /// Roles this role is a member of.
    pub member_of: BTreeSet<String>,
    /// Each grant behind `member_of`, sorted. In a desired state: the wanted grants, grantor
    /// `None` (any grantor will do).
    #[serde(default)]
    pub memberships: Vec<Membership>,
    /// Per-database settings (`ALTER ROLE ... IN DATABASE ... SET`): database -> name -> value.
    /// The key [`ALL_DATABASES`] holds the settings for all databases (`ALTER ROLE ... SET`).
    pub settings: BTreeMap<String, BTreeMap<String, String>>,
    /// `COMMENT ON ROLE`; dbsplit marks the roles it creates with [`MANAGED_COMMENT`].
    pub comment: Option<String>,
    /// What `DROP ROLE` would trip over, from `pg_shdepend`: read for the roles dbsplit
    /// created (those with a [`RoleMark`]), the only ones `--prune` drops; empty for others.
    #[serde(default)]
    pub dependents: Vec<RoleDependent>,
    /// The stored password verifier, when the session may read `pg_authid`. Never serialized.
    #[serde(skip)]
    pub password: Option<String>,
}

/// Something that depends on a role, from `pg_shdepend`: `DROP ROLE` fails while it exists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoleDependent {
    /// The database the object is in; for a privilege on a database, that database. `None`
    /// for other cluster-wide objects (tablespaces, parameters).
    pub database: Option<String>,
    /// `pg_shdepend.deptype`: `o` owner, `a` privilege, `i` initial privilege of an extension,
    /// `r` policy.
    pub kind: String,
    /// The catalog of the object (`pg_class`, `pg_namespace`, `pg_default_acl`, `pg_database`).
    pub catalog: String,
    /// The object's type and qualified name (`pg_identify_object`): `table public.t`, or
    /// `table public.t and 49 more` when the role holds more of the same kind in that schema,
    /// `2 objects of pg_class` in another database; `None` for one object of another database.
    pub object: Option<String>,
    /// The schema the object is in (in the current database only).
    pub schema: Option<String>,
}

impl RoleDependent {
    /// `owner of table public.leftover in database app`, `privileges on an object in
    /// database other`.
    pub fn describe(&self) -> String {
        let what = match self.kind.as_str() {
            "o" => "owner of",
            "a" => "privileges on",
            "i" => "initial privileges on",
            "r" => "target of",
            _ => "depended on by",
        };
        let object = self
            .object
            .clone()
            .unwrap_or_else(|| format!("an object of {}", self.catalog));
        match &self.database {
            Some(database) if self.catalog != "pg_database" => {
                format!("{what} {object} in database {database}")
            }
            _ => format!("{what} {object}"),
        }
    }
}

/// The start of the comment dbsplit puts on the roles it creates, so `--prune` knows which it
/// may drop. What follows it is a [`RoleMark`] as JSON.
pub const MANAGED_COMMENT: &str = "managed by dbsplit";

/// What dbsplit records in the comment of a role it created: `managed by dbsplit` followed by
/// this struct as JSON (`managed by dbsplit {"databases":["app"],"password_version":2}`).
///
/// The comment is the only place such facts can live without a table of our own: roles are
/// cluster-wide and a managed-cloud admin cannot read `pg_authid`. A bare `managed by dbsplit`
/// (written by earlier versions) parses as an empty mark.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleMark {
    /// The databases whose manifest created or serves the role; `--prune` only drops a role
    /// from these.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub databases: BTreeSet<String>,
    /// The `password_version` whose verifier was last sent (see DESIGN.md, "Who connects").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_version: Option<u32>,
}

impl RoleMark {
    /// The mark in a role comment, or `None` when dbsplit did not create the role. An
    /// unreadable JSON tail counts as an empty mark: the role is still dbsplit's.
    pub fn parse(comment: Option<&str>) -> Option<RoleMark> {
        let rest = comment?.strip_prefix(MANAGED_COMMENT)?;
        let rest = rest.trim();
        if rest.is_empty() {
            return Some(RoleMark::default());
        }
        Some(serde_json::from_str(rest).unwrap_or_default())
    }

    /// The comment to put on the role.
    pub fn render(&self) -> String {
        if *self == RoleMark::default() {
            return MANAGED_COMMENT.to_string();
        }
        let json = serde_json::to_string(self).expect("a RoleMark always serializes");
        format!("{MANAGED_COMMENT} {json}")
    }
}

impl Role {
    /// dbsplit's mark on this role, when dbsplit created it.
    pub fn mark(&self) -> Option<RoleMark> {
        RoleMark::parse(self.comment.as_deref())
    }
}

/// The kinds of object a schema holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    Table,
    PartitionedTable,
    View,
    MaterializedView,
    ForeignTable,
    Sequence,
    Function,
    Procedure,
    Aggregate,
    Type,
    Domain,
}

impl ObjectKind {
    /// The keyword in `ALTER <keyword> ... OWNER TO`.
    pub fn alter_keyword(self) -> &'static str {
        match self {
            ObjectKind::Table | ObjectKind::PartitionedTable => "TABLE",
            ObjectKind::View => "VIEW",
            ObjectKind::MaterializedView => "MATERIALIZED VIEW",
            ObjectKind::ForeignTable => "FOREIGN TABLE",
            ObjectKind::Sequence => "SEQUENCE",
            ObjectKind::Function => "FUNCTION",
            ObjectKind::Procedure => "PROCEDURE",
            ObjectKind::Aggregate => "AGGREGATE",
            ObjectKind::Type => "TYPE",
            ObjectKind::Domain => "DOMAIN",
        }
    }

    /// The keyword in `GRANT ... ON <keyword>`: tables, views and foreign tables are all TABLE.
    pub fn grant_keyword(self) -> &'static str {
        match self {
            ObjectKind::Table
            | ObjectKind::PartitionedTable
            | ObjectKind::View
            | ObjectKind::MaterializedView
            | ObjectKind::ForeignTable => "TABLE",
            ObjectKind::Sequence => "SEQUENCE",
            ObjectKind::Function | ObjectKind::Aggregate => "FUNCTION",
            ObjectKind::Procedure => "PROCEDURE",
            ObjectKind::Type => "TYPE",
            ObjectKind::Domain => "DOMAIN",
        }
    }

    /// The default privileges that apply to objects of this kind.
    pub fn default_objects(self) -> DefaultObjects {
        match self {
            ObjectKind::Sequence => DefaultObjects::Sequences,
            ObjectKind::Function | ObjectKind::Procedure | ObjectKind::Aggregate => {
                DefaultObjects::Functions
            }
            ObjectKind::Type | ObjectKind::Domain => DefaultObjects::Types,
            _ => DefaultObjects::Tables,
        }
    }

    /// Lowercase words for messages: `table`, `materialized view`.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::PartitionedTable => "partitioned table",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::ForeignTable => "foreign table",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Function => "function",
            ObjectKind::Procedure => "procedure",
            ObjectKind::Aggregate => "aggregate",
            ObjectKind::Type => "type",
            ObjectKind::Domain => "domain",
        }
    }
}

/// An object inside a schema: its owner and its ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaObject {
    pub kind: ObjectKind,
    /// The bare name.
    pub name: String,
    /// The identity arguments of a routine (`integer, text`), `None` for other objects.
    pub args: Option<String>,
    pub owner: String,
    pub acl: Acl,
    /// The privileges of `acl` held WITH GRANT OPTION, per grantee.
    #[serde(default)]
    pub grant_options: Acl,
    /// Column privileges: column -> ACL.
    pub columns: BTreeMap<String, Acl>,
    /// A sequence owned by a table column (serial, identity): its owner follows the table's.
    pub linked: bool,
}

/// A schema: owner, ACL and the objects in it, keyed by name (routines by `name(args)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub owner: String,
    pub acl: Acl,
    /// The privileges of `acl` held WITH GRANT OPTION, per grantee.
    #[serde(default)]
    pub grant_options: Acl,
    pub objects: BTreeMap<String, SchemaObject>,
}

/// The object types `ALTER DEFAULT PRIVILEGES` can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DefaultObjects {
    Tables,
    Sequences,
    Functions,
    Types,
}

impl DefaultObjects {
    /// The keyword in `ALTER DEFAULT PRIVILEGES ... ON <keyword>`.
    pub fn keyword(self) -> &'static str {
        match self {
            DefaultObjects::Tables => "TABLES",
            DefaultObjects::Sequences => "SEQUENCES",
            DefaultObjects::Functions => "FUNCTIONS",
            DefaultObjects::Types => "TYPES",
        }
    }

    /// Every privilege objects of this type can carry, as `REVOKE ALL` would take them.
    pub fn all_privileges(self) -> Privileges {
        use Privilege::*;
        match self {
            DefaultObjects::Tables => [
                Select, Insert, Update, Delete, Truncate, References, Trigger,
            ]
            .into(),
            DefaultObjects::Sequences => [Usage, Select, Update].into(),
            DefaultObjects::Functions => [Execute].into(),
            DefaultObjects::Types => [Usage].into(),
        }
    }
}

/// Which default privileges an entry of `pg_default_acl` describes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DefaultAclKey {
    /// The role whose new objects get these privileges (`FOR ROLE`).
    pub owner: String,
    /// `IN SCHEMA`, or `None` for the role's global defaults.
    pub schema: Option<String>,
    pub objects: DefaultObjects,
}

/// A foreign key, as declared (not the copies partitions inherit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ForeignKey {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub target_schema: String,
    pub target_table: String,
}

/// A dependency of an object in one schema on an object in another (`pg_depend`), foreign
/// keys aside.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Dependency {
    pub schema: String,
    /// The dependent object: a relation, `function(args)` or type name.
    pub object: String,
    /// What depends: `view`, `column type`, `column default`, `trigger`, `function body`,
    /// `function signature`, `type`, `relation`.
    pub how: String,
    pub target_schema: String,
    pub target_object: String,
}

/// The body of a SQL or PL/pgSQL function written as a string, read for `audit` only: the
/// relations it names are dependencies `pg_depend` does not record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FunctionBody {
    pub schema: String,
    /// `name(args)`.
    pub function: String,
    /// `sql` or `plpgsql`.
    pub language: String,
    pub body: String,
    /// The function's own `SET search_path`, as written.
    pub search_path: Option<String>,
}

/// The definition of PgBouncer's lookup function (`[pooler] auth = "auth_query"`, see
/// `pooler::auth_query`), as the server has it or as the manifest wants it. Its owner and ACL
/// are those of the schema object of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthLookup {
    pub language: String,
    pub security_definer: bool,
    /// `proconfig`: `search_path=pg_catalog, pg_temp`.
    pub config: Vec<String>,
    /// `pg_get_function_result`: `TABLE(usename name, passwd text)`.
    pub result: String,
    pub body: String,
}

/// One database: its ACL, its schemas and its default privileges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    pub acl: Acl,
    pub schemas: BTreeMap<String, Schema>,
    pub default_acls: BTreeMap<DefaultAclKey, Acl>,
    /// Foreign keys, sorted.
    pub foreign_keys: Vec<ForeignKey>,
    /// Dependencies that cross schemas, sorted.
    pub dependencies: Vec<Dependency>,
    /// String bodies of SQL and PL/pgSQL functions (audit only), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_bodies: Vec<FunctionBody>,
    /// PgBouncer's lookup function, when it exists (or is wanted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_lookup: Option<AuthLookup>,
    /// The roles that may read `pg_catalog.pg_shadow` (besides superusers).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub shadow_readers: BTreeSet<String>,
}

/// A whole cluster: the roles (cluster-wide) and the databases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub roles: BTreeMap<String, Role>,
    pub databases: BTreeMap<String, Database>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_chars_round_trip() {
        for privilege in Privilege::ALL {
            assert_eq!(
                Privilege::from_acl_char(privilege.acl_char()),
                Some(privilege)
            );
        }
        assert_eq!(Privilege::from_acl_char('?'), None);
    }

    #[test]
    fn role_marks_round_trip_and_old_comments_still_count() {
        let mark = RoleMark {
            databases: ["app".to_string(), "odd \"db\"; x".to_string()].into(),
            password_version: Some(3),
        };
        assert_eq!(RoleMark::parse(Some(&mark.render())), Some(mark));
        assert_eq!(
            RoleMark::parse(Some("managed by dbsplit")),
            Some(RoleMark::default())
        );
        assert_eq!(RoleMark::default().render(), "managed by dbsplit");
        assert_eq!(
            RoleMark::parse(Some("managed by dbsplit {broken")),
            Some(RoleMark::default())
        );
        assert_eq!(RoleMark::parse(Some("the BI team's role")), None);
        assert_eq!(RoleMark::parse(None), None);
    }
}
