//! Connection settings resolved the way libpq resolves them, without touching the network.
//!
//! A setting comes from the connection string (`--database-url` / `DATABASE_URL`, a URL or
//! `key=value`) first, then from its `PG*` environment variable, then from libpq's default:
//! the unix socket or localhost, port 5432, the operating-system user, a database named after
//! the user, `sslmode=prefer`. A password missing from both the string and `PGPASSWORD` is
//! looked up in the password file. The environment is passed in, so tests never change the
//! process's. Passwords never appear in `Debug`, [`ConnectOptions::redacted`] or any error.
//! See <https://www.postgresql.org/docs/current/libpq-envars.html>.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::pg::conninfo;
use crate::pg::pgpass::{self, Lookup};
use crate::pg::tls::{RootCerts, Verify};

/// The settings dbsplit understands, each with the environment variable that supplies it when
/// the connection string does not.
const SETTINGS: &[(&str, &str)] = &[
    ("host", "PGHOST"),
    ("port", "PGPORT"),
    ("dbname", "PGDATABASE"),
    ("user", "PGUSER"),
    ("password", "PGPASSWORD"),
    ("passfile", "PGPASSFILE"),
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("application_name", "PGAPPNAME"),
    ("options", "PGOPTIONS"),
];

/// How long a connection attempt may take when `connect_timeout` is not set (libpq waits for
/// ever, which leaves a CI job hanging on a firewall that drops packets).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The port PostgreSQL listens on unless told otherwise.
const DEFAULT_PORT: u16 = 5432;

/// What the resolver may read: environment variables and the operating-system user.
pub struct Env<'a> {
    /// An environment variable's value (`HOME` and the `PG*` variables are read).
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// The operating-system user, the default user name.
    pub os_user: Option<String>,
}

impl Env<'static> {
    /// The environment of this process.
    pub fn process() -> Env<'static> {
        Env {
            var: &process_var,
            os_user: whoami::username().ok(),
        }
    }
}

fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A host name or IP address, over TCP.
    Tcp(String),
    /// The folder of a unix socket (a host starting with `/`).
    Socket(PathBuf),
    /// No host given: the usual socket folders when a server listens there, then localhost.
    Default,
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// Where the password came from, for messages (never the password itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The database URL or connection string.
    ConnectionString,
    /// `PGPASSWORD`.
    Environment,
    /// A line of this password file.
    PasswordFile(PathBuf),
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::ConnectionString => f.write_str("the database URL"),
            PasswordSource::Environment => f.write_str("PGPASSWORD"),
            PasswordSource::PasswordFile(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A password, kept out of `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Password(pub(crate) String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why the connection settings are unusable. The message names the setting and where it came
/// from, never a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

/// Everything needed to open a connection, resolved from the connection string, the
/// environment and the password file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Where the server is.
    pub host: Host,
    /// The TCP port, which also names the unix socket (`.s.PGSQL.<port>`).
    pub port: u16,
    /// The role to log in as.
    pub user: String,
    /// The database to connect to.
    pub dbname: String,
    pub(crate) password: Option<Password>,
    /// Where the password came from; `None` when there is none.
    pub password_source: Option<PasswordSource>,
    /// Why a password file was passed over, for the message when the server wants a password.
    pub passfile_note: Option<String>,
    /// libpq's sslmode; unix sockets ignore it.
    pub sslmode: SslMode,
    /// `sslrootcert`, or libpq's default `~/.postgresql/root.crt` when that file exists.
    pub sslrootcert: Option<RootCerts>,
    /// libpq's `connect_timeout`, at least two seconds; 10 seconds unless set, and none (wait
    /// for ever) when set to 0, as in libpq.
    pub connect_timeout: Option<Duration>,
    /// Shown in `pg_stat_activity`; `dbsplit` unless set.
    pub application_name: String,
    /// Server options sent at startup (`-c name=value ...`).
    pub options: Option<String>,
}

/// Resolves the settings of `database_url` (a URL or `key=value` string, if any) completed by
/// `env`, as libpq would.
pub fn resolve(database_url: Option<&str>, env: &Env<'_>) -> Result<ConnectOptions, SettingsError> {
    let mut given = BTreeMap::new();
    if let Some(text) = database_url {
        let pairs = conninfo::parse(text)
            .map_err(|e| SettingsError(format!("invalid database URL: {e}")))?;
        for (key, value) in pairs {
            if !SETTINGS.iter().any(|(known, _)| *known == key) {
                return Err(SettingsError(format!(
                    "invalid database URL: unknown or unsupported option `{key}`"
                )));
            }
            given.insert(key, value);
        }
    }
    let sources = Sources { given: &given, env };

    let host = match sources.get("host") {
        None => Host::Default,
        Some((value, from)) if value.contains(',') => {
            return Err(SettingsError(format!(
                "several hosts in {from} are not supported; name one host"
            )));
        }
        Some((value, _)) if value.starts_with('/') => Host::Socket(PathBuf::from(value)),
        Some((value, _)) => Host::Tcp(value),
    };
    let port = match sources.get("port") {
        None => DEFAULT_PORT,
        Some((value, from)) => value
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| SettingsError(format!("invalid port `{value}` in {from}")))?,
    };
    let user = match sources.get("user") {
        Some((user, _)) => user,
        None => env.os_user.clone().ok_or_else(|| {
            SettingsError(
                "no user name given and the operating-system user is unknown; set PGUSER or put the user in the database URL".into(),
            )
        })?,
    };
    let dbname = sources
        .get("dbname")
        .map_or_else(|| user.clone(), |(db, _)| db);
    let sslmode = match sources.get("sslmode") {
        None => SslMode::Prefer,
        Some((value, from)) => SslMode::parse(&value).ok_or_else(|| {
            SettingsError(format!(
                "invalid sslmode `{value}` in {from}; expected disable, allow, prefer, require, verify-ca or verify-full"
            ))
        })?,
    };
    let home = (env.var)("HOME").filter(|home| !home.is_empty());
    let sslrootcert = match sources.get("sslrootcert") {
        Some((value, _)) if value == "system" => Some(RootCerts::System),
        Some((value, _)) => Some(RootCerts::File(PathBuf::from(value))),
        None => home
            .as_ref()
            .map(|home| Path::new(home).join(".postgresql").join("root.crt"))
            .filter(|path| path.is_file())
            .map(RootCerts::File),
    };
    // libpq refuses this too: any certificate a public CA issued, for any host, would pass.
    if sslrootcert == Some(RootCerts::System) && sslmode != SslMode::VerifyFull {
        return Err(SettingsError(
            "sslrootcert=system needs sslmode=verify-full, else any publicly trusted certificate would be accepted".into(),
        ));
    }
    let connect_timeout = match sources.get("connect_timeout") {
        None => Some(DEFAULT_CONNECT_TIMEOUT),
        Some((value, from)) => {
            let seconds = value.trim().parse::<i64>().map_err(|_| {
                SettingsError(format!("invalid connect_timeout `{value}` in {from}"))
            })?;
            u64::try_from(seconds)
                .ok()
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(s.max(2)))
        }
    };

    let mut options = ConnectOptions {
        host,
        port,
        user,
        dbname,
        password: None,
        password_source: None,
        passfile_note: None,
        sslmode,
        sslrootcert,
        connect_timeout,
        application_name: sources
            .get("application_name")
            .map_or_else(|| "dbsplit".to_string(), |(name, _)| name),
        options: sources.get("options").map(|(options, _)| options),
    };
    if let Some((password, from)) = sources.get("password") {
        options.password = Some(Password(password));
        options.password_source = Some(if from == Origin::Url {
            PasswordSource::ConnectionString
        } else {
            PasswordSource::Environment
        });
    } else {
        let passfile = sources
            .get("passfile")
            .map(|(path, _)| PathBuf::from(path))
            .or_else(|| home.map(|home| Path::new(&home).join(".pgpass")));
        if let Some(path) = passfile {
            options.read_passfile(&path);
        }
    }
    Ok(options)
}

impl ConnectOptions {
    /// `user@host:port/dbname`, for messages and logs: never a password. A unix socket shows
    /// as psql's `[local]`, or `[local:/dir]` for a folder given explicitly.
    pub fn redacted(&self) -> String {
        let host = match &self.host {
            Host::Tcp(host) if host.contains(':') => format!("[{host}]"),
            Host::Tcp(host) => host.clone(),
            Host::Socket(dir) => format!("[local:{}]", dir.display()),
            Host::Default => "[local]".to_string(),
        };
        format!("{}@{host}:{}/{}", self.user, self.port, self.dbname)
    }

    /// How much of the server certificate TLS connections check, as libpq's sslmode says.
    pub fn verify(&self) -> Verify {
        let roots = self.sslrootcert.clone();
        match self.sslmode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => Verify::Nothing,
            // libpq: "if a root CA file exists, sslmode=require behaves like verify-ca".
            SslMode::Require => roots.map_or(Verify::Nothing, Verify::Chain),
            SslMode::VerifyCa => Verify::Chain(roots.unwrap_or(RootCerts::System)),
            SslMode::VerifyFull => Verify::Full(roots.unwrap_or(RootCerts::System)),
        }
    }

    /// The host name libpq matches in the password file: `localhost` for unix sockets.
    fn passfile_host(&self) -> &str {
        match &self.host {
            Host::Tcp(host) => host,
            Host::Socket(_) | Host::Default => "localhost",
        }
    }

    fn read_passfile(&mut self, path: &Path) {
        let key = pgpass::Key {
            host: self.passfile_host(),
            port: self.port,
            database: &self.dbname,
            user: &self.user,
        };
        match pgpass::lookup(path, key) {
            Ok(Lookup::Found(password)) => {
                self.password = Some(Password(password));
                self.password_source = Some(PasswordSource::PasswordFile(path.to_path_buf()));
            }
            Ok(Lookup::NoMatch) => {
                self.passfile_note = Some(format!(
                    "no line of password file {} matches",
                    path.display()
                ));
            }
            Ok(Lookup::Missing) => {}
            Ok(Lookup::Ignored(why)) => self.passfile_note = Some(why),
            Err(error) => {
                self.passfile_note = Some(format!(
                    "password file {} is unreadable: {error}",
                    path.display()
                ));
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Url,
    Var(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Url => f.write_str("the database URL"),
            Origin::Var(name) => f.write_str(name),
        }
    }
}

/// A setting from the connection string, else from its environment variable; empty counts as
/// unset, as in libpq.
struct Sources<'a> {
    given: &'a BTreeMap<String, String>,
    env: &'a Env<'a>,
}

impl Sources<'_> {
    fn get(&self, key: &str) -> Option<(String, Origin)> {
        if let Some(value) = self.given.get(key).filter(|v| !v.is_empty()) {
            return Some((value.clone(), Origin::Url));
        }
        let (_, var) = SETTINGS.iter().find(|(known, _)| *known == key)?;
        (self.env.var)(var)
            .filter(|v| !v.is_empty())
            .map(|value| (value, Origin::Var(var)))
    }
}

#[cfg(test)]
mod tests;
