//! Fleet manifests: services placed across databases and clusters, against two real servers.

use std::process::{Command, Output, Stdio};

use crate::support::pg::{Server, TestCluster, assert_denied};
use crate::support::{TempDir, dbsplit, stderr, stdout};

/// Writes `text` as services.toml in `dir` and returns its path as a string.
fn write_manifest(dir: &TempDir, text: &str) -> String {
    write_manifest_named(dir, "services.toml", text)
}

/// Writes `text` as `name` in `dir` and returns its path as a string.
fn write_manifest_named(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write the manifest");
    path.display().to_string()
}

#[test]
fn validate_summarises_a_fleet() {
    let dir = TempDir::new("fleet-validate");
    let manifest = write_manifest(
        &dir,
        "version = 1\n[clusters.a]\nurl = \"postgres://admin@a\"\n[clusters.b]\nurl_env = \"B_URL\"\n[databases.app]\ncluster = \"a\"\n[databases.billing]\ncluster = \"b\"\n[services.monolith]\ndatabase = \"app\"\n[services.billing]\ndatabase = \"billing\"\n",
    );
    let output = dbsplit(&["-m", &manifest, "validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with(
            "is valid: 2 databases on 2 clusters, 2 services, 0 shared schemas, 0 observers, 2 roles\n"
        ),
        "{}",
        stdout(&output)
    );
}

