//! `dbsplit move`'s repoint of a service's PgBouncer alias: through PgBouncer's admin console,
//! `PAUSE` the alias, rewrite its line in the configuration file PgBouncer runs with (the one
//! `dbsplit pooler` wrote, which `SHOW CONFIG` names), `RELOAD`, `RESUME`. Clients stay
//! connected to PgBouncer; their next server connection goes to the new database.
//!
//! PgBouncer cannot change an alias from the console alone (`SET` covers `[pgbouncer]`
//! settings only), hence the file. [`rewrite_alias`] is pure.

use std::path::PathBuf;

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::pg::connect::{ConnectError, connect};
use crate::pg::ident::Ident;
use crate::pg::options::{ConnectOptions, Host};

use super::Upstream;

/// What can go wrong while repointing an alias.
#[derive(Debug, thiserror::Error)]
pub enum RepointError {
    #[error("cannot reach PgBouncer's admin console")]
    Connect(#[from] ConnectError),
    #[error("PgBouncer's admin console refused `{command}`")]
    Console {
        command: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(
        "PgBouncer's `SHOW CONFIG` names no conffile: it runs without a configuration file dbsplit can rewrite"
    )]
    NoFile,
    #[error("cannot rewrite {}", .path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has no alias `{alias}` under [databases]: write it with `dbsplit pooler` first", .path.display())]
    NoAlias { path: PathBuf, alias: String },
}

impl Upstream {
    /// Where `options` connect to, as an alias's `host`, `port` and `dbname`.
    pub fn of(options: &ConnectOptions) -> Upstream {
        Upstream {
            host: match &options.host {
                Host::Tcp(host) => host.clone(),
                Host::Socket(dir) => dir.display().to_string(),
                Host::Default => "localhost".to_string(),
            },
            port: options.port,
            dbname: options.dbname.clone(),
        }
    }
}

/// Points `alias` of the PgBouncer whose admin console is `admin` at `to`, under PAUSE;
/// returns the file it rewrote. Running it again changes nothing more. The alias is resumed
/// whatever happens once it was paused.
pub async fn repoint(
    admin: &ConnectOptions,
    alias: &str,
    to: &Upstream,
) -> Result<PathBuf, RepointError> {
    let (console, _connection) = connect(admin).await?;
    let path = conffile(&console).await?;
    let text = std::fs::read_to_string(&path).map_err(|source| RepointError::File {
        path: path.clone(),
        source,
    })?;
    let Some(rewritten) = rewrite_alias(&text, alias, to) else {
        return Err(RepointError::NoAlias {
            path,
            alias: alias.to_string(),
        });
    };
    let name = Ident(alias).to_string();
    // PAUSE waits until the alias's server connections are released; clients wait in
    // PgBouncer meanwhile, instead of reaching the old database.
    match run(&console, &format!("PAUSE {name}")).await {
        // A run killed between PAUSE and RESUME left it paused: carry on.
        Err(RepointError::Console { source, .. })
            if source
                .as_db_error()
                .is_some_and(|e| e.message().contains("already")) => {}
        other => drop(other?),
    }
    let switched = async {
        if rewritten != text {
            // Written in place, so the file keeps the owner and mode PgBouncer reads it with.
            std::fs::write(&path, &rewritten).map_err(|source| RepointError::File {
                path: path.clone(),
                source,
            })?;
        }
        run(&console, "RELOAD").await
    }
    .await;
    let resumed = run(&console, &format!("RESUME {name}")).await;
    switched?;
    resumed?;
    Ok(path)
}

async fn run(console: &Client, command: &str) -> Result<Vec<SimpleQueryMessage>, RepointError> {
    console
        .simple_query(command)
        .await
        .map_err(|source| RepointError::Console {
            command: command.to_string(),
            source,
        })
}

/// The SCRAM verifiers PgBouncer's `auth_file` (as `SHOW CONFIG` names it) holds for `roles`,
/// in the file's order: what PgBouncer logs in to the server with. Empty when it has no
/// auth_file (auth_query) or lists none of them.
pub async fn userlist_verifiers(
    admin: &ConnectOptions,
    roles: &[&str],
) -> Result<(PathBuf, Vec<(String, String)>), RepointError> {
    let (console, _connection) = connect(admin).await?;
    let rows = run(&console, "SHOW CONFIG").await?;
    let Some(path) = rows.iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) if row.get(0) == Some("auth_file") => {
            row.get(1).filter(|v| !v.is_empty()).map(PathBuf::from)
        }
        _ => None,
    }) else {
        return Ok((PathBuf::new(), Vec::new()));
    };
    let text = std::fs::read_to_string(&path).map_err(|source| RepointError::File {
        path: path.clone(),
        source,
    })?;
    let verifiers = parse_userlist(&text)
        .into_iter()
        .filter(|(role, verifier)| {
            roles.contains(&role.as_str()) && verifier.starts_with("SCRAM-SHA-256$")
        })
        .collect();
    Ok((path, verifiers))
}

