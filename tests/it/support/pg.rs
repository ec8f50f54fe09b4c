//! Real PostgreSQL servers for the tests. A test that creates roles gets a server of its own
//! (`TestCluster::start`), because roles are cluster-wide and tests create the same role names.
//! Servers are copied from a template made once, and reused: when the `TestCluster` is dropped
//! (also when the test panics), its server is reset (every database but `postgres` and the
//! templates dropped, every role made since initdb dropped) and, if it then matches the
//! fingerprint it had when new ([`FINGERPRINT`]), lent to the next test instead of starting
//! another; otherwise it is stopped. A test never sees another's roles or databases, so tests do
//! not depend on their order. Read-only tests share one server per test binary
//! (`TestCluster::shared`, `shared_server`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::ops::Deref;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;

use dbsplit::pg::local::{LocalConfig, LocalServer, SUPERUSER};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

/// The server the read-only tests of this binary share: started by the first that asks,
/// stopped after the test binary exits. Tests using it must not create roles or change
/// settings; the databases they read are made once, by [`TestCluster::shared`].
pub fn shared_server() -> &'static LocalServer {
    static SHARED: std::sync::OnceLock<&'static LocalServer> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        LocalServer::start()
            .and_then(LocalServer::until_process_exit)
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

pub struct TestCluster {
    pub server: Server,
}

/// A test's server: its own, stopped when dropped, or the binary's shared one.
pub enum Server {
    Own(LocalServer),
    Shared(&'static LocalServer),
}

/// A test's own server, for `TestCluster { server: server.into() }`.
impl From<LocalServer> for Server {
    fn from(server: LocalServer) -> Server {
        Server::Own(server)
    }
}

impl Deref for Server {
    type Target = LocalServer;

    fn deref(&self) -> &LocalServer {
        match self {
            Server::Own(server) => server,
            Server::Shared(server) => server,
        }
    }
}

/// Creates `database` in `server`.
fn create_database(server: &LocalServer, database: &str) {
    let create = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
    let output = server
        .psql("postgres")
        .args(["-c", &create])
        .output()
        .expect("psql runs");
    assert!(output.status.success(), "{create}: {output:?}");
}

impl TestCluster {
    /// A server of this test's own (a reset one from the pool, or a new one) with `database`
    /// created in it. Panics, saying what to install, when PostgreSQL is missing: a missing
    /// server must fail the suite, never skip it.
    pub fn start(database: &str) -> TestCluster {
        let server = lend();
        create_database(&server, database);
        TestCluster {
            server: Server::Own(server),
        }
    }

    /// Like [`TestCluster::start`], with extra server settings.
    pub fn start_with(database: &str, config: &LocalConfig) -> TestCluster {
        let server = LocalServer::start_with(config).unwrap_or_else(|e| panic!("{e}"));
        create_database(&server, database);
        TestCluster {
            server: Server::Own(server),
        }
    }

    /// `database` on the server this binary's read-only tests share, made by the first test
    /// that asks for it. For a test that creates no role, changes no setting and writes
    /// nothing another test reads (a test that writes by mistake fails, and may fail others).
    pub fn shared(database: &str) -> TestCluster {
        static MADE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
        let server = shared_server();
        let mut made = MADE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !made.contains(database) {
            create_database(server, database);
            made.insert(database.to_string());
        }
        TestCluster {
            server: Server::Shared(server),
        }
    }

    /// Like [`TestCluster::start`], with `pg_stat_statements` loaded at server start
    /// (`shared_preload_libraries`) and its extension created in `database`, so the statements
    /// that roles run there can be read back (`dbsplit usage`). Every major the suite runs on
    /// (Debian's 15, and 14, 16, 17, 18 from install-pg.sh) ships the module.
    pub fn start_with_statements(database: &str) -> TestCluster {
        let config = LocalConfig {
            conf: vec!["shared_preload_libraries = 'pg_stat_statements'".to_string()],
            ..LocalConfig::default()
        };
        let cluster = TestCluster::start_with(database, &config);
        cluster.psql_ok(database, "CREATE EXTENSION pg_stat_statements");
        cluster
    }

