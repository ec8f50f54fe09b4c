//! Opening a connection from resolved [`ConnectOptions`], as psql would.
//!
//! Without a host, the usual unix-socket folders are tried when a server's socket is there,
//! then localhost over TCP. Unix sockets never use TLS (libpq does not either); over TCP the
//! sslmode decides between plain and TLS and how much of the certificate is checked (see
//! `tls`). A failure is one [`ConnectError`] sentence naming the host and port, the user and the
//! cause, with the server's own message when it answered; never a password.

use std::error::Error as _;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio_postgres::error::DbError;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::pg::options::{ConnectOptions, Host, SslMode};
use crate::pg::tls::{self, Verify};

/// The socket folders libpq builds use by default: Debian's, then upstream's.
const DEFAULT_SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/tmp"];

/// The task driving a connection; it ends when the client is dropped.
pub type Connection = JoinHandle<Result<(), tokio_postgres::Error>>;

/// Where a connection's notices and warnings (RAISE NOTICE, "no privileges could be revoked")
/// go: called once for each, in the order the server sent them.
pub type Notices = std::sync::Arc<dyn Fn(&DbError) + Send + Sync>;

tokio::task_local! {
    /// The notice sink of the connection being opened, read when its task is spawned.
    static NOTICES: Notices;
}

/// Why a connection failed: where to, as whom, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {target} as {user}: {reason}{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct ConnectError {
    /// `host:port`, or `socket /dir/.s.PGSQL.port`.
    pub target: String,
    /// The role the connection tried to log in as.
    pub user: String,
    /// What went wrong.
    pub reason: Reason,
    /// Where the password came from, or why none was found, when that matters.
    pub hint: Option<String>,
}

/// The cause of a [`ConnectError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Nothing listens on the port.
    Refused,
    /// There is no socket file.
    NoSocket,
    /// No answer within `connect_timeout`.
    Timeout(Duration),
    /// Another network failure (name resolution, unreachable host, reset).
    Network(String),
    /// sslmode asks for TLS and the server does not offer it.
    TlsUnsupported,
    /// The TLS handshake failed; the text says which certificate check.
    Tls(String),
    /// The server asked for a password and none was found.
    PasswordMissing,
    /// The server refused: authentication, a missing database, pg_hba.conf, too many clients.
    Server {
        /// The SQLSTATE, e.g. 28P01 for a wrong password.
        code: String,
        /// The server's message, e.g. `password authentication failed for user "x"`.
        message: String,
    },
    /// Something answered, but not as a PostgreSQL server does (another service on the port).
    NotPostgres,
    /// The TLS settings are unusable (an unreadable root certificate file).
    Settings(String),
    /// Anything else, with its cause chain.
    Other(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Refused => f.write_str("connection refused"),
            Reason::NoSocket => f.write_str("no server is listening on that socket"),
            Reason::Timeout(after) => write!(
                f,
                "no answer within {} seconds (is a PostgreSQL server listening there? set connect_timeout to wait longer)",
                after.as_secs()
            ),
            Reason::NotPostgres => f.write_str(
                "what answered there is not a PostgreSQL server (check the host and port)",
            ),
            Reason::TlsUnsupported => f.write_str(
                "the server does not support TLS, which sslmode requires (its ssl setting is off)",
            ),
            Reason::PasswordMissing => {
                f.write_str("the server asks for a password and none was given")
            }
            Reason::Server { message, .. } => write!(f, "the server said: {message}"),
            Reason::Network(text)
            | Reason::Tls(text)
            | Reason::Settings(text)
            | Reason::Other(text) => f.write_str(text),
        }
    }
}

impl Reason {
    /// Whether nothing answered there, so the next default candidate may be tried.
    fn nothing_answered(&self) -> bool {
        matches!(
            self,
            Reason::Refused | Reason::NoSocket | Reason::Timeout(_) | Reason::Network(_)
        )
    }
}

/// Where one attempt goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Tcp(String),
    Socket(PathBuf),
}

/// Connects as `options` say, and spawns the task that drives the connection on the current
/// tokio runtime.
pub async fn connect(options: &ConnectOptions) -> Result<(Client, Connection), ConnectError> {
    let targets = targets(&options.host, options.port);
    let (last, before) = targets
        .split_last()
        .expect("targets always end with a host");
    for target in before {
        match attempt(options, target).await {
            Ok(connected) => return Ok(connected),
            Err(reason) if reason.nothing_answered() => continue,
            Err(reason) => return Err(error(options, target, reason)),
        }
    }
    attempt(options, last)
        .await
        .map_err(|reason| error(options, last, reason))
}

