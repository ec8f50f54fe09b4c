//! `dbsplit migrate`: run the pending migrations (`run`), `migrate status`, `migrate resolve`
//! and `migrate hash`, and the services they work on.

mod fleet;
mod hash;
mod resolve;
mod run;
mod status;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::{ConnectArgs, MigrateArgs, MigrateCommand};
use crate::manifest::{Manifest, Service};
use crate::migrations::{self, Input};

use super::service;

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &MigrateArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_fleet_manifest(path)?;
    match &args.command {
        Some(MigrateCommand::Hash { services }) => hash::hash(&manifest, services, out),
        Some(MigrateCommand::Status {
            services,
            exit_code,
            format,
            fleet: targets,
        }) if manifest.fleet => fleet::status(
            &manifest, services, connect, targets, *exit_code, *format, color, out,
        ),
        Some(MigrateCommand::Status {
            services,
            exit_code,
            format,
            fleet: targets,
        }) => {
            super::fleet::check_v1_targets(&manifest, targets)?;
            status::show(
                &manifest, services, connect, *exit_code, *format, color, out,
            )
        }
        Some(MigrateCommand::Resolve {
            service,
            version,
            lock,
        }) => resolve::resolve(
            &manifest,
            connect,
            service,
            *version,
            lock.lock_timeout,
            out,
        ),
        None if manifest.fleet => fleet::migrate(&manifest, connect, args, color, out),
        None => {
            super::fleet::check_v1_targets(&manifest, &args.fleet)?;
            run::migrate(&manifest, connect, args, color, out)
        }
    }
}

/// The services named, or all of them.
fn choose<'m>(manifest: &'m Manifest, names: &[String]) -> anyhow::Result<Vec<&'m Service>> {
    if names.is_empty() {
        return Ok(manifest.services.iter().collect());
    }
    names.iter().map(|name| service(manifest, name)).collect()
}

/// The migration files and sum files of the services.
fn read(manifest: &Manifest, services: &[&Service]) -> anyhow::Result<Input> {
    let selection = services.iter().map(|s| (s.name.clone(), None)).collect();
    Ok(migrations::read(&manifest.migrations_dir(), selection)?)
}
