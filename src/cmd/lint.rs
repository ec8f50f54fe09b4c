//! `dbsplit lint [PATH...]`: read the migration files and sum files, lint, render, exit code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::LintArgs;
use crate::finding::any_at_or_above;
use crate::lint::lint;
use crate::manifest::Manifest;
use crate::migrations::discover::parse_file_name;
use crate::migrations::{self, Input, Selection};
use crate::report;

pub fn run(
    path: &Path,
    args: &LintArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_fleet_manifest(path)?;
    let input = read_input(&manifest, &args.paths)?;
    let mut findings = lint(&manifest, &input);
    crate::report::assign_owners(&mut findings, &manifest);
    report::findings::render(
        super::findings_format(args.findings.format),
        &findings,
        color,
        out,
    )?;
    Ok(
        if any_at_or_above(&findings, args.findings.fail_on.severity()) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// Reads the files to lint and, for every service they belong to, its sum file.
fn read_input(manifest: &Manifest, paths: &[PathBuf]) -> anyhow::Result<Input> {
    let root = manifest.migrations_dir();
    let selection = if paths.is_empty() {
        every_service(manifest, &root)?
    } else {
        select(manifest, &root, paths)?
    };
    Ok(migrations::read(&root, selection)?)
}

/// Every folder below the migrations folder; each must be a service's.
fn every_service(manifest: &Manifest, root: &Path) -> anyhow::Result<Selection> {
    let mut selection = Selection::new();
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(selection),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", root.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", root.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if manifest.service(&name).is_none() || !entry.path().is_dir() {
            bail!(
                "{} is not the migrations folder of a service in the manifest",
                entry.path().display()
            );
        }
        selection.insert(name, None);
    }
    Ok(selection)
}

/// The services and files that `paths` (files or folders below the migrations folder) name.
fn select(manifest: &Manifest, root: &Path, paths: &[PathBuf]) -> anyhow::Result<Selection> {
    let canonical_root = root
        .canonicalize()
        .with_context(|| format!("cannot read the migrations folder {}", root.display()))?;
    let mut selection = Selection::new();
    for path in paths {
        let canonical = path
            .canonicalize()
            .with_context(|| format!("cannot read {}", path.display()))?;
        let Ok(relative) = canonical.strip_prefix(&canonical_root) else {
            bail!(
                "{} is not inside the migrations folder {}",
                path.display(),
                root.display()
            );
        };
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        match parts.as_slice() {
            [] => return every_service(manifest, root),
            [service, rest @ ..] => {
                if manifest.service(service).is_none() {
                    bail!(
                        "{} is not in the migrations folder of a service in the manifest",
                        path.display()
                    );
                }
                match rest {
                    [] => {
                        selection.insert(service.clone(), None);
                    }
                    [file] if parse_file_name(file).is_some() => {
                        if let Some(files) =
                            selection.entry(service.clone()).or_insert(Some(vec![]))
                        {
                            files.push(root.join(service).join(file));
                        }
                    }
                    _ => bail!(
                        "{} is not a migration file name: expected <14-digit version>_<slug>.sql with a slug of [a-z0-9_]+",
                        path.display()
                    ),
                }
            }
        }
    }
    Ok(selection)
}
