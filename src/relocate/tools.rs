//! PostgreSQL's client programs dbsplit runs (pg_dump, pg_restore): where they are, which
//! version they are, and the environment that points them at a server.
//!
//! They are found as the test harness finds initdb: `PG_BIN`, then Debian's
//! `/usr/lib/postgresql/N/bin` (the newest), then `PATH`. A pg_dump older than the server it
//! reads is refused: it cannot dump what a newer server has, and says so only halfway through.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pg::options::{ConnectOptions, Host, SslMode};
use crate::pg::tls::RootCerts;

/// A client program that is missing, unusable or too old.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(String);

/// A located client program and its major version.
#[derive(Debug, Clone)]
pub struct Tool {
    pub path: PathBuf,
    pub major: u32,
    /// As the program prints it: `pg_dump (PostgreSQL) 17.2`.
    pub version: String,
}

/// Finds `program` (pg_dump, pg_restore) whose major is at least `server_major`.
pub fn find(program: &str, server_major: u32) -> Result<Tool, ToolError> {
    let candidates = candidates(program);
    if candidates.is_empty() {
        return Err(ToolError(format!(
            "{program} was found neither in PG_BIN, in /usr/lib/postgresql/*/bin nor on PATH; install PostgreSQL's client programs (Debian/Ubuntu: apt-get install postgresql-client-{server_major}) or set PG_BIN"
        )));
    }
    let mut older = None;
    for path in candidates {
        let tool = version_of(&path)?;
        if tool.major >= server_major {
            return Ok(tool);
        }
        older.get_or_insert(tool);
        // PG_BIN is the user's explicit choice: never pass over it for another.
        if std::env::var_os("PG_BIN").is_some() {
            break;
        }
    }
    let tool = older.expect("at least one candidate was examined");
    Err(ToolError(format!(
        "{} is version {}, older than the server (PostgreSQL {server_major}): it cannot read everything a newer server holds; install postgresql-client-{server_major} or point PG_BIN at a newer one",
        tool.path.display(),
        tool.major
    )))
}

/// Where `program` may be, in order of preference.
fn candidates(program: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Some(dir) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        let path = dir.join(program);
        if path.is_file() {
            return vec![path];
        }
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let path = entry.path().join("bin").join(program);
            path.is_file().then_some((major, path))
        })
        .collect();
    debian.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    found.extend(debian.into_iter().map(|(_, path)| path));
    if let Some(path) = std::env::var_os("PATH") {
        found.extend(
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .filter(|path| path.is_file()),
        );
    }
    found
}

/// Runs `program --version`.
fn version_of(path: &Path) -> Result<Tool, ToolError> {
    let output = Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| ToolError(format!("cannot run {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let major = parse_major(&text).ok_or_else(|| {
        ToolError(format!(
            "cannot read the version of {} from `{text}`",
            path.display()
        ))
    })?;
    Ok(Tool {
        path: path.to_path_buf(),
        major,
        version: text,
    })
}

/// The major version in `pg_dump (PostgreSQL) 17.2 (Debian 17.2-1)`: the number after
/// "(PostgreSQL)".
fn parse_major(text: &str) -> Option<u32> {
    let version = text
        .split_whitespace()
        .skip_while(|word| *word != "(PostgreSQL)")
        .nth(1)?;
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The major version of a server's `server_version_num` (150004 → 15).
pub fn server_major(version_num: i32) -> u32 {
    u32::try_from(version_num / 10_000).unwrap_or(0)
}

impl Tool {
    /// A command for this program, pointed at the server of `options` through libpq's
    /// environment variables (so no password appears on a command line).
    pub fn command(&self, options: &ConnectOptions) -> Command {
        let mut command = Command::new(&self.path);
        for (key, value) in libpq_env(options) {
            command.env(key, value);
        }
        for unset in ["PGSERVICE", "PGSERVICEFILE", "PGREQUIRESSL", "PGOPTIONS"] {
            command.env_remove(unset);
        }
        command
    }
}

/// The `PG*` variables that make libpq connect as `options` say.
pub fn libpq_env(options: &ConnectOptions) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PGPORT", options.port.to_string()),
        ("PGUSER", options.user.clone()),
        ("PGDATABASE", options.dbname.clone()),
        ("PGAPPNAME", options.application_name.clone()),
        ("PGSSLMODE", sslmode(options.sslmode).to_string()),
    ];
    match &options.host {
        Host::Tcp(host) => env.push(("PGHOST", host.clone())),
        Host::Socket(dir) => env.push(("PGHOST", dir.display().to_string())),
        Host::Default => {}
    }
    if let Some(password) = &options.password {
        env.push(("PGPASSWORD", password.0.clone()));
    }
    match &options.sslrootcert {
        Some(RootCerts::File(path)) => env.push(("PGSSLROOTCERT", path.display().to_string())),
        Some(RootCerts::System) => env.push(("PGSSLROOTCERT", "system".to_string())),
        None => {}
    }
    if let Some(timeout) = options.connect_timeout {
        env.push(("PGCONNECT_TIMEOUT", timeout.as_secs().to_string()));
    }
    env
}

/// A value for a libpq `key=value` string: single-quoted, backslashes and quotes escaped.
pub fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn sslmode(mode: SslMode) -> &'static str {
    match mode {
        SslMode::Disable => "disable",
        SslMode::Allow => "allow",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_major_is_the_number_after_postgresql() {
        assert_eq!(parse_major("pg_dump (PostgreSQL) 17.2"), Some(17));
        assert_eq!(
            parse_major("pg_restore (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_major("pg_dump (PostgreSQL) 18beta1"), Some(18));
        assert_eq!(parse_major("something else"), None);
        assert_eq!(server_major(150004), 15);
        assert_eq!(server_major(180000), 18);
        assert_eq!(conninfo_value(r"a'b\c"), r"'a\'b\\c'");
    }
}
