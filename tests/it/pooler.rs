//! `dbsplit pooler`: the files it writes run a real PgBouncer (Debian's `pgbouncer`), which lets
//! each service role in through its service's alias with its password, and no one without it.
//! The server asks for SCRAM over TCP, so PgBouncer's own login to it proves the userlist holds
//! the server's verifiers, not merely verifiers of the same passwords.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dbsplit::pg::local::LocalConfig;
use tokio_postgres::NoTls;

use crate::support::pg::TestCluster;
use crate::support::{TempDir, stderr, stdout};

const HBA: &str = "local all all trust\n\
                   host all postgres 127.0.0.1/32 trust\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn manifest(dir: &Path, listen_port: u16) -> std::path::PathBuf {
    manifest_with(dir, listen_port, "userlist")
}

fn manifest_with(dir: &Path, listen_port: u16, auth: &str) -> std::path::PathBuf {
    let path = dir.join("services.toml");
    let text = format!(
        "version = 1\n[database]\nname = \"app\"\n\
         [services.billing]\n\
         roles.billing_rw = {{ access = \"readwrite\", password_env = \"BILLING_PW\", pool_size = 3, connection_limit = 5 }}\n\
         roles.billing_ro = {{ access = \"readonly\", password_env = \"BILLING_RO_PW\", pool_size = 2 }}\n\
         [services.notifications]\n\
         roles.notifications_rw = {{ access = \"readwrite\", password_env = \"NOTIFY_PW\", pool_size = 2 }}\n\
         [pooler]\nlisten_port = {listen_port}\nauth = \"{auth}\"\n"
    );
    std::fs::write(&path, text).expect("write the manifest");
    path
}

fn dbsplit(cluster: &TestCluster, manifest: &Path, args: &[&str]) -> std::process::Output {
    let url = cluster.server.connection_string("postgres", "app");
    dbsplit_at(&url, manifest, args)
}

