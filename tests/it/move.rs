//! `move` between two real servers with wal_level=logical, while a writer process keeps
//! inserting as the service's login role and follows the service to the target when the
//! source refuses it: nothing acknowledged is lost, no key twice, sequences continue, the
//! source refuses writes after cut-over, abort brings writes back with nothing lost, and the
//! source schema stays after finish.

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dbsplit::pg::local::LocalConfig;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::support::pg::{TestCluster, assert_denied};
use crate::support::{root, stderr, stdout};

/// Two servers logical replication can run between.
fn logical() -> TestCluster {
    TestCluster::start_with(
        "app",
        &LocalConfig {
            conf: vec!["wal_level = logical".into(), "max_wal_senders = 10".into()],
            ..LocalConfig::default()
        },
    )
}

/// Runs `dbsplit move` with the example manifest from `source` to `target`, as superusers.
fn run_move(source: &TestCluster, target: &str, args: &[&str]) -> Output {
    run_move_with(source, target, args, source.server.bin_dir())
}

/// Like [`run_move`], with pg_dump and pg_restore from `bin`.
fn run_move_with(
    source: &TestCluster,
    target: &str,
    args: &[&str],
    bin: &std::path::Path,
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .arg("move")
        .args(args)
        .arg("--to")
        .arg(target)
        .env(
            "DATABASE_URL",
            source.server.connection_string("postgres", "app"),
        )
        .env("NO_COLOR", "1")
        .env("PG_BIN", bin)
        .env_remove("PGPASSWORD")
        .env_remove("BILLING_DB_PASSWORD")
        .env_remove("MONOLITH_DB_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

fn apply(cluster: &TestCluster) {
    let applied = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .args(["apply", "--yes"])
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("postgres", "app"),
        )
        .env_remove("MONOLITH_DB_PASSWORD")
        .env_remove("BILLING_DB_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs");
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
}

/// `plan` of the example manifest on `cluster`.
fn plan(cluster: &TestCluster) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .arg("plan")
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("postgres", "app"),
        )
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

const BILLING: &str = "
SET ROLE billing_owner;
CREATE TABLE billing.events (id bigserial PRIMARY KEY, payload bigint NOT NULL UNIQUE, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE billing.invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount numeric NOT NULL);
CREATE SEQUENCE billing.numbers;
INSERT INTO billing.invoices (amount) SELECT g FROM generate_series(1, 5000) g;
SELECT nextval('billing.numbers') FROM generate_series(1, 5);
RESET ROLE;
";

/// Polls `move status` until it exits 0.
fn wait_ready(source: &TestCluster, target: &str) {
    poll_ready(|| run_move(source, target, &["billing", "status"]));
}