/// The `"user" "secret"` lines of a PgBouncer auth_file (quotes inside doubled).
pub fn parse_userlist(text: &str) -> Vec<(String, String)> {
    fn field(rest: &str) -> Option<(String, &str)> {
        let mut rest = rest.trim_start().strip_prefix('"')?;
        let mut value = String::new();
        loop {
            let at = rest.find('"')?;
            value.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            match rest.strip_prefix('"') {
                Some(after) => {
                    value.push('"');
                    rest = after;
                }
                None => return Some((value, rest)),
            }
        }
    }
    text.lines()
        .filter_map(|line| {
            let (user, rest) = field(line)?;
            let (secret, _) = field(rest)?;
            Some((user, secret))
        })
        .collect()
}

/// The configuration file PgBouncer runs with, from `SHOW CONFIG`.
async fn conffile(console: &Client) -> Result<PathBuf, RepointError> {
    let rows = run(console, "SHOW CONFIG").await?;
    rows.iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) if row.get(0) == Some("conffile") => {
                row.get(1).filter(|v| !v.is_empty()).map(PathBuf::from)
            }
            _ => None,
        })
        .ok_or(RepointError::NoFile)
}

/// `ini` with `alias`'s line under `[databases]` pointing at `to` (its `host`, `port` and
/// `dbname`; the rest of the line kept), or `None` when there is no such line.
pub fn rewrite_alias(ini: &str, alias: &str, to: &Upstream) -> Option<String> {
    let mut section = String::new();
    let mut found = false;
    let mut lines = Vec::new();
    for line in ini.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_ascii_lowercase();
        }
        let key = trimmed
            .split_once('=')
            .map(|(key, _)| key.trim().trim_matches('"'));
        if section == "[databases]" && !trimmed.starts_with([';', '#']) && key == Some(alias) {
            found = true;
            let (key, value) = line.split_once('=').expect("the key was split at `=`");
            let mut parts: Vec<String> = value
                .split_whitespace()
                .filter(|part| {
                    !["host=", "port=", "dbname="]
                        .iter()
                        .any(|k| part.starts_with(k))
                })
                .map(str::to_string)
                .collect();
            parts.splice(
                0..0,
                [
                    format!("host={}", to.host),
                    format!("port={}", to.port),
                    format!("dbname={}", to.dbname),
                ],
            );
            let end = if line.ends_with('\n') { "\n" } else { "" };
            lines.push(format!("{} = {}{end}", key.trim_end(), parts.join(" ")));
        } else {
            lines.push(line.to_string());
        }
    }
    found.then(|| lines.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INI: &str = ";; written by dbsplit pooler\n\
        [databases]\n\
        ;; billing = a comment, not the alias\n\
        billing = host=db-main port=5432 dbname=app pool_size=3 max_db_connections=5\n\
        notifications = host=db-main port=5432 dbname=app pool_size=2\n\
        \n[pgbouncer]\nbilling = not a database\n";

    #[test]
    fn the_userlist_is_read_as_pgbouncer_reads_it() {
        let text =
            "\"billing_rw\" \"SCRAM-SHA-256$4096:c2FsdA==$a:b\"\n;; comment\n\"we\"\"ird\" \"x\"\n";
        assert_eq!(
            parse_userlist(text),
            vec![
                (
                    "billing_rw".to_string(),
                    "SCRAM-SHA-256$4096:c2FsdA==$a:b".to_string()
                ),
                ("we\"ird".to_string(), "x".to_string()),
            ]
        );
        let rendered = super::super::render_userlist(&parse_userlist(text));
        assert_eq!(parse_userlist(&rendered), parse_userlist(text));
    }

    #[test]
    fn only_the_alias_line_changes_and_keeps_its_pool() {
        let to = Upstream {
            host: "db-billing".into(),
            port: 6543,
            dbname: "billing".into(),
        };
        let out = rewrite_alias(INI, "billing", &to).expect("the alias is there");
        assert_eq!(
            out,
            INI.replace(
                "billing = host=db-main port=5432 dbname=app pool_size=3",
                "billing = host=db-billing port=6543 dbname=billing pool_size=3"
            )
        );
        assert_eq!(
            rewrite_alias(&out, "billing", &to).as_deref(),
            Some(out.as_str())
        );
        assert_eq!(rewrite_alias(INI, "payments", &to), None);
    }
}
