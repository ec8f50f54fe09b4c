//! `dbsplit dump` and `dbsplit restore`: one service's schema as a pg_dump custom-format
//! archive behind a two-line header naming the service and where it came from.
//!
//! File layout: `DBSPLIT-DUMP 1\n`, one line of JSON ([`Header`]), then the archive exactly as
//! pg_dump wrote it (`tail -n +3 FILE > FILE.pgdump` gives pg_restore's own input). Restore
//! provisions the manifest first (see `provision`), refuses a schema that holds anything unless
//! told to replace it, and runs pg_restore in one transaction as the schema's owner, with the
//! grants coming from the manifest's default privileges, not from the archive.

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::pg::options::ConnectOptions;

use super::error::{Context, MoveError};
use super::tools::{self, Tool};

/// The first line of every dump file.
pub const MAGIC: &str = "DBSPLIT-DUMP 1";

/// What the second line of a dump file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The manifest's service.
    pub service: String,
    /// Its schema, the only one in the archive.
    pub schema: String,
    /// Where it was dumped from: `user@host:port/dbname`, never a password.
    pub source: String,
    /// The source server's version (`server_version`).
    pub server_version: String,
    /// `pg_dump --version` of the program that wrote the archive.
    pub pg_dump: String,
    /// Seconds since 1970-01-01 UTC.
    pub created_unix: u64,
}

/// Writes the header lines.
pub fn write_header(out: &mut impl Write, header: &Header) -> std::io::Result<()> {
    let json = serde_json::to_string(header).map_err(std::io::Error::other)?;
    writeln!(out, "{MAGIC}")?;
    writeln!(out, "{json}")
}

/// Reads the header lines, leaving `input` at the first byte of the archive.
pub fn read_header(input: &mut impl BufRead) -> Result<Header, String> {
    let mut line = Vec::new();
    input
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if line.strip_suffix(b"\n") != Some(MAGIC.as_bytes()) {
        return Err(format!(
            "it is not a dbsplit dump (it does not start with `{MAGIC}`)"
        ));
    }
    line.clear();
    input
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read it: {e}"))?;
    serde_json::from_slice(&line).map_err(|e| format!("its header is damaged: {e}"))
}

/// The server's version number and text.
pub async fn server_version(client: &Client) -> Result<(i32, String), MoveError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
            &[],
        )
        .await
        .during(|| "cannot read the server's version".to_string())?;
    Ok((row.get(0), row.get(1)))
}

