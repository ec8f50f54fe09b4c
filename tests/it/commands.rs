//! The live commands as users run them: `plan`, `apply`, `demo`, with their exit codes.

use std::process::{Command, Stdio};

use crate::support::pg::TestCluster;
use crate::support::{root, stderr, stdout, with_closed_stdout};

/// Runs dbsplit against `cluster` with the example manifest; stdin is not a terminal.
fn run(cluster: &TestCluster, args: &[&str]) -> std::process::Output {
    command(cluster, args).output().expect("dbsplit runs")
}

/// The command `run` runs.
fn command(cluster: &TestCluster, args: &[&str]) -> Command {
    command_with(cluster, &root().join("services.toml.example"), args)
}

/// dbsplit against `cluster` with `manifest`; stdin is not a terminal.
fn command_with(cluster: &TestCluster, manifest: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dbsplit"));
    command
        .arg("-m")
        .arg(manifest)
        .args(args)
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("postgres", "app"),
        )
        .env("NO_COLOR", "1")
        .env("BILLING_DB_PASSWORD", "billing-secret")
        .env_remove("MONOLITH_DB_PASSWORD")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null());
    command
}

#[test]
fn a_closed_pipe_does_not_hide_pending_changes_or_findings() {
    let cluster = TestCluster::start("app");
    let applied = run(&cluster, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    // A legacy shortcut: another service's table granted to billing, which plan would revoke.
    cluster.psql_ok(
        "app",
        "SET ROLE monolith_owner;
         CREATE TABLE monolith.customers (id bigint PRIMARY KEY);
         GRANT SELECT ON monolith.customers TO billing_rw;",
    );
    for args in [&["plan", "--exit-code"][..], &["audit"]] {
        let output = run(&cluster, args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
        let status = with_closed_stdout(&mut command(&cluster, args));
        assert_eq!(status.code(), Some(1), "{args:?} | head");
    }
}

#[test]
fn plan_exit_code_then_apply_then_nothing_pending() {
    let cluster = TestCluster::start("app");
    let pending = run(&cluster, &["plan", "--exit-code"]);
    assert_eq!(pending.status.code(), Some(1), "{}", stderr(&pending));
    let text = stdout(&pending);
    assert!(text.contains("service billing"), "{text}");
    assert!(text.contains("$MONOLITH_DB_PASSWORD is not set"), "{text}");
    assert!(
        !text.contains("billing-secret"),
        "a password leaked into the plan"
    );

    let refused = run(&cluster, &["apply"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("pass --yes"),
        "{}",
        stderr(&refused)
    );

    let applied = run(&cluster, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    assert!(stdout(&applied).contains("the cluster matches the manifest"));
    assert!(!stdout(&applied).contains("billing-secret"));

    let clean = run(&cluster, &["plan", "--exit-code", "--format", "json"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    let json: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(json["changes"].as_array().map(Vec::len), Some(0), "{json}");

    // The password was set from the environment as a verifier, and is not reset when unchanged.
    let login = Command::new(cluster.server.bin_dir().join("psql"))
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.server.port().to_string(),
        ])
        .args(["-U", "postgres", "-d", "app", "-tAc"])
        .arg(
            "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'billing_rw'",
        )
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&login.stdout).trim(), "t");
}

#[test]
fn a_saved_plan_is_refused_saying_what_differs() {
    let cluster = TestCluster::start("app");
    let dir = crate::support::TempDir::new("saved-plan");
    let file = dir.path().join("plan.json");
    let file = file.to_str().unwrap();
    let saved = run(&cluster, &["plan", "--out", file]);
    assert_eq!(saved.status.code(), Some(0), "{}", stderr(&saved));
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("fingerprint") && !text.contains("billing-secret"));

    // Another manifest: the example with another connection limit for monolith_rw.
    let example = std::fs::read_to_string(root().join("services.toml.example")).unwrap();
    assert!(example.contains("connection_limit = 30"));
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        example.replace("connection_limit = 30", "connection_limit = 31"),
    )
    .unwrap();
    let refused = command_with(&cluster, &other, &["apply", "--yes", file])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert_eq!(
        stderr(&refused),
        format!(
            "error: {file} was made for another manifest (it changed since, or -m names another file): run `dbsplit plan --out` again\n"
        )
    );

    cluster.psql_ok("app", "CREATE ROLE intruder");
    let refused = run(&cluster, &["apply", "--yes", file]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains(
            "the cluster changed since the plan was made: role intruder appeared; run `dbsplit plan --out` again"
        ),
        "{}",
        stderr(&refused)
    );

    let fresh = run(&cluster, &["plan", "--out", file]);
    assert_eq!(fresh.status.code(), Some(0));
    // A password set again to the same value (a new salt, a new verifier) changes nothing
    // the plan depends on: stored verifiers are no part of the fingerprint.
    cluster.psql_ok("app", "ALTER ROLE intruder PASSWORD 'same'");
    let fresh = run(&cluster, &["plan", "--out", file]);
    assert_eq!(fresh.status.code(), Some(0));
    cluster.psql_ok("app", "ALTER ROLE intruder PASSWORD 'same'");
    let applied = run(&cluster, &["apply", "--yes", file]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    // The saved plan, applied, leaves nothing to plan.
    let replanned = run(&cluster, &["plan", "--exit-code", "--format", "json"]);
    assert_eq!(replanned.status.code(), Some(0), "{}", stdout(&replanned));
    let json: serde_json::Value = serde_json::from_slice(&replanned.stdout).unwrap();
    assert_eq!(json["changes"].as_array().map(Vec::len), Some(0), "{json}");

    let again = run(&cluster, &["apply", "--yes", file]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains(
            "the saved plan is already applied: the cluster matches the manifest; nothing to do"
        ),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_failed_statement_shows_the_server_message_once() {
    let cluster = TestCluster::start("app");
    let applied = run(&cluster, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    // Drift that apply repairs with ALTER TABLE ... OWNER, which waits for the table's lock.
    cluster.psql_ok(
        "app",
        "CREATE TABLE monolith.customers (id bigint PRIMARY KEY);",
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let holder = runtime.block_on(cluster.superuser("app"));
    runtime
        .block_on(
            holder.batch_execute("BEGIN; LOCK TABLE monolith.customers IN ACCESS EXCLUSIVE MODE"),
        )
        .unwrap();
    let failed = run(&cluster, &["apply", "--yes", "--lock-timeout", "1s"]);
    assert_eq!(failed.status.code(), Some(2), "{}", stdout(&failed));
    let message = stderr(&failed);
    assert_eq!(
        message
            .matches("canceling statement due to lock timeout")
            .count(),
        1,
        "{message}"
    );
    assert!(message.contains("(SQLSTATE 55P03)"), "{message}");
    assert!(!message.contains("db error"), "{message}");
}

#[test]
fn a_connection_failure_is_one_sentence_and_exit_2() {
    let example = root().join("services.toml.example");
    let output = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(&example)
        .args([
            "plan",
            "--database-url",
            "postgres://someone:hunter2@127.0.0.1:1/app",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "{message}");
}

/// Runs `dbsplit demo` with its servers and template in `cache`/dbsplit.
fn demo_in(cache: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("demo")
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("dbsplit runs")
}

#[test]
fn demo_shows_the_boundary_and_cleans_up() {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let cache = crate::support::TempDir::new("xdg-cache");
    let dir = cache.path().join("dbsplit");
    // A cache folder others may use is refused, not used.
    std::fs::DirBuilder::new().mode(0o755).create(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let refused = demo_in(cache.path());
    assert_eq!(refused.status.code(), Some(2), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains(&format!(
            "refusing to keep throwaway PostgreSQL servers in {}: other users may use it (mode 0755, not 0700)",
            dir.display()
        )),
        "{}",
        stderr(&refused)
    );
    std::fs::remove_dir(&dir).unwrap();
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    if me == 0 {
        // As root the servers run as `postgres`: a folder of another user is refused.
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
        let refused = demo_in(cache.path());
        assert_eq!(refused.status.code(), Some(2));
        assert!(
            stderr(&refused).contains("it belongs to uid 65534"),
            "{}",
            stderr(&refused)
        );
        std::fs::remove_dir(&dir).unwrap();
    }

    let output = demo_in(cache.path());
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(text.contains("ok: EUR, USD"), "{text}");
    assert!(
        text.contains("ERROR: permission denied for schema monolith (SQLSTATE 42501)"),
        "{text}"
    );
    assert!(
        text.contains("ERROR: permission denied for schema public (SQLSTATE 42501)"),
        "{text}"
    );
    assert!(
        text.contains("no changes, the cluster matches the manifest"),
        "{text}"
    );
    // XDG_CACHE_HOME holds a private folder with a template per server version and binaries.
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    if me != 0 {
        assert_eq!(meta.uid(), me);
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let parts: Vec<&str> = names[0].split('-').collect();
    assert_eq!(parts.len(), 4, "{names:?}");
    assert_eq!(parts[0], "template");
    assert!(
        text.contains(&format!("Started PostgreSQL {}", parts[1])),
        "{text}"
    );
    assert_eq!(parts[2].len(), 12, "the binaries' key: {names:?}");
}

#[test]
fn demo_interrupted_stops_and_deletes_its_server() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("demo")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait until the server runs, then interrupt as Ctrl-C would.
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.starts_with("1. Started PostgreSQL"));
    assert!(started.is_some(), "the demo started its server");
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let root = dbsplit::pg::local::work_dir().unwrap();
    assert!(root.is_dir(), "{} holds the template", root.display());
    let left: Vec<_> = std::fs::read_dir(&root)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|name| name.starts_with(&format!("{pid}-")))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "the demo's server folder is gone: {left:?}"
    );
}

#[test]
fn apply_and_migrate_refuse_a_hot_standby() {
    let primary = TestCluster::start("app");
    let standby = primary
        .server
        .start_standby()
        .unwrap_or_else(|e| panic!("{e}"));
    let project = crate::support::TempDir::new("standby");
    std::fs::copy(
        root().join("services.toml.example"),
        project.path().join("services.toml"),
    )
    .unwrap();
    let migrations = project.path().join("migrations").join("billing");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("20250101000000_invoices.sql"),
        "CREATE TABLE invoices (id bigint PRIMARY KEY);\n",
    )
    .unwrap();
    for (args, command) in [
        (&["apply", "--yes"][..], "apply"),
        (&["migrate", "billing"], "migrate"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
            .args(["-m", "services.toml"])
            .args(args)
            .current_dir(project.path())
            .env("DATABASE_URL", standby.connection_string("postgres", "app"))
            .env("NO_COLOR", "1")
            .env_remove("DBSPLIT_MANIFEST")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{command}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(&format!(
                "the server is a hot standby (read-only, in recovery): {command} writes, so connect to the primary"
            )),
            "{command}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn an_unanswered_connection_gives_up_after_10_seconds_by_default() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let example = root().join("services.toml.example");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(&example)
        .args(["plan", "--database-url"])
        .arg(format!("postgres://someone@127.0.0.1:{port}/app"))
        .env_remove("PGCONNECT_TIMEOUT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    // libpq's default is to wait for ever: do not let a regression hang the suite.
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(40) {
            let _ = child.kill();
            panic!("dbsplit still waits after 40 seconds");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!(
            "cannot connect to 127.0.0.1:{port} as someone: no answer within 10 seconds"
        )),
        "{}",
        stderr(&output)
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
}

#[test]
fn plan_apply_and_audit_refuse_another_database_than_the_manifests() {
    // Read-only: nothing is created, in either database.
    let cluster = TestCluster::shared("app");
    TestCluster::shared("other");
    for args in [&["plan"][..], &["apply", "--yes"], &["audit"]] {
        let output = command(&cluster, args)
            .env(
                "DATABASE_URL",
                cluster.server.connection_string("postgres", "other"),
            )
            .output()
            .expect("dbsplit runs");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output)
                .contains("connected to database other, but the manifest manages database app"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // Nothing was created in either database.
    let schemas = |db: &str| {
        let output = cluster
            .server
            .psql(db)
            .args([
                "-tAc",
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'billing'",
            ])
            .output()
            .expect("psql runs");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    assert_eq!(schemas("app"), "0");
    assert_eq!(schemas("other"), "0");
}
