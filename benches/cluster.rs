//! Benchmark: plan, apply and audit against a generated cluster of 500 schemas x 40 tables.
//!
//! Run with `cargo bench --bench cluster` (optionally `-- SCHEMAS TABLES`). It starts a
//! throwaway server, creates the schemas "the legacy way" (every table owned by the superuser),
//! then times: plan on the legacy cluster and apply (in process), then, on the converged cluster
//! with drift and 1.5 foreign keys per table (a tenth of them across schemas), `dbsplit plan`
//! and `dbsplit audit` as a user runs them (the release binary: wall time and peak memory),
//! and the catalog round trips of one introspection.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dbsplit::apply::{ApplyOptions, Confirmed, apply};
use dbsplit::catalog::introspect::Queryer;
use dbsplit::desired::desired_state;
use dbsplit::manifest::Manifest;
use dbsplit::pg::local::{LocalConfig, LocalServer, SUPERUSER};
use dbsplit::plan::live::{PlanOptions, plan};
use tokio_postgres::{Client, NoTls, Row};

struct Counting<'a> {
    client: &'a Client,
    queries: AtomicUsize,
}

impl Queryer for Counting<'_> {
    async fn query_all(&self, sql: &str) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.client.query(sql, &[]).await
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let schemas = args.first().copied().unwrap_or(500);
    let tables = args.get(1).copied().unwrap_or(40);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(schemas, tables));
}

