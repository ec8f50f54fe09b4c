//! `dbsplit migrate status [SERVICE...]`: where each service stands, as a table or JSON.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::{choose, read};
use crate::cli::{ConnectArgs, StatusFormat};
use crate::cmd::live::{connect_to, runtime};
use crate::manifest::Manifest;
use crate::migrate::error::RunError;
use crate::migrate::history;
use crate::migrate::verify::{Owner, status};
use crate::migrations::Local;
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
    let rows = status_rows(manifest, services, connect)?;
    match format {
        StatusFormat::Human => report::status::human(&rows, color, out)?,
        StatusFormat::Json => report::status::json(&rows, out)?,
    }
    let settled = rows.iter().all(|r| r.state() == "up-to-date");
    Ok(if exit_code && !settled {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `migrate status`: a row per service, each read as its owner when the login may be it.
fn status_rows(
    manifest: &Manifest,
    services: &[String],
    connect: &ConnectArgs,
) -> anyhow::Result<Vec<ServiceStatus>> {
    let chosen = choose(manifest, services)?;
    let input = read(manifest, &chosen)?;
    runtime()?.block_on(async {
        let client = connect_to(connect, &manifest.database.name).await?;
        let mut rows = Vec::new();
        for service in chosen {
            let (history, unreadable) = match history::status_rows(&client, service).await {
                Ok(history) => (history, None),
                Err(error @ RunError::Unreadable { .. }) => (Vec::new(), Some(error.to_string())),
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!("cannot read the migrations of `{}`", service.name)
                    });
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
            });
        }
        anyhow::Ok(rows)
    })
}
