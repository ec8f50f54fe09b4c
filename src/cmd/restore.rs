//! `dbsplit restore SERVICE FILE [--target DATABASE] [--replace]`: provision the manifest in
//! the database, then restore the service's schema from a dbsplit dump as its owner.

use std::io::{BufReader, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{ConnectArgs, RestoreArgs};
use crate::pg::connect::connect;
use crate::relocate::archive::{self, Existing};
use crate::relocate::provision::provision;

use super::live;

pub fn run(
    path: &Path,
    connect_args: &ConnectArgs,
    args: &RestoreArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_fleet_manifest(path)?;
    let service = super::service(&manifest, &args.service)?.clone();
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let mut input = BufReader::new(file);
    let header = archive::read_header(&mut input)
        .map_err(|problem| anyhow::anyhow!("cannot restore {}: {problem}", args.file.display()))?;
    if header.service != service.name || header.schema != service.schema {
        bail!(
            "{} holds schema `{}` of service `{}`, not service `{}` (schema `{}`)",
            args.file.display(),
            header.schema,
            header.service,
            service.name,
            service.schema
        );
    }
    let (mut options, mut target_manifest) = placed(&manifest, &service, connect_args)?;
    if let Some(target) = &args.target {
        options.dbname = target.clone();
    }
    target_manifest.database.name = options.dbname.clone();
    let existing = if args.replace {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    live::runtime()?.block_on(async {
        let (mut client, _connection) = connect(&options).await?;
        crate::pg::connect::refuse_standby(&client, "restore").await?;
        let changes = provision(&mut client, &target_manifest, live::passwords).await?;
        archive::restore(
            &client,
            &options,
            &service.schema,
            &service.owner,
            existing,
            &mut input,
        )
        .await?;
        writeln!(
            out,
            "restored schema `{}` of service `{}` (dumped from {}) into {} as {}; {changes} change(s) provisioned from the manifest first",
            service.schema,
            service.name,
            header.source,
            options.redacted(),
            service.owner
        )?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Where the service lives: the connection settings of its database (a fleet manifest's
/// placement, else the manifest's database on --database-url) and the manifest of that
/// database.
pub fn placed(
    manifest: &crate::manifest::Manifest,
    service: &crate::manifest::Service,
    connect_args: &ConnectArgs,
) -> anyhow::Result<(
    crate::pg::options::ConnectOptions,
    crate::manifest::Manifest,
)> {
    if !manifest.fleet {
        let options = live::options_for(connect_args, &manifest.database.name)?;
        return Ok((options, manifest.clone()));
    }
    let target = crate::fleet::targets(manifest)
        .into_iter()
        .find(|t| t.key == service.database)
        .with_context(|| format!("service `{}` is placed nowhere", service.name))?;
    let options = crate::fleet::connect::options(&target, connect_args)?;
    Ok((options, target.manifest))
}