/// Like [`connect`], and hands the server's notices to `notices` instead of dropping them.
pub async fn connect_noticing(
    options: &ConnectOptions,
    notices: Notices,
) -> Result<(Client, Connection), ConnectError> {
    NOTICES.scope(notices, connect(options)).await
}

/// The places to try, in order: the host given, or the default socket folders that hold this
/// port's socket, then localhost.
fn targets(host: &Host, port: u16) -> Vec<Target> {
    match host {
        Host::Tcp(host) => vec![Target::Tcp(host.clone())],
        Host::Socket(dir) => vec![Target::Socket(dir.clone())],
        Host::Default => DEFAULT_SOCKET_DIRS
            .iter()
            .map(PathBuf::from)
            .filter(|dir| dir.join(socket_name(port)).exists())
            .map(Target::Socket)
            .chain([Target::Tcp("localhost".into())])
            .collect(),
    }
}

fn socket_name(port: u16) -> String {
    format!(".s.PGSQL.{port}")
}

fn error(options: &ConnectOptions, target: &Target, reason: Reason) -> ConnectError {
    let target = match target {
        Target::Tcp(host) if host.contains(':') => format!("[{host}]:{}", options.port),
        Target::Tcp(host) => format!("{host}:{}", options.port),
        Target::Socket(dir) => format!("socket {}", dir.join(socket_name(options.port)).display()),
    };
    let hint = match &reason {
        Reason::PasswordMissing => Some(options.passfile_note.clone().unwrap_or_else(|| {
            "set PGPASSWORD, put it in the database URL or add it to ~/.pgpass".to_string()
        })),
        // 28P01 invalid_password: say which password was wrong, not what it was.
        Reason::Server { code, .. } if code == "28P01" => options
            .password_source
            .as_ref()
            .map(|source| format!("the password came from {source}")),
        _ => None,
    };
    ConnectError {
        target,
        user: options.user.clone(),
        reason,
        hint,
    }
}

/// One connection attempt to one place, bounded by `connect_timeout`.
async fn attempt(
    options: &ConnectOptions,
    target: &Target,
) -> Result<(Client, Connection), Reason> {
    let mut config = tokio_postgres::Config::new();
    let sslmode = match target {
        Target::Tcp(host) => {
            config.host(host);
            options.sslmode
        }
        Target::Socket(dir) => {
            config.host_path(dir);
            SslMode::Disable
        }
    };
    config
        .port(options.port)
        .user(&options.user)
        .dbname(&options.dbname)
        .application_name(&options.application_name);
    if let Some(password) = &options.password {
        config.password(&password.0);
    }
    if let Some(server_options) = &options.options {
        config.options(server_options);
    }
    let connecting = async {
        match sslmode {
            SslMode::Disable => plain(&config).await,
            // libpq's allow: plain first, TLS when the server turns plain away.
            SslMode::Allow => match plain(&config).await {
                Err(Reason::Server { .. }) => {
                    encrypted(
                        &mut config,
                        tokio_postgres::config::SslMode::Require,
                        &Verify::Nothing,
                    )
                    .await
                }
                other => other,
            },
            SslMode::Prefer => {
                encrypted(
                    &mut config,
                    tokio_postgres::config::SslMode::Prefer,
                    &options.verify(),
                )
                .await
            }
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                match encrypted(
                    &mut config,
                    tokio_postgres::config::SslMode::Require,
                    &options.verify(),
                )
                .await
                {
                    // Any answer but "S" or "N" reads as "no TLS": say so only if what
                    // answered is PostgreSQL.
                    Err(Reason::TlsUnsupported) => {
                        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                        match plain(&config).await {
                            Err(Reason::NotPostgres) => Err(Reason::NotPostgres),
                            _ => Err(Reason::TlsUnsupported),
                        }
                    }
                    other => other,
                }
            }
        }
    };
    match options.connect_timeout {
        Some(limit) => tokio::time::timeout(limit, connecting)
            .await
            .map_err(|_| Reason::Timeout(limit))?,
        None => connecting.await,
    }
}

async fn plain(config: &tokio_postgres::Config) -> Result<(Client, Connection), Reason> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| classify(&e))?;
    Ok((client, drive(connection)))
}

async fn encrypted(
    config: &mut tokio_postgres::Config,
    mode: tokio_postgres::config::SslMode,
    verify: &Verify,
) -> Result<(Client, Connection), Reason> {
    let tls_config = tls::client_config(verify).map_err(|e| Reason::Settings(e.to_string()))?;
    config.ssl_mode(mode);
    let (client, connection) = config
        .connect(MakeRustlsConnect::new(tls_config))
        .await
        .map_err(|e| classify(&e))?;
    Ok((client, drive(connection)))
}