/// Runs `status` (a `move ... status`) until it exits 0, for up to 90 s.
fn poll_ready(status: impl Fn() -> Output) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let status = status();
        if status.status.code() == Some(0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never ready:\n{}{}",
            stdout(&status),
            stderr(&status)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// What the writer saw: each acknowledged payload with its id and the side that took it.
#[derive(Debug, Default)]
struct Acked {
    rows: Vec<(i64, i64, &'static str)>,
    /// From the last write the source acknowledged to the first the target did.
    gap: Option<Duration>,
}

/// Inserts one row after another as billing_rw, following the service to the target once
/// the source refuses (SQLSTATE 42501), until `stop`.
async fn writer(source_url: String, target_url: String, stop: Arc<AtomicBool>) -> Acked {
    let mut acked = Acked::default();
    let mut side: (&'static str, &str) = ("source", &source_url);
    let mut client: Option<Client> = None;
    let mut payload = 0i64;
    let mut last_source_ack = None;
    while !stop.load(Ordering::Relaxed) {
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            match tokio_postgres::connect(side.1, NoTls).await {
                Ok((c, connection)) => {
                    tokio::spawn(connection);
                    client = Some(c);
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        payload += 1;
        let db = client.as_ref().expect("connected above");
        match db
            .query_one(
                "INSERT INTO billing.events (payload) VALUES ($1) RETURNING id",
                &[&payload],
            )
            .await
        {
            Ok(row) => {
                let id: i64 = row.get(0);
                acked.rows.push((payload, id, side.0));
                if side.0 == "source" {
                    last_source_ack = Some(Instant::now());
                } else if acked.gap.is_none() {
                    acked.gap = last_source_ack.map(|at: Instant| at.elapsed());
                }
            }
            Err(error) if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                // The source refuses: the service follows its new connection string. On the
                // target, a refusal means the cut-over is not complete yet: retry.
                side = ("target", &target_url);
                client = None;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(_) => {
                client = None;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    acked
}

async fn payloads(client: &Client) -> Vec<(i64, i64)> {
    client
        .query(
            "SELECT payload, id FROM billing.events ORDER BY payload",
            &[],
        )
        .await
        .expect("read events")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn wait_rows(client: &Client, table: &str, rows: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("count")
            .get(0);
        if n >= rows {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{table} stays at {n} rows, not {rows}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_moves_under_load_and_back_and_for_good() {
    let source = logical();
    let target = logical();
    let to = target.server.connection_string("postgres", "app");
    apply(&source);
    source.psql_ok("app", BILLING);

    let none = run_move(&source, &to, &["billing", "status"]);
    assert_eq!(none.status.code(), Some(1), "{}", stderr(&none));
    assert!(
        stdout(&none).contains("no move in progress"),
        "{}",
        stdout(&none)
    );

    let started = Instant::now();
    let start = run_move(&source, &to, &["billing", "start"]);
    assert_eq!(start.status.code(), Some(0), "{}", stderr(&start));
    let again = run_move(&source, &to, &["billing", "start"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "start twice: {}",
        stderr(&again)
    );
    wait_ready(&source, &to);
    eprintln!("start to ready: {:.2} s", started.elapsed().as_secs_f64());
    let planned = plan(&source);
    assert!(
        stderr(&planned).contains("service `billing` is being moved to postgres@127.0.0.1:"),
        "{}",
        stderr(&planned)
    );

    // Before cut-over the target is provisioned but refuses the service's writes.
    let early = target.connect("billing_rw", "app").await;
    assert_denied(
        early
            .execute("INSERT INTO billing.events (payload) VALUES (-1)", &[])
            .await,
        "billing_rw writes the target before cut-over",
    );
    let status = run_move(&source, &to, &["billing", "status", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(json["phase"], "copying");
    assert_eq!(json["ready"], true);
    let invoices = json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "billing.invoices")
        .unwrap();
    assert_eq!(invoices["state"], "ready");
    assert_eq!(invoices["target_rows"], 5000);

    // Cut over while the writer inserts as billing_rw.
    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(writer(
        source.server.connection_string("billing_rw", "app"),
        target.server.connection_string("billing_rw", "app"),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cutover = {
        let to = to.clone();
        let source_url = source.server.connection_string("postgres", "app");
        let bin = source.server.bin_dir().to_path_buf();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_dbsplit"))
                .arg("-m")
                .arg(root().join("services.toml.example"))
                .args([
                    "move", "billing", "cutover", "--verify", "hash", "--to", &to,
                ])
                .env("DATABASE_URL", source_url)
                .env("PG_BIN", bin)
                .stdin(Stdio::null())
                .output()
                .expect("dbsplit runs")
        })
        .await
        .unwrap()
    };
    assert_eq!(cutover.status.code(), Some(0), "{}", stderr(&cutover));
    let text = stdout(&cutover);
    assert!(text.contains("writes were refused for"), "{text}");
    assert!(text.contains("billing_rw: host="), "{text}");
    eprintln!("{text}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = writing.await.unwrap();
    eprintln!(
        "writer: {} inserts acknowledged, {} on the source, {} on the target; no write acknowledged for {:?}",
        acked.rows.len(),
        acked.rows.iter().filter(|r| r.2 == "source").count(),
        acked.rows.iter().filter(|r| r.2 == "target").count(),
        acked.gap
    );
    let on_source: Vec<_> = acked.rows.iter().filter(|r| r.2 == "source").collect();
    let on_target: Vec<_> = acked.rows.iter().filter(|r| r.2 == "target").collect();
    assert!(!on_source.is_empty() && !on_target.is_empty(), "{acked:?}");

    // Every acknowledged insert is on the target, with its id; no key twice.
    let target_db = target.superuser("app").await;
    let rows = payloads(&target_db).await;
    let ids: BTreeSet<i64> = rows.iter().map(|r| r.1).collect();
    assert_eq!(ids.len(), rows.len(), "duplicate ids");
    for (payload, id, side) in &acked.rows {
        assert!(
            rows.contains(&(*payload, *id)),
            "acknowledged insert {payload} (id {id}, {side}) is missing on the target"
        );
    }
    // Sequences continue above the source's values, owned or not.
    let max_source_id = on_source.iter().map(|r| r.1).max().unwrap();
    assert!(on_target.iter().all(|r| r.1 > max_source_id));
    let number: i64 = target_db
        .query_one("SELECT nextval('billing.numbers')", &[])
        .await
        .unwrap()
        .get(0);
    assert!(number > 5, "unowned sequence continues: {number}");
    // The source refuses the service's writes.
    let late = source.connect("billing_rw", "app").await;
    assert_denied(
        late.execute("INSERT INTO billing.events (payload) VALUES (-2)", &[])
            .await,
        "billing_rw writes the source after cut-over",
    );
    let status = run_move(&source, &to, &["billing", "status"]);
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));
    assert!(stdout(&status).contains("cut-over"), "{}", stdout(&status));
    let twice = run_move(&source, &to, &["billing", "cutover"]);
    assert_eq!(
        twice.status.code(),
        Some(0),
        "cutover twice: {}",
        stderr(&twice)
    );

    // The reverse subscription keeps the source current.
    let writer_target = target.connect("billing_rw", "app").await;
    writer_target
        .execute("INSERT INTO billing.events (payload) VALUES (1000000)", &[])
        .await
        .unwrap();
    let source_db = source.superuser("app").await;
    let total: i64 = target_db
        .query_one("SELECT count(*) FROM billing.events", &[])
        .await
        .unwrap()
        .get(0);
    wait_rows(&source_db, "billing.events", total).await;

    // Abort after cut-over: writes go back to the source, nothing lost.
    let abort = run_move(&source, &to, &["billing", "abort"]);
    assert_eq!(abort.status.code(), Some(0), "{}", stderr(&abort));
    eprintln!("{}", stdout(&abort));
    let back = payloads(&source_db).await;
    assert_eq!(
        back,
        payloads(&target_db).await,
        "the source holds every row"
    );
    let source_rw = source.connect("billing_rw", "app").await;
    let id: i64 = source_rw
        .query_one(
            "INSERT INTO billing.events (payload) VALUES (2000000) RETURNING id",
            &[],
        )
        .await
        .expect("the source takes writes again")
        .get(0);
    assert!(
        back.iter().all(|r| r.1 < id),
        "sequence continues on the source"
    );
    // abort ended the target's sessions of the service; a new one may not write.
    assert!(
        writer_target.is_closed(),
        "the target's sessions were ended"
    );
    let writer_target = target.connect("billing_rw", "app").await;
    assert_denied(
        writer_target
            .execute("INSERT INTO billing.events (payload) VALUES (3000000)", &[])
            .await,
        "billing_rw writes the target after abort",
    );
    let status = run_move(&source, &to, &["billing", "status"]);
    assert!(
        stdout(&status).contains("no move in progress"),
        "{}",
        stdout(&status)
    );

    // The move runs again, to the end: start empties the copy the abort left on the target
    // (the source holds every row of it) and copies again.
    let comment: Option<String> = target_db
        .query_one(
            "SELECT obj_description('billing'::regnamespace, 'pg_namespace')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        comment.is_some_and(|c| c.starts_with("dbsplit: the copy an aborted move left")),
        "abort marks the target's copy"
    );
    let start = run_move(&source, &to, &["billing", "start"]);
    assert_eq!(start.status.code(), Some(0), "{}", stderr(&start));
    assert!(
        stdout(&start).contains("emptied the copy an aborted move left in schema `billing`"),
        "{}",
        stdout(&start)
    );
    wait_ready(&source, &to);
    assert_eq!(payloads(&target_db).await, payloads(&source_db).await);
    // A cut-over killed right after it fenced the source: status explains, a re-run completes.
    source_db
        .batch_execute(
            "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA billing FROM billing_rw;
             DO $$ BEGIN EXECUTE format('COMMENT ON PUBLICATION dbsplit_move_billing IS %L',
               replace(obj_description((SELECT oid FROM pg_publication WHERE pubname = 'dbsplit_move_billing'), 'pg_publication'),
                       '\"copying\"', '\"fenced\"')); END $$;",
        )
        .await
        .unwrap();
    let status = run_move(&source, &to, &["billing", "status"]);
    assert_eq!(status.status.code(), Some(1), "{}", stdout(&status));
    assert!(
        stdout(&status).contains("fenced")
            && stdout(&status).contains("a cut-over was interrupted"),
        "{}",
        stdout(&status)
    );
    let cutover = run_move(&source, &to, &["billing", "cutover"]);
    assert_eq!(cutover.status.code(), Some(0), "{}", stderr(&cutover));
    let finish = run_move(&source, &to, &["billing", "finish"]);
    assert_eq!(finish.status.code(), Some(0), "{}", stderr(&finish));
    let again = run_move(&source, &to, &["billing", "finish"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "finish twice: {}",
        stderr(&again)
    );
    let late_abort = run_move(&source, &to, &["billing", "abort"]);
    assert_eq!(late_abort.status.code(), Some(2), "{}", stdout(&late_abort));
    assert!(
        stderr(&late_abort).contains("abort has nothing to undo"),
        "{}",
        stderr(&late_abort)
    );
    let left: i64 = source_db
        .query_one("SELECT count(*) FROM billing.events", &[])
        .await
        .expect("the source schema stays after finish")
        .get(0);
    assert_eq!(left, back.len() as i64 + 1);
    let source_rw = source.connect("billing_rw", "app").await;
    assert_denied(
        source_rw
            .execute("INSERT INTO billing.events (payload) VALUES (4000000)", &[])
            .await,
        "billing_rw writes the source after finish",
    );
    let objects: i64 = source_db
        .query_one(
            "SELECT (SELECT count(*) FROM pg_publication) + (SELECT count(*) FROM pg_subscription) + (SELECT count(*) FROM pg_replication_slots)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        objects, 0,
        "finish leaves no replication object on the source"
    );
    let status = run_move(&source, &to, &["billing", "status"]);
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));
    assert!(stdout(&status).contains("finished"), "{}", stdout(&status));
    let planned = plan(&source);
    assert!(
        stderr(&planned).contains("schema `billing` was left behind by a move"),
        "{}",
        stderr(&planned)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn start_lists_every_gap_at_once_and_changes_nothing() {
    let source = TestCluster::start("app");
    apply(&source);
    source.psql_ok(
        "app",
        "SET ROLE billing_owner; CREATE TABLE billing.log (line text); RESET ROLE;",
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let to = format!("host=127.0.0.1 port={closed} user=postgres dbname=app");
    let start = run_move(&source, &to, &["billing", "start"]);
    assert_eq!(start.status.code(), Some(2), "{}", stdout(&start));
    let text = stderr(&start);
    for expected in [
        "wal_level is `replica`",
        "billing.log has no primary key",
        "the target is unreachable",
        "nothing was changed",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    let db = source.superuser("app").await;
    let publications: i64 = db
        .query_one("SELECT count(*) FROM pg_publication", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(publications, 0);
}

/// Runs dbsplit with the manifest at `manifest`, no connection settings from the environment.
fn run_manifest(manifest: &std::path::Path, bin: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(manifest)
        .args(args)
        .env("NO_COLOR", "1")
        .env("PG_BIN", bin)
        .env_remove("DATABASE_URL")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_manifest_says_where_the_service_goes_and_where_it_is() {
    let source = logical();
    let target = TestCluster::start_with(
        "billing",
        &LocalConfig {
            conf: vec!["wal_level = logical".into()],
            ..LocalConfig::default()
        },
    );
    let dir = crate::support::TempDir::new("fleet-move");
    let services = r#"
[services.billing]
roles.billing_rw = { access = "readwrite" }
[services.notifications]
roles.notifications_rw = { access = "readwrite" }
"#;
    let v1 = dir.path().join("v1.toml");
    std::fs::write(
        &v1,
        format!("version = 1\n[database]\nname = \"app\"\n{services}"),
    )
    .unwrap();
    let bin = source.server.bin_dir().to_path_buf();
    let applied = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(&v1)
        .args(["apply", "--yes"])
        .env(
            "DATABASE_URL",
            source.server.connection_string("postgres", "app"),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    source.psql_ok(
        "app",
        "SET ROLE billing_owner;
         CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, amount int);
         INSERT INTO billing.invoices (amount) SELECT g FROM generate_series(1, 100) g;
         RESET ROLE;",
    );
    // The service now lives in database billing of cluster graduate.
    let fleet = dir.path().join("services.toml");
    std::fs::write(
        &fleet,
        format!(
            r#"version = 1
[clusters.main]
url = "host=127.0.0.1 port={} user=postgres"
[clusters.graduate]
url = "host=127.0.0.1 port={} user=postgres"
[databases.app]
cluster = "main"
[databases.billing]
cluster = "graduate"
[services.billing]
database = "billing"
roles.billing_rw = {{ access = "readwrite" }}
[services.notifications]
database = "app"
roles.notifications_rw = {{ access = "readwrite" }}
"#,
            source.server.port(),
            target.server.port()
        ),
    )
    .unwrap();
    let start = run_manifest(&fleet, &bin, &["move", "billing", "start"]);
    assert_eq!(start.status.code(), Some(0), "{}", stderr(&start));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = run_manifest(&fleet, &bin, &["move", "billing", "status"]);
        if status.status.code() == Some(0) {
            assert!(stdout(&status).contains("/billing"), "{}", stdout(&status));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}{}",
            stdout(&status),
            stderr(&status)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let cutover = run_manifest(&fleet, &bin, &["move", "billing", "cutover"]);
    assert_eq!(cutover.status.code(), Some(0), "{}", stderr(&cutover));
    let finish = run_manifest(&fleet, &bin, &["move", "billing", "finish"]);
    assert_eq!(finish.status.code(), Some(0), "{}", stderr(&finish));
    let rw = target.connect("billing_rw", "billing").await;
    let id: i64 = rw
        .query_one(
            "INSERT INTO billing.invoices (amount) VALUES (0) RETURNING id",
            &[],
        )
        .await
        .expect("billing_rw writes in its new database")
        .get(0);
    assert_eq!(id, 101);
    let other = target.connect("postgres", "billing").await;
    let notifications: bool = other
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'notifications')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        !notifications,
        "only the services placed there are provisioned"
    );
    // dump follows the placement too.
    let file = dir.path().join("billing.dump");
    let dumped = run_manifest(
        &fleet,
        &bin,
        &["dump", "billing", "--out", file.to_str().unwrap()],
    );
    assert_eq!(dumped.status.code(), Some(0), "{}", stderr(&dumped));
    assert!(
        stderr(&dumped).contains(&format!("127.0.0.1:{}/billing", target.server.port())),
        "{}",
        stderr(&dumped)
    );
}

/// `plan` of the example manifest on `cluster` with `--exit-code`: exit 0 when nothing is
/// pending.
fn plan_exit_code(cluster: &TestCluster) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .args(["plan", "--exit-code"])
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("postgres", "app"),
        )
        .env("NO_COLOR", "1")
        .env_remove("MONOLITH_DB_PASSWORD")
        .env_remove("BILLING_DB_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

async fn insert_as_billing_rw(
    cluster: &TestCluster,
    payload: i64,
) -> Result<u64, tokio_postgres::Error> {
    cluster
        .connect("billing_rw", "app")
        .await
        .execute(
            "INSERT INTO billing.events (payload) VALUES ($1)",
            &[&payload],
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_during_a_move_leaves_the_writes_the_move_closed_alone() {
    let source = logical();
    let target = logical();
    let to = target.server.connection_string("postgres", "app");
    apply(&source);
    source.psql_ok("app", BILLING);
    let start = run_move(&source, &to, &["billing", "start"]);
    assert_eq!(start.status.code(), Some(0), "{}", stderr(&start));
    wait_ready(&source, &to);

    // Before cut-over, an apply of the same manifest on the target keeps it closed.
    apply(&target);
    assert_denied(
        insert_as_billing_rw(&target, -1).await,
        "billing_rw writes the target after apply, before cut-over",
    );
    let planned = plan_exit_code(&target);
    assert_eq!(planned.status.code(), Some(0), "{}", stdout(&planned));
    assert!(
        stdout(&planned).contains("the move's target, closed until cut-over"),
        "{}",
        stdout(&planned)
    );

    let cutover = run_move(&source, &to, &["billing", "cutover"]);
    assert_eq!(cutover.status.code(), Some(0), "{}", stderr(&cutover));
    // After cut-over, an apply on the source keeps it fenced; the target takes the writes.
    apply(&source);
    assert_denied(
        insert_as_billing_rw(&source, -2).await,
        "billing_rw writes the source after apply, after cut-over",
    );
    insert_as_billing_rw(&target, 1)
        .await
        .expect("billing_rw writes the target after cut-over");
    let planned = plan_exit_code(&source);
    assert_eq!(planned.status.code(), Some(0), "{}", stdout(&planned));
    let text = stdout(&planned);
    assert!(text.contains("No changes"), "{text}");
    assert!(
        text.contains(
            "on schema `billing` to billing_rw alone: the move's source, fenced (phase cut-over)"
        ),
        "{text}"
    );
    let planned = plan_exit_code(&target);
    assert_eq!(planned.status.code(), Some(0), "{}", stdout(&planned));
    assert!(
        !stdout(&planned).contains("dbsplit move billing"),
        "{}",
        stdout(&planned)
    );
}

/// Two servers for a move whose table copy waits until the test lets it run: the target
/// starts no table-sync worker (`max_sync_workers_per_subscription = 0`) until
/// [`let_copy_run`].
fn logical_pair_with_a_held_copy() -> (TestCluster, TestCluster) {
    let target = TestCluster::start_with(
        "app",
        &LocalConfig {
            conf: vec![
                "wal_level = logical".into(),
                "max_sync_workers_per_subscription = 0".into(),
            ],
            ..LocalConfig::default()
        },
    );
    (logical(), target)
}

async fn set_sync_workers(target: &TestCluster, workers: u32) {
    let db = target.superuser("app").await;
    // ALTER SYSTEM runs outside a transaction: two statements, not one batch.
    db.batch_execute(&format!(
        "ALTER SYSTEM SET max_sync_workers_per_subscription = {workers}"
    ))
    .await
    .expect("set max_sync_workers_per_subscription");
    db.batch_execute("SELECT pg_reload_conf()")
        .await
        .expect("reload");
}

/// Lets the table copy run while a transaction on the target holds billing.invoices in SHARE
/// mode (readers pass, the copy's writes wait), so the copy of that table stays in the middle
/// (state `copying`) until the returned client goes away.
async fn let_copy_run_and_stall(source: &TestCluster, target: &TestCluster, to: &str) -> Client {
    let lock = target.superuser("app").await;
    lock.batch_execute("BEGIN; LOCK TABLE billing.invoices IN SHARE MODE")
        .await
        .expect("lock billing.invoices");
    set_sync_workers(target, 2).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = run_move(source, to, &["billing", "status", "--format", "json"]);
        let json: serde_json::Value =
            serde_json::from_str(&stdout(&status)).expect("status prints JSON");
        let copying = json["tables"]
            .as_array()
            .expect("tables is a list")
            .iter()
            .any(|t| t["table"] == "billing.invoices" && t["state"] == "copying");
        if copying {
            assert_eq!(status.status.code(), Some(1), "not ready mid-copy");
            return lock;
        }
        assert!(Instant::now() < deadline, "the copy never started: {json}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether the tests run as root (then the servers run as `postgres`).
fn as_root() -> bool {
    let id = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&id.stdout).trim() == "0"
}

/// Stops `cluster`'s server at once, as a crash would, or starts it again on the same data.
async fn outage(cluster: &TestCluster, data: &str, action: &str) {
    let pg_ctl = cluster.server.bin_dir().join("pg_ctl");
    let mut command = if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(pg_ctl);
        c
    } else {
        Command::new(pg_ctl)
    };
    match action {
        "stop" => command.args(["stop", "-m", "immediate", "-w", "-D", data]),
        _ => command.args(["start", "-w", "-l", "/dev/null", "-D", data]),
    };
    let output = command.output().expect("pg_ctl runs");
    assert!(output.status.success(), "pg_ctl {action}: {output:?}");
}

async fn data_directory(cluster: &TestCluster) -> String {
    cluster
        .superuser("app")
        .await
        .query_one("SHOW data_directory", &[])
        .await
        .expect("read data_directory")
        .get(0)
}

/// Replication objects left on a server: publications, subscriptions, slots.
async fn replication_objects(cluster: &TestCluster) -> i64 {
    cluster
        .superuser("app")
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM pg_publication) + (SELECT count(*) FROM pg_subscription) + (SELECT count(*) FROM pg_replication_slots)",
            &[],
        )
        .await
        .expect("count replication objects")
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_down_mid_copy_is_explained_and_resolved_by_start_or_abort() {
    let (source, target) = logical_pair_with_a_held_copy();
    let to = target.server.connection_string("postgres", "app");
    let data = data_directory(&target).await;
    apply(&source);
    source.psql_ok("app", BILLING);
    for round in ["start", "abort"] {
        let start = run_move(&source, &to, &["billing", "start"]);
        assert_eq!(start.status.code(), Some(0), "{round}: {}", stderr(&start));
        let lock = let_copy_run_and_stall(&source, &target, &to).await;

        outage(&target, &data, "stop").await;
        drop(lock);
        let status = run_move(&source, &to, &["billing", "status"]);
        assert_eq!(status.status.code(), Some(1), "{}", stdout(&status));
        let text = stdout(&status);
        assert!(
            text.contains("copying") && text.contains("the target is unreachable"),
            "{text}"
        );
        let cutover = run_move(&source, &to, &["billing", "cutover"]);
        assert_eq!(cutover.status.code(), Some(2), "{}", stdout(&cutover));
        let again = run_move(&source, &to, &["billing", "start"]);
        assert_eq!(again.status.code(), Some(2), "{}", stdout(&again));
        assert!(
            stderr(&again).contains("the target is unreachable")
                && stderr(&again).contains("nothing was changed"),
            "{}",
            stderr(&again)
        );
        outage(&target, &data, "start").await;

        if round == "start" {
            // Running start again once the target is back: the copy resumes and completes.
            let again = run_move(&source, &to, &["billing", "start"]);
            assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
            wait_ready(&source, &to);
            let rows: i64 = target
                .superuser("app")
                .await
                .query_one("SELECT count(*) FROM billing.invoices", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(rows, 5000);
            let abort = run_move(&source, &to, &["billing", "abort"]);
            assert_eq!(abort.status.code(), Some(0), "{}", stderr(&abort));
            // The next round's start empties the copy this abort left on the target.
            set_sync_workers(&target, 0).await;
        } else {
            // abort once the target is back: no replication object is left on either side,
            // table-sync slots included, and the source keeps taking the service's writes.
            let abort = run_move(&source, &to, &["billing", "abort"]);
            assert_eq!(abort.status.code(), Some(0), "{}", stderr(&abort));
            assert_eq!(replication_objects(&source).await, 0);
            assert_eq!(replication_objects(&target).await, 0);
            insert_as_billing_rw(&source, 7)
                .await
                .expect("the source takes writes after abort");
            let status = run_move(&source, &to, &["billing", "status"]);
            assert!(
                stdout(&status).contains("no move in progress"),
                "{}",
                stdout(&status)
            );
        }
    }
}

/// `dbsplit move billing cutover` killed at the failpoint `point` (it aborts there, as
/// `kill -9` would).
fn killed_cutover(source: &TestCluster, to: &str, point: &str) {
    let killed = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .args(["move", "billing", "cutover", "--to", to])
        .env(
            "DATABASE_URL",
            source.server.connection_string("postgres", "app"),
        )
        .env("PG_BIN", source.server.bin_dir())
        .env("DBSPLIT_FAILPOINT", point)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs");
    assert_eq!(
        killed.status.code(),
        None,
        "{point}: cutover was not killed: {}",
        stderr(&killed)
    );
}

async fn all_payloads(cluster: &TestCluster) -> Vec<i64> {
    payloads(&cluster.superuser("app").await)
        .await
        .into_iter()
        .map(|(payload, _)| payload)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_cutover_is_explained_and_a_rerun_or_abort_resolves_it_with_nothing_lost() {
    let source = logical();
    let target = logical();
    let to = target.server.connection_string("postgres", "app");
    apply(&source);
    source.psql_ok("app", BILLING);
    let rounds = [
        ("cutover-fenced", "abort"),
        ("cutover-verified", "cutover"),
        ("cutover-switched", "cutover"),
        ("cutover-reversed", "abort"),
    ];
    for (round, (point, resolve)) in rounds.into_iter().enumerate() {
        let payload = i64::try_from(round).unwrap() + 10;
        insert_as_billing_rw(&source, payload)
            .await
            .expect("the source takes the service's writes before the move");
        let start = run_move(&source, &to, &["billing", "start"]);
        assert_eq!(start.status.code(), Some(0), "{point}: {}", stderr(&start));
        wait_ready(&source, &to);
        killed_cutover(&source, &to, point);

        // status says the cut-over was interrupted; the service writes nowhere meanwhile.
        let status = run_move(&source, &to, &["billing", "status"]);
        assert_eq!(
            status.status.code(),
            Some(1),
            "{point}: {}",
            stdout(&status)
        );
        assert!(
            stdout(&status).contains("a cut-over was interrupted"),
            "{point}: {}",
            stdout(&status)
        );
        assert_denied(
            insert_as_billing_rw(&source, -1).await,
            &format!("{point}: billing_rw writes the source after a killed cutover"),
        );
        assert_denied(
            insert_as_billing_rw(&target, -1).await,
            &format!("{point}: billing_rw writes the target after a killed cutover"),
        );

        let resolved = run_move(&source, &to, &["billing", resolve]);
        assert_eq!(
            resolved.status.code(),
            Some(0),
            "{point}, then {resolve}: {}",
            stderr(&resolved)
        );
        let on_source = all_payloads(&source).await;
        assert!(on_source.contains(&payload), "{point}: {on_source:?}");
        if resolve == "cutover" {
            // Cut over: the target holds every row and takes the writes; the source refuses.
            assert_eq!(all_payloads(&target).await, on_source, "{point}");
            insert_as_billing_rw(&target, payload + 100)
                .await
                .expect("the target takes the writes after the re-run");
            assert_denied(
                insert_as_billing_rw(&source, -1).await,
                &format!("{point}: billing_rw writes the source after cut-over"),
            );
            let back = run_move(&source, &to, &["billing", "abort"]);
            assert_eq!(back.status.code(), Some(0), "{point}: {}", stderr(&back));
            let on_source = all_payloads(&source).await;
            assert_eq!(on_source, all_payloads(&target).await, "{point}");
            assert!(on_source.contains(&(payload + 100)), "{point}");
        } else if point == "cutover-reversed" {
            assert_eq!(all_payloads(&target).await, on_source, "{point}");
        }
        // Writes are back on the source, no replication object is left, the target is closed.
        insert_as_billing_rw(&source, payload + 200)
            .await
            .expect("the source takes the writes after abort");
        assert_eq!(replication_objects(&source).await, 0, "{point}");
        assert_eq!(replication_objects(&target).await, 0, "{point}");
        assert_denied(
            insert_as_billing_rw(&target, -1).await,
            &format!("{point}: billing_rw writes the target after abort"),
        );
        // A person empties the target before the next move.
        target.psql_ok("app", "DROP SCHEMA billing CASCADE");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_without_a_key_are_all_listed_and_nothing_is_created_on_either_side() {
    let source = logical();
    let target = logical();
    let to = target.server.connection_string("postgres", "app");
    apply(&source);
    source.psql_ok("app", BILLING);
    source.psql_ok(
        "app",
        "SET ROLE billing_owner;
         CREATE TABLE billing.log (line text);
         CREATE TABLE billing.audit (at timestamptz, what text);
         RESET ROLE;",
    );
    let start = run_move(&source, &to, &["billing", "start"]);
    assert_eq!(start.status.code(), Some(2), "{}", stdout(&start));
    let text = stderr(&start);
    for expected in [
        "billing.audit has no primary key",
        "billing.log has no primary key",
        "nothing was changed",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    assert_eq!(replication_objects(&source).await, 0);
    assert_eq!(replication_objects(&target).await, 0);
    let target_db = target.superuser("app").await;
    let created: i64 = target_db
        .query_one(
            "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'billing')
                  + (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'billing%')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, 0, "start created something on the target");
    let status = run_move(&source, &to, &["billing", "status"]);
    assert!(
        stdout(&status).contains("no move in progress"),
        "{}",
        stdout(&status)
    );

    // Each gap fixed as the message says: start goes through.
    source.psql_ok(
        "app",
        "ALTER TABLE billing.log REPLICA IDENTITY FULL; ALTER TABLE billing.audit ADD PRIMARY KEY (at);",
    );
    let start = run_move(&source, &to, &["billing", "start"]);
    assert_eq!(start.status.code(), Some(0), "{}", stderr(&start));
    wait_ready(&source, &to);
}

/// The bin folder of a newer major than `source` runs (17, or 18 from 17 on; the same
/// binaries when nothing newer exists), from install-pg.sh: `$INSTALL_PG`, else
/// ../shared/pgbin/install-pg.sh beside the repository or beside its worktree folder.
fn newer_major_bin(source_major: u32, source_bin: &std::path::Path) -> std::path::PathBuf {
    let Some(major) = [17, 18].into_iter().find(|m| *m > source_major) else {
        return source_bin.to_path_buf();
    };
    let script = std::env::var_os("INSTALL_PG")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain([
            root().join("../shared/pgbin/install-pg.sh"),
            root().join("../../shared/pgbin/install-pg.sh"),
        ])
        .find(|path| path.exists())
        .expect("install-pg.sh not found: set INSTALL_PG to its path (see .ci/run)");
    let installed = Command::new(&script)
        .arg(major.to_string())
        .output()
        .expect("install-pg.sh runs");
    assert!(
        installed.status.success(),
        "install-pg.sh {major}: {}",
        stderr(&installed)
    );
    std::path::PathBuf::from(stdout(&installed).trim())
}

async fn server_major(cluster: &TestCluster) -> u32 {
    let version: String = cluster
        .superuser("postgres")
        .await
        .query_one("SHOW server_version_num", &[])
        .await
        .expect("read server_version_num")
        .get(0);
    version.parse::<u32>().expect("a number") / 10_000
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_moves_to_a_newer_major() {
    let source = logical();
    let source_major = server_major(&source).await;
    let bin = newer_major_bin(source_major, source.server.bin_dir());
    let config = LocalConfig {
        conf: vec!["wal_level = logical".into()],
        ..LocalConfig::default()
    };
    let server = dbsplit::pg::local::LocalServer::start_on(Some(&bin), &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let target = TestCluster {
        server: server.into(),
    };
    target
        .superuser("postgres")
        .await
        .batch_execute("CREATE DATABASE app")
        .await
        .expect("create database app");
    let target_major = server_major(&target).await;
    assert!(
        target_major > source_major || source_major >= 18,
        "{source_major} -> {target_major}"
    );
    let to = target.server.connection_string("postgres", "app");
    apply(&source);
    source.psql_ok("app", BILLING);
    insert_as_billing_rw(&source, 1)
        .await
        .expect("the source takes writes");

    // pg_dump and pg_restore of the newer major: pg_restore refuses a newer server.
    let start = run_move_with(&source, &to, &["billing", "start"], &bin);
    assert_eq!(start.status.code(), Some(0), "{}", stderr(&start));
    wait_ready(&source, &to);
    let cutover = run_move(&source, &to, &["billing", "cutover", "--verify", "hash"]);
    assert_eq!(cutover.status.code(), Some(0), "{}", stderr(&cutover));
    eprintln!("{source_major} -> {target_major}: {}", stdout(&cutover));

    assert_eq!(all_payloads(&target).await, [1]);
    let rw = target.connect("billing_rw", "app").await;
    let id: i64 = rw
        .query_one(
            "INSERT INTO billing.events (payload) VALUES (2) RETURNING id",
            &[],
        )
        .await
        .expect("billing_rw writes on the newer major")
        .get(0);
    assert!(id > 1, "the sequence continues: {id}");
    assert_denied(
        insert_as_billing_rw(&source, 3).await,
        "billing_rw writes the source after cut-over",
    );
    let invoices: i64 = target
        .superuser("app")
        .await
        .query_one("SELECT count(*) FROM billing.invoices", &[])
        .await
        .expect("count invoices")
        .get(0);
    assert_eq!(invoices, 5000);
    // The reverse subscription (from the newer major back to the source) keeps it current.
    let source_db = source.superuser("app").await;
    wait_rows(&source_db, "billing.events", 2).await;
}

/// A PgBouncer on `dir`/pgbouncer.ini (as `postgres` when the tests run as root), with
/// `bouncer_admin` (password `admin secret`) in admin_users; killed when dropped.
struct Bouncer(std::process::Child);

impl Bouncer {
    fn start(dir: &std::path::Path, port: u16) -> Bouncer {
        let ini = dir.join("pgbouncer.ini");
        let text = std::fs::read_to_string(&ini).expect("pgbouncer.ini is written");
        let text = text
            .replace("listen_addr = *\n", "listen_addr = 127.0.0.1\n")
            .replace(
                "[pgbouncer]\n",
                "[pgbouncer]\nadmin_users = bouncer_admin\nunix_socket_dir =\n",
            );
        std::fs::write(&ini, text).expect("pgbouncer.ini is rewritten");
        let mut userlist = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("userlist.txt"))
            .expect("userlist.txt is written");
        std::io::Write::write_all(&mut userlist, b"\"bouncer_admin\" \"admin secret\"\n")
            .expect("add the admin");
        let mut command = if as_root() {
            let chown = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir)
                .status()
                .expect("chown runs");
            assert!(chown.success());
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", "pgbouncer"]);
            command
        } else {
            Command::new("pgbouncer")
        };
        let child = command
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer starts: apt-get install pgbouncer");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pgbouncer does not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Bouncer(child)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        // SIGTERM, which runuser passes on to PgBouncer.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// The port of the server a query through `client` reached, retried while PgBouncer has no
/// server connection to give (the fence ended the old one).
async fn server_port(client: &Client) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.simple_query("SELECT inet_server_port()").await {
            Ok(rows) => {
                let port = rows.iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                    _ => None,
                });
                return port.expect("a row").parse().expect("a port");
            }
            Err(error) => {
                assert!(Instant::now() < deadline, "{error:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cutover_repoints_the_pgbouncer_alias_and_abort_points_it_back() {
    let source = logical();
    // The target checks passwords over TCP (the move's own superuser connections excepted), so
    // PgBouncer's logins there work only with the verifiers of its userlist.
    let target = TestCluster::start_with(
        "app",
        &LocalConfig {
            conf: vec!["wal_level = logical".into(), "max_wal_senders = 10".into()],
            hba: Some(
                "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
                    .into(),
            ),
            ..LocalConfig::default()
        },
    );
    let dir = crate::support::TempDir::new("move-pooler");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let manifest = dir.path().join("services.toml");
    std::fs::write(
        &manifest,
        format!(
            "version = 1\n[database]\nname = \"app\"\n\
             [services.billing]\n\
             roles.billing_rw = {{ access = \"readwrite\", password_env = \"BILLING_PW\", pool_size = 2 }}\n\
             [pooler]\nlisten_port = {port}\npool_mode = \"transaction\"\n"
        ),
    )
    .expect("write the manifest");
    let out = dir.path().join("bouncer");
    let dbsplit = |cluster: &TestCluster, args: &[&str], extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dbsplit"))
            .arg("-m")
            .arg(&manifest)
            .args(args)
            .args(extra)
            .env(
                "DATABASE_URL",
                cluster.server.connection_string("postgres", "app"),
            )
            .env("BILLING_PW", "billing secret")
            .env("PG_BIN", cluster.server.bin_dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("dbsplit runs")
    };
    let applied = dbsplit(&source, &["apply", "--yes"], &[]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    source.psql_ok(
        "app",
        "SET ROLE billing_owner; CREATE TABLE billing.events (id bigserial PRIMARY KEY); RESET ROLE;",
    );
    let written = dbsplit(
        &source,
        &["pooler", "--out", out.to_str().expect("a UTF-8 path")],
        &[],
    );
    assert_eq!(written.status.code(), Some(0), "{}", stderr(&written));
    let _bouncer = Bouncer::start(&out, port);

    // A client connected through the alias before the move.
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} dbname=billing user=billing_rw password='billing secret' sslmode=disable"),
        NoTls,
    )
    .await
    .expect("billing_rw logs in through PgBouncer");
    tokio::spawn(connection);
    assert_eq!(server_port(&client).await, i32::from(source.server.port()));

    let to = target.server.connection_string("postgres", "app");
    let admin = format!(
        "host=127.0.0.1 port={port} user=bouncer_admin password='admin secret' dbname=pgbouncer sslmode=disable"
    );
    let start = dbsplit(&source, &["move", "billing", "start", "--to", &to], &[]);
    assert_eq!(start.status.code(), Some(0), "{}", stderr(&start));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = dbsplit(&source, &["move", "billing", "status", "--to", &to], &[]);
        if status.status.code() == Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "{}", stdout(&status));
        std::thread::sleep(Duration::from_millis(300));
    }
    let cutover = dbsplit(
        &source,
        &["move", "billing", "cutover", "--to", &to],
        &["--pgbouncer", &admin],
    );
    assert_eq!(cutover.status.code(), Some(0), "{}", stderr(&cutover));
    assert!(
        stdout(&cutover).contains("alias `billing` points at 127.0.0.1"),
        "{}",
        stdout(&cutover)
    );
    eprintln!("{}", stdout(&cutover));
    assert!(
        stdout(&cutover).contains("the target's password verifiers of billing_rw are now those of"),
        "{}",
        stdout(&cutover)
    );
    let verifier = "SELECT rolpassword FROM pg_authid WHERE rolname = 'billing_rw'";
    let on_source: String = source
        .superuser("app")
        .await
        .query_one(verifier, &[])
        .await
        .unwrap()
        .get(0);
    let on_target: String = target
        .superuser("app")
        .await
        .query_one(verifier, &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        on_source, on_target,
        "the userlist's verifier is the target's"
    );
    // The same client, through the same alias, now lands in the target, and writes there.
    assert_eq!(server_port(&client).await, i32::from(target.server.port()));
    client
        .simple_query("INSERT INTO billing.events DEFAULT VALUES")
        .await
        .expect("billing_rw writes the target through PgBouncer");
    let ini = std::fs::read_to_string(out.join("pgbouncer.ini")).expect("read pgbouncer.ini");
    assert!(
        ini.contains(&format!(
            "billing = host=127.0.0.1 port={} dbname=app",
            target.server.port()
        )),
        "{ini}"
    );

    let abort = dbsplit(
        &source,
        &["move", "billing", "abort", "--to", &to],
        &["--pgbouncer", &admin],
    );
    assert_eq!(abort.status.code(), Some(0), "{}", stderr(&abort));
    assert_eq!(server_port(&client).await, i32::from(source.server.port()));
    client
        .simple_query("INSERT INTO billing.events DEFAULT VALUES")
        .await
        .expect("billing_rw writes the source again through PgBouncer");
}

/// Runs `dbsplit migrate billing` on `url` (as billing_migrator, the service's `access =
/// "owner"` login that migrate connects as), with the example manifest copied into `dir`
/// (whose `migrations/billing` holds the files).
fn run_migrate(dir: &std::path::Path, url: &str, bin: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(dir.join("services.toml"))
        .args(["migrate", "billing"])
        .env("DATABASE_URL", url)
        .env("NO_COLOR", "1")
        .env("PG_BIN", bin)
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

/// Writes `migrations/billing/<version>_<slug>.sql` in `dir`.
fn write_migration(dir: &std::path::Path, version: &str, slug: &str, sql: &str) {
    let folder = dir.join("migrations").join("billing");
    std::fs::create_dir_all(&folder).expect("the migrations folder is made");
    std::fs::write(folder.join(format!("{version}_{slug}.sql")), sql)
        .expect("the migration is written");
}

/// The rows of `table` ordered by id, as text.
async fn rows_of(client: &Client, table: &str) -> Vec<String> {
    client
        .query(&format!("SELECT t::text FROM {table} t ORDER BY id"), &[])
        .await
        .unwrap_or_else(|e| panic!("read {table}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_during_a_move_reaches_the_other_side_and_its_rows_are_replicated() {
    let source = logical();
    let target = logical();
    let bin = source.server.bin_dir().to_path_buf();
    let to = target.server.connection_string("postgres", "app");
    let source_url = source.server.connection_string("billing_migrator", "app");
    let target_url = target.server.connection_string("billing_migrator", "app");
    let dir = crate::support::TempDir::new("move-migrate");
    std::fs::copy(
        root().join("services.toml.example"),
        dir.path().join("services.toml"),
    )
    .expect("the manifest is copied");
    apply(&source);
    source.psql_ok("app", BILLING);
    let start = run_move(&source, &to, &["billing", "start"]);
    assert_eq!(start.status.code(), Some(0), "{}", stderr(&start));
    wait_ready(&source, &to);
    // On 14 the publication lists its tables and belongs to the schema's owner, so that the
    // migrator may add new ones; the CREATE on the database that took was taken back.
    let (owner, create): (String, bool) = {
        let row = source
            .superuser("app")
            .await
            .query_one(
                "SELECT pubowner::regrole::text, has_database_privilege('billing_owner', 'app', 'CREATE')
                   FROM pg_catalog.pg_publication WHERE pubname = 'dbsplit_move_billing'",
                &[],
            )
            .await
            .expect("the publication exists");
        (row.get(0), row.get(1))
    };
    if server_major(&source).await < 15 {
        assert_eq!(owner, "billing_owner");
    }
    assert!(!create, "billing_owner was left CREATE on database app");

    // Before cut-over the migration runs on the source; the move carries it to the target.
    write_migration(
        dir.path(),
        "20250101000000",
        "refunds",
        "CREATE TABLE refunds (id bigserial PRIMARY KEY, amount numeric NOT NULL);
         CREATE INDEX refunds_amount ON refunds (amount);
         INSERT INTO refunds (amount) SELECT g FROM generate_series(1, 3) g;",
    );
    let migrated = run_migrate(dir.path(), &source_url, &bin);
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));
    let said = stderr(&migrated);
    assert!(
        said.contains("new definition(s) of schema `billing`"),
        "{said}"
    );
    assert!(
        said.contains("subscription dbsplit_move_billing on postgres@127.0.0.1:"),
        "{said}"
    );
    if server_major(&source).await < 15 {
        // 14 publishes a table list: the move adds the migration's tables to it.
        assert!(
            said.contains(
                "publication dbsplit_move_billing now includes billing.dbsplit_migrations, billing.refunds"
            ),
            "{said}"
        );
    }
    let again = run_migrate(dir.path(), &source_url, &bin);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        !stderr(&again).contains("refreshed"),
        "a second run has nothing to carry: {}",
        stderr(&again)
    );
    // Migrating the target before cut-over is refused: its writes are on the source.
    let wrong = run_migrate(dir.path(), &target_url, &bin);
    assert_eq!(wrong.status.code(), Some(2), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("its writes are still on the source"),
        "{}",
        stderr(&wrong)
    );

    // A change to a table both sides hold is not carried: migrate names it, a person runs the
    // same statement on the target, and the replication goes on.
    write_migration(
        dir.path(),
        "20250101120000",
        "invoice_notes",
        "ALTER TABLE invoices ADD COLUMN note text;",
    );
    let migrated = run_migrate(dir.path(), &source_url, &bin);
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));
    assert!(
        stderr(&migrated)
            .contains("warning: the columns of billing.invoices differ on postgres@127.0.0.1:"),
        "{}",
        stderr(&migrated)
    );
    target.psql_ok(
        "app",
        "SET ROLE billing_owner; ALTER TABLE billing.invoices ADD COLUMN note text; RESET ROLE;",
    );

    // The service keeps writing the new table on the source; the target refuses it.
    let source_rw = source.connect("billing_rw", "app").await;
    for amount in 10..20 {
        source_rw
            .execute(
                "INSERT INTO billing.refunds (amount) VALUES ($1::int)",
                &[&amount],
            )
            .await
            .expect("billing_rw writes the new table on the source");
    }
    assert_denied(
        target
            .connect("billing_rw", "app")
            .await
            .execute("INSERT INTO billing.refunds (amount) VALUES (-1)", &[])
            .await,
        "billing_rw writes the new table on the target before cut-over",
    );
    wait_ready(&source, &to);
    let cutover = run_move(&source, &to, &["billing", "cutover", "--verify", "hash"]);
    assert_eq!(cutover.status.code(), Some(0), "{}", stderr(&cutover));

    let source_db = source.superuser("app").await;
    let target_db = target.superuser("app").await;
    let moved = rows_of(&target_db, "billing.refunds").await;
    assert_eq!(moved.len(), 13, "{moved:?}");
    assert_eq!(moved, rows_of(&source_db, "billing.refunds").await);
    let history: i64 = target_db
        .query_one("SELECT count(*) FROM billing.dbsplit_migrations", &[])
        .await
        .expect("the history came along")
        .get(0);
    assert_eq!(history, 2);

    // The boundary holds on both sides for the new table.
    let target_rw = target.connect("billing_rw", "app").await;
    let id: i64 = target_rw
        .query_one(
            "INSERT INTO billing.refunds (amount) VALUES (100) RETURNING id",
            &[],
        )
        .await
        .expect("billing_rw writes the new table on the target after cut-over")
        .get(0);
    assert!(id > 13, "the new table's sequence continues: {id}");
    // cutover ended the service's sessions on the source.
    let source_rw = source.connect("billing_rw", "app").await;
    assert_denied(
        source_rw
            .execute("INSERT INTO billing.refunds (amount) VALUES (-2)", &[])
            .await,
        "billing_rw writes the new table on the source after cut-over",
    );
    assert_denied(
        target
            .connect("billing_ro", "app")
            .await
            .execute("INSERT INTO billing.refunds (amount) VALUES (-3)", &[])
            .await,
        "billing_ro writes the new table on the target",
    );
    target.psql_ok(
        "app",
        "CREATE SCHEMA elsewhere; CREATE TABLE elsewhere.secrets (id int); CREATE TABLE public.secrets (id int);",
    );
    for table in ["elsewhere.secrets", "public.secrets"] {
        assert_denied(
            target_rw
                .query(&format!("SELECT * FROM {table}"), &[])
                .await,
            &format!("billing_rw reads {table} on the target"),
        );
    }
    assert_denied(
        source_rw.query("SELECT * FROM monolith.users", &[]).await,
        "billing_rw reads monolith on the source",
    );

    // After cut-over the migrations run on the target, and the source follows them; on the
    // source they are refused.
    write_migration(
        dir.path(),
        "20250102000000",
        "credits",
        "CREATE TABLE credits (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);
         INSERT INTO credits (note) VALUES ('a'), ('b');",
    );
    let wrong = run_migrate(dir.path(), &source_url, &bin);
    assert_eq!(wrong.status.code(), Some(2), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("its migrations run there now"),
        "{}",
        stderr(&wrong)
    );
    let migrated = run_migrate(dir.path(), &target_url, &bin);
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));
    assert!(
        stderr(&migrated).contains("subscription dbsplit_back_billing on postgres@127.0.0.1:"),
        "{}",
        stderr(&migrated)
    );
    wait_rows(&source_db, "billing.credits", 2).await;
    target_rw
        .execute("INSERT INTO billing.credits (note) VALUES ('c')", &[])
        .await
        .expect("billing_rw writes the target's new table");
    wait_rows(&source_db, "billing.credits", 3).await;
    assert_denied(
        source_rw
            .execute("INSERT INTO billing.credits (note) VALUES ('x')", &[])
            .await,
        "billing_rw writes the new table on the fenced source",
    );

    // An abort finds every row of both new tables on the source.
    let abort = run_move(&source, &to, &["billing", "abort", "--verify", "hash"]);
    assert_eq!(abort.status.code(), Some(0), "{}", stderr(&abort));
    for table in ["billing.refunds", "billing.credits"] {
        assert_eq!(
            rows_of(&source_db, table).await,
            rows_of(&target_db, table).await,
            "{table}"
        );
    }

    // The copy the abort left no longer matches once the source's tables change: a new start
    // refuses it, names the difference, and changes nothing there.
    write_migration(
        dir.path(),
        "20250103000000",
        "refund_reasons",
        "ALTER TABLE refunds ADD COLUMN reason text;",
    );
    let migrated = run_migrate(dir.path(), &source_url, &bin);
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));
    let start = run_move(&source, &to, &["billing", "start"]);
    assert_eq!(start.status.code(), Some(2), "{}", stdout(&start));
    assert!(
        stderr(&start).contains(
            "holds the copy an aborted move left, but its definitions are no longer the source's (the columns of billing.refunds differ)"
        ),
        "{}",
        stderr(&start)
    );
    assert_eq!(rows_of(&target_db, "billing.refunds").await.len(), 14);
}

/// A server with wal_level=logical and a managed provider's admin: `admin` is `LOGIN CREATEROLE
/// CREATEDB REPLICATION`, a member of pg_signal_backend (as the providers' admin roles are; on
/// 16+ also of pg_create_subscription), not a superuser, and owns database `app`. Over TCP the
/// admin logs in with a password, as on a managed server: a subscription owned by a role that
/// is not a superuser must use one. On 14 a superuser revokes PUBLIC's CREATE on the public
/// schema the bootstrap superuser owns (see tests/it/managed.rs).
async fn managed_logical() -> TestCluster {
    let cluster = TestCluster::start_with(
        "scratch",
        &LocalConfig {
            conf: vec!["wal_level = logical".into(), "max_wal_senders = 10".into()],
            hba: Some(
                "local all all trust\nhost all admin 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n"
                    .into(),
            ),
            ..LocalConfig::default()
        },
    );
    let major = server_major(&cluster).await;
    let mut roles = format!(
        "CREATE ROLE admin LOGIN CREATEROLE CREATEDB REPLICATION PASSWORD '{ADMIN_PASSWORD}';
         GRANT pg_signal_backend TO admin;"
    );
    if major >= 16 {
        roles.push_str("GRANT pg_create_subscription TO admin;");
    }
    cluster.psql_ok("scratch", &roles);
    cluster
        .superuser("scratch")
        .await
        .batch_execute("CREATE DATABASE app OWNER admin")
        .await
        .expect("a database the admin owns");
    if major < 15 {
        cluster.psql_ok("app", r#"REVOKE CREATE ON SCHEMA "public" FROM PUBLIC;"#);
    }
    cluster
}

const ADMIN_PASSWORD: &str = "admin secret";

/// The connection string of `managed_logical`'s admin to database `app`.
fn admin_url(cluster: &TestCluster) -> String {
    format!(
        "{} password='{ADMIN_PASSWORD}'",
        cluster.server.connection_string("admin", "app")
    )
}

/// `dbsplit` with the example manifest against `cluster`'s database `app` as `user`.
fn dbsplit_as(cluster: &TestCluster, user: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .args(args)
        .env(
            "DATABASE_URL",
            if user == "admin" {
                admin_url(cluster)
            } else {
                cluster.server.connection_string(user, "app")
            },
        )
        .env("NO_COLOR", "1")
        .env("PG_BIN", cluster.server.bin_dir())
        .env_remove("PGPASSWORD")
        .env_remove("BILLING_DB_PASSWORD")
        .env_remove("MONOLITH_DB_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

/// `dbsplit move billing ARGS --to TARGET` as `managed_logical`'s admin on both sides.
fn managed_step(source: &TestCluster, target: &TestCluster, args: &[&str]) -> Output {
    let to = admin_url(target);
    let mut all = vec!["move", "billing"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--to", &to]);
    dbsplit_as(source, "admin", &all)
}

/// Two `managed_logical` servers, billing applied on the source by the admin with one row, the
/// move started and copied, then cut over, all as the admin: the target takes billing_rw's
/// writes, the source refuses them. `None` before 16, where start refuses (only a superuser
/// may create a subscription) and changes nothing.
async fn managed_cutover() -> Option<(TestCluster, TestCluster)> {
    let source = managed_logical().await;
    let target = managed_logical().await;
    let applied = dbsplit_as(&source, "admin", &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    source.psql_ok("app", BILLING);
    insert_as_billing_rw(&source, 1)
        .await
        .expect("the source takes writes");
    let step = |args: &[&str]| managed_step(&source, &target, args);
    let start = step(&["start"]);
    if server_major(&target).await < 16 {
        assert_eq!(start.status.code(), Some(2), "{}", stderr(&start));
        assert!(
            stderr(&start).contains(
                "the role connecting to the target may not create subscriptions: it must be a superuser, or on PostgreSQL 16+ a member of pg_create_subscription"
            ),
            "{}",
            stderr(&start)
        );
        assert_eq!(replication_objects(&source).await, 0);
        assert_eq!(replication_objects(&target).await, 0);
        return None;
    }
    assert_eq!(
        start.status.code(),
        Some(0),
        "{}{}",
        stdout(&start),
        stderr(&start)
    );
    poll_ready(|| step(&["status"]));
    // What the move lets the admin reach while it runs is not drift: plan leaves it alone.
    let plan = dbsplit_as(&source, "admin", &["plan", "--exit-code"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
    assert!(
        stdout(&plan)
            .contains("to admin alone: the move of service `billing` under way reads it as admin"),
        "{}",
        stdout(&plan)
    );
    // While the move runs the admin reads the source's tables (the initial copy) and reaches
    // the target's schema (the subscription's lookups).
    let reading = move_leftovers(&source).await;
    assert!(
        reading.contains(&"admin has SELECT on events".to_string()),
        "{reading:?}"
    );
    assert_eq!(
        move_leftovers(&target).await,
        ["admin has USAGE on billing"]
    );
    // Written while copying: it reaches the target by streaming, not by the initial copy.
    insert_as_billing_rw(&source, 2)
        .await
        .expect("the source takes writes while the move copies");
    let handed_out = max_id(&source).await;
    let cutover = step(&["cutover"]);
    assert_eq!(
        cutover.status.code(),
        Some(0),
        "{}{}",
        stdout(&cutover),
        stderr(&cutover)
    );
    insert_as_billing_rw(&target, 3)
        .await
        .expect("billing_rw writes the target after cut-over");
    assert_denied(
        insert_as_billing_rw(&source, 4).await,
        "billing_rw writes the source after cut-over",
    );
    // The target's sequence continues above what the source handed out (the reverse
    // subscription may since have brought the target's row back to the source).
    assert_eq!(max_id(&target).await, handed_out + 1);
    Some((source, target))
}

/// What the move left granted on `cluster` that was not granted before: CREATE on the
/// database to the owner, or any privilege to the admin on schema billing or its tables (for
/// the move's lookups and initial copy only). Read from the ACLs themselves: on 14 and 15 the
/// admin also inherits what the owner holds.
async fn move_leftovers(cluster: &TestCluster) -> Vec<String> {
    let rows = cluster
        .superuser("app")
        .await
        .query(
            "SELECT 'billing_owner has ' || a.privilege_type || ' on app'
               FROM pg_database d, aclexplode(d.datacl) a
              WHERE d.datname = 'app' AND a.grantee = 'billing_owner'::regrole
             UNION ALL
             SELECT 'admin has ' || a.privilege_type || ' on billing'
               FROM pg_namespace n, aclexplode(n.nspacl) a
              WHERE n.nspname = 'billing' AND a.grantee = 'admin'::regrole
             UNION ALL
             SELECT 'admin has ' || a.privilege_type || ' on ' || c.relname
               FROM pg_class c, aclexplode(c.relacl) a
              WHERE c.relnamespace = 'billing'::regnamespace AND a.grantee = 'admin'::regrole",
            &[],
        )
        .await
        .expect("read the leftovers");
    rows.iter().map(|r| r.get(0)).collect()
}

/// The highest id of billing.events.
async fn max_id(cluster: &TestCluster) -> i64 {
    cluster
        .superuser("app")
        .await
        .query_one(
            "SELECT coalesce(max(id), 0)::bigint FROM billing.events",
            &[],
        )
        .await
        .expect("read the ids")
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_managed_admin_who_is_not_a_superuser_moves_a_service() {
    let Some((source, target)) = managed_cutover().await else {
        return;
    };
    let finish = managed_step(&source, &target, &["finish"]);
    assert_eq!(
        finish.status.code(),
        Some(0),
        "{}{}",
        stdout(&finish),
        stderr(&finish)
    );
    assert_eq!(all_payloads(&target).await, [1, 2, 3]);
    assert_eq!(replication_objects(&source).await, 0);
    assert_eq!(replication_objects(&target).await, 0);
    assert_eq!(move_leftovers(&source).await, Vec::<String>::new());
    assert_eq!(move_leftovers(&target).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_managed_admin_who_is_not_a_superuser_aborts_after_cutover() {
    let Some((source, target)) = managed_cutover().await else {
        return;
    };
    let abort = managed_step(&source, &target, &["abort"]);
    assert_eq!(
        abort.status.code(),
        Some(0),
        "{}{}",
        stdout(&abort),
        stderr(&abort)
    );
    insert_as_billing_rw(&source, 5)
        .await
        .expect("billing_rw writes the source again after abort");
    assert_denied(
        insert_as_billing_rw(&target, 6).await,
        "billing_rw writes the target after abort",
    );
    assert_eq!(all_payloads(&source).await, [1, 2, 3, 5]);
    assert_eq!(replication_objects(&source).await, 0);
    assert_eq!(replication_objects(&target).await, 0);
    assert_eq!(move_leftovers(&source).await, Vec::<String>::new());
    let plan = dbsplit_as(&source, "admin", &["plan", "--exit-code"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
}

#[tokio::test(flavor = "multi_thread")]
async fn start_tells_a_managed_admin_which_role_needs_what_and_changes_nothing() {
    let source = managed_logical().await;
    let target = managed_logical().await;
    let applied = dbsplit_as(&source, "admin", &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    source.psql_ok("app", BILLING);
    source.psql_ok("scratch", "REVOKE pg_signal_backend FROM admin;");
    target.psql_ok("scratch", "REVOKE pg_signal_backend FROM admin;");
    let start = managed_step(&source, &target, &["start"]);
    assert_eq!(start.status.code(), Some(2), "{}", stderr(&start));
    for expected in [
        "role `admin` on the source may not end the service's sessions at cut-over: `GRANT pg_signal_backend TO \"admin\"`",
        "the role connecting to the target may not end the service's sessions there",
    ] {
        assert!(
            stderr(&start).contains(expected),
            "{expected}: {}",
            stderr(&start)
        );
    }
    assert_eq!(replication_objects(&source).await, 0);
    assert_eq!(replication_objects(&target).await, 0);
    assert_eq!(move_leftovers(&source).await, Vec::<String>::new());
}

/// `dbsplit migrate billing` as billing_migrator (the service's `access = "owner"` login, as
/// DESIGN.md says migrate connects) on `cluster`'s database `app`, with the manifest in `dir`.
/// The move's recorded address of the other side names the admin, whose password libpq finds
/// in PGPASSWORD (billing_migrator logs in by trust).
fn migrate_as_migrator(dir: &std::path::Path, cluster: &TestCluster) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(dir.join("services.toml"))
        .args(["migrate", "billing"])
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("billing_migrator", "app"),
        )
        .env("PGPASSWORD", ADMIN_PASSWORD)
        .env("NO_COLOR", "1")
        .env("PG_BIN", cluster.server.bin_dir())
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_managed_admins_move_follows_the_migrators_new_tables_both_ways() {
    let source = managed_logical().await;
    let target = managed_logical().await;
    if server_major(&target).await < 16 {
        return; // start refuses before 16 (see managed_cutover)
    }
    let dir = crate::support::TempDir::new("move-managed-migrate");
    std::fs::copy(
        root().join("services.toml.example"),
        dir.path().join("services.toml"),
    )
    .expect("the manifest is copied");
    let applied = dbsplit_as(&source, "admin", &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    source.psql_ok("app", BILLING);
    let step = |args: &[&str]| managed_step(&source, &target, args);
    let ready = || poll_ready(|| step(&["status"]));
    let start = step(&["start"]);
    assert_eq!(start.status.code(), Some(0), "{}", stderr(&start));
    ready();

    // Before cut-over: the migrator's new table joins the owner's publication and its rows
    // reach the target.
    write_migration(
        dir.path(),
        "20250101000000",
        "refunds",
        "CREATE TABLE refunds (id bigserial PRIMARY KEY, amount numeric NOT NULL);
         INSERT INTO refunds (amount) SELECT g FROM generate_series(1, 3) g;",
    );
    let migrated = migrate_as_migrator(dir.path(), &source);
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));
    assert!(
        stderr(&migrated).contains("publication dbsplit_move_billing now includes"),
        "{}",
        stderr(&migrated)
    );
    ready();
    let target_db = target.superuser("app").await;
    wait_rows(&target_db, "billing.refunds", 3).await;
    let cutover = step(&["cutover"]);
    assert_eq!(
        cutover.status.code(),
        Some(0),
        "{}{}",
        stdout(&cutover),
        stderr(&cutover)
    );

    // After cut-over: the target's new table joins the reverse publication and the source's
    // reverse subscription copies its rows, so that an abort finds them on the source.
    write_migration(
        dir.path(),
        "20250102000000",
        "credits",
        "CREATE TABLE credits (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);
         INSERT INTO credits (note) VALUES ('a'), ('b');",
    );
    let migrated = migrate_as_migrator(dir.path(), &target);
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));
    assert!(
        stderr(&migrated).contains("subscription dbsplit_back_billing on admin@127.0.0.1:"),
        "{}",
        stderr(&migrated)
    );
    let source_db = source.superuser("app").await;
    wait_rows(&source_db, "billing.credits", 2).await;
    target
        .connect("billing_rw", "app")
        .await
        .execute("INSERT INTO billing.credits (note) VALUES ('c')", &[])
        .await
        .expect("billing_rw writes the target's new table");
    wait_rows(&source_db, "billing.credits", 3).await;

    let abort = step(&["abort", "--verify", "hash"]);
    assert_eq!(
        abort.status.code(),
        Some(0),
        "{}{}",
        stdout(&abort),
        stderr(&abort)
    );
    for table in ["billing.refunds", "billing.credits"] {
        assert_eq!(
            rows_of(&source_db, table).await,
            rows_of(&target_db, table).await,
            "{table}"
        );
    }
    assert_eq!(replication_objects(&source).await, 0);
    assert_eq!(replication_objects(&target).await, 0);
    assert_eq!(move_leftovers(&source).await, Vec::<String>::new());
    assert_eq!(move_leftovers(&target).await, Vec::<String>::new());
}
