//! What the commands that talk to a live cluster share: a runtime, a connection to the
//! manifest's database, and the passwords from the environment.

use std::collections::BTreeMap;

use anyhow::Context;
use tokio_postgres::Client;

use crate::cli::ConnectArgs;
use crate::desired::Desired;
use crate::pg::connect::{Notices, connect, connect_noticing};
use crate::pg::options::{ConnectOptions, Env, resolve};

/// A runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Connects as psql would; the database defaults to the manifest's, not to the user name.
pub async fn connect_to(args: &ConnectArgs, database: &str) -> anyhow::Result<Client> {
    connect_noticing_to(args, database, None).await
}

/// Like [`connect_to`], and hands the server's notices to `notices` when given.
pub async fn connect_noticing_to(
    args: &ConnectArgs,
    database: &str,
    notices: Option<Notices>,
) -> anyhow::Result<Client> {
    let options = options_for(args, database)?;
    let (client, _connection) = match notices {
        Some(notices) => connect_noticing(&options, notices).await?,
        None => connect(&options).await?,
    };
    Ok(client)
}

/// The settings [`connect_to`] connects with: as psql would, the database defaulting to the
/// manifest's.
pub fn options_for(args: &ConnectArgs, database: &str) -> anyhow::Result<ConnectOptions> {
    let process = Env::process();
    let var = |name: &str| {
        let value = (process.var)(name);
        match name {
            "PGDATABASE" => value.or_else(|| Some(database.to_string())),
            _ => value,
        }
    };
    let env = Env {
        var: &var,
        os_user: process.os_user.clone(),
    };
    Ok(resolve(args.database_url.as_deref(), &env)?)
}

/// Prints the server's notices and warnings as they arrive (RAISE NOTICE, "no privileges could
/// be revoked"), on stderr as psql does, after `prefix` when given (the service migrating).
pub fn show_notices(prefix: Option<&str>) -> Notices {
    let prefix = prefix.map(|p| format!("{p}: ")).unwrap_or_default();
    std::sync::Arc::new(move |notice: &tokio_postgres::error::DbError| {
        eprintln!("{prefix}{}", describe_notice(notice));
    })
}

/// A server notice as psql prints it: severity, message, then DETAIL and HINT lines.
pub fn describe_notice(notice: &tokio_postgres::error::DbError) -> String {
    let mut text = format!("{}:  {}", notice.severity(), notice.message());
    if let Some(detail) = notice.detail() {
        text.push_str(&format!("\nDETAIL:  {detail}"));
    }
    if let Some(hint) = notice.hint() {
        text.push_str(&format!("\nHINT:  {hint}"));
    }
    text
}

/// Connects to the manifest's database, or where the connection settings point without one.
pub async fn connect_for(
    args: &ConnectArgs,
    manifest: Option<&crate::manifest::Manifest>,
) -> anyhow::Result<Client> {
    match manifest {
        Some(manifest) => connect_to(args, &manifest.database.name).await,
        None => connect_plain(args).await,
    }
}

/// Connects exactly as psql would, the database included.
pub async fn connect_plain(args: &ConnectArgs) -> anyhow::Result<Client> {
    let options = resolve(args.database_url.as_deref(), &Env::process())?;
    let (client, _connection) = connect(&options).await?;
    Ok(client)
}

/// The passwords of the roles that name a `password_env`, from this process's environment.
pub fn passwords(desired: &Desired) -> BTreeMap<String, String> {
    desired
        .password_envs
        .iter()
        .filter_map(|(role, env)| {
            let value = std::env::var(env).ok().filter(|v| !v.is_empty())?;
            Some((role.clone(), value))
        })
        .collect()
}
