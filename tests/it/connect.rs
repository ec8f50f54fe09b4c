//! Connecting as psql would, against real servers: TLS modes with a throwaway CA, passwords
//! from PGPASSWORD and a password file checked by SCRAM, unix sockets, and the one-sentence
//! errors of refused, rejected and unanswered connections.

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

use dbsplit::pg::connect::{ConnectError, Reason, connect};
use dbsplit::pg::local::{LocalConfig, LocalServer};
use dbsplit::pg::options::{ConnectOptions, Env, PasswordSource, resolve};
use dbsplit::pg::scram;
use tokio_postgres::Client;

use crate::support::TempDir;
use crate::support::certs::Certs;
use crate::support::pg::shared_server;

/// Settings from `conninfo` and `vars` only: never the process's environment.
fn options(conninfo: &str, vars: &[(&str, &str)]) -> ConnectOptions {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let var = move |name: &str| vars.get(name).cloned();
    let env = Env {
        var: &var,
        os_user: Some("postgres".into()),
    };
    resolve(Some(conninfo), &env).unwrap_or_else(|e| panic!("{e}"))
}

async fn connected(options: &ConnectOptions) -> Client {
    let (client, _connection) = connect(options)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", options.redacted()));
    client
}

async fn failure(options: &ConnectOptions) -> ConnectError {
    match connect(options).await {
        Ok(_) => panic!("{}: connected, but should not have", options.redacted()),
        Err(error) => error,
    }
}

/// Whether the session runs over TLS.
async fn encrypted(client: &Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl is readable")
        .get(0)
}

