//! `dbsplit pooler --out DIR`: PgBouncer's configuration for the manifest, with the server's own
//! SCRAM verifiers read from `pg_authid`. Never a plain-text password: the files hold what the
//! server stores, written 0600 in a folder created 0700.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use tokio_postgres::error::SqlState;

use crate::cli::{ConnectArgs, PoolerArgs};
use crate::manifest::PoolerAuth;
use crate::pg::connect::connect;
use crate::pg::options::Host;
use crate::pooler::{Upstream, pooled_roles, render_ini, render_userlist};

pub fn run(
    manifest_path: &Path,
    connect_args: &ConnectArgs,
    args: &PoolerArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_manifest(manifest_path)?;
    let Some(pooler) = &manifest.pooler else {
        bail!(
            "{} has no [pooler]: add [pooler] and a pool_size to each role that connects through PgBouncer",
            manifest_path.display()
        );
    };
    if pooler.auth == PoolerAuth::AuthQuery {
        bail!(
            "auth = \"auth_query\" is not supported yet: use auth = \"userlist\" (the default), run as a superuser"
        );
    }
    let roles: Vec<String> = pooled_roles(&manifest)
        .iter()
        .map(|(_, r)| r.name.clone())
        .collect();
    let options = super::live::options_for(connect_args, &manifest.database.name)?;
    let upstream = Upstream {
        host: match &options.host {
            Host::Tcp(host) => host.clone(),
            Host::Socket(dir) => dir.display().to_string(),
            Host::Default => "localhost".to_string(),
        },
        port: options.port,
        dbname: manifest.database.name.clone(),
    };
    let runtime = super::live::runtime()?;
    let verifiers = runtime.block_on(async {
        let (client, _connection) = connect(&options).await?;
        read_verifiers(&client, &options.user, &roles).await
    })?;

    let dir = prepare_dir(&args.out)?;
    let absolute = fs::canonicalize(&dir)
        .with_context(|| format!("cannot resolve the folder {}", dir.display()))?;
    let ini = render_ini(&manifest, pooler, &upstream, &absolute.join("userlist.txt"))?;
    write_private(
        &dir.join("userlist.txt"),
        render_userlist(&verifiers).as_bytes(),
    )?;
    write_private(&dir.join("pgbouncer.ini"), ini.as_bytes())?;
    let aliases = manifest
        .services
        .iter()
        .filter(|s| s.roles.iter().any(|r| r.pool_size.is_some()))
        .count();
    writeln!(
        out,
        "wrote {} and {} (mode 0600): {aliases} service alias{}, {} role{} with the server's SCRAM verifiers",
        dir.join("pgbouncer.ini").display(),
        dir.join("userlist.txt").display(),
        if aliases == 1 { "" } else { "es" },
        roles.len(),
        if roles.len() == 1 { "" } else { "s" },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Each pooled role's SCRAM verifier as the server stores it, in the manifest's order.
async fn read_verifiers(
    client: &tokio_postgres::Client,
    user: &str,
    roles: &[String],
) -> anyhow::Result<Vec<(String, String)>> {
    let rows = match client
        .query(
            "SELECT rolname::text AS rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname = ANY($1::text[])",
            &[&roles],
        )
        .await
    {
        Ok(rows) => rows,
        Err(error) if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => bail!(
            "cannot read the roles' SCRAM verifiers from pg_authid as `{user}`: userlist.txt needs them, and only a superuser may read them: run `dbsplit pooler` as a superuser (auth = \"auth_query\", which needs no userlist, is not supported yet)"
        ),
        Err(error) => {
            return Err(anyhow::Error::new(error).context("cannot read pg_authid"));
        }
    };
    let mut verifiers = Vec::new();
    for role in roles {
        let row = rows.iter().find(|r| r.get::<_, String>("rolname") == *role);
        let Some(row) = row else {
            bail!("role `{role}` does not exist on the server; run `dbsplit apply` first");
        };
        let password: Option<String> = row.get("rolpassword");
        match password {
            Some(verifier) if verifier.starts_with("SCRAM-SHA-256$") => {
                verifiers.push((role.clone(), verifier));
            }
            Some(_) => bail!(
                "role `{role}` has an MD5 password, which PgBouncer's scram-sha-256 cannot check; set its password again with password_encryption = scram-sha-256 (dbsplit apply sends SCRAM verifiers)"
            ),
            None => bail!(
                "role `{role}` has no password on the server; give it a password_env and run `dbsplit apply`"
            ),
        }
    }
    Ok(verifiers)
}

/// The output folder: created 0700 when missing; an existing one is used as it is.
fn prepare_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    } else if !dir.is_dir() {
        bail!("{} exists and is not a folder", dir.display());
    }
    Ok(dir.to_path_buf())
}

/// Writes `bytes` to `path` readable by its owner only: into a new 0600 file next to it, then
/// renamed over it, so no reader sees a half-written file or a moment of wider permissions.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.dbsplit-tmp"));
    let _ = fs::remove_file(&temp);
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}