async fn run(schemas: usize, tables: usize) {
    // One transaction that changes the owner of every table holds a lock on each of them (and
    // their sequences and indexes): far more than the default lock table holds.
    let config = LocalConfig {
        conf: vec!["max_locks_per_transaction = 4096".into()],
        ..LocalConfig::default()
    };
    let server = LocalServer::start_with(&config).expect("a throwaway server");
    let admin = connect(&server, "postgres").await;
    admin
        .batch_execute("CREATE DATABASE bench")
        .await
        .expect("create database");
    let mut client = connect(&server, "bench").await;

    let mut manifest = String::from("version = 1\n[database]\nname = \"bench\"\n");
    for s in 0..schemas {
        writeln!(
            manifest,
            "[services.svc_{s:04}]\nroles.svc_{s:04}_rw = {{ access = \"readwrite\" }}\nroles.svc_{s:04}_ro = {{ access = \"readonly\" }}"
        )
        .expect("writing to a String cannot fail");
    }
    let manifest_text = manifest;
    let manifest = Manifest::parse(Path::new("bench.toml"), &manifest_text).expect("manifest");
    let desired = desired_state(&manifest);

    let started = Instant::now();
    for s in 0..schemas {
        let mut sql = format!("CREATE SCHEMA svc_{s:04};\n");
        for t in 0..tables {
            writeln!(
                sql,
                "CREATE TABLE svc_{s:04}.t_{t:03} (id bigserial PRIMARY KEY, payload text);"
            )
            .expect("writing to a String cannot fail");
        }
        // Legacy grants: another service's role may read one table (created below as roles exist).
        client.batch_execute(&sql).await.expect("generate");
    }
    println!(
        "generated {schemas} schemas x {tables} tables ({} relations with sequences) in {:.1} s",
        schemas * tables * 2,
        started.elapsed().as_secs_f64()
    );

    let options = ApplyOptions {
        lock_timeout: Duration::from_secs(60),
        plan: PlanOptions {
            prune: false,
            passwords: BTreeMap::new(),
            select: None,
        },
    };
    let (legacy_plan, legacy_queries, legacy_time) =
        timed_plan(&client, &manifest, &desired, &options).await;
    println!(
        "plan, legacy cluster:    {:>8.1} ms, {legacy_queries} catalog queries, {} changes",
        ms(legacy_time),
        legacy_plan.changes.len()
    );

    let started = Instant::now();
    let confirmed = Confirmed {
        plan: legacy_plan,
        fingerprint: None,
    };
    let report = apply(&mut client, &manifest, &desired, &options, &confirmed)
        .await
        .expect("apply");
    println!(
        "apply (one transaction): {:>8.1} ms, {} statements, re-plan and convergence check included",
        ms(started.elapsed()),
        report.statements
    );

    // Drift: one cross-service grant per 10 schemas.
    let mut drift = String::new();
    for s in (0..schemas).step_by(10) {
        let other = (s + 1) % schemas;
        writeln!(
            drift,
            "GRANT SELECT ON svc_{s:04}.t_000 TO svc_{other:04}_rw;"
        )
        .expect("writing to a String cannot fail");
    }
    client.batch_execute(&drift).await.expect("drift");

    // Foreign keys: t_k -> t_(k-1) in the same schema for most tables, plus t_k -> t_0 of the
    // next schema for every other table of every third schema: 1.5 per table, a tenth across.
    let started = Instant::now();
    let mut fks = 0;
    for s in 0..schemas {
        let mut sql = String::new();
        for t in 1..tables {
            writeln!(sql, "ALTER TABLE svc_{s:04}.t_{t:03} ADD COLUMN parent bigint REFERENCES svc_{s:04}.t_{:03};", t - 1)
                .expect("writing to a String cannot fail");
            fks += 1;
            if t % 2 == 0 {
                writeln!(sql, "ALTER TABLE svc_{s:04}.t_{t:03} ADD COLUMN peer bigint REFERENCES svc_{s:04}.t_000;")
                    .expect("writing to a String cannot fail");
                fks += 1;
            }
            if s % 3 == 0 && t % 2 == 1 {
                let next = (s + 1) % schemas;
                writeln!(sql, "ALTER TABLE svc_{s:04}.t_{t:03} ADD COLUMN other bigint REFERENCES svc_{next:04}.t_000;")
                    .expect("writing to a String cannot fail");
                fks += 1;
            }
        }
        client.batch_execute(&sql).await.expect("foreign keys");
    }
    println!(
        "added {fks} foreign keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut best = Duration::MAX;
    let mut queries = 0;
    for _ in 0..5 {
        let counting = Counting {
            client: &client,
            queries: AtomicUsize::new(0),
        };
        let started = Instant::now();
        dbsplit::catalog::introspect::introspect(
            &counting,
            dbsplit::catalog::introspect::Depth::Dependencies,
        )
        .await
        .expect("introspect");
        best = best.min(started.elapsed());
        queries = counting.queries.load(Ordering::Relaxed);
    }
    println!(
        "one introspection: {:>8.1} ms (best of 5), {queries} catalog queries",
        ms(best)
    );

    let dir = std::env::temp_dir().join(format!("dbsplit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let manifest_path = dir.join("services.toml");
    std::fs::write(&manifest_path, manifest_text).expect("write manifest");
    let url = server.connection_string(SUPERUSER, "bench");
    for (label, args) in [
        (
            "dbsplit plan --exit-code  ",
            vec!["plan", "--exit-code", "--format", "json"],
        ),
        (
            "dbsplit audit --format json",
            vec!["audit", "--format", "json"],
        ),
        (
            "dbsplit audit --no-manifest",
            vec!["audit", "--no-manifest", "--format", "json"],
        ),
    ] {
        let mut best = (f64::MAX, 0u64);
        let mut detail = String::new();
        for _ in 0..5 {
            let output = Command::new("/usr/bin/time")
                .args(["-f", "%e %M"])
                .arg(env!("CARGO_BIN_EXE_dbsplit"))
                .arg("-m")
                .arg(&manifest_path)
                .args(&args)
                .env("DATABASE_URL", &url)
                .output()
                .expect("dbsplit runs under /usr/bin/time");
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().last().unwrap_or_default();
            let mut fields = last.split_whitespace();
            let seconds: f64 = fields
                .next()
                .and_then(|f| f.parse().ok())
                .unwrap_or(f64::MAX);
            let kib: u64 = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
            if seconds < best.0 {
                best = (seconds, kib);
            }
            let json: serde_json::Value =
                serde_json::from_slice(&output.stdout).unwrap_or_default();
            detail = match json.get("findings").and_then(|f| f.as_array()) {
                Some(findings) => format!("{} findings", findings.len()),
                None => format!(
                    "{} changes",
                    json.get("changes")
                        .and_then(|c| c.as_array())
                        .map_or(0, Vec::len)
                ),
            };
        }
        println!(
            "{label}: {:>7.0} ms wall (best of 5), peak RSS {:>5.1} MB, {detail}",
            best.0 * 1000.0,
            best.1 as f64 / 1024.0
        );
    }
    std::fs::remove_dir_all(&dir).expect("remove temp dir");
    if std::env::var_os("DBSPLIT_BENCH_KEEP").is_some() {
        // For profiling queries by hand: the server lives until stdin closes or gets a line.
        println!("server kept at {url}; press Enter to stop it");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
}

async fn timed_plan(
    client: &Client,
    manifest: &Manifest,
    desired: &dbsplit::desired::Desired,
    options: &ApplyOptions,
) -> (dbsplit::plan::Plan, usize, Duration) {
    let counting = Counting {
        client,
        queries: AtomicUsize::new(0),
    };
    let started = Instant::now();
    let (plan, _) = plan(&counting, manifest, desired, &options.plan)
        .await
        .expect("plan");
    (
        plan,
        counting.queries.load(Ordering::Relaxed),
        started.elapsed(),
    )
}

async fn connect(server: &LocalServer, database: &str) -> Client {
    let (client, connection) =
        tokio_postgres::connect(&server.connection_string(SUPERUSER, database), NoTls)
            .await
            .expect("connect");
    tokio::spawn(connection);
    client
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
