//! Reads a live cluster into the [`ClusterState`] model with a fixed set of bulk catalog
//! queries (`queries/*.sql`): never one query per schema or object, so the cost does not grow in
//! round trips with the size of the cluster. Works on PostgreSQL 14 to 18 and as a
//! non-superuser (stored passwords are then simply not read). Besides privileges it reads what
//! `audit` needs: foreign keys and the dependencies that cross schemas.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use tokio_postgres::{Row, Transaction};

use super::model::{
    Acl, AuthLookup, ClusterState, Database, DefaultAclKey, DefaultObjects, Dependency, ForeignKey,
    FunctionBody, Grantee, Membership, ObjectKind, Privilege, Role, RoleAttributes, RoleDependent,
    Schema, SchemaObject,
};

/// Why introspection failed.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    #[error("catalog query `{query}` failed")]
    Query {
        query: &'static str,
        #[source]
        source: crate::pg::error::ServerError,
    },
    #[error("catalog query `{query}` returned an unexpected value: {detail}")]
    Unexpected { query: &'static str, detail: String },
}

/// Anything that runs a query: a client, a transaction, or a wrapper that counts round trips.
pub trait Queryer {
    fn query_all(
        &self,
        sql: &str,
    ) -> impl std::future::Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send;

    /// A second session that sees this one's snapshot, if any: [`introspect`] then runs half
    /// its queries there, at the same time (see [`Shared`]).
    fn helper(&self) -> Option<&impl Queryer> {
        None::<&tokio_postgres::Client>
    }
}

/// A session and, when one could join its snapshot, a second one (see
/// [`super::snapshot::begin_shared`]): introspection through it reads the same state as
/// through the first session alone, in about the time of the slower half of its queries.
pub struct Shared<'a, Q> {
    first: &'a Q,
    second: Option<&'a Q>,
}

impl<'a, Q: Queryer> Shared<'a, Q> {
    /// `second` must see the snapshot of `first`.
    pub fn new(first: &'a Q, second: Option<&'a Q>) -> Self {
        Shared { first, second }
    }
}

impl<Q: Queryer> Queryer for Shared<'_, Q> {
    fn query_all(
        &self,
        sql: &str,
    ) -> impl std::future::Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send {
        self.first.query_all(sql)
    }

    fn helper(&self) -> Option<&impl Queryer> {
        self.second
    }
}

impl<Q: Queryer> Queryer for &Q {
    fn query_all(
        &self,
        sql: &str,
    ) -> impl std::future::Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send {
        (**self).query_all(sql)
    }

    fn helper(&self) -> Option<&impl Queryer> {
        (**self).helper()
    }
}

impl Queryer for tokio_postgres::Client {
    async fn query_all(&self, sql: &str) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.query(sql, &[]).await
    }
}

impl Queryer for Transaction<'_> {
    async fn query_all(&self, sql: &str) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.query(sql, &[]).await
    }
}

/// What introspection read besides the state itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    pub state: ClusterState,
    /// The current database's name.
    pub database: String,
    /// Whether stored password verifiers could be read (superuser).
    pub passwords_readable: bool,
    /// `server_version_num`, e.g. 160004: what the server's syntax and catalogs allow.
    pub server_version: i32,
    /// The role the session logged in as.
    pub session_user: String,
    /// The owner of the current database.
    pub database_owner: String,
}

/// The session is connected to another database than the manifest's: everything read would
/// be about the wrong database.
#[derive(Debug, thiserror::Error)]
#[error("connected to database {connected}, but the manifest manages database {managed}")]
pub struct WrongDatabase {
    pub connected: String,
    pub managed: String,
}

impl Introspection {
    /// Refuses an introspection of another database than `managed`.
    pub fn expect_database(&self, managed: &str) -> Result<(), WrongDatabase> {
        if self.database == managed {
            return Ok(());
        }
        Err(WrongDatabase {
            connected: self.database.clone(),
            managed: managed.to_string(),
        })
    }

    /// Whether the server has PostgreSQL 16's membership options (INHERIT, SET per grant).
    pub fn membership_options(&self) -> bool {
        self.server_version >= 160_000
    }
}

struct Query {
    name: &'static str,
    sql: Cow<'static, str>,
}

