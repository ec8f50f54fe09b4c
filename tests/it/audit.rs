//! `audit` against real servers: every rule finds its planted violation with the right fields,
//! near-misses stay quiet, declared exceptions are not findings; inference without a manifest;
//! a run as an ordinary login role; every output format.

use std::process::Command;
use std::time::Duration;

use dbsplit::audit::Report;
use dbsplit::audit::read::{audit_state, begin, join_snapshot};
use dbsplit::catalog::introspect::{Depth, introspect, introspect_split};
use dbsplit::finding::Finding;
use dbsplit::manifest::Manifest;

use crate::support::converge;
use crate::support::pg::TestCluster;
use crate::support::{root, stdout};

fn example() -> Manifest {
    converge::example().0
}

/// Applies the example manifest and creates a table per service as its owner.
async fn converged(cluster: &TestCluster) {
    let (manifest, desired) = converge::example();
    let mut admin = cluster.superuser("app").await;
    converge::converge(&mut admin, &manifest, &desired).await;
    cluster.psql_ok(
        "app",
        "SET ROLE monolith_owner;
         CREATE TABLE monolith.customers (id bigserial PRIMARY KEY, email text);
         CREATE VIEW monolith.v_customers AS SELECT id, email FROM monolith.customers;
         SET ROLE billing_owner;
         CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, customer_id bigint, amount numeric);
         CREATE TABLE billing.payments (id bigserial PRIMARY KEY, invoice_id bigint REFERENCES billing.invoices);
         SET ROLE reference_owner;
         CREATE TABLE reference.currencies (code text PRIMARY KEY);
         SET ROLE notifications_owner;
         CREATE TABLE notifications.outbox (id bigserial PRIMARY KEY, body text);
         RESET ROLE;",
    );
}

async fn audit_with_manifest(cluster: &TestCluster) -> Report {
    let client = cluster.superuser("app").await;
    let live = introspect(&client, Depth::Dependencies)
        .await
        .expect("the test cluster answers");
    audit_state(Some(&example()), &live).expect("the manifest's database")
}

async fn audit_inferred(cluster: &TestCluster, database: &str) -> Report {
    let client = cluster.superuser(database).await;
    let live = introspect(&client, Depth::Dependencies)
        .await
        .expect("the test cluster answers");
    audit_state(None, &live).expect("the current database was read")
}

/// The findings of `rule`, as `object | schema -> target | role` lines.
fn of_rule(report: &Report, rule: &str) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == rule)
        .map(line)
        .collect()
}