/// dbsplit connected with `url`, the roles' passwords in its environment.
fn dbsplit_at(url: &str, manifest: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(manifest)
        .args(args)
        .env("DATABASE_URL", url)
        .env("NO_COLOR", "1")
        .env("BILLING_PW", "billing secret")
        .env("BILLING_RO_PW", "reader secret")
        .env("NOTIFY_PW", "notify secret")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

/// A PgBouncer on `ini`, as the `postgres` OS user when the tests run as root (it refuses root);
/// killed when dropped.
struct Bouncer(Child, std::path::PathBuf);

impl Bouncer {
    fn start(dir: &Path, port: u16) -> Bouncer {
        let root = std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(false);
        let ini = dir.join("pgbouncer.ini");
        // The written file listens on every address, as a deployed pooler does; the test's
        // PgBouncer stays on loopback.
        let text = std::fs::read_to_string(&ini).expect("pgbouncer.ini is written");
        assert!(text.contains("listen_addr = *\n"), "{text}");
        std::fs::write(
            &ini,
            text.replace("listen_addr = *\n", "listen_addr = 127.0.0.1\n"),
        )
        .expect("pgbouncer.ini is rewritten");
        let mut command = if root {
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
        // Its log goes to a file next to the folder: a pipe nobody reads would fill and stall it.
        let log = dir.with_extension("log");
        let log_file = std::fs::File::create(&log).expect("create pgbouncer's log");
        let child = command
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("pgbouncer does not start ({e}): install it with apt-get install pgbouncer")
            });
        let mut bouncer = Bouncer(child, log);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = bouncer.0.try_wait() {
                panic!("pgbouncer exited ({status}): {}", bouncer.log());
            }
            assert!(Instant::now() < deadline, "pgbouncer does not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        bouncer
    }
}

impl Bouncer {
    /// What PgBouncer logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        // SIGTERM, which runuser passes on to PgBouncer; a SIGKILL would stop runuser alone.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

async fn login(
    port: u16,
    alias: &str,
    user: &str,
    password: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let config = format!(
        "host=127.0.0.1 port={port} dbname={alias} user={user} password='{password}' sslmode=disable"
    );
    let (client, connection) = tokio_postgres::connect(&config, NoTls).await?;
    tokio::spawn(connection);
    // The simple protocol: transaction pooling has no prepared statements on PgBouncer 1.18.
    let rows = client
        .simple_query("SELECT current_user::text, current_database()::text")
        .await?;
    Ok(rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some(format!("{}@{}", row.get(0)?, row.get(1)?))
            }
            _ => None,
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn pgbouncer_lets_each_service_role_in_with_its_password_only() {
    let cluster = TestCluster::start_with(
        "app",
        &LocalConfig {
            hba: Some(HBA.to_string()),
            ..LocalConfig::default()
        },
    );
    let dir = TempDir::new("pooler");
    let port = free_port();
    let manifest = manifest(dir.path(), port);
    let applied = dbsplit(&cluster, &manifest, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));

    let out = dir.path().join("bouncer");
    let written = dbsplit(
        &cluster,
        &manifest,
        &["pooler", "--out", out.to_str().unwrap()],
    );
    assert_eq!(written.status.code(), Some(0), "{}", stderr(&written));
    assert!(
        stdout(&written).contains("2 service aliases, 3 roles"),
        "{}",
        stdout(&written)
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&out.join("pgbouncer.ini")), 0o600);
    assert_eq!(mode(&out.join("userlist.txt")), 0o600);
    let userlist = std::fs::read_to_string(out.join("userlist.txt")).unwrap();
    let ini = std::fs::read_to_string(out.join("pgbouncer.ini")).unwrap();
    for secret in ["billing secret", "reader secret", "notify secret"] {
        assert!(!userlist.contains(secret) && !ini.contains(secret));
    }
    assert!(ini.contains("billing_rw = max_user_connections=3"), "{ini}");

    let _bouncer = Bouncer::start(&out, port);
    for (alias, user, password) in [
        ("billing", "billing_rw", "billing secret"),
        ("billing", "billing_ro", "reader secret"),
        ("notifications", "notifications_rw", "notify secret"),
    ] {
        let rows = login(port, alias, user, password)
            .await
            .unwrap_or_else(|e| panic!("{user} through {alias}: {e:?}"));
        assert_eq!(rows, [format!("{user}@app")]);
        let refused = login(port, alias, user, "wrong password").await;
        let error = refused.expect_err("a wrong password is refused");
        let db = error.as_db_error();
        assert!(
            db.is_some_and(
                |e| e.code() == &tokio_postgres::error::SqlState::PROTOCOL_VIOLATION
                    && e.message().contains("authentication failed")
            ),
            "{user} with a wrong password: {error:?}"
        );
    }
    // Through PgBouncer too, each role's server sessions carry its service's name.
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} dbname=billing user=billing_rw password='billing secret' sslmode=disable"),
        NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let rows = client.simple_query("SHOW application_name").await.unwrap();
    let shown: Vec<String> = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(shown, ["billing"]);
    // A role without a pool_size is not in the userlist: PgBouncer refuses it.
    let owner = login(port, "billing", "postgres", "").await;
    assert!(owner.is_err(), "the superuser got in: {owner:?}");
}

/// A server that asks everyone for SCRAM over TCP, except the superuser and `admin`.
fn scram_server(extra_hba: &str, files: Vec<(String, Vec<u8>)>) -> TestCluster {
    TestCluster::start_with(
        "app",
        &LocalConfig {
            hba: Some(format!(
                "{extra_hba}host all admin 127.0.0.1/32 trust\n{HBA}"
            )),
            files,
            ..LocalConfig::default()
        },
    )
}

async fn assert_each_role_gets_in_with_its_password_only(port: u16, bouncer: &Bouncer) {
    for (alias, user, password) in [
        ("billing", "billing_rw", "billing secret"),
        ("billing", "billing_ro", "reader secret"),
        ("notifications", "notifications_rw", "notify secret"),
    ] {
        let rows = login(port, alias, user, password)
            .await
            .unwrap_or_else(|e| panic!("{user} through {alias}: {e:?}\n{}", bouncer.log()));
        assert_eq!(rows, [format!("{user}@app")]);
        let error = login(port, alias, user, "wrong password")
            .await
            .expect_err("a wrong password is refused");
        assert!(
            error.as_db_error().is_some_and(|e| e.code()
                == &tokio_postgres::error::SqlState::PROTOCOL_VIOLATION
                && e.message().contains("authentication failed")),
            "{user} with a wrong password: {error:?}"
        );
    }
}

