//! `migrate`, `usage` and `graph` over a fleet manifest, against two real servers: each
//! service where the manifest places it, and a stopped cluster failing only its own targets.

use std::process::{Command, Output, Stdio};

use crate::support::pg::{Server, TestCluster};
use crate::support::{TempDir, stderr, stdout};

/// Two servers with `pg_stat_statements`: `main` holds databases app and reports, `billing`
/// holds billing; the manifest places monolith and orders in app, analytics in reports and
/// billing in billing. Applied before the test starts.
struct Fleet {
    main: TestCluster,
    billing: TestCluster,
    dir: TempDir,
    manifest: String,
}

impl Fleet {
    fn start(name: &str) -> Fleet {
        let main = TestCluster::start_with_statements("app");
        main.server
            .psql("postgres")
            .args(["-c", "CREATE DATABASE reports"])
            .output()
            .expect("psql runs");
        main.psql_ok("reports", "CREATE EXTENSION pg_stat_statements");
        let billing = TestCluster::start_with_statements("billing");
        let dir = TempDir::new(name);
        let manifest = dir.path().join("services.toml");
        std::fs::write(
            &manifest,
            format!(
                r#"version = 1
[clusters.main]
url_env = "FLEET_OPS_MAIN_URL"
[clusters.billing]
url = "host=127.0.0.1 port={} user=postgres"

[databases.app]
cluster = "main"
[databases.reports]
cluster = "main"
[databases.billing]
cluster = "billing"

[services.monolith]
database = "app"
roles.monolith_rw = {{ access = "readwrite" }}
[services.orders]
database = "app"
roles.orders_rw = {{ access = "readwrite" }}
[services.analytics]
database = "reports"
roles.analytics_rw = {{ access = "readwrite" }}
[services.billing]
database = "billing"
roles.billing_rw = {{ access = "readwrite" }}
"#,
                billing.server.port()
            ),
        )
        .expect("write the manifest");
        let fleet = Fleet {
            main,
            billing,
            manifest: manifest.display().to_string(),
            dir,
        };
        let applied = fleet.run(&["apply", "--yes"]);
        assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
        fleet
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dbsplit"))
            .arg("-m")
            .arg(&self.manifest)
            .args(args)
            .env(
                "FLEET_OPS_MAIN_URL",
                format!(
                    "host=127.0.0.1 port={} user=postgres",
                    self.main.server.port()
                ),
            )
            .env_remove("DATABASE_URL")
            .env_remove("PGDATABASE")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("dbsplit runs")
    }

    /// Writes `migrations/<service>/<version>_<slug>.sql`.
    fn write(&self, service: &str, version: &str, slug: &str, sql: &str) {
        let folder = self.dir.path().join("migrations").join(service);
        std::fs::create_dir_all(&folder).expect("the migrations folder is made");
        std::fs::write(folder.join(format!("{version}_{slug}.sql")), sql)
            .expect("the migration is written");
    }

    fn stop_billing(&mut self) {
        match &mut self.billing.server {
            Server::Own(server) => server.stop(),
            Server::Shared(_) => unreachable!("Fleet::start starts its own servers"),
        }
    }
}

