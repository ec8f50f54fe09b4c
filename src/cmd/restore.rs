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
    let manifest = super::load_manifest(path)?;
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
    let mut options = live::options_for(connect_args, &manifest.database.name)?;
    if let Some(target) = &args.target {
        options.dbname = target.clone();
    }
    let mut target_manifest = manifest.clone();
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