fn assert_no_secret_in(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("the folder is readable") {
        let path = entry.expect("a folder entry").path();
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for secret in ["billing secret", "reader secret", "notify secret"] {
            assert!(!text.contains(secret), "a password in {dir:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_pg_authid_pooler_sets_the_verifiers_it_writes_on_the_server_too() {
    let cluster = scram_server("", Vec::new());
    let dir = TempDir::new("pooler-nosuper");
    let port = free_port();
    let manifest = manifest(dir.path(), port);
    let applied = dbsplit(&cluster, &manifest, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    // A managed-cloud admin: CREATEROLE, and (16+) ADMIN OPTION on the roles, as the roles it
    // created itself would give it.
    cluster.psql_ok(
        "app",
        "CREATE ROLE admin LOGIN CREATEROLE; GRANT CONNECT ON DATABASE app TO admin;\
         GRANT billing_rw, billing_ro, notifications_rw TO admin WITH ADMIN OPTION;",
    );
    let admin = cluster.server.connection_string("admin", "app");
    let out = dir.path().join("bouncer");
    let out_arg = out.to_str().unwrap();
    let without = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(&manifest)
        .args(["pooler", "--out", out_arg])
        .env("DATABASE_URL", &admin)
        .env("NO_COLOR", "1")
        .env("BILLING_PW", "billing secret")
        .env_remove("BILLING_RO_PW")
        .env_remove("NOTIFY_PW")
        .output()
        .expect("dbsplit runs");
    assert_eq!(without.status.code(), Some(2));
    assert!(
        stderr(&without).contains("only a superuser may read them")
            && stderr(&without)
                .contains("set $BILLING_RO_PW (for billing_ro), $NOTIFY_PW (for notifications_rw)"),
        "{}",
        stderr(&without)
    );
    assert!(!out.join("userlist.txt").exists());

    let written = dbsplit_at(&admin, &manifest, &["pooler", "--out", out_arg]);
    assert_eq!(written.status.code(), Some(0), "{}", stderr(&written));
    assert!(
        stdout(&written)
            .contains("3 roles with new SCRAM verifiers of their passwords, set on the server too"),
        "{}",
        stdout(&written)
    );
    assert_no_secret_in(&out);
    // The server holds exactly the verifiers written, and the passwords still match them: a
    // plan has nothing to change.
    let userlist = std::fs::read_to_string(out.join("userlist.txt")).unwrap();
    let client = cluster.connect("postgres", "app").await;
    let row = client
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'billing_rw'",
            &[],
        )
        .await
        .unwrap();
    let stored: String = row.get(0);
    assert!(stored.starts_with("SCRAM-SHA-256$"), "{stored}");
    assert!(
        userlist.contains(&format!("\"billing_rw\" \"{stored}\"")),
        "{userlist}"
    );
    let plan = dbsplit(&cluster, &manifest, &["plan", "--exit-code"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));

    let bouncer = Bouncer::start(&out, port);
    assert_each_role_gets_in_with_its_password_only(port, &bouncer).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pgbouncer_looks_each_service_role_up_with_auth_query_and_nobody_else() {
    // PgBouncer on the database host: the server lets its auth_user in by peer over the unix
    // socket (the OS user PgBouncer runs as maps to pgbouncer_auth); every service role logs
    // in by SCRAM.
    let os_user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let ident = format!("pooler postgres pgbouncer_auth\npooler {os_user} pgbouncer_auth\n");
    let cluster = scram_server(
        "local all postgres trust\n\
         local app pgbouncer_auth peer map=pooler\n\
         local all all scram-sha-256\n",
        vec![("pg_ident.conf".to_string(), ident.into_bytes())],
    );
    let dir = TempDir::new("auth-query");
    let port = free_port();
    let manifest = manifest_with(dir.path(), port, "auth_query");
    let applied = dbsplit(&cluster, &manifest, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let plan = dbsplit(&cluster, &manifest, &["plan", "--exit-code"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "a second plan: {}",
        stdout(&plan)
    );

    // PgBouncer reaches the server over its unix socket, where dbsplit connected.
    let socket = format!(
        "host={} port={} user=postgres dbname=app",
        cluster.server.socket_dir().display(),
        cluster.server.port()
    );
    let out = dir.path().join("bouncer");
    let written = dbsplit_at(
        &socket,
        &manifest,
        &["pooler", "--out", out.to_str().unwrap()],
    );
    assert_eq!(written.status.code(), Some(0), "{}", stderr(&written));
    assert!(
        stdout(&written).contains("3 roles looked up by auth_query as pgbouncer_auth"),
        "{}",
        stdout(&written)
    );
    let ini = std::fs::read_to_string(out.join("pgbouncer.ini")).unwrap();
    assert!(ini.contains("auth_user = pgbouncer_auth\n"), "{ini}");
    assert!(
        ini.contains("auth_query = SELECT usename, passwd FROM pgbouncer.get_auth($1)\n"),
        "{ini}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("userlist.txt")).unwrap(),
        ""
    );
    assert_no_secret_in(&out);

    // Roles PgBouncer must not let in, even with their right password: a superuser, and a
    // login role outside the manifest's pools.
    cluster.psql_ok(
        "app",
        "ALTER ROLE postgres PASSWORD 'super secret';\
         CREATE ROLE intruder LOGIN PASSWORD 'intruder secret'; GRANT CONNECT ON DATABASE app TO intruder;",
    );
    let bouncer = Bouncer::start(&out, port);
    assert_each_role_gets_in_with_its_password_only(port, &bouncer).await;
    for (user, password) in [
        ("postgres", "super secret"),
        ("intruder", "intruder secret"),
    ] {
        let refused = login(port, "billing", user, password).await;
        assert!(
            refused.is_err(),
            "{user} got in through PgBouncer: {refused:?}"
        );
    }

    // Only the auth_user may call the function; a service role is refused.
    let client = cluster.connect("postgres", "app").await;
    let rows = client
        .query(
            "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'pgbouncer' AND p.prosecdef \
             AND pg_get_userbyid(p.proowner) = 'pgbouncer_owner' \
             AND has_function_privilege('pgbouncer_auth', p.oid, 'EXECUTE') \
             AND NOT has_function_privilege('billing_rw', p.oid, 'EXECUTE')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (billing, connection) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} dbname=app user=billing_rw password='billing secret'",
            cluster.server.port()
        ),
        NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let error = billing
        .query("SELECT * FROM pgbouncer.get_auth('billing_ro')", &[])
        .await
        .expect_err("a service role cannot look verifiers up");
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );

    // Back to a userlist: apply removes the function and its schema, --prune the roles.
    let manifest = manifest_with(dir.path(), port, "userlist");
    let plan = dbsplit(&cluster, &manifest, &["plan", "--prune"]);
    assert!(
        stdout(&plan).contains("drop PgBouncer's auth_query function"),
        "{}",
        stdout(&plan)
    );
    let applied = dbsplit(&cluster, &manifest, &["apply", "--yes", "--prune"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let left = client
        .query(
            "SELECT 1 FROM pg_namespace WHERE nspname = 'pgbouncer' \
             UNION ALL SELECT 1 FROM pg_roles WHERE rolname IN ('pgbouncer_owner', 'pgbouncer_auth')",
            &[],
        )
        .await
        .unwrap();
    assert!(left.is_empty(), "{} left", left.len());
    let plan = dbsplit(&cluster, &manifest, &["plan", "--exit-code"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_login_role_gets_its_services_application_name_and_drift_is_planned_away() {
    let cluster = TestCluster::start("app");
    let dir = TempDir::new("appname");
    let manifest = manifest(dir.path(), 6432);
    let applied = dbsplit(&cluster, &manifest, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    for (user, service) in [
        ("billing_rw", "billing"),
        ("billing_ro", "billing"),
        ("notifications_rw", "notifications"),
    ] {
        let client = cluster.connect(user, "app").await;
        let row = client
            .query_one("SHOW application_name", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), service, "{user}");
    }
    let plan = dbsplit(&cluster, &manifest, &["plan", "--exit-code"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));

    cluster.psql_ok(
        "app",
        "ALTER ROLE billing_rw IN DATABASE app SET application_name = 'notifications';",
    );
    let plan = dbsplit(
        &cluster,
        &manifest,
        &["plan", "--exit-code", "--format", "sql"],
    );
    assert_eq!(plan.status.code(), Some(1), "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains(
            r#"ALTER ROLE "billing_rw" IN DATABASE "app" SET application_name = 'billing';"#
        ),
        "{}",
        stdout(&plan)
    );
    let applied = dbsplit(&cluster, &manifest, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let client = cluster.connect("billing_rw", "app").await;
    let row = client
        .query_one("SHOW application_name", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "billing");
}

#[test]
fn plan_refuses_limits_that_do_not_fit_max_connections_and_says_the_numbers() {
    // Read-only: plan only.
    let cluster = TestCluster::shared("app");
    let dir = TempDir::new("budget");
    let path = dir.path().join("services.toml");
    let write = |billing: u32| {
        std::fs::write(
            &path,
            format!(
                "version = 1\n[database]\nname = \"app\"\n\
                 [services.billing]\n\
                 roles.billing_rw = {{ access = \"readwrite\", connection_limit = {billing} }}\n\
                 roles.billing_ro = {{ access = \"readonly\", pool_size = 10 }}\n\
                 roles.billing_migrator = {{ access = \"owner\" }}\n\
                 [pooler]\ninstances = 3\n"
            ),
        )
        .expect("write the manifest");
    };
    // The test servers run with max_connections = 100 and 3 superuser-reserved slots (and, on
    // 16 and later, reserved_connections 0): 67 + 10 × 3 + 3 = 100 fits, one more does not.
    write(67);
    let plan = dbsplit(&cluster, &path, &["plan"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    write(68);
    let plan = dbsplit(&cluster, &path, &["plan"]);
    assert_eq!(plan.status.code(), Some(2), "{}", stdout(&plan));
    let reserved = if stderr(&plan).contains("reserved_connections 0") {
        " + reserved_connections 0"
    } else {
        ""
    };
    assert!(
        stderr(&plan).contains(&format!(
            "error: connection-budget: the connection limits of 2 roles (98) + superuser_reserved_connections 3{reserved} = 101 exceed max_connections 100; not counted, without a connection_limit or pool_size: billing_migrator"
        )),
        "{}",
        stderr(&plan)
    );
}

#[test]
fn audit_finds_connection_limits_that_cannot_fit_a_small_max_connections() {
    let cluster = TestCluster::start_with(
        "app",
        &LocalConfig {
            conf: vec!["max_connections = 20".to_string()],
            ..LocalConfig::default()
        },
    );
    let dir = TempDir::new("audit-budget");
    let path = dir.path().join("services.toml");
    let write = |limit: u32| {
        std::fs::write(
            &path,
            format!(
                "version = 1\n[database]\nname = \"app\"\n\
                 [services.billing]\n\
                 roles.billing_rw = {{ access = \"readwrite\", connection_limit = {limit} }}\n\
                 roles.billing_ro = {{ access = \"readonly\", pool_size = 5 }}\n\
                 [pooler]\ninstances = 2\n"
            ),
        )
        .expect("write the manifest");
    };
    // 5 + 5 × 2 + 3 superuser-reserved = 18 fits 20.
    write(5);
    let applied = dbsplit(&cluster, &path, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let audit = dbsplit(&cluster, &path, &["audit"]);
    assert_eq!(audit.status.code(), Some(0), "{}", stdout(&audit));
    assert!(!stdout(&audit).contains("connection-budget"));

    // Someone raises the limit by hand: 10 + 10 + 3 = 23.
    cluster.psql_ok("app", "ALTER ROLE billing_rw CONNECTION LIMIT 10;");
    let audit = dbsplit(&cluster, &path, &["audit", "--format", "json"]);
    assert_eq!(audit.status.code(), Some(1), "{}", stderr(&audit));
    let json: serde_json::Value = serde_json::from_str(&stdout(&audit)).unwrap();
    let budget: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "connection-budget")
        .collect();
    assert_eq!(budget.len(), 1, "{json}");
    assert_eq!(budget[0]["severity"], "error");
    let message = budget[0]["message"].as_str().unwrap();
    let reserved = if message.contains("reserved_connections 0") {
        " + reserved_connections 0"
    } else {
        ""
    };
    assert_eq!(
        message,
        format!(
            "the connection limits of 2 roles (20) + superuser_reserved_connections 3{reserved} = 23 exceed max_connections 20"
        )
    );
    // plan says the same of a manifest that asks for it, and exits 2.
    write(10);
    let plan = dbsplit(&cluster, &path, &["plan"]);
    assert_eq!(plan.status.code(), Some(2), "{}", stdout(&plan));
    assert!(
        stderr(&plan).contains(&format!("error: connection-budget: {message}")),
        "{}",
        stderr(&plan)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_counts_each_services_sessions_and_warns_of_a_role_used_by_another_service() {
    let cluster = TestCluster::start("app");
    let dir = TempDir::new("audit-sessions");
    let manifest = manifest(dir.path(), 6432);
    let applied = dbsplit(&cluster, &manifest, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    // billing_rw: one session as billing (its default), two that say they are notifications.
    let mut sessions = Vec::new();
    for name in [None, Some("notifications"), Some("notifications")] {
        let mut config = cluster.server.connection_string("billing_rw", "app");
        if let Some(name) = name {
            config.push_str(&format!(" application_name={name}"));
        }
        let (client, connection) = tokio_postgres::connect(&config, NoTls).await.unwrap();
        tokio::spawn(connection);
        sessions.push(client);
    }
    let notify = cluster.connect("notifications_rw", "app").await;

    let audit = dbsplit(&cluster, &manifest, &["audit", "--format", "json"]);
    assert_eq!(audit.status.code(), Some(0), "{}", stderr(&audit));
    let json: serde_json::Value = serde_json::from_str(&stdout(&audit)).unwrap();
    let shared: Vec<(&str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "shared-credentials")
        .map(|f| (f["role"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        shared,
        [(
            "billing_rw",
            "2 sessions of `billing_rw` (service billing) set application_name `notifications`: service notifications logs in with billing's credentials"
        )]
    );
    let per_service: Vec<(String, i64)> = json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap().to_string(),
                s["sessions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_service,
        [("billing".to_string(), 3), ("notifications".to_string(), 1)]
    );
    let billing_rw = &json["sessions"][0]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "billing_rw")
        .cloned()
        .unwrap();
    assert_eq!(billing_rw["connection_limit"], 5);
    assert_eq!(billing_rw["sessions"], 3);

    let human = dbsplit(&cluster, &manifest, &["audit"]);
    let text = stdout(&human);
    assert!(
        text.contains("Sessions per service (pg_stat_activity), in use of the connection limits:")
            && text.contains("billing_rw 3 of 5, pool 3"),
        "{text}"
    );
    drop(notify);
    drop(sessions);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_fleet_each_alias_points_at_its_services_database() {
    let cluster = scram_server("", Vec::new());
    cluster
        .server
        .psql("postgres")
        .args(["-c", "CREATE DATABASE billing"])
        .status()
        .expect("psql runs");
    let dir = TempDir::new("pooler-fleet");
    let port = free_port();
    let billing = "[services.billing]\n\
        roles.billing_rw = { access = \"readwrite\", password_env = \"BILLING_PW\", pool_size = 3 }\n\
        roles.billing_ro = { access = \"readonly\", password_env = \"BILLING_RO_PW\", pool_size = 2 }\n";
    let notifications = "[services.notifications]\n\
        roles.notifications_rw = { access = \"readwrite\", password_env = \"NOTIFY_PW\", pool_size = 2 }\n";
    let pooler = format!("[pooler]\nlisten_port = {port}\n");
    // Each database set up on its own (apply works on one database at a time).
    for (name, services) in [("billing", billing), ("app", notifications)] {
        let path = dir.path().join(format!("{name}.toml"));
        let text = format!("version = 1\n[database]\nname = \"{name}\"\n{services}{pooler}");
        std::fs::write(&path, text).unwrap();
        let url = cluster.server.connection_string("postgres", name);
        let applied = dbsplit_at(&url, &path, &["apply", "--yes"]);
        assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    }
    let fleet = dir.path().join("services.toml");
    let text = format!(
        "version = 1\n[databases.app]\n[databases.billing]\n{}{}{pooler}",
        billing.replace(
            "[services.billing]\n",
            "[services.billing]\ndatabase = \"billing\"\n"
        ),
        notifications.replace(
            "[services.notifications]\n",
            "[services.notifications]\ndatabase = \"app\"\n"
        ),
    );
    std::fs::write(&fleet, &text).unwrap();
    let out = dir.path().join("bouncer");
    let written = dbsplit(
        &cluster,
        &fleet,
        &["pooler", "--out", out.to_str().unwrap()],
    );
    assert_eq!(
        written.status.code(),
        Some(0),
        "{text}\n{}",
        stderr(&written)
    );
    let ini = std::fs::read_to_string(out.join("pgbouncer.ini")).unwrap();
    assert!(
        ini.contains("\nbilling = host=127.0.0.1 ") && ini.contains(" dbname=billing pool_size=3"),
        "{ini}"
    );
    assert!(ini.contains(" dbname=app pool_size=2"), "{ini}");
    let bouncer = Bouncer::start(&out, port);
    for (alias, user, password, database) in [
        ("billing", "billing_rw", "billing secret", "billing"),
        ("notifications", "notifications_rw", "notify secret", "app"),
    ] {
        let rows = login(port, alias, user, password)
            .await
            .unwrap_or_else(|e| panic!("{user} through {alias}: {e:?}\n{}", bouncer.log()));
        assert_eq!(rows, [format!("{user}@{database}")]);
    }
}