fn line(f: &Finding) -> String {
    let object = dbsplit::report::findings::location(&f.location);
    format!(
        "{object} | {} -> {} | {}",
        f.schema.as_deref().unwrap_or("-"),
        f.target_schema.as_deref().unwrap_or("-"),
        f.role.as_deref().unwrap_or("-")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_converged_cluster_audits_clean_and_its_declared_reads_are_exceptions() {
    let cluster = TestCluster::start("app");
    converged(&cluster).await;
    let report = audit_with_manifest(&cluster).await;
    let lines: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{} {}", f.rule, f.message))
        .collect();
    assert!(report.findings.is_empty(), "{lines:#?}");
    assert!(
        report
            .exceptions
            .iter()
            .any(|e| e.role.as_deref() == Some("billing_rw")
                && e.object == "reference.currencies"
                && e.reason.contains("currency codes")),
        "{:#?}",
        report.exceptions
    );

    // Without the manifest nothing is declared: billing's reads of reference are findings
    // (its migrator's: the other roles are members of no owner, so of no service).
    let inferred = audit_inferred(&cluster, "app").await;
    let grants = of_rule(&inferred, "cross-schema-grant");
    assert!(
        grants.contains(
            &"reference.currencies | billing -> reference | billing_migrator".to_string()
        ),
        "{grants:#?}"
    );
    assert!(
        grants.iter().all(|g| g.contains("-> reference")),
        "{grants:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rule_finds_its_planted_violation_and_near_misses_stay_quiet() {
    let cluster = TestCluster::start("app");
    converged(&cluster).await;
    cluster.psql_ok(
        "app",
        r#"ALTER TABLE billing.invoices ADD CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id) REFERENCES monolith.customers;
           CREATE TABLE billing.events (id bigint, customer_id bigint REFERENCES monolith.customers, at date) PARTITION BY RANGE (at);
           CREATE TABLE billing.events_2025 PARTITION OF billing.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
           CREATE TABLE billing.events_2026 PARTITION OF billing.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
           ALTER TABLE billing.events OWNER TO billing_owner;
           ALTER TABLE billing.events_2025 OWNER TO billing_owner;
           ALTER TABLE billing.events_2026 OWNER TO billing_owner;
           GRANT SELECT ON monolith.customers TO billing_rw;
           CREATE ROLE legacy_readers;
           GRANT SELECT ON monolith.customers TO legacy_readers;
           GRANT legacy_readers TO notifications_rw;
           GRANT SELECT ON billing.invoices TO PUBLIC;
           GRANT CREATE ON SCHEMA public TO PUBLIC;
           CREATE TABLE public.junk (id int);
           CREATE VIEW notifications.customer_emails AS SELECT email FROM monolith.v_customers;
           ALTER VIEW notifications.customer_emails OWNER TO notifications_owner;
           CREATE TYPE monolith.mood AS ENUM ('ok');
           ALTER TYPE monolith.mood OWNER TO monolith_owner;
           CREATE TABLE notifications.prefs (id int, m monolith.mood);
           ALTER TABLE notifications.prefs OWNER TO notifications_owner;
           CREATE FUNCTION monolith.shout(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT upper($1)';
           ALTER FUNCTION monolith.shout(text) OWNER TO monolith_owner;
           REVOKE EXECUTE ON FUNCTION monolith.shout(text) FROM PUBLIC;
           CREATE VIEW notifications.loud AS SELECT monolith.shout('hi') AS s;
           ALTER VIEW notifications.loud OWNER TO notifications_owner;
           SET check_function_bodies = off;
           CREATE FUNCTION notifications.count_customers() RETURNS bigint LANGUAGE plpgsql
               AS $$ DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM monolith.customers; RETURN n; END $$;
           CREATE FUNCTION notifications.first_email() RETURNS text LANGUAGE sql
               SET search_path = monolith AS 'SELECT email FROM customers LIMIT 1';
           CREATE FUNCTION notifications.caller_path() RETURNS bigint LANGUAGE sql
               AS 'SELECT count(*) FROM customers';
           ALTER FUNCTION notifications.count_customers() OWNER TO notifications_owner;
           ALTER FUNCTION notifications.first_email() OWNER TO notifications_owner;
           ALTER FUNCTION notifications.caller_path() OWNER TO notifications_owner;
           REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA notifications FROM PUBLIC;
           CREATE TABLE billing.stray (id int);
           GRANT INSERT ON billing.invoices TO monolith_rw;
           GRANT billing_ro TO monolith_rw;
           ALTER ROLE notifications_rw IN DATABASE app SET search_path = notifications, public;
           ALTER ROLE billing_ro CREATEDB;"#,
    );
    let report = audit_with_manifest(&cluster).await;

    let fks = of_rule(&report, "cross-schema-fk");
    assert_eq!(
        fks,
        [
            "billing.events.events_customer_id_fkey | billing -> monolith | -",
            "billing.invoices.invoices_customer_fk | billing -> monolith | -",
        ],
        "one finding per constraint (not per partition); the fk inside billing is not one"
    );
    let grants = of_rule(&report, "cross-schema-grant");
    for expected in [
        "monolith.customers | billing -> monolith | billing_rw",
        "monolith.customers | notifications -> monolith | notifications_rw",
        "billing.invoices | monolith -> billing | monolith_rw",
    ] {
        assert!(
            grants.contains(&expected.to_string()),
            "{expected} in {grants:#?}"
        );
    }
    assert!(
        grants
            .iter()
            .all(|g| !g.ends_with("| billing_ro") || !g.starts_with("billing.")),
        "{grants:#?}"
    );
    let via = report
        .findings
        .iter()
        .find(|f| {
            f.role.as_deref() == Some("notifications_rw") && f.rule.as_str() == "cross-schema-grant"
        })
        .unwrap();
    assert!(
        via.message
            .contains("through membership in `legacy_readers`"),
        "{}",
        via.message
    );
    assert_eq!(
        of_rule(&report, "public-grant"),
        ["billing.invoices | billing -> billing | -"]
    );
    assert_eq!(
        of_rule(&report, "public-schema-create"),
        ["public | public -> - | -"]
    );
    assert_eq!(
        of_rule(&report, "public-schema-objects"),
        ["public.junk | public -> - | postgres"]
    );
    assert_eq!(
        of_rule(&report, "cross-schema-view"),
        ["notifications.customer_emails | notifications -> monolith | -"],
        "a view over its own tables (monolith.v_customers) is not one"
    );
    assert_eq!(
        of_rule(&report, "cross-schema-dependency"),
        [
            "notifications.count_customers() | notifications -> monolith | -",
            "notifications.first_email() | notifications -> monolith | -",
            "notifications.loud | notifications -> monolith | -",
            "notifications.prefs | notifications -> monolith | -"
        ],
        "a view that only calls another schema's function is a dependency, not a view; string \
         bodies count (unqualified names through the function's own search_path only)"
    );
    assert_eq!(
        of_rule(&report, "foreign-owner"),
        ["billing.stray | billing -> - | postgres"]
    );
    assert_eq!(
        of_rule(&report, "shared-writer"),
        ["billing.invoices | billing -> - | monolith_rw"]
    );
    assert_eq!(
        of_rule(&report, "role-membership-leak"),
        ["monolith_rw | monolith -> billing | monolith_rw"]
    );
    assert_eq!(
        of_rule(&report, "search-path-leak"),
        ["notifications_rw | notifications -> public | notifications_rw"]
    );
    assert_eq!(
        of_rule(&report, "privileged-service-role"),
        ["billing_ro | billing -> - | billing_ro"]
    );
    let drift = of_rule(&report, "drift");
    assert!(
        drift.iter().any(|d| d.starts_with("table billing.stray")),
        "{drift:#?}"
    );
    assert!(
        drift.iter().any(|d| d.starts_with("role billing_ro")),
        "{drift:#?}"
    );
    for finding in &report.findings {
        assert!(!finding.message.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn inference_handles_quoted_names_dotted_tables_and_leaves_extensions_out() {
    let cluster = TestCluster::start("shop");
    cluster.psql_ok(
        "shop",
        r#"CREATE ROLE "Billing Owner";
           CREATE ROLE bs_rw LOGIN;
           CREATE ROLE "Catalog Owner";
           CREATE SCHEMA "Billing Svc" AUTHORIZATION "Billing Owner";
           CREATE SCHEMA "shop.v2" AUTHORIZATION "Catalog Owner";
           SET ROLE "Catalog Owner";
           CREATE TABLE "shop.v2"."odd.name" (id int PRIMARY KEY);
           RESET ROLE;
           CREATE TABLE "Billing Svc"."Invoices" (id int, item int REFERENCES "shop.v2"."odd.name");
           ALTER TABLE "Billing Svc"."Invoices" OWNER TO "Billing Owner";
           GRANT USAGE ON SCHEMA "Billing Svc" TO bs_rw;
           GRANT SELECT, INSERT ON "Billing Svc"."Invoices" TO bs_rw;
           CREATE EXTENSION pgcrypto SCHEMA "Billing Svc";"#,
    );
    let report = audit_inferred(&cluster, "shop").await;
    let fks = of_rule(&report, "cross-schema-fk");
    assert_eq!(
        fks,
        [r#"Billing Svc.Invoices.Invoices_item_fkey | Billing Svc -> shop.v2 | -"#]
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| !f.message.contains("digest") && !f.message.contains("crypt")),
        "extension functions are no coupling: {:#?}",
        report.findings.iter().map(line).collect::<Vec<_>>()
    );
    // bs_rw is a member of no owner, so of no service: no finding.
    assert!(
        of_rule(&report, "cross-schema-grant").is_empty(),
        "{:#?}",
        of_rule(&report, "cross-schema-grant")
    );
    cluster.psql_ok("shop", r#"GRANT USAGE ON SCHEMA "shop.v2" TO "Billing Owner"; GRANT SELECT ON "shop.v2"."odd.name" TO "Billing Owner";"#);
    let report = audit_inferred(&cluster, "shop").await;
    let grants = of_rule(&report, "cross-schema-grant");
    assert!(
        grants.contains(&"shop.v2.odd.name | Billing Svc -> shop.v2 | Billing Owner".to_string()),
        "{grants:#?}"
    );
    assert!(!grants.contains(&"shop.v2.odd.name | Billing Svc -> shop.v2 | bs_rw".to_string()));
}

fn run_audit(cluster: &TestCluster, user: &str, args: &[&str]) -> std::process::Output {
    run_audit_in(cluster, user, "app", args)
}

/// `dbsplit -m services.toml.example audit ARGS` against `database` as `user`.
fn run_audit_in(
    cluster: &TestCluster,
    user: &str,
    database: &str,
    args: &[&str],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .arg("audit")
        .args(args)
        .env(
            "DATABASE_URL",
            cluster.server.connection_string(user, database),
        )
        .env("NO_COLOR", "1")
        .output()
        .expect("dbsplit runs")
}

/// The findings of a `--format json` run as `rule object | schema -> target | role` lines.
fn json_lines(output: &std::process::Output) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap_or("-").to_string();
            format!(
                "{} {} | {} -> {} | {}",
                text("rule"),
                text("object"),
                text("schema"),
                text("target_schema"),
                text("role")
            )
        })
        .collect()
}

/// A cluster laid out like Supabase's: schemas owned by one admin role each, PostgREST's API
/// roles reading (and `authenticated` writing) several of them, `authenticator` switching to
/// them without inheriting. (PostgreSQL 14's PUBLIC CREATE on schema public revoked, as 15+.)
const SUPABASE: &str = r#"
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    CREATE ROLE supabase_admin SUPERUSER;
    CREATE ROLE supabase_auth_admin NOINHERIT LOGIN;
    CREATE ROLE supabase_storage_admin NOINHERIT LOGIN;
    CREATE ROLE anon NOLOGIN NOINHERIT;
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    CREATE ROLE authenticator NOINHERIT LOGIN;
    GRANT anon, authenticated, service_role TO authenticator;
    CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
    CREATE SCHEMA storage AUTHORIZATION supabase_storage_admin;
    CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
    ALTER TABLE auth.users OWNER TO supabase_auth_admin;
    CREATE TABLE storage.buckets (id text PRIMARY KEY, owner uuid);
    ALTER TABLE storage.buckets OWNER TO supabase_storage_admin;
    CREATE TABLE storage.objects (id uuid PRIMARY KEY, bucket_id text REFERENCES storage.buckets);
    ALTER TABLE storage.objects OWNER TO supabase_storage_admin;
    GRANT USAGE ON SCHEMA auth, storage TO anon, authenticated, service_role;
    GRANT SELECT ON auth.users TO anon, authenticated, service_role;
    GRANT SELECT ON ALL TABLES IN SCHEMA storage TO anon, authenticated, service_role;
    GRANT INSERT, UPDATE ON storage.objects TO authenticated;
    GRANT ALL ON ALL TABLES IN SCHEMA storage TO service_role;
"#;

#[tokio::test(flavor = "multi_thread")]
async fn inferred_services_leave_api_roles_alone_and_find_the_role_writing_two_services() {
    let cluster = TestCluster::start("supa");
    cluster.psql_ok("supa", SUPABASE);
    let audit = || {
        run_audit_in(
            &cluster,
            "postgres",
            "supa",
            &["--no-manifest", "--format", "json"],
        )
    };
    let clean = audit();
    assert_eq!(
        json_lines(&clean),
        Vec::<String>::new(),
        "API roles reading several services belong to none of them"
    );
    assert_eq!(clean.status.code(), Some(0));

    cluster.psql_ok(
        "supa",
        "CREATE ROLE sync_job LOGIN;
         CREATE ROLE sync_writers;
         GRANT sync_writers TO sync_job;
         GRANT USAGE ON SCHEMA auth, storage TO sync_job;
         GRANT UPDATE ON auth.users TO sync_job;
         GRANT INSERT ON storage.buckets TO sync_writers;",
    );
    let shared = audit();
    assert_eq!(
        json_lines(&shared),
        ["shared-role sync_job | - -> - | sync_job"],
        "one finding for the role writing two services, none for the group writing one"
    );
    assert_eq!(shared.status.code(), Some(1));

    // Inferred mode says so, and with --verbose who belongs where.
    let human = run_audit_in(&cluster, "postgres", "supa", &["--no-manifest"]);
    assert!(
        stdout(&human).contains(
            "Services were inferred from the cluster (no manifest): 2 roles placed in 2 services; --verbose lists them."
        ),
        "{}",
        stdout(&human)
    );
    let verbose = run_audit_in(
        &cluster,
        "postgres",
        "supa",
        &["--no-manifest", "--verbose"],
    );
    let text = stdout(&verbose);
    assert!(
        text.contains("  supabase_auth_admin -> auth\n  supabase_storage_admin -> storage\n"),
        "{text}"
    );
    assert!(!text.contains("anon ->"), "{text}");
    let verbose_json = run_audit_in(
        &cluster,
        "postgres",
        "supa",
        &["--no-manifest", "--verbose", "--format", "json"],
    );
    let json: serde_json::Value = serde_json::from_slice(&verbose_json.stdout).unwrap();
    assert_eq!(json["inferred"], true);
    assert_eq!(
        json["roles"],
        serde_json::json!({"supabase_auth_admin": "auth", "supabase_storage_admin": "storage"})
    );
    assert_eq!(json["exceptions"], serde_json::json!([]));

    let json: serde_json::Value = serde_json::from_slice(&shared.stdout).unwrap();
    assert_eq!(json["inferred"], true);
    assert!(json.get("roles").is_none(), "only with --verbose: {json}");
    let message = json["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("storage (`storage.buckets` through membership in `sync_writers`)"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_runs_as_an_ordinary_role_and_renders_every_format() {
    let cluster = TestCluster::start("app");
    converged(&cluster).await;
    cluster.psql_ok(
        "app",
        "ALTER TABLE billing.invoices ADD CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id) REFERENCES monolith.customers;
         GRANT SELECT ON monolith.customers TO billing_rw;
         CREATE ROLE auditor LOGIN;
         GRANT CONNECT ON DATABASE app TO auditor;",
    );
    let as_superuser = run_audit(&cluster, "postgres", &["--format", "json"]);
    let as_auditor = run_audit(&cluster, "auditor", &["--format", "json"]);
    assert_eq!(
        as_auditor.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&as_auditor.stderr)
    );
    assert_eq!(
        stdout(&as_superuser),
        stdout(&as_auditor),
        "an ordinary role sees the same findings"
    );
    let json: serde_json::Value = serde_json::from_slice(&as_auditor.stdout).unwrap();
    let fk = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "cross-schema-fk")
        .expect("the fk is found");
    assert_eq!(fk["object"], "billing.invoices.invoices_customer_fk");
    assert_eq!(fk["schema"], "billing");
    assert_eq!(fk["target_schema"], "monolith");
    assert_eq!(fk["severity"], "error");
    for key in [
        "rule",
        "severity",
        "schema",
        "object",
        "target_schema",
        "role",
        "message",
    ] {
        assert!(fk.get(key).is_some(), "{key} in {fk}");
    }
    insta::assert_snapshot!("audit_json", stdout(&as_auditor));
    assert_eq!(json["inferred"], false);
    let verbose = run_audit(&cluster, "auditor", &["--format", "json", "--verbose"]);
    let verbose: serde_json::Value = serde_json::from_slice(&verbose.stdout).unwrap();
    assert_eq!(verbose["findings"], json["findings"]);
    assert_eq!(verbose["roles"]["billing_rw"], "billing");
    assert!(
        verbose["exceptions"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({
                "rule": "cross-schema-grant",
                "object": "reference.currencies",
                "role": "billing_rw",
                "reason": "declared read: currency codes are shared reference data"
            })),
        "{}",
        verbose["exceptions"]
    );
    for format in ["human", "sarif", "github"] {
        let output = run_audit(&cluster, "auditor", &["--format", format, "--verbose"]);
        assert_eq!(output.status.code(), Some(1));
        insta::assert_snapshot!(format!("audit_{format}"), stdout(&output));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_on_warning_fails_on_a_cluster_with_warnings_only() {
    let cluster = TestCluster::start("app");
    converged(&cluster).await;
    cluster.psql_ok(
        "app",
        "CREATE TABLE public.settings (k text, v text);
         ALTER ROLE notifications_rw IN DATABASE app SET search_path = notifications, public;",
    );
    let default = run_audit(&cluster, "postgres", &["--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&default.stdout).unwrap();
    let severities: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    assert!(
        !severities.is_empty() && severities.iter().all(|s| *s == "warning"),
        "warnings only: {:#?}",
        json_lines(&default)
    );
    assert_eq!(
        default.status.code(),
        Some(0),
        "warnings pass --fail-on error"
    );
    let strict = run_audit(
        &cluster,
        "postgres",
        &["--fail-on", "warning", "--format", "json"],
    );
    assert_eq!(strict.status.code(), Some(1));
    assert_eq!(strict.stdout, default.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn predefined_roles_reaching_every_schema_and_foreign_default_privileges_are_found() {
    let cluster = TestCluster::start("app");
    converged(&cluster).await;
    cluster.psql_ok(
        "app",
        "CREATE ROLE auditor LOGIN;
         GRANT CONNECT ON DATABASE app TO auditor;
         CREATE ROLE readers;
         GRANT pg_read_all_data TO readers;
         GRANT readers TO billing_ro;
         GRANT pg_write_server_files TO notifications_rw;
         GRANT pg_signal_backend TO monolith_rw;
         GRANT billing_owner TO billing_migrator WITH ADMIN OPTION;
         ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT SELECT ON TABLES TO billing_rw;
         ALTER DEFAULT PRIVILEGES FOR ROLE monolith_owner IN SCHEMA monolith
             GRANT SELECT ON TABLES TO notifications_rw;",
    );
    let output = run_audit(&cluster, "auditor", &["--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<String> = json_lines(&output)
        .into_iter()
        .filter(|l| !l.starts_with("drift "))
        .collect();
    assert_eq!(
        lines,
        [
            "privileged-service-role billing_migrator | billing -> - | billing_migrator",
            "privileged-service-role billing_ro | billing -> - | billing_ro",
            "cross-schema-grant default privileges for monolith_owner in monolith on tables | notifications -> monolith | notifications_rw",
            "cross-schema-grant default privileges for postgres on tables | billing -> - | billing_rw",
            "privileged-service-role notifications_rw | notifications -> - | notifications_rw",
        ],
        "pg_signal_backend is allowed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_on_one_snapshot_read_the_same_state_as_one() {
    let cluster = TestCluster::start("app");
    converged(&cluster).await;
    cluster.psql_ok(
        "app",
        "CREATE TABLE billing.t (id int PRIMARY KEY); CREATE TABLE monolith.u (t int REFERENCES billing.t);",
    );
    let mut first = cluster.superuser("app").await;
    let mut second = cluster.superuser("app").await;
    let single = introspect(&first, Depth::Dependencies).await.unwrap();
    let timeout = Duration::from_millis(1500);
    let tx = begin(&mut first, timeout).await.unwrap();
    let helper = join_snapshot(&tx, &mut second, timeout).await.unwrap();
    // A change after the snapshot is invisible to both sessions.
    cluster.psql_ok("app", "CREATE TABLE notifications.later (id int)");
    let split = introspect_split(&tx, Some(&helper), Depth::Dependencies)
        .await
        .unwrap();
    assert_eq!(single, split);
    assert!(!split.state.databases["app"].foreign_keys.is_empty());
    let later: i64 = helper
        .query_one("SELECT count(*) FROM pg_class WHERE relname = 'later'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(later, 0, "the helper sees the first session's snapshot");
    let setting: String = helper
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(setting, "1500ms", "the helper's statements are bounded too");
    let write = helper
        .batch_execute("CREATE TABLE billing.w (id int)")
        .await;
    assert_eq!(
        write.unwrap_err().code(),
        Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_membership_granted_without_inherit_writes_nothing_on_16_and_later() {
    let cluster = TestCluster::start("supa");
    let version: String = cluster
        .superuser("supa")
        .await
        .query_one("SHOW server_version_num", &[])
        .await
        .unwrap()
        .get(0);
    if version.parse::<i32>().unwrap() < 160_000 {
        return; // Per-grant INHERIT is PostgreSQL 16's.
    }
    cluster.psql_ok("supa", SUPABASE);
    cluster.psql_ok(
        "supa",
        "CREATE ROLE ops LOGIN;
         CREATE ROLE w_auth;
         CREATE ROLE w_storage;
         GRANT UPDATE ON auth.users TO w_auth;
         GRANT INSERT ON storage.buckets TO w_storage;
         GRANT w_auth TO ops;
         GRANT w_storage TO ops WITH INHERIT FALSE, SET TRUE;",
    );
    let audit = || {
        run_audit_in(
            &cluster,
            "postgres",
            "supa",
            &["--no-manifest", "--format", "json"],
        )
    };
    assert_eq!(json_lines(&audit()), Vec::<String>::new());
    cluster.psql_ok("supa", "GRANT w_storage TO ops WITH INHERIT TRUE;");
    assert_eq!(json_lines(&audit()), ["shared-role ops | - -> - | ops"]);
}
