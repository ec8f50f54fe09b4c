//! `dbsplit pooler --out DIR`: PgBouncer's configuration for the manifest. With a userlist, the
//! server's own SCRAM verifiers read from `pg_authid`, or, where it is not readable (a
//! managed-cloud admin), new verifiers of the roles' passwords set on the server in the same
//! run; with `auth_query`, no verifier at all (PgBouncer asks the function `apply` created).
//! Never a plain-text password: the files are written 0600 in a folder created 0700.

use std::collections::BTreeMap;
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
    let manifest = super::load_fleet_manifest(manifest_path)?;
    let Some(pooler) = &manifest.pooler else {
        bail!(
            "{} has no [pooler]: add [pooler] and a pool_size to each role that connects through PgBouncer",
            manifest_path.display()
        );
    };
    let roles: Vec<String> = pooled_roles(&manifest)
        .iter()
        .map(|(_, r)| r.name.clone())
        .collect();
    // Each database of the fleet holding pooled roles (a v1 manifest: its one database), on
    // its cluster as dbsplit connects to it: the aliases of its services point there, and its
    // roles' verifiers (or its lookup function) are read there.
    let runtime = super::live::runtime()?;
    let mut upstreams = BTreeMap::new();
    let mut verifiers = Vec::new();
    let mut source = Verifiers::None;
    for target in crate::fleet::targets(&manifest) {
        let here = pooled_roles(&target.manifest);
        if here.is_empty() {
            continue;
        }
        let options =
            crate::fleet::connect::options(&target, connect_args.database_url.as_deref())?;
        let upstream = Upstream {
            host: match &options.host {
                Host::Tcp(host) => host.clone(),
                Host::Socket(dir) => dir.display().to_string(),
                Host::Default => "localhost".to_string(),
            },
            port: options.port,
            dbname: target.database.clone(),
        };
        for (service, _) in &here {
            upstreams.insert(service.name.clone(), upstream.clone());
        }
        let envs: Vec<(String, Option<String>)> = here
            .iter()
            .map(|(_, r)| (r.name.clone(), r.password_env.clone()))
            .collect();
        let read = runtime.block_on(async {
            let (mut client, _connection) = connect(&options).await?;
            match pooler.auth {
                PoolerAuth::AuthQuery => {
                    check_lookup(&client, &target.database).await?;
                    Ok((Vec::new(), Verifiers::None))
                }
                PoolerAuth::Userlist => read_verifiers(&mut client, &options.user, &envs).await,
            }
        });
        // A fleet's errors say which database they come from.
        let (found, how) = match read {
            Err(error) if manifest.fleet => {
                return Err(error.context(format!("target {}", target.label())));
            }
            read => read?,
        };
        verifiers.extend(found);
        source = match (source, how) {
            (Verifiers::Set(user), _) | (_, Verifiers::Set(user)) => Verifiers::Set(user),
            (_, how) => how,
        };
    }

    let dir = prepare_dir(&args.out)?;
    let absolute = fs::canonicalize(&dir)
        .with_context(|| format!("cannot resolve the folder {}", dir.display()))?;
    let ini = render_ini(
        &manifest,
        pooler,
        &upstreams,
        &absolute.join("userlist.txt"),
    )?;
    write_private(
        &dir.join("userlist.txt"),
        render_userlist(&verifiers).as_bytes(),
    )?;
    write_private(&dir.join("pgbouncer.ini"), ini.as_bytes())?;
    let aliases = crate::pooler::pooled_aliases(&manifest);
    let how = match source {
        Verifiers::None => format!(
            "{} role{} looked up by auth_query as {} (userlist.txt is empty)",
            roles.len(),
            crate::text::plural(roles.len()),
            crate::pooler::auth_query::AUTH_USER
        ),
        Verifiers::Read => format!(
            "{} role{} with the server's SCRAM verifiers",
            roles.len(),
            crate::text::plural(roles.len()),
        ),
        Verifiers::Set(user) => format!(
            "{} role{} with new SCRAM verifiers of their passwords, set on the server too (pg_authid is not readable as {user})",
            roles.len(),
            crate::text::plural(roles.len()),
        ),
    };
    writeln!(
        out,
        "wrote {} and {} (mode 0600): {aliases} service alias{}, {how}",
        dir.join("pgbouncer.ini").display(),
        dir.join("userlist.txt").display(),
        if aliases == 1 { "" } else { "es" },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Where the verifiers in userlist.txt come from.
enum Verifiers {
    /// auth_query: none are written.
    None,
    /// Read from pg_authid: the server's own.
    Read,
    /// Computed from the passwords in the environment and set on the server in the same run,
    /// as this role.
    Set(String),
}

/// `auth_query` needs the lookup function `apply` creates.
async fn check_lookup(client: &tokio_postgres::Client, database: &str) -> anyhow::Result<()> {
    let signature = format!(
        "{}.{}(text)",
        crate::pooler::auth_query::SCHEMA,
        crate::pooler::auth_query::FUNCTION
    );
    let row = client
        .query_one(
            "SELECT pg_catalog.to_regprocedure($1) IS NOT NULL",
            &[&signature],
        )
        .await
        .context("cannot look for PgBouncer's lookup function")?;
    if !row.get::<_, bool>(0) {
        bail!(
            "database {database} has no function {signature}, which auth = \"auth_query\" calls: run `dbsplit apply` first"
        );
    }
    Ok(())
}

/// Each pooled role's SCRAM verifier as the server stores it, in the manifest's order. When
/// pg_authid is not readable (a managed-cloud admin), the verifiers are made from the roles'
/// passwords in the environment and set on the server in one transaction, so both sides hold
/// the same ones.
async fn read_verifiers(
    client: &mut tokio_postgres::Client,
    user: &str,
    roles: &[(String, Option<String>)],
) -> anyhow::Result<(Vec<(String, String)>, Verifiers)> {
    let names: Vec<&str> = roles.iter().map(|(r, _)| r.as_str()).collect();
    let rows = match client
        .query(
            "SELECT rolname::text AS rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname = ANY($1::text[])",
            &[&names],
        )
        .await
    {
        Ok(rows) => rows,
        Err(error) if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            let verifiers = set_verifiers(client, user, roles).await?;
            return Ok((verifiers, Verifiers::Set(user.to_string())));
        }
        Err(error) => {
            return Err(anyhow::Error::new(error).context("cannot read pg_authid"));
        }
    };
    let mut verifiers = Vec::new();
    for role in names {
        let role = role.to_string();
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
    Ok((verifiers, Verifiers::Read))
}

/// New SCRAM verifiers of the roles' passwords (from their `password_env`), set on the server
/// in one transaction and returned for userlist.txt. Refuses, naming what to do, when a
/// password is missing.
async fn set_verifiers(
    client: &mut tokio_postgres::Client,
    user: &str,
    roles: &[(String, Option<String>)],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut passwords = Vec::new();
    let mut missing = Vec::new();
    for (role, env) in roles {
        let password = env
            .as_ref()
            .and_then(|env| std::env::var(env).ok())
            .filter(|p| !p.is_empty());
        match (password, env) {
            (Some(password), _) => passwords.push((role.clone(), password)),
            (None, Some(env)) => missing.push(format!("${env} (for {role})")),
            (None, None) => missing.push(format!("a password_env for {role}")),
        }
    }
    if !missing.is_empty() {
        bail!(
            "cannot read the roles' SCRAM verifiers from pg_authid as `{user}` (only a superuser may read them), and userlist.txt must hold the server's own: set {} so that `dbsplit pooler` sets each role's password on the server to the verifier it writes, or run it as a superuser, or use auth = \"auth_query\"",
            missing.join(", ")
        );
    }
    let transaction = client
        .transaction()
        .await
        .context("cannot open a transaction")?;
    let mut verifiers = Vec::new();
    for (role, password) in passwords {
        let verifier = crate::pg::scram::random_verifier(&password);
        let statement = format!(
            "ALTER ROLE {} PASSWORD {}",
            crate::pg::ident::Ident(&role),
            crate::pg::ident::Literal(&verifier)
        );
        transaction
            .batch_execute(&statement)
            .await
            .with_context(|| format!("cannot set the password of role `{role}` as `{user}`"))?;
        verifiers.push((role, verifier));
    }
    transaction
        .commit()
        .await
        .context("cannot commit the new passwords")?;
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
