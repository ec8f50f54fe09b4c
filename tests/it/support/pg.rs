//! Real PostgreSQL servers for the tests. A test that creates roles gets its own cluster
//! (`TestCluster::start`), copied from a template made once, because roles are cluster-wide and
//! tests create the same role names; it stops when the `TestCluster` is dropped, also when the
//! test panics. Read-only tests share one server per test binary (`TestCluster::shared`,
//! `shared_server`), which saves a start per test.

use std::collections::BTreeSet;
use std::io::Write;
use std::ops::Deref;
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
    /// Starts a server and creates `database` in it. Panics, saying what to install, when
    /// PostgreSQL is missing: a missing server must fail the suite, never skip it.
    pub fn start(database: &str) -> TestCluster {
        TestCluster::start_with(database, &LocalConfig::default())
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
