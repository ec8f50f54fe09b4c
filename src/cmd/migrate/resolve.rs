//! `dbsplit migrate resolve SERVICE VERSION`: mark a dirty migration done, after a person fixed
//! the database by hand.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use super::run::waiting;
use crate::cli::ConnectArgs;
use crate::cmd::live::{connect_to, runtime};
use crate::manifest::Manifest;
use crate::migrate::run;

pub(super) fn resolve(
    manifest: &Manifest,
    connect: &ConnectArgs,
    service: &str,
    version: u64,
    lock_timeout: Duration,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let service = crate::cmd::service(manifest, service)?;
    runtime()?.block_on(async {
        // With a fleet manifest, in the database the service is placed in.
        let client = match crate::fleet::targets(manifest)
            .into_iter()
            .find(|t| manifest.fleet && t.manifest.service(&service.name).is_some())
        {
            Some(target) => crate::cmd::fleet::connect_target(&target, connect, None).await?.0,
            None => connect_to(connect, &manifest.database.name).await?,
        };
        let progress = |p| waiting(&service.name, &p);
        match run::resolve(&client, service, version, lock_timeout, &progress)
            .await
            .with_context(|| format!("cannot resolve migration {version} of `{}`", service.name))?
        {
            Some(name) => writeln!(out, "{}: marked {name} as applied", service.name)?,
            None => bail!(
                "`{}` has no dirty migration {version}; `dbsplit migrate status` shows its migrations",
                service.name
            ),
        }
        Ok(ExitCode::SUCCESS)
    })
}
