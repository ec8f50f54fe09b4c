//! Benchmark: live plan and apply against a generated cluster of 500 schemas x 40 tables.
//!
//! Run with `cargo bench --bench plan_apply` (optionally `-- SCHEMAS TABLES`). It starts a
//! throwaway server, creates the schemas "the legacy way" (every table owned by the superuser,
//! with stray cross-service grants), then times: plan on the legacy cluster, apply, and plan on
//! the converged cluster, printing wall time, catalog round trips and change counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dbsplit::apply::{ApplyOptions, Confirmed, apply, plan};
use dbsplit::catalog::introspect::Queryer;
use dbsplit::desired::desired_state;
use dbsplit::manifest::Manifest;
use dbsplit::pg::local::{LocalConfig, LocalServer, SUPERUSER};
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
    let manifest = Manifest::parse(Path::new("bench.toml"), &manifest).expect("manifest");
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
        prune: false,
        passwords: BTreeMap::new(),
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

    let mut best = Duration::MAX;
    let mut changes = 0;
    let mut queries = 0;
    for _ in 0..5 {
        let (plan, q, time) = timed_plan(&client, &manifest, &desired, &options).await;
        best = best.min(time);
        changes = plan.changes.len();
        queries = q;
    }
    println!(
        "plan, converged + drift: {:>8.1} ms (best of 5), {queries} catalog queries, {changes} changes",
        ms(best)
    );
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
    let (plan, _) = plan(&counting, manifest, desired, options)
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