macro_rules! query {
    ($name:literal) => {
        Query {
            name: $name,
            sql: Cow::Borrowed(include_str!(concat!("queries/", $name, ".sql"))),
        }
    };
}

const DATABASE: Query = query!("database");
const ROLES: Query = query!("roles");
const ROLE_SETTINGS: Query = query!("role_settings");
const ROLE_DEPENDENTS: Query = query!("role_dependents");
const PASSWORDS: Query = query!("passwords");
const SCHEMAS: Query = query!("schemas");
const RELATIONS: Query = query!("relations");
const COLUMNS: Query = query!("columns");
const FUNCTIONS: Query = query!("functions");
const TYPES: Query = query!("types");
const DEFAULT_ACLS: Query = query!("default_acls");
const FOREIGN_KEYS: Query = query!("foreign_keys");
const DEPENDENCIES: Query = query!("dependencies");
const FUNCTION_BODIES: Query = query!("function_bodies");
const POOLER_AUTH: Query = query!("pooler_auth");
const LINKED: Query = query!("linked");

/// What turns on `linked` in the relations query (see `queries/relations.sql`).
const LINKED_GATE: &str = "false /* linked */";

/// The relations query with `linked` read (a hashed scan of pg_depend), as `audit` runs it:
/// `plan` reads the `linked` query instead, and only when it matters ([`read_linked`]).
static RELATIONS_LINKED: LazyLock<Query> = LazyLock::new(|| Query {
    name: RELATIONS.name,
    sql: Cow::Owned(RELATIONS.sql.replace(LINKED_GATE, "true")),
});

async fn run(db: &impl Queryer, query: &Query) -> Result<Vec<Row>, IntrospectError> {
    super::timings::span(query.name, db.query_all(&query.sql))
        .await
        .map_err(|source| IntrospectError::Query {
            query: query.name,
            source: source.into(),
        })
}

fn get<'a, T, I>(row: &'a Row, column: I, query: &'static str) -> Result<T, IntrospectError>
where
    T: tokio_postgres::types::FromSql<'a>,
    I: tokio_postgres::row::RowIndex + std::fmt::Display,
{
    row.try_get(column)
        .map_err(|e| IntrospectError::Unexpected {
            query,
            detail: e.to_string(),
        })
}

/// How much to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Roles, schemas, objects, privileges, default privileges: what `plan` and `apply` need.
    Privileges,
    /// Also foreign keys and the dependencies between schemas: what `audit` needs.
    Dependencies,
}

/// Reads roles (cluster-wide) and the current database: its ACL, schemas, objects, default
/// privileges and, at `Depth::Dependencies`, foreign keys and cross-schema dependencies.
/// System schemas and extension members are left out. With a [`Queryer::helper`], the
/// queries are split between the two sessions.
pub async fn introspect<Q: Queryer>(
    db: &Q,
    depth: Depth,
) -> Result<Introspection, IntrospectError> {
    introspect_split(db, db.helper(), depth).await
}

/// The queries the first session runs, in order; the passwords query only when the first
/// (`database`) says the session may read them. With a second session, the two lists take
/// about the same server time on a large cluster: relations here (and for `audit` column
/// privileges and foreign keys); roles, column privileges, types and the rest there (and for
/// `audit` the dependencies between schemas). The first session's rows are turned into the
/// model while the second session's queries run.
fn first(depth: Depth) -> Vec<&'static Query> {
    match depth {
        Depth::Privileges => vec![&DATABASE, &PASSWORDS, &SCHEMAS, &RELATIONS],
        Depth::Dependencies => vec![
            &DATABASE,
            &PASSWORDS,
            &SCHEMAS,
            &RELATIONS_LINKED,
            &COLUMNS,
            &FOREIGN_KEYS,
        ],
    }
}

/// The queries the second session (or the first, after its own) runs.
fn second(depth: Depth) -> Vec<&'static Query> {
    let mut queries = vec![&ROLES, &ROLE_SETTINGS];
    if depth == Depth::Privileges {
        queries.push(&COLUMNS);
    }
    queries.extend([
        &TYPES,
        &ROLE_DEPENDENTS,
        &FUNCTIONS,
        &DEFAULT_ACLS,
        &POOLER_AUTH,
    ]);
    if depth == Depth::Dependencies {
        queries.extend([&DEPENDENCIES, &FUNCTION_BODIES]);
    }
    queries
}