#[test]
fn new_lint_and_codeowners_take_a_fleet_and_lint_says_a_schema_in_another_database_is_unreachable()
{
    let dir = TempDir::new("fleet-offline");
    write_manifest(
        &dir,
        "version = 1\n[databases.app]\n[databases.pay]\n[services.orders]\ndatabase = \"app\"\nteam = \"@acme/orders\"\n[services.billing]\ndatabase = \"pay\"\nteam = \"@acme/billing\"\n[shared.reference]\ndatabase = \"pay\"\n",
    );
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dbsplit"))
            .args(["-m", "services.toml"])
            .args(args)
            .current_dir(dir.path())
            .env_remove("DBSPLIT_MANIFEST")
            .env("NO_COLOR", "1")
            .output()
            .expect("dbsplit runs")
    };
    let created = run(&["new", "orders", "read_invoices"]);
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    let file = dir.path().join(stdout(&created).trim());
    assert!(
        file.starts_with(dir.path().join("migrations").join("orders")),
        "{file:?}"
    );
    std::fs::write(
        &file,
        "SELECT * FROM billing.invoices;\nSELECT * FROM reference.currencies;\n",
    )
    .expect("write the migration");
    let linted = run(&["lint", "--format", "json"]);
    assert_eq!(linted.status.code(), Some(1), "{}", stderr(&linted));
    let value: serde_json::Value = serde_json::from_slice(&linted.stdout).expect("JSON");
    let unreachable: Vec<&str> = value["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "cross-schema-reference")
        .map(|f| f["message"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(unreachable.len(), 2, "{value:#}");
    for message in unreachable {
        assert!(
            message.contains("is in database `pay`, not in `orders`'s database `app`")
                && message.ends_with("so this can never work"),
            "{message}"
        );
    }
    let owners = run(&["codeowners"]);
    assert_eq!(owners.status.code(), Some(0), "{}", stderr(&owners));
    let text = stdout(&owners);
    assert!(
        text.contains("migrations/orders/ @acme/orders")
            && text.contains("migrations/billing/ @acme/billing"),
        "{text}"
    );
}

#[test]
fn validate_points_at_a_password_in_a_cluster_url() {
    let dir = TempDir::new("fleet-password");
    let manifest = write_manifest(
        &dir,
        "version = 1\n[clusters.a]\nurl = \"postgres://admin:hunter2@a\"\n[databases.app]\n[services.monolith]\n",
    );
    let output = dbsplit(&["-m", &manifest, "validate"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("services.toml:3:7: error: the url of cluster `a` contains a password"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "the password is masked: {text}");
}

/// Two servers, `main` holding databases app and reports, `billing` holding billing, and the
/// manifest that places five services and an observer across them.
struct Fleet {
    main: TestCluster,
    billing: TestCluster,
    dir: TempDir,
    manifest: String,
}

impl Fleet {
    fn start(name: &str) -> Fleet {
        let main = TestCluster::start("app");
        let created = main
            .server
            .psql("postgres")
            .args(["-c", "CREATE DATABASE reports"])
            .output()
            .expect("psql runs");
        assert!(created.status.success(), "{created:?}");
        let billing = TestCluster::start("billing");
        let dir = TempDir::new(name);
        // The billing cluster's URL is in the file (no password: trust here, ~/.pgpass in
        // production); main's comes from a variable.
        let manifest = write_manifest(
            &dir,
            &format!(
                r#"version = 1
[clusters.main]
url_env = "FLEET_MAIN_URL"
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
reads = [{{ schema = "reference", reason = "currency codes" }}]
[services.analytics]
database = "reports"
roles.analytics_rw = {{ access = "readwrite" }}
[services.billing]
database = "billing"
roles.billing_rw = {{ access = "readwrite" }}
[services.ledger]
database = "billing"
roles.ledger_rw = {{ access = "readwrite" }}

[shared.reference]
database = "app"

[observers.warehouse]
reads = ["*"]
reason = "nightly export"
login = true
"#,
                billing.server.port()
            ),
        );
        Fleet {
            main,
            billing,
            dir,
            manifest,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dbsplit"))
            .arg("-m")
            .arg(&self.manifest)
            .args(args)
            .env(
                "FLEET_MAIN_URL",
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
}

/// The roles of `cluster` among `names`.
async fn roles_present(cluster: &TestCluster, names: &[&str]) -> Vec<String> {
    let client = cluster.superuser("postgres").await;
    let rows = client
        .query(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname",
            &[&names],
        )
        .await
        .expect("roles are read");
    rows.iter().map(|row| row.get(0)).collect()
}

const ROLES: &[&str] = &[
    "analytics_rw",
    "billing_rw",
    "ledger_rw",
    "monolith_rw",
    "orders_rw",
    "warehouse",
];

#[tokio::test(flavor = "multi_thread")]
async fn two_clusters_and_three_databases_converge_and_each_boundary_holds() {
    let fleet = Fleet::start("fleet-converge");
    let plan = fleet.run(&["plan", "--exit-code"]);
    assert_eq!(plan.status.code(), Some(1), "{}", stderr(&plan));
    let text = stdout(&plan);
    for label in [
        "=== main/app ===",
        "=== main/reports ===",
        "=== billing/billing ===",
    ] {
        assert!(text.contains(label), "{label} in:\n{text}");
    }
    let json = fleet.run(&["plan", "--format", "json"]);
    assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let changes = value["changes"].as_array().expect("changes");
    assert!(!changes.is_empty());
    for change in changes {
        assert!(
            change["cluster"].is_string() && change["database"].is_string(),
            "{change}"
        );
    }
    let create = |role: &str, cluster: &str| {
        changes.iter().any(|c| {
            c["kind"] == "create-role"
                && c["object"].as_str().unwrap_or("").contains(role)
                && c["cluster"] == cluster
        })
    };
    assert!(create("billing_rw", "billing") && !create("billing_rw", "main"));
    // The observer is created once per cluster it reads, by the first database there.
    let warehouse: Vec<&serde_json::Value> = changes
        .iter()
        .filter(|c| {
            c["kind"] == "create-role" && c["object"].as_str().unwrap_or("").contains("warehouse")
        })
        .collect();
    assert_eq!(warehouse.len(), 2, "{warehouse:?}");

    let applied = fleet.run(&["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let report = stdout(&applied);
    for label in [
        "main/app: applied",
        "main/reports: applied",
        "billing/billing: applied",
    ] {
        assert!(report.contains(label), "{label} in:\n{report}");
    }
    let again = fleet.run(&["plan", "--exit-code"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "second plan: {}\n{}",
        stdout(&again),
        stderr(&again)
    );
    // The roles of the cluster's other databases are the fleet's: no target calls them
    // roles outside the manifest.
    let notes = format!("{}{}", stdout(&again), stderr(&again));
    for role in ROLES {
        assert!(
            !notes
                .lines()
                .any(|l| l.contains("not in the manifest") && l.contains(role)),
            "{role} in:\n{notes}"
        );
    }

    // Roles exist only on the clusters of their services; the observer on both.
    assert_eq!(
        roles_present(&fleet.main, ROLES).await,
        ["analytics_rw", "monolith_rw", "orders_rw", "warehouse"]
    );
    assert_eq!(
        roles_present(&fleet.billing, ROLES).await,
        ["billing_rw", "ledger_rw", "warehouse"]
    );
    let client = fleet.main.superuser("postgres").await;
    let comment: String = client
        .query_one(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'warehouse'",
            &[],
        )
        .await
        .expect("the mark is read")
        .get(0);
    assert!(
        comment.contains(r#""databases": ["app", "reports"]"#),
        "{comment}"
    );

    // A cross-service query fails with 42501 on each cluster.
    fleet.main.psql_ok(
        "app",
        "SET ROLE monolith_owner; CREATE TABLE monolith.customers (id int); INSERT INTO monolith.customers VALUES (1);",
    );
    fleet.billing.psql_ok(
        "billing",
        "SET ROLE billing_owner; CREATE TABLE billing.invoices (id int); INSERT INTO billing.invoices VALUES (1);",
    );
    let orders = fleet.main.connect("orders_rw", "app").await;
    assert_denied(
        orders.query("SELECT * FROM monolith.customers", &[]).await,
        "orders_rw reads monolith on main/app",
    );
    let monolith = fleet.main.connect("monolith_rw", "app").await;
    assert_eq!(
        monolith
            .query("SELECT * FROM monolith.customers", &[])
            .await
            .expect("own schema")
            .len(),
        1
    );
    let ledger = fleet.billing.connect("ledger_rw", "billing").await;
    assert_denied(
        ledger.query("SELECT * FROM billing.invoices", &[]).await,
        "ledger_rw reads billing on billing/billing",
    );
    // The observer reads on both clusters.
    let warehouse = fleet.billing.connect("warehouse", "billing").await;
    assert_eq!(
        warehouse
            .query("SELECT * FROM billing.invoices", &[])
            .await
            .expect("the observer reads")
            .len(),
        1
    );
    // The shared schema lives in app alone: a service there that declares the read, and the
    // observer, read it; its owner exists on main only.
    fleet.main.psql_ok(
        "app",
        "SET ROLE reference_owner; CREATE TABLE reference.currencies (code text); INSERT INTO reference.currencies VALUES ('EUR');",
    );
    for role in ["orders_rw", "warehouse"] {
        let client = fleet.main.connect(role, "app").await;
        let rows = client
            .query("SELECT code FROM reference.currencies", &[])
            .await
            .unwrap_or_else(|e| panic!("{role} reads the shared schema: {e:?}"));
        assert_eq!(rows.len(), 1);
    }
    assert_denied(
        orders
            .query("INSERT INTO reference.currencies VALUES ('USD')", &[])
            .await,
        "orders_rw writes the shared schema",
    );
    assert_eq!(
        roles_present(&fleet.main, &["reference_owner"]).await,
        ["reference_owner"]
    );
    assert!(
        roles_present(&fleet.billing, &["reference_owner"])
            .await
            .is_empty()
    );
    let schema = fleet.billing.superuser("billing").await;
    let count: i64 = schema
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'reference'",
            &[],
        )
        .await
        .expect("schemas are read")
        .get(0);
    assert_eq!(count, 0, "no shared schema on the billing cluster");
    // A service of reports cannot even connect to app on the same cluster.
    let refused = tokio_postgres::connect(
        &fleet.main.server.connection_string("analytics_rw", "app"),
        tokio_postgres::NoTls,
    )
    .await;
    match refused {
        Ok(_) => panic!("analytics_rw connected to app"),
        Err(error) => assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{error:?}"
        ),
    }
    // ...and billing_rw reads its own schema on the billing cluster.
    let billing = fleet.billing.connect("billing_rw", "billing").await;
    assert_eq!(
        billing
            .query("SELECT * FROM billing.invoices", &[])
            .await
            .expect("own schema")
            .len(),
        1
    );
    verify_proves_the_boundary_on_each_cluster(&fleet);
    audit_finds_each_cross_service_fk_in_its_database(&fleet);
    drop(fleet.dir);
}

/// The JSON of a fleet command's run, which must exit with `code`.
fn json_of(output: &Output, code: i32) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}\n{}",
        stdout(output),
        stderr(output)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// `(cluster, database, status)` of each target in a fleet command's JSON.
fn target_statuses(value: &serde_json::Value) -> Vec<(String, String, String)> {
    value["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| {
            let text = |key: &str| t[key].as_str().unwrap_or_default().to_string();
            (text("cluster"), text("database"), text("status"))
        })
        .collect()
}

/// `verify` over the converged fleet: on each target, each service role is refused (42501)
/// on the other service's table of its database and reads its own.
fn verify_proves_the_boundary_on_each_cluster(fleet: &Fleet) {
    let value = json_of(&fleet.run(&["verify", "--format", "json"]), 0);
    assert_eq!(value["holds"], true, "{value:#}");
    assert_eq!(
        target_statuses(&value),
        [
            ("main".into(), "app".into(), "holds".into()),
            ("main".into(), "reports".into(), "holds".into()),
            ("billing".into(), "billing".into(), "holds".into()),
        ]
    );
    assert_eq!(
        value["holes"].as_array().map(Vec::len),
        Some(0),
        "{value:#}"
    );
    let roles = value["roles"].as_array().expect("roles");
    // (cluster, database, role, schema) of a SELECT probe -> (got, sqlstate).
    let select = |role: &str, schema: &str| -> (String, String, String, String) {
        let found = roles
            .iter()
            .filter(|r| r["role"] == role)
            .flat_map(|r| r["checks"].as_array().into_iter().flatten())
            .find(|c| c["schema"] == schema && c["kind"] == "select")
            .unwrap_or_else(|| panic!("a select of {schema} as {role} in {value:#}"));
        let text = |key: &str| found[key].as_str().unwrap_or_default().to_string();
        (
            text("cluster"),
            text("database"),
            text("got"),
            text("sqlstate"),
        )
    };
    let denied = |cluster: &str, database: &str| {
        (
            cluster.into(),
            database.into(),
            "denied".into(),
            "42501".into(),
        )
    };
    let allowed = |cluster: &str, database: &str| {
        (
            cluster.into(),
            database.into(),
            "allowed".into(),
            String::new(),
        )
    };
    assert_eq!(select("orders_rw", "monolith"), denied("main", "app"));
    assert_eq!(select("monolith_rw", "monolith"), allowed("main", "app"));
    assert_eq!(select("ledger_rw", "billing"), denied("billing", "billing"));
    assert_eq!(
        select("billing_rw", "billing"),
        allowed("billing", "billing")
    );
    // The observer is probed on each cluster it reads.
    let observed: Vec<(&str, &str)> = roles
        .iter()
        .filter(|r| r["role"] == "warehouse")
        .map(|r| {
            (
                r["cluster"].as_str().unwrap_or_default(),
                r["database"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        observed,
        [("main", "app"), ("main", "reports"), ("billing", "billing")]
    );
}

/// The converged fleet with a foreign key from orders into monolith (main/app) and one from
/// ledger into billing (billing/billing): audit reports each on its own target.
fn audit_finds_each_cross_service_fk_in_its_database(fleet: &Fleet) {
    fleet.main.psql_ok(
        "app",
        "ALTER TABLE monolith.customers ADD PRIMARY KEY (id); \
         CREATE TABLE orders.orders (customer int REFERENCES monolith.customers); \
         ALTER TABLE orders.orders OWNER TO orders_owner;",
    );
    fleet.billing.psql_ok(
        "billing",
        "ALTER TABLE billing.invoices ADD PRIMARY KEY (id); \
         CREATE TABLE ledger.entries (invoice int REFERENCES billing.invoices); \
         ALTER TABLE ledger.entries OWNER TO ledger_owner;",
    );
    let value = json_of(&fleet.run(&["audit", "--format", "json"]), 1);
    assert_eq!(
        target_statuses(&value),
        [
            ("main".into(), "app".into(), "audited".into()),
            ("main".into(), "reports".into(), "audited".into()),
            ("billing".into(), "billing".into(), "audited".into()),
        ]
    );
    let findings = value["findings"].as_array().expect("findings");
    for finding in findings {
        let fields = finding.as_object().expect("an object");
        assert!(
            fields["cluster"].is_string() && fields.contains_key("database"),
            "{finding}"
        );
    }
    let fks: Vec<(&str, &str, &str, &str)> = findings
        .iter()
        .filter(|f| f["rule"] == "cross-schema-fk")
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap_or_default();
            (
                text("cluster"),
                text("database"),
                text("schema"),
                text("target_schema"),
            )
        })
        .collect();
    assert_eq!(
        fks,
        [
            ("main", "app", "orders", "monolith"),
            ("billing", "billing", "ledger", "billing"),
        ],
        "{value:#}"
    );
    // --service ledger: the billing cluster's target alone, and ledger's findings alone (its
    // table, created by a superuser, also drifts from the default privileges).
    let value = json_of(
        &fleet.run(&["audit", "--format", "json", "--service", "ledger"]),
        1,
    );
    assert_eq!(
        target_statuses(&value),
        [("billing".into(), "billing".into(), "audited".into())]
    );
    let rules: Vec<&str> = value["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or_default())
        .filter(|rule| *rule != "drift")
        .collect();
    assert_eq!(rules, ["cross-schema-fk"], "{value:#}");
    // The human table names the target of each finding; SARIF carries it as properties.
    let human = fleet.run(&["audit", "--target", "app"]);
    assert_eq!(human.status.code(), Some(1), "{}", stderr(&human));
    assert!(
        stdout(&human).contains("main/app: orders.orders"),
        "{}",
        stdout(&human)
    );
    let sarif = json_of(
        &fleet.run(&["audit", "--format", "sarif", "--target", "billing"]),
        1,
    );
    let properties = &sarif["runs"][0]["results"][0]["properties"];
    assert_eq!(properties["cluster"], "billing", "{sarif:#}");
    assert_eq!(properties["database"], "billing", "{sarif:#}");
}

#[test]
fn a_stopped_cluster_fails_only_its_own_targets() {
    let mut fleet = Fleet::start("fleet-down");
    match &mut fleet.billing.server {
        Server::Own(server) => server.stop(),
        Server::Shared(_) => unreachable!("Fleet::start starts its own servers"),
    }
    let applied = fleet.run(&["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(2), "{}", stdout(&applied));
    let report = stdout(&applied);
    assert!(report.contains("main/app: applied"), "{report}");
    assert!(report.contains("main/reports: applied"), "{report}");
    assert!(report.contains("billing/billing: FAILED"), "{report}");
    let errors = stderr(&applied);
    assert!(
        errors.contains("error: billing/billing: ")
            && errors.contains("error: 1 of 3 targets failed: billing/billing"),
        "{errors}"
    );
    // Audit names the stopped cluster's target and still audits main's two.
    let audited = fleet.run(&["audit", "--format", "json"]);
    let value = json_of(&audited, 2);
    let statuses = target_statuses(&value);
    assert_eq!(
        statuses,
        [
            ("main".into(), "app".into(), "audited".into()),
            ("main".into(), "reports".into(), "audited".into()),
            ("billing".into(), "billing".into(), "failed".into()),
        ]
    );
    assert!(value["targets"][2]["error"].is_string(), "{value:#}");
    for finding in value["findings"].as_array().expect("findings") {
        assert_eq!(finding["cluster"], "main", "{finding}");
    }
    let errors = stderr(&audited);
    assert!(
        errors.contains("error: 1 of 3 targets failed: billing/billing"),
        "{errors}"
    );
    let verified = fleet.run(&["verify", "--format", "json"]);
    let value = json_of(&verified, 2);
    assert_eq!(
        target_statuses(&value),
        [
            ("main".into(), "app".into(), "holds".into()),
            ("main".into(), "reports".into(), "holds".into()),
            ("billing".into(), "billing".into(), "failed".into()),
        ]
    );
    assert!(
        stderr(&verified).contains("error: 1 of 3 targets failed: billing/billing"),
        "{}",
        stderr(&verified)
    );
    // main converged: its targets plan empty.
    let again = fleet.run(&[
        "plan",
        "--exit-code",
        "--target",
        "app",
        "--target",
        "main/reports",
    ]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&again),
        stderr(&again)
    );
}

#[test]
fn a_saved_plan_covers_every_target_and_is_refused_only_where_the_target_changed() {
    let fleet = Fleet::start("fleet-saved");
    let file = fleet.dir.path().join("plan.json");
    let file = file.to_str().expect("a UTF-8 path");
    let planned = fleet.run(&["plan", "--out", file]);
    assert_eq!(planned.status.code(), Some(0), "{}", stderr(&planned));
    // Someone creates the ledger schema on the billing cluster after the plan was saved.
    fleet.billing.psql_ok("billing", "CREATE SCHEMA ledger");
    let applied = fleet.run(&["apply", file, "--yes"]);
    assert_eq!(applied.status.code(), Some(2), "{}", stdout(&applied));
    let report = stdout(&applied);
    assert!(report.contains("main/app: applied"), "{report}");
    assert!(report.contains("main/reports: applied"), "{report}");
    assert!(report.contains("billing/billing: FAILED"), "{report}");
    let errors = stderr(&applied);
    assert!(
        errors.contains("billing/billing: the saved plan is stale for this target")
            && errors.contains("schema billing.ledger"),
        "{errors}"
    );
    let again = fleet.run(&["plan", "--exit-code", "--target", "main/app"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}

#[tokio::test(flavor = "multi_thread")]
async fn service_selects_across_targets_and_prune_stays_within_the_managed_databases() {
    let fleet = Fleet::start("fleet-service");
    // Another manifest manages database `other` on the main cluster: its role is not ours.
    let created = fleet
        .main
        .server
        .psql("postgres")
        .args(["-c", "CREATE DATABASE other"])
        .output()
        .expect("psql runs");
    assert!(created.status.success(), "{created:?}");
    let other = write_manifest_named(
        &fleet.dir,
        "other.toml",
        "version = 1\n[database]\nname = \"other\"\n[services.stranger]\nroles.stranger_rw = { access = \"readwrite\" }\n",
    );
    let url = format!(
        "host=127.0.0.1 port={} user=postgres dbname=other",
        fleet.main.server.port()
    );
    let applied = dbsplit(&["-m", &other, "--database-url", &url, "apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));

    // --service ledger: billing/billing alone, and only ledger's part of it.
    let value = json_of(
        &fleet.run(&["plan", "--service", "ledger", "--format", "json"]),
        0,
    );
    assert_eq!(
        target_statuses(&value),
        [("billing".into(), "billing".into(), "changes".into())]
    );
    // ... and the observer that reads ledger, created so that its grants there can land.
    for change in value["changes"].as_array().expect("changes") {
        let reader = change["object"] == "role warehouse"
            && (change["kind"] == "create-role" || change["kind"] == "mark-role");
        assert!(reader || change.to_string().contains("ledger"), "{change}");
    }
    // The whole fleet; then both services of billing/billing lose a grant, and `apply
    // --service ledger` gives back ledger's alone.
    let applied = fleet.run(&["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    fleet.billing.psql_ok(
        "billing",
        "REVOKE USAGE ON SCHEMA ledger FROM ledger_rw; REVOKE USAGE ON SCHEMA billing FROM billing_rw;",
    );
    let applied = fleet.run(&["apply", "--yes", "--service", "ledger"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    assert!(
        stdout(&applied).contains("billing/billing: applied 1 changes"),
        "{}",
        stdout(&applied)
    );
    let ledger = fleet.run(&["plan", "--exit-code", "--service", "ledger"]);
    assert_eq!(ledger.status.code(), Some(0), "{}", stdout(&ledger));
    let billing = fleet.run(&["plan", "--exit-code", "--service", "billing"]);
    assert_eq!(billing.status.code(), Some(1), "{}", stdout(&billing));
    let applied = fleet.run(&["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));

    // analytics_rw leaves the manifest: --prune drops it in main/reports, and never the role
    // of database `other`, which this manifest does not manage.
    let text = std::fs::read_to_string(&fleet.manifest).expect("read the manifest");
    let without = text.replace(
        "[services.analytics]\ndatabase = \"reports\"\nroles.analytics_rw = { access = \"readwrite\" }\n",
        "[services.analytics]\ndatabase = \"reports\"\n",
    );
    assert_ne!(text, without, "analytics_rw is removed");
    std::fs::write(&fleet.manifest, without).expect("write the manifest");
    let value = json_of(&fleet.run(&["plan", "--prune", "--format", "json"]), 0);
    let drops: Vec<(String, String)> = value["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["kind"] == "drop-role")
        .map(|c| {
            (
                format!(
                    "{}/{}",
                    c["cluster"].as_str().unwrap_or_default(),
                    c["database"].as_str().unwrap_or_default()
                ),
                c["object"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        drops,
        [("main/reports".to_string(), "role analytics_rw".to_string())],
        "{value:#}"
    );
    let applied = fleet.run(&["apply", "--yes", "--prune"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let client = fleet.main.superuser("postgres").await;
    let rows = client
        .query(
            "SELECT rolname FROM pg_roles WHERE rolname IN ('analytics_rw', 'stranger_rw') ORDER BY 1",
            &[],
        )
        .await
        .expect("roles are read");
    let left: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(left, ["stranger_rw"]);
}
