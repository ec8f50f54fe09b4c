//! `dbsplit dump SERVICE [--out FILE]`: one service's schema as a dbsplit dump file.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{ConnectArgs, DumpArgs};
use crate::pg::connect::connect;
use crate::relocate::archive;

use super::live;

pub fn run(
    path: &Path,
    connect_args: &ConnectArgs,
    args: &DumpArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_fleet_manifest(path)?;
    let service = super::service(&manifest, &args.service)?;
    if args.out.is_none() && std::io::stdout().is_terminal() {
        bail!("refusing to write a binary archive to the terminal; pass --out FILE or redirect");
    }
    let (options, _) = super::restore::placed(&manifest, service, connect_args)?;
    live::runtime()?.block_on(async {
        let (client, _connection) = connect(&options).await?;
        match &args.out {
            None => {
                archive::dump(&client, &options, &service.name, &service.schema, out).await?;
            }
            Some(file) => {
                // Written beside the file and renamed at the end: a failed dump never leaves
                // a truncated archive under the name a restore would use.
                let partial = file.with_extension("partial");
                let mut writer = std::io::BufWriter::new(
                    std::fs::File::create(&partial)
                        .with_context(|| format!("cannot create {}", partial.display()))?,
                );
                let dumped = archive::dump(
                    &client,
                    &options,
                    &service.name,
                    &service.schema,
                    &mut writer,
                )
                .await;
                drop(writer);
                if let Err(error) = dumped {
                    let _ = std::fs::remove_file(&partial);
                    return Err(error.into());
                }
                std::fs::rename(&partial, file)
                    .with_context(|| format!("cannot rename {}", partial.display()))?;
                let bytes = std::fs::metadata(file).map_or(0, |m| m.len());
                eprintln!(
                    "dumped schema `{}` of service `{}` from {} into {} ({bytes} bytes)",
                    service.schema,
                    service.name,
                    options.redacted(),
                    file.display()
                );
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