/// The names of the catalog queries an introspection at `depth` runs, in order (for
/// benchmarks that time the queries alone: `benches/peers.sh`).
pub fn query_names(depth: Depth) -> Vec<&'static str> {
    first(depth)
        .into_iter()
        .chain(second(depth))
        .map(|query| query.name)
        .collect()
}

type Fetched = BTreeMap<&'static str, Vec<Row>>;

/// What the helper session runs first (the first session's `database` query does the same):
/// JIT-compiling the catalog queries of a large cluster costs more than it saves, and so do
/// parallel workers, which compete for the cores with the other session's queries.
const SESSION_SETTINGS: &str = "SELECT pg_catalog.set_config('jit', 'off', false), \
     pg_catalog.set_config('max_parallel_workers_per_gather', '0', false)";

/// The first session's queries: `database` first (it sets the session up and says whether
/// passwords are readable), then the others pipelined (sent at once, answered in turn).
async fn fetch_first(db: &impl Queryer, depth: Depth) -> Result<Fetched, IntrospectError> {
    let database = run(db, &DATABASE).await?;
    let readable = database
        .first()
        .and_then(|row| row.try_get::<_, bool>("can_read_passwords").ok())
        .unwrap_or(false);
    let rest: Vec<&'static Query> = first(depth)
        .into_iter()
        .filter(|query| query.name != DATABASE.name)
        .filter(|query| readable || query.name != PASSWORDS.name)
        .collect();
    let mut fetched = fetch(db, &rest).await?;
    fetched.insert(DATABASE.name, database);
    Ok(fetched)
}

/// Runs `queries` pipelined on one session: the server answers them one after the other
/// without waiting for the client between them.
async fn fetch(db: &impl Queryer, queries: &[&'static Query]) -> Result<Fetched, IntrospectError> {
    let rows =
        futures_util::future::try_join_all(queries.iter().map(|query| run(db, query))).await?;
    Ok(queries.iter().map(|query| query.name).zip(rows).collect())
}

/// Like [`introspect`], with the catalog queries split between `db` and `helper`, a second
/// session that must see the same snapshot (`SET TRANSACTION SNAPSHOT` to one that `db`
/// exported, as pg_dump's parallel mode does): the server answers both at once.
pub async fn introspect_split<Q: Queryer, H: Queryer>(
    db: &Q,
    helper: Option<&H>,
    depth: Depth,
) -> Result<Introspection, IntrospectError> {
    let (introspection, _) = introspect_joining(db, async { helper }, depth).await?;
    Ok(introspection)
}

/// Like [`introspect_split`], with the helper session still on its way: `db` starts on its
/// queries at once, and the helper's share starts when `joining` yields a session that sees
/// the snapshot of `db` (connecting a second session then overlaps the first one's queries).
/// When it yields none, `db` runs the whole list. Returns the helper, for the caller to close.
pub async fn introspect_joining<Q: Queryer, H: Queryer>(
    db: &Q,
    joining: impl std::future::Future<Output = Option<H>>,
    depth: Depth,
) -> Result<(Introspection, Option<H>), IntrospectError> {
    let second = second(depth);
    let rest = async {
        match joining.await {
            Some(helper) => {
                let rows = async {
                    helper.query_all(SESSION_SETTINGS).await.map_err(|source| {
                        IntrospectError::Query {
                            query: "session settings",
                            source: source.into(),
                        }
                    })?;
                    fetch(&helper, &second).await
                }
                .await;
                (rows, Some(helper))
            }
            None => (fetch(db, &second).await, None),
        }
    };
    // The first session's rows are turned into the model while the second session's
    // queries may still run.
    let first = async {
        let rows = fetch_first(db, depth).await?;
        super::timings::phase("the first session's queries");
        read_first(rows)
    };
    let (first, (rest, helper)) = tokio::join!(first, rest);
    let (mut introspection, mut db_state, mut rows) = first?;
    super::timings::phase("the second session's queries");
    rows.extend(rest?);
    read_rest(rows, &mut introspection, &mut db_state, depth)?;
    introspection
        .state
        .databases
        .insert(introspection.database.clone(), db_state);
    super::timings::phase("building the observed state");
    Ok((introspection, helper))
}

/// Marks the sequences that a table column owns (`SchemaObject::linked`) in the current
/// database of `introspection`, which `Depth::Privileges` leaves unmarked: one query, run only
/// when some sequence's owner is not `owner_of(schema)` (the owner its schema should have;
/// `None`: the schema's own), since only then does `linked` decide anything (a linked
/// sequence's owner follows its table's, and ALTER SEQUENCE ... OWNER on one fails). A
/// converged cluster has no such sequence. Returns whether it ran the query.
pub async fn read_linked<'a>(
    db: &impl Queryer,
    introspection: &mut Introspection,
    owner_of: impl Fn(&str) -> Option<&'a str>,
) -> Result<bool, IntrospectError> {
    let Some(db_state) = introspection
        .state
        .databases
        .get_mut(&introspection.database)
    else {
        return Ok(false);
    };
    let needed = db_state.schemas.iter().any(|(name, schema)| {
        let owner = owner_of(name).unwrap_or(schema.owner.as_str());
        schema
            .objects
            .values()
            .any(|object| object.kind == ObjectKind::Sequence && object.owner != owner)
    });
    if !needed {
        return Ok(false);
    }
    let q = LINKED.name;
    for row in run(db, &LINKED).await? {
        let schema: String = get(&row, "nspname", q)?;
        let Some(objects) = db_state.schemas.get_mut(&schema).map(|s| &mut s.objects) else {
            continue;
        };
        for name in get::<Vec<String>, _>(&row, "names", q)? {
            if let Some(object) = objects
                .get_mut(&name)
                .filter(|object| object.kind == ObjectKind::Sequence)
            {
                object.linked = true;
            }
        }
    }
    Ok(true)
}