    /// Runs SQL text with psql in one transaction, stopping at the first error.
    pub fn psql(&self, database: &str, sql: &str) -> std::process::Output {
        let mut child = self
            .server
            .psql(database)
            .args(["-1", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql starts");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(sql.as_bytes())
            .expect("psql reads the script");
        child.wait_with_output().expect("psql finishes")
    }

    /// Like `psql`, and panics with psql's messages when it fails.
    pub fn psql_ok(&self, database: &str, sql: &str) {
        let output = self.psql(database, sql);
        assert!(
            output.status.success(),
            "psql failed: {}\n--- SQL ---\n{sql}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A client logged in as `user` (trust authentication) to `database`.
    pub async fn connect(&self, user: &str, database: &str) -> Client {
        let (client, connection) =
            tokio_postgres::connect(&self.server.connection_string(user, database), NoTls)
                .await
                .unwrap_or_else(|e| panic!("connect as {user}: {e}"));
        tokio::spawn(connection);
        client
    }

    /// A superuser client.
    pub async fn superuser(&self, database: &str) -> Client {
        self.connect(SUPERUSER, database).await
    }
}

/// Gives a lent server back to the pool, reset, or stops it when it does not reset clean.
impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Server::Own(server) = &mut self.server {
            let mut lent = LENT.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(fingerprint) = lent.remove(server.socket_dir()) {
                drop(lent);
                let server = server.take();
                if reset(&server) && self::fingerprint(&server).as_ref() == Some(&fingerprint) {
                    POOL.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((server, fingerprint));
                }
            }
        }
    }
}

/// Reset servers waiting for a test, each with its fingerprint when new.
static POOL: Mutex<Vec<(LocalServer, String)>> = Mutex::new(Vec::new());
/// The servers lent to tests, by socket folder (unique to a server, unlike a port, which a
/// stopped server frees): what to compare each with when it comes back.
static LENT: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());

/// A reset server from the pool, or a new one.
fn lend() -> LocalServer {
    let pooled = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let (server, fingerprint) = pooled.unwrap_or_else(|| {
        let server = LocalServer::start().unwrap_or_else(|e| panic!("{e}"));
        // A server in the pool when the test binary exits is never dropped.
        server
            .stop_at_process_exit()
            .unwrap_or_else(|e| panic!("{e}"));
        let fingerprint = fingerprint(&server).expect("a new server answers");
        (server, fingerprint)
    });
    LENT.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(server.socket_dir().to_path_buf(), fingerprint);
    server
}

/// psql on `database` through the server's own socket: never another server that took the
/// port of a stopped one.
fn socket_psql(server: &LocalServer, database: &str) -> std::process::Command {
    let mut command = server.psql(database);
    // psql keeps the last -h.
    command.arg("-h").arg(server.socket_dir());
    command
}

/// Drops what a test made: its sessions, every database but `postgres` and the templates,
/// everything the roles made since initdb own in `postgres`, and those roles. False when any
/// step fails (a stopped server, an object the superuser made in a template).
fn reset(server: &LocalServer) -> bool {
    const RESET: &str = r#"
SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
 WHERE pid <> pg_backend_pid() AND backend_type = 'client backend';
SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database
 WHERE datname NOT IN ('postgres', 'template0', 'template1') \gexec
SELECT 'DROP OWNED BY ' || string_agg(quote_ident(rolname), ', ') FROM pg_roles
 WHERE oid >= 16384 HAVING count(*) > 0 \gexec
SELECT 'DROP ROLE ' || string_agg(quote_ident(rolname), ', ') FROM pg_roles
 WHERE oid >= 16384 HAVING count(*) > 0 \gexec
ALTER ROLE postgres RESET ALL;
"#;
    // psql runs meta-commands (\gexec) from a file, not from -c.
    let child = socket_psql(server, "postgres")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    let written = child
        .stdin
        .take()
        .is_some_and(|mut stdin| stdin.write_all(RESET.as_bytes()).is_ok());
    child.wait().is_ok_and(|status| status.success()) && written
}

/// What a test may change in a server that [`reset`] does not drop, as text: the roles and
/// memberships, databases and their settings and ACLs, tablespaces, comments, slots, prepared
/// transactions, `ALTER SYSTEM` settings, and whatever was made in `postgres`. A reset server
/// is lent again only when this equals what it was when new.
const FINGERPRINT: &str = r#"
SELECT concat_ws(E'
',
  (SELECT string_agg(a::text, ',' ORDER BY a.oid) FROM pg_authid a),
  (SELECT string_agg(m::text, ',' ORDER BY m::text) FROM pg_auth_members m),
  (SELECT string_agg(concat_ws(' ', datname, datdba, encoding, datistemplate, datallowconn,
     datconnlimit, datacl), ',' ORDER BY datname) FROM pg_database),
  (SELECT string_agg(s::text, ',' ORDER BY s::text) FROM pg_db_role_setting s),
  (SELECT string_agg(t::text, ',' ORDER BY t.oid) FROM pg_tablespace t),
  (SELECT string_agg(d::text, ',' ORDER BY d::text) FROM pg_shdescription d),
  (SELECT count(*) FROM pg_replication_slots),
  (SELECT count(*) FROM pg_prepared_xacts),
  (SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_file_settings
    WHERE sourcefile LIKE '%postgresql.auto.conf'),
  (SELECT string_agg(n.nspname || ' ' || n.nspowner || ' ' || coalesce(n.nspacl::text, ''),
     ',' ORDER BY n.nspname) FROM pg_namespace n),
  (SELECT count(*) FROM pg_class WHERE oid >= 16384),
  (SELECT count(*) FROM pg_proc WHERE oid >= 16384),
  (SELECT count(*) FROM pg_type WHERE oid >= 16384),
  (SELECT count(*) FROM pg_default_acl),
  (SELECT count(*) FROM pg_largeobject_metadata),
  (SELECT string_agg(extname || ' ' || extversion, ',' ORDER BY extname) FROM pg_extension),
  (SELECT count(*) FROM pg_event_trigger),
  (SELECT count(*) FROM pg_publication),
  (SELECT count(*) FROM pg_subscription))
"#;

/// The server's [`FINGERPRINT`], or `None` when it does not answer.
fn fingerprint(server: &LocalServer) -> Option<String> {
    let output = socket_psql(server, "postgres")
        .args(["-A", "-t", "-c", FINGERPRINT])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Asserts that `result` failed with SQLSTATE 42501 (insufficient_privilege).
pub fn assert_denied<T: std::fmt::Debug>(result: Result<T, tokio_postgres::Error>, what: &str) {
    match result {
        Ok(value) => panic!("{what}: expected permission denied, but it succeeded: {value:?}"),
        Err(error) => assert_eq!(
            error.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{what}: expected SQLSTATE 42501, got {error:?}"
        ),
    }
}