/// One value of `sql` as the superuser in `database` of `cluster`, as text ("" for no row).
fn query(cluster: &TestCluster, database: &str, sql: &str) -> String {
    let output = cluster
        .server
        .psql(database)
        .args(["-tAc", sql])
        .output()
        .expect("psql runs");
    assert!(output.status.success(), "{sql}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The owner of table `name` (schema-qualified) there, or "" when there is none.
fn table_owner(cluster: &TestCluster, database: &str, name: &str) -> String {
    query(
        cluster,
        database,
        &format!(
            "SELECT tableowner FROM pg_tables WHERE schemaname || '.' || tablename = '{name}'"
        ),
    )
}

fn write_migrations(fleet: &Fleet) {
    fleet.write(
        "monolith",
        "20250101000000",
        "customers",
        "CREATE TABLE customers (id bigint PRIMARY KEY);\n",
    );
    fleet.write(
        "analytics",
        "20250101000000",
        "events",
        "CREATE TABLE events (id bigint PRIMARY KEY);\n",
    );
    fleet.write(
        "billing",
        "20250101000000",
        "invoices",
        "CREATE TABLE invoices (id bigint PRIMARY KEY);\n",
    );
}

#[test]
fn migrate_runs_each_service_in_its_database_as_its_owner_and_a_rerun_applies_nothing() {
    let fleet = Fleet::start("fleet-ops-migrate");
    write_migrations(&fleet);
    let migrated = fleet.run(&["migrate", "--trust-migrations"]);
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));
    let text = stdout(&migrated);
    for line in [
        "main/app: monolith: applied 20250101000000_customers.sql",
        "main/reports: analytics: applied 20250101000000_events.sql",
        "billing/billing: billing: applied 20250101000000_invoices.sql",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    // Each table in its service's database, owned by its owner role, and nowhere else.
    let main = &fleet.main;
    let billing = &fleet.billing;
    assert_eq!(
        table_owner(main, "app", "monolith.customers"),
        "monolith_owner"
    );
    assert_eq!(
        table_owner(main, "reports", "analytics.events"),
        "analytics_owner"
    );
    assert_eq!(
        table_owner(billing, "billing", "billing.invoices"),
        "billing_owner"
    );
    assert_eq!(table_owner(main, "reports", "monolith.customers"), "");
    assert_eq!(table_owner(main, "app", "analytics.events"), "");
    assert_eq!(
        query(
            main,
            "app",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'invoices'"
        ),
        "0"
    );
    assert_eq!(
        query(
            billing,
            "billing",
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('customers', 'events')"
        ),
        "0"
    );
    assert_eq!(
        query(
            billing,
            "billing",
            "SELECT string_agg(version || ' ' || applied_as, ', ') FROM billing.dbsplit_migrations"
        ),
        "20250101000000 billing_owner"
    );

    let again = fleet.run(&["migrate", "--trust-migrations"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let text = stdout(&again);
    assert!(!text.contains("applied 2025"), "{text}");
    for line in [
        "main/app: monolith: up to date",
        "main/reports: analytics: up to date",
        "billing/billing: billing: up to date",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }

    let status = fleet.run(&["migrate", "status", "--format", "json", "--exit-code"]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let value: serde_json::Value = serde_json::from_slice(&status.stdout).expect("JSON");
    let places: Vec<(String, String, String, String)> = value["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| {
            let text = |key: &str| s[key].as_str().unwrap_or("?").to_string();
            (
                text("service"),
                text("cluster"),
                text("database"),
                text("state"),
            )
        })
        .collect();
    let expected = [
        ("monolith", "main", "app"),
        ("orders", "main", "app"),
        ("analytics", "main", "reports"),
        ("billing", "billing", "billing"),
    ]
    .map(|(s, c, d)| (s.into(), c.into(), d.into(), "up-to-date".into()));
    assert_eq!(places, expected);

    // --target narrows to one database.
    fleet.write(
        "billing",
        "20250102000000",
        "lines",
        "CREATE TABLE lines (id bigint PRIMARY KEY);\n",
    );
    let one = fleet.run(&["migrate", "--trust-migrations", "--target", "main/app"]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(
        stdout(&one),
        "main/app: monolith: up to date\nmain/app: orders: up to date\n"
    );
    assert_eq!(table_owner(billing, "billing", "billing.lines"), "");
}

#[test]
fn a_stopped_cluster_fails_only_its_own_services() {
    let mut fleet = Fleet::start("fleet-ops-down");
    write_migrations(&fleet);
    fleet.stop_billing();
    let migrated = fleet.run(&["migrate", "--trust-migrations", "--jobs", "2"]);
    assert_eq!(migrated.status.code(), Some(2), "{}", stdout(&migrated));
    let text = stdout(&migrated);
    assert!(
        text.contains("main/app: monolith: 1 migration applied")
            && text.contains("main/reports: analytics: 1 migration applied")
            && text.contains("billing/billing: billing: FAILED"),
        "{text}"
    );
    let errors = stderr(&migrated);
    assert!(
        errors.contains("error: billing/billing: ")
            && errors.contains("not migrated there: billing")
            && errors.contains("error: 1 service failed: billing/billing: billing"),
        "{errors}"
    );
    assert_eq!(
        table_owner(&fleet.main, "app", "monolith.customers"),
        "monolith_owner"
    );
    let status = fleet.run(&["migrate", "status", "--format", "json"]);
    assert_eq!(status.status.code(), Some(2), "{}", stdout(&status));
    let value: serde_json::Value = serde_json::from_slice(&status.stdout).expect("JSON");
    let states: Vec<String> = value["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| format!("{} {}", s["database"], s["state"]))
        .collect();
    assert_eq!(
        states,
        [
            r#""app" "up-to-date""#,
            r#""app" "up-to-date""#,
            r#""reports" "up-to-date""#,
            r#""billing" "unreadable""#
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_and_graph_read_every_target_and_carry_its_cluster_and_database() {
    let fleet = Fleet::start("fleet-ops-usage");
    // A legacy coupling on main/app: orders_rw reads monolith's table.
    fleet.main.psql_ok(
        "app",
        "SET ROLE monolith_owner;
         CREATE TABLE monolith.customers (id bigint PRIMARY KEY);
         INSERT INTO monolith.customers VALUES (1), (2);
         RESET ROLE;
         GRANT USAGE ON SCHEMA monolith TO orders_rw;
         GRANT SELECT ON monolith.customers TO orders_rw;",
    );
    fleet.billing.psql_ok(
        "billing",
        "SET ROLE billing_owner; CREATE TABLE billing.invoices (id bigint PRIMARY KEY);",
    );
    let orders = fleet.main.connect("orders_rw", "app").await;
    for _ in 0..3 {
        orders
            .query("SELECT id FROM monolith.customers", &[])
            .await
            .expect("the granted read runs");
    }
    let billing = fleet.billing.connect("billing_rw", "billing").await;
    billing
        .query("SELECT id FROM billing.invoices", &[])
        .await
        .expect("its own table");

    // The read is a warning: exit 1 only with --fail-on warning.
    let usage = fleet.run(&["usage", "--format", "json", "--fail-on", "warning"]);
    assert_eq!(usage.status.code(), Some(1), "{}", stderr(&usage));
    let value: serde_json::Value = serde_json::from_slice(&usage.stdout).expect("JSON");
    let findings = value["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["cluster"], "main");
    assert_eq!(findings[0]["database"], "app");
    let role = |name: &str| {
        value["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .find(|r| r["role"] == name)
            .unwrap_or_else(|| panic!("no role {name}: {value:#}"))
            .clone()
    };
    let orders_rw = role("orders_rw");
    assert_eq!(
        (&orders_rw["cluster"], &orders_rw["database"]),
        (&"main".into(), &"app".into())
    );
    assert_eq!(orders_rw["relations"][0]["relation"], "monolith.customers");
    assert_eq!(orders_rw["relations"][0]["calls"], 3);
    let billing_rw = role("billing_rw");
    assert_eq!(
        (&billing_rw["cluster"], &billing_rw["database"]),
        (&"billing".into(), &"billing".into())
    );
    assert_eq!(billing_rw["statements"], 1);
    let targets: Vec<String> = value["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["cluster"].as_str().unwrap_or("?"),
                t["database"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(targets, ["main/app", "main/reports", "billing/billing"]);

    let human = fleet.run(&["usage", "--target", "billing"]);
    assert_eq!(human.status.code(), Some(0), "{}", stderr(&human));
    let text = stdout(&human);
    assert!(text.starts_with("=== billing/billing ===\n"), "{text}");
    assert!(!text.contains("main/app"), "{text}");

    let graph = fleet.run(&["graph", "--format", "json"]);
    assert_eq!(graph.status.code(), Some(0), "{}", stderr(&graph));
    let value: serde_json::Value = serde_json::from_slice(&graph.stdout).expect("JSON");
    let edges = value["edges"].as_array().expect("edges");
    let coupled: Vec<String> = edges
        .iter()
        .filter(|e| e["from"] == "orders" && e["to"] == "monolith")
        .map(|e| {
            format!(
                "{} {}/{}",
                e["kind"].as_str().unwrap_or("?"),
                e["cluster"].as_str().unwrap_or("?"),
                e["database"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(coupled, ["grant main/app", "runtime main/app"]);
    let nodes: Vec<String> = value["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            format!(
                "{}/{}/{}",
                n["cluster"].as_str().unwrap_or("?"),
                n["database"].as_str().unwrap_or("?"),
                n["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [
            "main/app/monolith",
            "main/app/orders",
            "main/reports/analytics",
            "billing/billing/billing"
        ]
    );
    let mermaid = fleet.run(&["graph"]);
    assert_eq!(mermaid.status.code(), Some(0), "{}", stderr(&mermaid));
    let text = stdout(&mermaid);
    for part in [
        "subgraph c0[\"cluster main\"]",
        "subgraph t1[\"main/reports\"]",
        "subgraph c1[\"cluster billing\"]",
        "t2n0[\"billing\"]",
    ] {
        assert!(text.contains(part), "{part} in:\n{text}");
    }
}

#[test]
fn usage_and_graph_name_a_stopped_cluster_and_show_the_others() {
    let mut fleet = Fleet::start("fleet-ops-usage-down");
    fleet.stop_billing();
    let usage = fleet.run(&["usage", "--format", "json"]);
    assert_eq!(usage.status.code(), Some(2), "{}", stdout(&usage));
    assert!(
        stderr(&usage).contains("error: billing/billing: "),
        "{}",
        stderr(&usage)
    );
    let value: serde_json::Value = serde_json::from_slice(&usage.stdout).expect("JSON");
    assert_eq!(value["targets"].as_array().map(Vec::len), Some(2));
    let graph = fleet.run(&["graph", "--format", "dot"]);
    assert_eq!(graph.status.code(), Some(2), "{}", stdout(&graph));
    assert!(
        stderr(&graph).contains("error: billing/billing: "),
        "{}",
        stderr(&graph)
    );
    let text = stdout(&graph);
    assert!(text.contains("subgraph \"cluster main/app\""), "{text}");
    assert!(!text.contains("cluster billing"), "{text}");
}