/// The model's start from the first session's rows ([`first`]): the session, the schemas and
/// their relations. Returns the rows it leaves for [`read_rest`].
fn read_first(mut rows: Fetched) -> Result<(Introspection, Database, Fetched), IntrospectError> {
    let mut take = |query: &Query| rows.remove(query.name).unwrap_or_default();
    let (introspection, mut db_state) = read_database(&take(&DATABASE))?;
    read_schemas(take(&SCHEMAS), &mut db_state)?;
    read_relations(take(&RELATIONS), &mut db_state)?;
    Ok((introspection, db_state, rows))
}

/// The rest of the model, once the schemas and their relations are in.
fn read_rest(
    mut rows: Fetched,
    introspection: &mut Introspection,
    db_state: &mut Database,
    depth: Depth,
) -> Result<(), IntrospectError> {
    let mut take = |query: &Query| rows.remove(query.name).unwrap_or_default();
    let state = &mut introspection.state;
    read_roles(take(&ROLES), state)?;
    read_role_settings(take(&ROLE_SETTINGS), state)?;
    read_role_dependents(take(&ROLE_DEPENDENTS), state)?;
    if introspection.passwords_readable {
        read_passwords(take(&PASSWORDS), state)?;
    }
    read_columns(take(&COLUMNS), db_state)?;
    read_functions(take(&FUNCTIONS), db_state)?;
    read_types(take(&TYPES), db_state)?;
    read_default_acls(take(&DEFAULT_ACLS), db_state)?;
    read_pooler_auth(take(&POOLER_AUTH), db_state)?;
    if depth == Depth::Dependencies {
        read_dependencies(take(&FOREIGN_KEYS), take(&DEPENDENCIES), db_state)?;
        read_function_bodies(take(&FUNCTION_BODIES), db_state)?;
    }
    Ok(())
}

