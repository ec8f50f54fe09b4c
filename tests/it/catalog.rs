//! Introspection on two sessions sharing one snapshot (what `plan` does) reads exactly what
//! one session reads; a second session that cannot join leaves the first one reading alone;
//! the role dependents query groups a role's objects per kind, catalog and schema, named
//! after the first one; which sequences a column owns is read by `audit` always, by `plan`
//! only when some sequence's owner is to change.

use dbsplit::catalog::introspect::{Depth, Introspection, Shared, introspect, read_linked};
use dbsplit::catalog::model::RoleDependent;
use dbsplit::catalog::snapshot::begin_shared;
use tokio_postgres::error::SqlState;

use crate::support::pg::TestCluster;
use crate::support::{TempDir, dbsplit, stderr, stdout};

/// Something of every kind introspection reads: owned tables, sequences, views, functions,
/// types, column privileges, default privileges, a role's privileges in another database.
const SETUP: &str = "
CREATE ROLE s_owner; CREATE ROLE s_ro; CREATE ROLE other_ro;
CREATE SCHEMA s AUTHORIZATION s_owner;
CREATE TABLE s.t1 (id serial PRIMARY KEY, v text);
CREATE TABLE s.t2 (id bigint GENERATED ALWAYS AS IDENTITY, v text);
CREATE TABLE s.t3 (id int, v text);
ALTER TABLE s.t1 OWNER TO s_owner; ALTER TABLE s.t2 OWNER TO s_owner; ALTER TABLE s.t3 OWNER TO s_owner;
CREATE VIEW s.v AS SELECT id FROM s.t1;
CREATE FUNCTION s.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
ALTER FUNCTION s.f(int) OWNER TO s_owner;
CREATE TYPE s.mood AS ENUM ('ok');
CREATE DOMAIN s.positive AS int CHECK (VALUE > 0);
ALTER TYPE s.mood OWNER TO s_owner; ALTER DOMAIN s.positive OWNER TO s_owner;
GRANT USAGE ON SCHEMA s TO s_ro;
GRANT SELECT ON s.t1, s.t2 TO s_ro;
GRANT SELECT (v) ON s.t3 TO s_ro;
GRANT UPDATE (v) ON s.t3 TO PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE s_owner IN SCHEMA s GRANT SELECT ON TABLES TO s_ro;
CREATE SCHEMA elsewhere;
CREATE TABLE elsewhere.x (id int);
GRANT SELECT ON elsewhere.x TO other_ro;
";