/// A server with TLS on, using `certs`, and `hba` as its pg_hba.conf.
fn tls_server(certs: &Certs, hba: &str) -> LocalServer {
    LocalServer::start_with(&LocalConfig {
        conf: vec!["ssl = on".into()],
        hba: Some(hba.into()),
        files: vec![
            ("server.crt".into(), certs.server_crt.clone()),
            ("server.key".into(), certs.server_key.clone()),
        ],
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

const HOSTSSL_ONLY: &str =
    "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n";

#[tokio::test(flavor = "multi_thread")]
async fn require_and_prefer_encrypt_without_checking_the_certificate() {
    let certs = Certs::generate("dbsplit test CA");
    let server = tls_server(&certs, HOSTSSL_ONLY);
    for mode in ["require", "prefer"] {
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode={mode}",
            server.port()
        );
        let client = connected(&options(&url, &[])).await;
        assert!(encrypted(&client).await, "{mode}");
    }
    // allow tries plain first, and takes TLS when pg_hba.conf turns plain away.
    let allow = format!(
        "host=127.0.0.1 port={} user=postgres sslmode=allow",
        server.port()
    );
    assert!(encrypted(&connected(&options(&allow, &[])).await).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_checks_the_host_name_and_verify_ca_only_the_chain() {
    let certs = Certs::generate("dbsplit test CA");
    let server = tls_server(&certs, HOSTSSL_ONLY);
    let ca = certs.ca.display().to_string();
    let conninfo = |host: &str, mode: &str, root: &str| {
        format!(
            "host={host} port={} user=postgres dbname=postgres sslmode={mode} sslrootcert='{root}'",
            server.port()
        )
    };

    let client = connected(&options(&conninfo("localhost", "verify-full", &ca), &[])).await;
    assert!(encrypted(&client).await);

    // The certificate names `localhost` only.
    let mismatch = failure(&options(&conninfo("127.0.0.1", "verify-full", &ca), &[])).await;
    assert_eq!(
        mismatch.to_string(),
        format!(
            "cannot connect to 127.0.0.1:{} as postgres: certificate verification failed: the server certificate is not valid for this host name (connect with a name the certificate names, or use sslmode=verify-ca)",
            server.port()
        )
    );
    let client = connected(&options(&conninfo("127.0.0.1", "verify-ca", &ca), &[])).await;
    assert!(encrypted(&client).await);

    // A certificate from another CA fails verify-ca, and require with a root certificate
    // checks the chain as verify-ca does (libpq's rule).
    let other = Certs::generate("another CA");
    let other_ca = other.ca.display().to_string();
    for mode in ["verify-ca", "require"] {
        let error = failure(&options(&conninfo("localhost", mode, &other_ca), &[])).await;
        assert!(
            error.to_string().ends_with(
                "certificate verification failed: the server certificate is not signed by a trusted root certificate (check sslrootcert)"
            ),
            "{mode}: {error}"
        );
    }

    // The same settings from PGSSLMODE and PGSSLROOTCERT.
    let env = [("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", ca.as_str())];
    let url = format!("postgres://postgres@localhost:{}/postgres", server.port());
    assert!(encrypted(&connected(&options(&url, &env)).await).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_self_signed_server_certificate_given_as_sslrootcert_is_trusted_as_libpq_trusts_it() {
    let certs = Certs::self_signed();
    let server = tls_server(&certs, HOSTSSL_ONLY);
    let root = certs.ca.display().to_string();
    let conninfo = |host: &str, mode: &str, root: &str| {
        format!(
            "host={host} port={} user=postgres dbname=postgres sslmode={mode} sslrootcert='{root}'",
            server.port()
        )
    };
    // The certificate names localhost in its Common Name only: libpq reads it there.
    for mode in ["verify-full", "verify-ca", "require"] {
        let client = connected(&options(&conninfo("localhost", mode, &root), &[])).await;
        assert!(encrypted(&client).await, "{mode}");
    }
    let client = connected(&options(&conninfo("127.0.0.1", "verify-ca", &root), &[])).await;
    assert!(encrypted(&client).await);
    let mismatch = failure(&options(&conninfo("127.0.0.1", "verify-full", &root), &[])).await;
    assert!(
        mismatch
            .to_string()
            .ends_with("certificate verification failed: the server certificate is not valid for this host name (connect with a name the certificate names, or use sslmode=verify-ca)"),
        "{mismatch}"
    );
    // Another self-signed certificate is no root for this one: one sentence, no debug text.
    let other = Certs::self_signed();
    let other_root = other.ca.display().to_string();
    let error = failure(&options(
        &conninfo("localhost", "verify-full", &other_root),
        &[],
    ))
    .await;
    assert!(
        error.to_string().ends_with(
            "certificate verification failed: the server certificate is not signed by a trusted root certificate (check sslrootcert)"
        ),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_connections_are_turned_away_by_a_hostssl_only_server() {
    let certs = Certs::generate("dbsplit test CA");
    let server = tls_server(&certs, HOSTSSL_ONLY);
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        server.port()
    );
    let error = failure(&options(&url, &[])).await;
    assert!(
        matches!(&error.reason, Reason::Server { code, .. } if code == "28000"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "cannot connect to 127.0.0.1:{} as postgres: the server said: no pg_hba.conf entry for host \"127.0.0.1\", user \"postgres\", database \"postgres\", no encryption",
            server.port()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn require_fails_clearly_when_the_server_has_no_tls() {
    let server = shared_server();
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require",
        server.port()
    );
    let error = failure(&options(&url, &[])).await;
    assert_eq!(error.reason, Reason::TlsUnsupported);
    assert!(
        error.to_string().ends_with(
            "the server does not support TLS, which sslmode requires (its ssl setting is off)"
        ),
        "{error}"
    );
    // prefer falls back to plain.
    let prefer = url.replace("require", "prefer");
    assert!(!encrypted(&connected(&options(&prefer, &[])).await).await);
}

/// The role logs in with SCRAM over TCP; its verifier was computed here, so the server never
/// saw the password.
#[tokio::test(flavor = "multi_thread")]
async fn passwords_from_pgpassword_and_the_password_file_log_in_with_scram() {
    let server = LocalServer::start_with(&LocalConfig {
        conf: vec!["password_encryption = 'scram-sha-256'".into()],
        hba: Some(
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
                .into(),
        ),
        files: vec![],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let port = server.port();
    let superuser = connected(&options(
        &format!("host=127.0.0.1 port={port} user=postgres"),
        &[],
    ))
    .await;
    let verifier = scram::verifier("correct horse", b"sixteen byte slt", 4096);
    superuser
        .batch_execute(&format!(
            "CREATE ROLE app_user LOGIN PASSWORD '{verifier}'; CREATE ROLE other LOGIN PASSWORD 'battery staple'"
        ))
        .await
        .expect("create roles");
    let stored: String = superuser
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'app_user'",
            &[],
        )
        .await
        .expect("pg_authid")
        .get(0);
    assert_eq!(stored, verifier, "the server stores the verifier as given");

    let url = format!("postgres://app_user@127.0.0.1:{port}/postgres");
    let client = connected(&options(&url, &[("PGPASSWORD", "correct horse")])).await;
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .expect("query")
        .get(0);
    assert_eq!(user, "app_user");

    let dir = TempDir::new("pgpass");
    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:{port}:postgres:app_user:correct horse\n"),
    )
    .expect("write pgpass");
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let from_file = options(&url, &[("PGPASSFILE", pgpass.to_str().expect("utf-8"))]);
    assert_eq!(
        from_file.password_source,
        Some(PasswordSource::PasswordFile(pgpass.clone()))
    );
    connected(&from_file).await;

    // A wrong password: the server's message and where the password came from, never it.
    let error = failure(&options(&url, &[("PGPASSWORD", "wrong-hunter2")])).await;
    assert_eq!(
        error.to_string(),
        format!(
            "cannot connect to 127.0.0.1:{port} as app_user: the server said: password authentication failed for user \"app_user\" (the password came from PGPASSWORD)"
        )
    );
    assert!(!format!("{error:?}").contains("hunter2"));

    // No password at all, with a password file others can read: say why it was ignored.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = failure(&options(
        &url,
        &[("PGPASSFILE", pgpass.to_str().expect("utf-8"))],
    ))
    .await;
    assert_eq!(error.reason, Reason::PasswordMissing);
    assert!(
        error.to_string().ends_with(&format!(
            "the server asks for a password and none was given (password file {} was ignored because group or others can access it; chmod 0600 it)",
            pgpass.display()
        )),
        "{error}"
    );

    // A verifier the server computed matches the password, with its own salt.
    let stored: String = superuser
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'other'",
            &[],
        )
        .await
        .expect("pg_authid")
        .get(0);
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(scram::matches("battery staple", &stored));
    assert!(!scram::matches("battery stapler", &stored));
    assert!(scram::matches("correct horse", &verifier));
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_sockets_never_use_tls() {
    let server = shared_server();
    let socket_dir = server.socket_dir().display().to_string();
    let port = server.port().to_string();
    let env = [
        ("PGHOST", socket_dir.as_str()),
        ("PGPORT", port.as_str()),
        ("PGSSLMODE", "require"),
    ];
    let options = options("dbname=postgres", &env);
    let client = connected(&options).await;
    let over_tcp: bool = client
        .query_one("SELECT inet_server_addr() IS NOT NULL", &[])
        .await
        .expect("query")
        .get(0);
    assert!(!over_tcp);
    assert_eq!(
        options.redacted(),
        format!("postgres@[local:{socket_dir}]:{port}/postgres")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_and_unanswered_connections_are_one_sentence() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let error = failure(&options(
        &format!("postgres://billing_rw:hunter2@127.0.0.1:{port}/app"),
        &[],
    ))
    .await;
    assert_eq!(
        error.to_string(),
        format!("cannot connect to 127.0.0.1:{port} as billing_rw: connection refused")
    );

    let dir = TempDir::new("nosocket");
    let error = failure(&options(
        &format!("host={} port=5999", dir.path().display()),
        &[],
    ))
    .await;
    assert_eq!(
        error.to_string(),
        format!(
            "cannot connect to socket {}/.s.PGSQL.5999 as postgres: no server is listening on that socket",
            dir.path().display()
        )
    );

    // A listener that never answers the startup message.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    let error = failure(&options(
        &format!("host=127.0.0.1 port={port} connect_timeout=1"),
        &[],
    ))
    .await;
    assert_eq!(
        error.to_string(),
        format!(
            "cannot connect to 127.0.0.1:{port} as postgres: no answer within 2 seconds (is a PostgreSQL server listening there? set connect_timeout to wait longer)"
        )
    );
}

/// A TCP service that is not PostgreSQL: it reads what the client sends first, answers
/// `banner` (or sends it first, as SSH does) and closes.
fn impostor(banner: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let timeout = Some(std::time::Duration::from_secs(5));
                let _ = stream.set_read_timeout(timeout);
                let mut buf = [0u8; 1024];
                if banner.starts_with("SSH") {
                    let _ = stream.write_all(banner.as_bytes());
                    let _ = stream.read(&mut buf);
                } else {
                    let _ = stream.read(&mut buf);
                    let _ = stream.write_all(banner.as_bytes());
                }
                // Close politely (FIN, then drain), so the client sees the end, not a reset.
                let _ = stream.shutdown(std::net::Shutdown::Write);
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_is_not_postgresql_is_named_as_such() {
    let http = impostor("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let ssh = impostor("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    for port in [http, ssh] {
        for mode in ["disable", "prefer", "require"] {
            let error = failure(&options(
                &format!("host=127.0.0.1 port={port} sslmode={mode} connect_timeout=5"),
                &[],
            ))
            .await;
            assert_eq!(
                error.to_string(),
                format!(
                    "cannot connect to 127.0.0.1:{port} as postgres: what answered there is not a PostgreSQL server (check the host and port)"
                ),
                "{mode}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_database_is_named() {
    let server = shared_server();
    let url = format!("postgres://postgres@127.0.0.1:{}/nope", server.port());
    let error = failure(&options(&url, &[])).await;
    assert_eq!(
        error.to_string(),
        format!(
            "cannot connect to 127.0.0.1:{} as postgres: the server said: database \"nope\" does not exist",
            server.port()
        )
    );
}