/// The session and the current database from the `database` query's one row; the state is
/// empty yet, the database's own state holds its ACL.
fn read_database(rows: &[Row]) -> Result<(Introspection, Database), IntrospectError> {
    let q = DATABASE.name;
    let row = rows.first().ok_or(IntrospectError::Unexpected {
        query: q,
        detail: "no row for the current database".into(),
    })?;
    let db_state = Database {
        acl: parse_acl(&get::<Vec<String>, _>(row, "acl", q)?),
        ..Database::default()
    };
    let introspection = Introspection {
        state: ClusterState::default(),
        database: get(row, "datname", q)?,
        passwords_readable: get(row, "can_read_passwords", q)?,
        server_version: get(row, "server_version_num", q)?,
        session_user: get(row, "session_user", q)?,
        database_owner: get(row, "owner", q)?,
    };
    Ok((introspection, db_state))
}

fn read_roles(rows: Vec<Row>, state: &mut ClusterState) -> Result<(), IntrospectError> {
    let q = ROLES.name;
    for row in rows {
        let name: String = get(&row, "rolname", q)?;
        let role = Role {
            attributes: RoleAttributes {
                superuser: get(&row, "rolsuper", q)?,
                inherit: get(&row, "rolinherit", q)?,
                createrole: get(&row, "rolcreaterole", q)?,
                createdb: get(&row, "rolcreatedb", q)?,
                login: get(&row, "rolcanlogin", q)?,
                replication: get(&row, "rolreplication", q)?,
                bypassrls: get(&row, "rolbypassrls", q)?,
                connection_limit: get(&row, "rolconnlimit", q)?,
            },
            comment: get(&row, "comment", q)?,
            member_of: get::<Vec<String>, _>(&row, "member_of", q)?
                .into_iter()
                .collect(),
            memberships: parse_memberships(&get::<String, _>(&row, "memberships", q)?)?,
            settings: BTreeMap::new(),
            password: None,
            dependents: Vec::new(),
        };
        state.roles.insert(name, role);
    }
    Ok(())
}

fn read_role_settings(rows: Vec<Row>, state: &mut ClusterState) -> Result<(), IntrospectError> {
    let q = ROLE_SETTINGS.name;
    for row in rows {
        let role: String = get(&row, "rolname", q)?;
        let database: String = get(&row, "datname", q)?;
        let config: Vec<String> = get(&row, "setconfig", q)?;
        if let Some(role) = state.roles.get_mut(&role) {
            let settings = role.settings.entry(database).or_default();
            for item in config {
                if let Some((name, value)) = item.split_once('=') {
                    settings.insert(name.to_string(), value.to_string());
                }
            }
        }
    }
    Ok(())
}

/// What each role's `DROP ROLE` would trip over. The query groups a role's objects of one
/// kind, catalog and schema; the group is named after its first object and how many more.
fn read_role_dependents(rows: Vec<Row>, state: &mut ClusterState) -> Result<(), IntrospectError> {
    let q = ROLE_DEPENDENTS.name;
    for row in rows {
        let role: String = get(&row, "rolname", q)?;
        let catalog: String = get(&row, "catalog", q)?;
        let others: i64 = get(&row, "others", q)?;
        let object = match (get::<Option<String>, _>(&row, "object", q)?, others) {
            (object, 0) => object,
            (Some(object), others) => Some(format!("{object} and {others} more")),
            (None, others) => Some(format!("{} objects of {catalog}", others + 1)),
        };
        if let Some(role) = state.roles.get_mut(&role) {
            role.dependents.push(RoleDependent {
                database: get(&row, "database", q)?,
                kind: get(&row, "kind", q)?,
                catalog,
                object,
                schema: get(&row, "schema", q)?,
            });
        }
    }
    Ok(())
}

fn read_passwords(rows: Vec<Row>, state: &mut ClusterState) -> Result<(), IntrospectError> {
    for row in rows {
        let role: String = get(&row, "rolname", PASSWORDS.name)?;
        if let Some(role) = state.roles.get_mut(&role) {
            role.password = get(&row, "rolpassword", PASSWORDS.name)?;
        }
    }
    Ok(())
}

fn read_schemas(rows: Vec<Row>, db_state: &mut Database) -> Result<(), IntrospectError> {
    let q = SCHEMAS.name;
    for row in rows {
        let name: String = get(&row, "nspname", q)?;
        let (acl, grant_options) = parse_acl_with_options(&get::<Vec<String>, _>(&row, "acl", q)?);
        db_state.schemas.insert(
            name,
            Schema {
                owner: get(&row, "owner", q)?,
                acl,
                grant_options,
                objects: BTreeMap::new(),
            },
        );
    }
    Ok(())
}

