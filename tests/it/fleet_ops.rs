//! `migrate` over a fleet manifest, against two real servers: each
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

