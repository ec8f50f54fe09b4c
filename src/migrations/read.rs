//! Reading the migration files of some services, each with its checksum, and their
//! `dbsplit.sum` as it is and as the files say it should be: what `lint` checks and `migrate`
//! runs, read once, the same way for both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::discover::{DiscoverError, SUM_FILE, checksum, discover, parse_file_name, read_bytes};
use super::sum;

/// One migration file, read.
#[derive(Debug, Clone)]
pub struct SqlFile {
    /// As shown in findings and errors.
    pub path: PathBuf,
    /// The service whose folder it is in; files of services the manifest lacks are skipped.
    pub service: String,
    pub text: String,
}

/// A service's `dbsplit.sum` as it is, and as the migration files say it should be.
#[derive(Debug, Clone)]
pub struct SumFile {
    pub service: String,
    pub path: PathBuf,
    pub expected: String,
    /// `None` when the file does not exist.
    pub actual: Option<String>,
}

/// The files read, and the sums of their services.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub files: Vec<SqlFile>,
    pub sums: Vec<SumFile>,
}

/// A migration file as the runner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    pub version: u64,
    pub file_name: String,
    /// Hex SHA-256 of the normalized file.
    pub sha256: String,
}

/// A migration file to run.
#[derive(Debug, Clone)]
pub struct File {
    /// Version, name and checksum, as `verify` compares them.
    pub local: Local,
    /// As shown in errors, with the line of the failing statement.
    pub path: PathBuf,
    pub text: String,
}

/// Which files of which services to read: `None` means all of the service's files.
pub type Selection = BTreeMap<String, Option<Vec<PathBuf>>>;

/// Reads the selected files below the migrations folder `root`, and the services' sum files.
pub fn read(root: &Path, selection: Selection) -> Result<Input, DiscoverError> {
    let mut input = Input::default();
    for (service, only) in selection {
        let dir = root.join(&service);
        let migrations = discover(&dir)?;
        let mut contents = Vec::with_capacity(migrations.len());
        for migration in &migrations {
            contents.push(read_bytes(&migration.path)?);
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
            let text = String::from_utf8(bytes).map_err(|_| DiscoverError::NotUtf8 {
                path: migration.path.clone(),
            })?;
            input.files.push(SqlFile {
                path: migration.path.clone(),
                service: service.clone(),
                text,
            });
        }
    }
    Ok(input)
}

impl Input {
    /// The files of one service, with their checksums, in version order.
    pub fn files_of(&self, service: &str) -> Vec<File> {
        self.files
            .iter()
            .filter(|f| f.service == service)
            .filter_map(|f| {
                let file_name = f.path.file_name()?.to_string_lossy().into_owned();
                let (version, _) = parse_file_name(&file_name)?;
                let sha256 = crate::text::hex(&checksum(f.text.as_bytes()));
                Some(File {
                    local: Local {
                        version,
                        file_name,
                        sha256,
                    },
                    path: f.path.clone(),
                    text: f.text.clone(),
                })
            })
            .collect()
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, DiscoverError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DiscoverError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}
