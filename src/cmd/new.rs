//! `dbsplit new SERVICE NAME`: write the next migration file of a service and rehash its folder.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::NewArgs;
use crate::migrations::discover::{discover, is_slug};
use crate::migrations::scaffold::{PROJECT_TEMPLATE, Timestamp, next_version, render, template};
use crate::migrations::sum::rehash;

pub fn run(path: &Path, args: &NewArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let manifest = super::load_fleet_manifest(path)?;
    let service = super::service(&manifest, &args.service)?;
    if !is_slug(&args.name) {
        bail!(
            "`{}` is not a migration name: use lowercase letters, digits and underscores, such as `add_invoices`",
            args.name
        );
    }
    let dir = manifest.migrations_dir().join(&service.name);
    let existing = discover(&dir)?;
    let at = next_version(existing.iter().map(|m| m.version), Timestamp::now());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let manifest_dir = manifest.path.parent().unwrap_or(Path::new(""));
    let template = template(manifest_dir).with_context(|| {
        format!(
            "cannot read {}",
            manifest_dir.join(PROJECT_TEMPLATE).display()
        )
    })?;
    let file = dir.join(format!("{}_{}.sql", at.version(), args.name));
    // create_new: never overwrite a file another `new` wrote in the meantime.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .and_then(|mut f| f.write_all(render(&template, service, &args.name, at).as_bytes()))
        .with_context(|| format!("cannot write {}", file.display()))?;
    rehash(&dir)?;
    writeln!(out, "{}", file.display())?;
    Ok(ExitCode::SUCCESS)
}