/// Spawns the task driving a connection; notices go to the sink of [`connect_noticing`] when
/// there is one (tokio-postgres alone logs and drops them).
fn drive<S, T>(mut connection: tokio_postgres::Connection<S, T>) -> Connection
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let notices = NOTICES.try_with(Notices::clone).ok();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let (AsyncMessage::Notice(notice), Some(notices)) = (message?, &notices) {
                notices(&notice);
            }
        }
        Ok(())
    })
}

/// Turns tokio-postgres's error into a [`Reason`], looking through its cause chain for the
/// server's message, an I/O error or a rustls error.
fn classify(error: &tokio_postgres::Error) -> Reason {
    if let Some(db) = error.as_db_error() {
        return Reason::Server {
            code: db.code().code().to_string(),
            message: db.message().to_string(),
        };
    }
    let top = error.to_string();
    // The startup exchange got bytes that are no PostgreSQL message, or none at all.
    if NOT_POSTGRES.iter().any(|text| top.starts_with(text)) {
        return Reason::NotPostgres;
    }
    let mut chain = vec![top];
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return tls_reason(tls);
        }
        if let Some(io) = current.downcast_ref::<io::Error>() {
            // tokio-rustls wraps rustls's error in an io::Error, whose source() skips it.
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return tls_reason(tls);
            }
            return match io.kind() {
                io::ErrorKind::ConnectionRefused => Reason::Refused,
                io::ErrorKind::NotFound => Reason::NoSocket,
                io::ErrorKind::InvalidData
                | io::ErrorKind::InvalidInput
                | io::ErrorKind::UnexpectedEof => Reason::NotPostgres,
                // The stream ended inside what would be a message.
                _ if io.to_string() == "bytes remaining on stream" => Reason::NotPostgres,
                _ => Reason::Network(lowercase_first(&io.to_string())),
            };
        }
        let text = current.to_string();
        match text.as_str() {
            "server does not support TLS" => return Reason::TlsUnsupported,
            "password missing" => return Reason::PasswordMissing,
            _ => chain.push(text),
        }
        cause = current.source();
    }
    Reason::Other(chain.join(": "))
}

/// tokio-postgres's messages for a startup exchange that went wrong on the server's side.
const NOT_POSTGRES: &[&str] = &[
    "unexpected message from server",
    "error parsing response from server",
    "connection closed",
];

/// A TLS failure; a server that answered "S" to the TLS request but then sent no TLS at all
/// is not PostgreSQL (an SSH server's banner starts with "S").
fn tls_reason(error: &rustls::Error) -> Reason {
    match error {
        rustls::Error::InvalidMessage(_) => Reason::NotPostgres,
        other => Reason::Tls(tls::describe(other)),
    }
}

/// Refuses a hot standby for the commands that write (`apply`, `migrate`): there every write
/// would fail halfway with "cannot execute ... in a read-only transaction".
pub async fn refuse_standby(client: &Client, command: &str) -> Result<(), StandbyError> {
    let row = client
        .query_one("SELECT pg_catalog.pg_is_in_recovery()", &[])
        .await
        .map_err(StandbyError::Query)?;
    if row.get::<_, bool>(0) {
        return Err(StandbyError::HotStandby(command.to_string()));
    }
    Ok(())
}

/// Why [`refuse_standby`] refused.
#[derive(Debug, thiserror::Error)]
pub enum StandbyError {
    #[error(
        "the server is a hot standby (read-only, in recovery): {0} writes, so connect to the primary"
    )]
    HotStandby(String),
    #[error("cannot ask the server whether it is a standby")]
    Query(#[source] tokio_postgres::Error),
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_host_localhost_is_the_last_resort() {
        assert_eq!(
            targets(&Host::Tcp("db".into()), 5432),
            [Target::Tcp("db".into())]
        );
        assert_eq!(
            targets(&Host::Socket("/run/pg".into()), 5432),
            [Target::Socket("/run/pg".into())]
        );
        // No server anywhere listens on port 1's socket name.
        assert_eq!(
            targets(&Host::Default, 1),
            [Target::Tcp("localhost".into())]
        );
    }

    #[test]
    fn only_unanswered_attempts_fall_through_to_the_next_place() {
        assert!(Reason::Refused.nothing_answered());
        assert!(Reason::NoSocket.nothing_answered());
        let refused_by_server = Reason::Server {
            code: "28P01".into(),
            message: "password authentication failed".into(),
        };
        assert!(!refused_by_server.nothing_answered());
        assert!(!Reason::TlsUnsupported.nothing_answered());
    }
}