/// Relations come in groups that share schema, kind, owner, ACL and `linked`: the ACL is
/// parsed once per group.
fn read_relations(rows: Vec<Row>, db_state: &mut Database) -> Result<(), IntrospectError> {
    let q = RELATIONS.name;
    for row in rows {
        let schema: String = get(&row, "nspname", q)?;
        let relkind: String = get(&row, "relkind", q)?;
        let kind = match relkind.as_str() {
            "r" => ObjectKind::Table,
            "p" => ObjectKind::PartitionedTable,
            "v" => ObjectKind::View,
            "m" => ObjectKind::MaterializedView,
            "S" => ObjectKind::Sequence,
            "f" => ObjectKind::ForeignTable,
            "c" => ObjectKind::Type,
            other => {
                return Err(IntrospectError::Unexpected {
                    query: q,
                    detail: format!("relkind {other}"),
                });
            }
        };
        let (acl, grant_options) = parse_acl_with_options(&get::<Vec<String>, _>(&row, "acl", q)?);
        let owner: String = get(&row, "owner", q)?;
        let linked: bool = get(&row, "linked", q)?;
        let Some(objects) = db_state.schemas.get_mut(&schema).map(|s| &mut s.objects) else {
            continue;
        };
        for name in get::<Vec<&str>, _>(&row, "names", q)? {
            let object = SchemaObject {
                kind,
                name: name.to_string(),
                args: None,
                owner: owner.clone(),
                acl: acl.clone(),
                grant_options: grant_options.clone(),
                columns: BTreeMap::new(),
                linked,
            };
            objects.insert(name.to_string(), object);
        }
    }
    Ok(())
}

fn read_columns(rows: Vec<Row>, db_state: &mut Database) -> Result<(), IntrospectError> {
    let q = COLUMNS.name;
    for row in rows {
        let schema: String = get(&row, "nspname", q)?;
        let table: String = get(&row, "relname", q)?;
        let column: String = get(&row, "attname", q)?;
        let acl = parse_acl(&get::<Vec<String>, _>(&row, "acl", q)?);
        if let Some(object) = db_state
            .schemas
            .get_mut(&schema)
            .and_then(|s| s.objects.get_mut(&table))
        {
            object.columns.insert(column, acl);
        }
    }
    Ok(())
}

fn read_functions(rows: Vec<Row>, db_state: &mut Database) -> Result<(), IntrospectError> {
    let q = FUNCTIONS.name;
    for row in rows {
        let schema: String = get(&row, "nspname", q)?;
        let name: String = get(&row, "proname", q)?;
        let args: String = get(&row, "args", q)?;
        let kind = match get::<String, _>(&row, "prokind", q)?.as_str() {
            "p" => ObjectKind::Procedure,
            "a" => ObjectKind::Aggregate,
            _ => ObjectKind::Function,
        };
        let key = format!("{name}({args})");
        let (acl, grant_options) = parse_acl_with_options(&get::<Vec<String>, _>(&row, "acl", q)?);
        let object = SchemaObject {
            kind,
            name,
            args: Some(args),
            owner: get(&row, "owner", q)?,
            acl,
            grant_options,
            columns: BTreeMap::new(),
            linked: false,
        };
        insert_object(db_state, &schema, key, object);
    }
    Ok(())
}

fn read_types(rows: Vec<Row>, db_state: &mut Database) -> Result<(), IntrospectError> {
    let q = TYPES.name;
    for row in rows {
        let schema: String = get(&row, "nspname", q)?;
        let name: String = get(&row, "typname", q)?;
        let kind = if get::<String, _>(&row, "typtype", q)? == "d" {
            ObjectKind::Domain
        } else {
            ObjectKind::Type
        };
        let (acl, grant_options) = parse_acl_with_options(&get::<Vec<String>, _>(&row, "acl", q)?);
        let object = SchemaObject {
            kind,
            name: name.clone(),
            args: None,
            owner: get(&row, "owner", q)?,
            acl,
            grant_options,
            columns: BTreeMap::new(),
            linked: false,
        };
        insert_object(db_state, &schema, name, object);
    }
    Ok(())
}