/// Dumps `schema` of the server `options` points at into `out`, header first.
pub async fn dump(
    client: &Client,
    options: &ConnectOptions,
    service: &str,
    schema: &str,
    out: &mut impl Write,
) -> Result<Header, MoveError> {
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .during(|| format!("cannot look for schema `{schema}`"))?
        .get(0);
    if !exists {
        return Err(MoveError::Refused(format!(
            "schema `{schema}` of service `{service}` does not exist in {}",
            options.redacted()
        )));
    }
    let (version_num, server_version) = server_version(client).await?;
    let pg_dump = tools::find("pg_dump", tools::server_major(version_num))?;
    let header = Header {
        service: service.to_string(),
        schema: schema.to_string(),
        source: options.redacted(),
        server_version,
        pg_dump: pg_dump.version.clone(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    write_header(out, &header).during(|| "cannot write the dump".to_string())?;
    dump_archive(&pg_dump, options, schema, Contents::Everything, None, out)?;
    out.flush().during(|| "cannot write the dump".to_string())?;
    Ok(header)
}

/// What [`dump_archive`] dumps of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// Its objects and their rows.
    Everything,
    /// Its objects only (`--schema-only`).
    Definitions,
}

/// Runs `pg_dump --format=custom --schema=S` into `out`, without a header; as `role` (pg_dump's
/// `--role`, a SET ROLE after connecting) when given: a managed admin that is not a superuser
/// reads the schema as its owner, since on 16+ it holds the owner with SET but not INHERIT.
pub fn dump_archive(
    pg_dump: &Tool,
    options: &ConnectOptions,
    schema: &str,
    contents: Contents,
    role: Option<&str>,
    out: &mut impl Write,
) -> Result<(), MoveError> {
    let mut command = pg_dump.command(options);
    command.args(["--format=custom", "--schema"]).arg(schema);
    if let Some(role) = role {
        command.arg(format!("--role={role}"));
    }
    if contents == Contents::Definitions {
        command.arg("--schema-only");
    }
    pipe_out(command, pg_dump, out)
}

/// Runs `command`, copying its standard output into `out`; fails with its stderr.
fn pipe_out(mut command: Command, tool: &Tool, out: &mut impl Write) -> Result<(), MoveError> {
    let name = tool.path.display().to_string();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .during(|| format!("cannot run {name}"))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let copied = std::io::copy(&mut stdout, out);
    let output = child
        .wait_with_output()
        .during(|| format!("{name} did not finish"))?;
    check(&name, &output)?;
    copied.during(|| "cannot write the dump".to_string())?;
    Ok(())
}

/// Turns a failed run into an error carrying its stderr.
fn check(name: &str, output: &std::process::Output) -> Result<(), MoveError> {
    if output.status.success() {
        return Ok(());
    }
    Err(MoveError::Refused(format!(
        "{name} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Whether `schema` holds anything: a relation, a function or a type of its own.
pub async fn schema_objects(client: &Client, schema: &str) -> Result<i64, MoveError> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid)
                  + (SELECT count(*) FROM pg_catalog.pg_proc p WHERE p.pronamespace = n.oid)
                  + (SELECT count(*) FROM pg_catalog.pg_type t
                     WHERE t.typnamespace = n.oid AND t.typrelid = 0 AND t.typelem = 0)
             FROM pg_catalog.pg_namespace n WHERE n.nspname = $1",
            &[&schema],
        )
        .await
        .during(|| format!("cannot look into schema `{schema}`"))?;
    Ok(row.get(0))
}

/// How [`restore`] treats what the schema already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse a schema that holds anything.
    Refuse,
    /// Drop and recreate what the archive holds, in the same transaction as the restore.
    Replace,
}

/// Restores the archive `input` (positioned after the header) of `schema` into the database
/// `options` points at, as `owner`, in one transaction. The schema must exist (provisioned).
pub async fn restore(
    client: &Client,
    options: &ConnectOptions,
    schema: &str,
    owner: &str,
    existing: Existing,
    input: &mut impl Read,
) -> Result<(), MoveError> {
    let objects = schema_objects(client, schema).await?;
    if objects > 0 && existing == Existing::Refuse {
        return Err(MoveError::Refused(format!(
            "schema `{schema}` in {} already holds {objects} object(s); restore never writes over them unless --replace is given",
            options.redacted()
        )));
    }
    let (version_num, _) = server_version(client).await?;
    let pg_restore = tools::find("pg_restore", tools::server_major(version_num))?;
    let mut command = restore_command(&pg_restore, options, schema, owner);
    if existing == Existing::Replace {
        command.args(["--clean", "--if-exists"]);
    }
    pipe_in(command, &pg_restore, input)
}

/// Restores only `entries` (lines of `pg_restore --list`) of the archive of `schema`, as
/// `owner`, in one transaction: what a migration added during a move, on the other side.
pub fn restore_entries(
    pg_restore: &Tool,
    options: &ConnectOptions,
    schema: &str,
    owner: &str,
    entries: &[String],
    archive: &[u8],
) -> Result<(), MoveError> {
    let list = std::env::temp_dir().join(format!(
        "dbsplit-restore-{}-{}.list",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::write(&list, entries.join("\n") + "\n")
        .during(|| format!("cannot write {}", list.display()))?;
    let mut command = restore_command(pg_restore, options, schema, owner);
    command.arg("--use-list").arg(&list);
    let restored = pipe_in(command, pg_restore, &mut &archive[..]);
    let _ = std::fs::remove_file(&list);
    restored
}

/// `pg_restore` of `schema` into `options`' database as `owner`, in one transaction, stopping
/// at the first error; no ownership, privileges, publications or subscriptions from the archive
/// (the manifest provides those).
fn restore_command(
    pg_restore: &Tool,
    options: &ConnectOptions,
    schema: &str,
    owner: &str,
) -> Command {
    let mut command = pg_restore.command(options);
    command
        .arg(format!(
            "--dbname=dbname={}",
            tools::conninfo_value(&options.dbname)
        ))
        .arg("--schema")
        .arg(schema)
        .arg(format!("--role={owner}"))
        .args([
            "--no-owner",
            "--no-privileges",
            "--no-publications",
            "--no-subscriptions",
            "--exit-on-error",
            "--single-transaction",
        ]);
    command
}

/// Runs `command` with `input` as its standard input; fails with its stderr.
pub(super) fn pipe_in(
    mut command: Command,
    tool: &Tool,
    input: &mut impl Read,
) -> Result<(), MoveError> {
    let name = tool.path.display().to_string();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .during(|| format!("cannot run {name}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let copied = std::io::copy(input, &mut stdin);
    drop(stdin);
    let output = child
        .wait_with_output()
        .during(|| format!("{name} did not finish"))?;
    check(&name, &output)?;
    copied.during(|| format!("cannot feed the archive to {name}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_round_trips_and_leaves_the_archive() {
        let header = Header {
            service: "billing".into(),
            schema: "billing".into(),
            source: "postgres@db:5432/app".into(),
            server_version: "15.14".into(),
            pg_dump: "pg_dump (PostgreSQL) 15.14".into(),
            created_unix: 1,
        };
        let mut file = Vec::new();
        write_header(&mut file, &header).unwrap();
        file.extend_from_slice(b"PGDMP\x01\n\x02");
        let mut input = std::io::Cursor::new(file);
        assert_eq!(read_header(&mut input).unwrap(), header);
        let mut rest = Vec::new();
        input.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"PGDMP\x01\n\x02");
    }

    #[test]
    fn a_plain_archive_is_not_a_dbsplit_dump() {
        let mut input = std::io::Cursor::new(b"PGDMP\x01\x0e".to_vec());
        let error = read_header(&mut input).unwrap_err();
        assert!(error.contains("not a dbsplit dump"), "{error}");
    }
}
