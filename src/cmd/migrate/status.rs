//! `dbsplit migrate status [SERVICE...]`: where each service stands, as a table or JSON.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tokio_postgres::Client;

use super::{choose, read};
use crate::cli::{ConnectArgs, StatusFormat};
use crate::cmd::live::{connect_to, runtime};
use crate::manifest::{Manifest, Service};
use crate::migrate::error::RunError;
use crate::migrate::history;
use crate::migrate::verify::{Owner, status};
use crate::migrations::{Input, Local};
use crate::report;
use crate::report::status::ServiceStatus;

/// Prints every chosen service's status; exit 1 with `exit_code` when one is not up to date.
pub(super) fn show(
    manifest: &Manifest,
    services: &[String],
    connect: &ConnectArgs,
    exit_code: bool,
    format: StatusFormat,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let chosen = choose(manifest, services)?;
    let input = read(manifest, &chosen)?;
    let rows = runtime()?.block_on(async {
        let client = connect_to(connect, &manifest.database.name).await?;
        status_rows(&client, &chosen, &input).await
    })?;
    match format {
        StatusFormat::Human => report::status::human(&rows, color, out)?,
        StatusFormat::Json => report::status::json(&rows, out)?,
    }
    Ok(exit(&rows, exit_code))
}

/// Exit 1 with `exit_code` when a row is not up to date.
pub(super) fn exit(rows: &[ServiceStatus], exit_code: bool) -> ExitCode {
    let settled = rows.iter().all(|r| r.state() == "up-to-date");
    if exit_code && !settled {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A row per service of `chosen`, each read on `client` as its owner when the login may be it.
pub(super) async fn status_rows(
    client: &Client,
    chosen: &[&Service],
    input: &Input,
) -> anyhow::Result<Vec<ServiceStatus>> {
    let mut rows = Vec::new();
    for service in chosen {
        let (history, unreadable) = match history::status_rows(client, service).await {
            Ok(history) => (history, None),
            Err(error @ RunError::Unreadable { .. }) => (Vec::new(), Some(error.to_string())),
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot read the migrations of `{}`", service.name));
            }
        };
        let applied: Vec<_> = history.iter().map(|h| h.applied.clone()).collect();
        let local: Vec<Local> = input
            .files_of(&service.name)
            .into_iter()
            .map(|f| f.local)
            .collect();
        let owner = Owner {
            service: &service.name,
            schema: &service.schema,
        };
        let mut status = status(owner, &local, &applied);
        if unreadable.is_some() {
            status.pending = 0;
        }
        let last_applied_at = status.last.as_ref().and_then(|last| {
            history
                .iter()
                .find(|h| h.applied.version == last.version)
                .map(|h| h.applied_at.clone())
        });
        rows.push(ServiceStatus {
            service: service.name.clone(),
            status,
            last_applied_at,
            unreadable,
            target: None,
        });
    }
    Ok(rows)
}