fn read_default_acls(rows: Vec<Row>, db_state: &mut Database) -> Result<(), IntrospectError> {
    let q = DEFAULT_ACLS.name;
    for row in rows {
        let objects = match get::<String, _>(&row, "objtype", q)?.as_str() {
            "r" => DefaultObjects::Tables,
            "S" => DefaultObjects::Sequences,
            "f" => DefaultObjects::Functions,
            "T" => DefaultObjects::Types,
            // Default privileges on schemas ('n') concern no schema's contents.
            _ => continue,
        };
        let schema: String = get(&row, "schema", q)?;
        let key = DefaultAclKey {
            owner: get(&row, "role", q)?,
            schema: (!schema.is_empty()).then_some(schema),
            objects,
        };
        db_state
            .default_acls
            .insert(key, parse_acl(&get::<Vec<String>, _>(&row, "acl", q)?));
    }
    Ok(())
}

/// The grants of a role's memberships, from the roles query's JSON column.
fn parse_memberships(json: &str) -> Result<Vec<Membership>, IntrospectError> {
    let mut memberships: Vec<Membership> =
        serde_json::from_str(json).map_err(|e| IntrospectError::Unexpected {
            query: ROLES.name,
            detail: format!("memberships: {e}"),
        })?;
    memberships.sort();
    Ok(memberships)
}

/// Foreign keys and cross-schema dependencies, sorted.
fn read_dependencies(
    foreign_keys: Vec<Row>,
    dependencies: Vec<Row>,
    db_state: &mut Database,
) -> Result<(), IntrospectError> {
    for row in foreign_keys {
        let q = FOREIGN_KEYS.name;
        db_state.foreign_keys.push(ForeignKey {
            schema: get(&row, "nspname", q)?,
            table: get(&row, "relname", q)?,
            name: get(&row, "conname", q)?,
            target_schema: get(&row, "target_schema", q)?,
            target_table: get(&row, "target_table", q)?,
        });
    }
    db_state.foreign_keys.sort();
    for row in dependencies {
        let q = DEPENDENCIES.name;
        db_state.dependencies.push(Dependency {
            schema: get(&row, "schema", q)?,
            object: get(&row, "object", q)?,
            how: get(&row, "how", q)?,
            target_schema: get(&row, "target_schema", q)?,
            target_object: get(&row, "target_object", q)?,
        });
    }
    db_state.dependencies.sort();
    Ok(())
}

/// String bodies of SQL and PL/pgSQL functions, sorted.
fn read_function_bodies(rows: Vec<Row>, db_state: &mut Database) -> Result<(), IntrospectError> {
    let q = FUNCTION_BODIES.name;
    for row in rows {
        db_state.function_bodies.push(FunctionBody {
            schema: get(&row, "schema", q)?,
            function: get(&row, "function", q)?,
            language: get(&row, "language", q)?,
            body: get(&row, "body", q)?,
            search_path: get(&row, "search_path", q)?,
        });
    }
    db_state.function_bodies.sort();
    Ok(())
}

/// Who reads pg_shadow, and PgBouncer's lookup function (see `pooler::auth_query`).
fn read_pooler_auth(rows: Vec<Row>, db_state: &mut Database) -> Result<(), IntrospectError> {
    let q = POOLER_AUTH.name;
    for row in rows {
        let shadow: Option<Vec<String>> = get(&row, "shadow_acl", q)?;
        db_state.shadow_readers = parse_acl(&shadow.unwrap_or_default())
            .into_iter()
            .filter(|(_, privileges)| privileges.contains(&Privilege::Select))
            .filter_map(|(grantee, _)| grantee.role().map(str::to_string))
            .collect();
        if get(&row, "found", q)? {
            db_state.auth_lookup = Some(AuthLookup {
                language: get(&row, "language", q)?,
                security_definer: get(&row, "security_definer", q)?,
                config: get(&row, "config", q)?,
                result: get(&row, "result", q)?,
                body: get(&row, "body", q)?,
            });
        }
    }
    Ok(())
}

fn insert_object(db: &mut Database, schema: &str, key: String, object: SchemaObject) {
    if let Some(schema) = db.schemas.get_mut(schema) {
        schema.objects.insert(key, object);
    }
}