/// How `plan` names what keeps `role` from being dropped.
fn dependents(live: &Introspection, role: &str) -> Vec<String> {
    live.state.roles[role]
        .dependents
        .iter()
        .map(RoleDependent::describe)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_sharing_a_snapshot_read_what_one_session_reads() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok("app", SETUP);
    let first = cluster.superuser("app").await;
    let second = cluster.superuser("app").await;
    let alone = introspect(&first, Depth::Dependencies).await.unwrap();

    assert!(begin_shared(&first, Some(&second)).await.unwrap());
    // A change after the snapshot is invisible to both sessions.
    cluster.psql_ok("app", "CREATE TABLE s.later (id int)");
    let shared = introspect(&Shared::new(&first, Some(&second)), Depth::Dependencies)
        .await
        .unwrap();
    assert_eq!(alone, shared);
    let schema = &shared.state.databases["app"].schemas["s"];
    assert!(!schema.objects.contains_key("later"));
    assert!(!schema.objects["t3"].columns.is_empty());
    let isolation: String = second
        .query_one("SHOW transaction_isolation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(isolation, "repeatable read");
    let write = second.batch_execute("CREATE TABLE s.w (id int)").await;
    assert_eq!(
        write.unwrap_err().code(),
        Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
        "the second session only reads"
    );
    let write = first.batch_execute("CREATE TABLE s.w (id int)").await;
    assert_eq!(
        write.unwrap_err().code(),
        Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
        "the first session only reads"
    );
}

/// The sequences of schema `s` marked as owned by a column.
fn linked(live: &Introspection) -> Vec<String> {
    live.state.databases["app"].schemas["s"]
        .objects
        .values()
        .filter(|object| object.linked)
        .map(|object| object.name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn linked_sequences_are_read_when_a_sequence_owner_is_to_change() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok("app", SETUP);
    cluster.psql_ok(
        "app",
        "CREATE SEQUENCE s.free; ALTER SEQUENCE s.free OWNER TO s_owner;",
    );
    let client = cluster.superuser("app").await;
    let audit = introspect(&client, Depth::Dependencies).await.unwrap();
    assert_eq!(linked(&audit), ["t1_id_seq", "t2_id_seq"]);
    let mut plan = introspect(&client, Depth::Privileges).await.unwrap();
    assert_eq!(linked(&plan), Vec::<String>::new());
    // Every sequence is already its schema's owner's: nothing to read.
    assert!(
        !read_linked(&client, &mut plan, |_| Some("s_owner"))
            .await
            .unwrap()
    );
    assert!(!read_linked(&client, &mut plan, |_| None).await.unwrap());
    assert_eq!(linked(&plan), Vec::<String>::new());
    // Another owner for `s`: the serial's and the identity's sequences follow their tables.
    assert!(
        read_linked(&client, &mut plan, |_| Some("other_ro"))
            .await
            .unwrap()
    );
    assert_eq!(linked(&plan), linked(&audit));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_session_that_cannot_join_leaves_the_first_reading_alone() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok("app", SETUP);
    let first = cluster.superuser("app").await;
    let second = cluster.superuser("app").await;
    let alone = introspect(&first, Depth::Privileges).await.unwrap();
    // A transaction that already ran a query cannot take another snapshot.
    second
        .batch_execute("START TRANSACTION ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        .await
        .unwrap();
    assert!(!begin_shared(&first, Some(&second)).await.unwrap());
    let read = introspect(&Shared::new(&first, None), Depth::Privileges)
        .await
        .unwrap();
    assert_eq!(alone, read);
    let write = first.batch_execute("CREATE TABLE s.w (id int)").await;
    assert_eq!(
        write.unwrap_err().code(),
        Some(&SqlState::READ_ONLY_SQL_TRANSACTION)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn role_dependents_are_grouped_and_named_after_the_first_object() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok("app", SETUP);
    cluster.psql_ok(
        "postgres",
        "CREATE TABLE public.kept (id int); GRANT SELECT ON public.kept TO s_ro;",
    );
    // Read for the roles dbsplit created, the only ones `--prune` drops: the others have
    // none, whatever they own.
    let client = cluster.superuser("app").await;
    let unmarked = introspect(&client, Depth::Privileges).await.unwrap();
    for role in ["s_owner", "s_ro", "other_ro"] {
        assert_eq!(dependents(&unmarked, role), Vec::<String>::new(), "{role}");
    }
    cluster.psql_ok(
        "app",
        "COMMENT ON ROLE s_owner IS 'managed by dbsplit';
         COMMENT ON ROLE s_ro IS 'managed by dbsplit {\"databases\":[\"app\"]}';
         COMMENT ON ROLE other_ro IS 'managed by dbsplit'",
    );
    let live = introspect(&client, Depth::Privileges).await.unwrap();
    let owner = dependents(&live, "s_owner");
    // Three tables and two sequences (t1's serial, created before its table, comes first;
    // the view stays the superuser's), two types, the function, the default privileges.
    for expected in [
        "owner of schema s in database app",
        "owner of sequence s.t1_id_seq and 4 more in database app",
        "owner of function s.f(integer) in database app",
        "owner of type s.mood and 1 more in database app",
        "owner of default acl for role s_owner in schema s on tables in database app",
    ] {
        assert!(
            owner.iter().any(|d| d == expected),
            "{expected} in {owner:#?}"
        );
    }
    let ro = dependents(&live, "s_ro");
    for expected in [
        "privileges on schema s in database app",
        // t1, t2 and a column of t3, in the order of their oids then column numbers.
        "privileges on table s.t1 and 2 more in database app",
        "privileges on an object of pg_class in database postgres",
    ] {
        assert!(ro.iter().any(|d| d == expected), "{expected} in {ro:#?}");
    }
    assert_eq!(
        dependents(&live, "other_ro"),
        vec!["privileges on table elsewhere.x in database app".to_string()]
    );
}

#[test]
fn plan_reads_alone_when_the_role_may_open_one_session_only() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok(
        "app",
        "CREATE ROLE planner LOGIN CONNECTION LIMIT 1; CREATE SCHEMA billing;",
    );
    let dir = TempDir::new("catalog");
    let manifest = dir.path().join("services.toml");
    std::fs::write(
        &manifest,
        "version = 1\n[database]\nname = \"app\"\n[services.billing]\nroles.billing_rw = { access = \"readwrite\" }\n",
    )
    .unwrap();
    let url = cluster.server.connection_string("planner", "app");
    let run = || {
        dbsplit(&[
            "plan",
            "--manifest",
            manifest.to_str().unwrap(),
            "--database-url",
            &url,
        ])
    };
    let limited = run();
    assert!(
        matches!(limited.status.code(), Some(0 | 1)),
        "{}",
        stderr(&limited)
    );
    cluster.psql_ok("app", "ALTER ROLE planner CONNECTION LIMIT -1");
    let unlimited = run();
    assert_eq!(stdout(&limited), stdout(&unlimited));
    assert!(
        stdout(&limited).contains("billing_rw"),
        "{}",
        stdout(&limited)
    );
}
