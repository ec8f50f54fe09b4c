//! `dbsplit lint [PATH...]`: read the migration files and sum files, lint, render, exit code.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::LintArgs;
use crate::finding::any_at_or_above;
use crate::lint::{Input, SqlFile, SumFile, lint};
use crate::manifest::Manifest;
use crate::migrate::discover::{SUM_FILE, discover, parse_file_name};
use crate::migrate::sum;
use crate::report;

pub fn run(
    path: &Path,
    args: &LintArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_manifest(path)?;
    let input = read_input(&manifest, &args.paths)?;
    let findings = lint(&manifest, &input);
    report::findings::render(args.findings.format, &findings, color, out)?;
    Ok(
        if any_at_or_above(&findings, args.findings.fail_on.severity()) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// Which files of which services to lint: `None` means all of the service's files.
pub(super) type Selection = BTreeMap<String, Option<Vec<PathBuf>>>;

/// Reads the files to lint and, for every service they belong to, its sum file.
fn read_input(manifest: &Manifest, paths: &[PathBuf]) -> anyhow::Result<Input> {
    let root = manifest.migrations_dir();
    let selection = if paths.is_empty() {
        every_service(manifest, &root)?
    } else {
        select(manifest, &root, paths)?
    };
    read_selection(&root, selection)
}

/// Reads the selected files below the migrations folder `root`, and the services' sum files.
pub(super) fn read_selection(root: &Path, selection: Selection) -> anyhow::Result<Input> {
    let mut input = Input::default();
    for (service, only) in selection {
        let dir = root.join(&service);
        let migrations = discover(&dir)?;
        let mut contents = Vec::with_capacity(migrations.len());
        for migration in &migrations {
            let bytes = std::fs::read(&migration.path)
                .with_context(|| format!("cannot read {}", migration.path.display()))?;
            contents.push(bytes);
        }
        if !migrations.is_empty() {
            let files = migrations.iter().zip(&contents);
            let sum_path = dir.join(SUM_FILE);
            input.sums.push(SumFile {
                service: service.clone(),
                expected: sum::render(files.map(|(m, c)| (m.file_name.as_str(), c.as_slice()))),
                actual: read_optional(&sum_path)?,
                path: sum_path,
            });
        }
        for (migration, bytes) in migrations.iter().zip(contents) {
            let wanted = only
                .as_ref()
                .is_none_or(|files| files.iter().any(|f| f == &migration.path));
            if !wanted {
                continue;
            }
            let text = String::from_utf8(bytes)
                .with_context(|| format!("{} is not UTF-8", migration.path.display()))?;
            input.files.push(SqlFile {
                path: migration.path.clone(),
                service: service.clone(),
                text,
            });
        }
    }
    Ok(input)
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

fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