/// An ACL from `aclitem` texts. Grantors are not kept.
pub fn parse_acl(items: &[String]) -> Acl {
    parse_acl_with_options(items).0
}

/// An ACL from `aclitem` texts, and the part of it held WITH GRANT OPTION.
pub fn parse_acl_with_options(items: &[String]) -> (Acl, Acl) {
    let mut acl = Acl::new();
    let mut options = Acl::new();
    for item in items {
        if let Some((grantee, privileges, grantable)) = parse_aclitem(item) {
            if !grantable.is_empty() {
                options
                    .entry(grantee.clone())
                    .or_default()
                    .extend(grantable);
            }
            acl.entry(grantee).or_default().extend(privileges);
        }
    }
    (acl, options)
}

/// One `aclitem` as PostgreSQL prints it: `grantee=privileges/grantor`, an empty grantee for
/// PUBLIC, names double-quoted when they hold anything but letters, digits and underscores
/// (`aclitemout`/`putid` in PostgreSQL's acl.c), `*` after a letter for a grant option.
pub fn parse_aclitem(item: &str) -> Option<(Grantee, BTreeSet<Privilege>, BTreeSet<Privilege>)> {
    let (grantee, rest) = read_name(item)?;
    let rest = rest.strip_prefix('=')?;
    let letters: Vec<char> = rest.split('/').next().unwrap_or("").chars().collect();
    let mut privileges = BTreeSet::new();
    let mut grantable = BTreeSet::new();
    for (i, c) in letters.iter().enumerate() {
        if let Some(privilege) = Privilege::from_acl_char(*c) {
            privileges.insert(privilege);
            if letters.get(i + 1) == Some(&'*') {
                grantable.insert(privilege);
            }
        }
    }
    let grantee = if grantee.is_empty() {
        Grantee::Public
    } else {
        Grantee::Role(grantee)
    };
    Some((grantee, privileges, grantable))
}

/// Reads a possibly quoted name up to `=`; returns the name and the rest.
fn read_name(text: &str) -> Option<(String, &str)> {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find('=')?;
        return Some((text[..end].to_string(), &text[end..]));
    };
    let mut name = String::new();
    let mut chars = quoted.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            if chars.peek().map(|(_, next)| *next) == Some('"') {
                chars.next();
                name.push('"');
            } else {
                return Some((name, &quoted[i + 1..]));
            }
        } else {
            name.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn privileges(list: &[Privilege]) -> BTreeSet<Privilege> {
        list.iter().copied().collect()
    }

    #[test]
    fn the_benchmark_times_the_queries_plan_runs() {
        let script = include_str!("../../benches/peers.sh");
        let listed = script
            .lines()
            .find_map(|line| line.strip_prefix("plan_queries=("))
            .and_then(|rest| rest.strip_suffix(')'))
            .expect("benches/peers.sh lists plan_queries");
        assert_eq!(
            listed.split(' ').collect::<Vec<_>>(),
            query_names(Depth::Privileges)
        );
    }

    #[test]
    fn aclitems_parse_with_quotes_public_and_grant_options() {
        use Privilege::*;
        assert_eq!(
            parse_aclitem("billing_rw=arwd/billing_owner"),
            Some((
                Grantee::Role("billing_rw".into()),
                privileges(&[Insert, Select, Update, Delete]),
                privileges(&[])
            ))
        );
        assert_eq!(
            parse_aclitem("=U/postgres"),
            Some((Grantee::Public, privileges(&[Usage]), privileges(&[])))
        );
        assert_eq!(
            parse_aclitem(r#""a ""b"""=r*w/"x y""#),
            Some((
                Grantee::Role(r#"a "b""#.into()),
                privileges(&[Select, Update]),
                privileges(&[Select])
            ))
        );
        assert_eq!(
            parse_aclitem(r#""x=y"=C*/postgres"#),
            Some((
                Grantee::Role("x=y".into()),
                privileges(&[Create]),
                privileges(&[Create])
            ))
        );
        assert_eq!(parse_aclitem("garbage"), None);
        assert_eq!(parse_aclitem(r#""unterminated=r/x"#), None);
    }
}
