//! Finds the migrations of one service: `migrations/<service>/<version>_<slug>.sql`, where the
//! version is 14 digits (a UTC timestamp written by `dbsplit new`) and the slug is `[a-z0-9_]+`.
//!
//! A file whose name does not match is an error, never skipped: a typo such as `V1__init.sql`
//! or `20250101_init.SQL` must not silently leave a migration out. Only `dbsplit.sum` and hidden
//! files (`.gitkeep`) may sit next to the migrations.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The name of the directory hash file in each service's folder.
pub const SUM_FILE: &str = "dbsplit.sum";

/// One migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The 14-digit version.
    pub version: u64,
    /// The part of the name between the version and `.sql`.
    pub slug: String,
    /// The file name, `<version>_<slug>.sql`.
    pub file_name: String,
    pub path: PathBuf,
}

/// Why the migrations of a folder cannot be listed, read or hashed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is not a migration file name: expected <14-digit version>_<slug>.sql with a slug of [a-z0-9_]+",
        path.display()
    )]
    BadName { path: PathBuf },
    #[error("{} has the same version as {}: versions must be strictly increasing", path.display(), other.display())]
    DuplicateVersion { path: PathBuf, other: PathBuf },
    #[error("{} is not UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Splits `<14-digit version>_<slug>.sql` into its version and slug.
pub fn parse_file_name(name: &str) -> Option<(u64, &str)> {
    let stem = name.strip_suffix(".sql")?;
    let (version, slug) = stem.split_once('_')?;
    if version.len() != 14 || !version.bytes().all(|b| b.is_ascii_digit()) || !is_slug(slug) {
        return None;
    }
    Some((version.parse().ok()?, slug))
}

/// Whether `s` is a migration slug: `[a-z0-9_]+`.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The migrations in `dir`, ordered by version. A missing folder has none.
pub fn discover(dir: &Path) -> Result<Vec<Migration>, DiscoverError> {
    let read_error = |source| DiscoverError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_error(e)),
    };
    let mut migrations = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_error)?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == SUM_FILE || name.starts_with('.') {
            continue;
        }
        let is_file = entry.file_type().map_err(read_error)?.is_file();
        let Some((version, slug)) = parse_file_name(&name).filter(|_| is_file) else {
            return Err(DiscoverError::BadName { path });
        };
        migrations.push(Migration {
            version,
            slug: slug.to_string(),
            file_name: name.into_owned(),
            path,
        });
    }
    migrations.sort_by(|a, b| (a.version, &a.file_name).cmp(&(b.version, &b.file_name)));
    if let Some(pair) = migrations.windows(2).find(|w| w[0].version == w[1].version) {
        return Err(DiscoverError::DuplicateVersion {
            path: pair[1].path.clone(),
            other: pair[0].path.clone(),
        });
    }
    Ok(migrations)
}

/// The bytes of a file.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, DiscoverError> {
    std::fs::read(path).map_err(|source| DiscoverError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The bytes a checksum is taken of: a UTF-8 byte order mark stripped and CRLF turned into LF,
/// so a checkout on Windows hashes the same as one on Linux.
pub fn normalize(bytes: &[u8]) -> Cow<'_, [u8]> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if !bytes.windows(2).any(|w| w == b"\r\n") {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// SHA-256 of a migration file's normalized bytes: what the runner records and compares.
pub fn checksum(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(normalize(bytes)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_need_fourteen_digits_an_underscore_and_a_slug() {
        assert_eq!(
            parse_file_name("20250102030405_add_invoices.sql"),
            Some((20250102030405, "add_invoices"))
        );
        for bad in [
            "V1__init.sql",
            "2025010203040_short.sql",
            "202501020304050_long.sql",
            "20250102030405_.sql",
            "20250102030405_Add.sql",
            "20250102030405-add.sql",
            "20250102030405_add.SQL",
            "20250102030405_add.sql.bak",
            "20250102030405_add-x.sql",
            "２0250102030405_x.sql",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn discover_orders_by_version_and_refuses_strays_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str| std::fs::write(dir.path().join(name), "select 1;\n").unwrap();
        write("20250102000000_b.sql");
        write("20250101000000_a.sql");
        write(SUM_FILE);
        write(".gitkeep");
        let found = discover(dir.path()).unwrap();
        let names: Vec<_> = found.iter().map(|m| m.file_name.as_str()).collect();
        assert_eq!(names, ["20250101000000_a.sql", "20250102000000_b.sql"]);

        write("20250101000000_again.sql");
        let error = discover(dir.path()).unwrap_err().to_string();
        assert!(error.contains("has the same version as"), "{error}");
        std::fs::remove_file(dir.path().join("20250101000000_again.sql")).unwrap();

        write("init.sql");
        let error = discover(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("init.sql is not a migration file name"),
            "{error}"
        );

        assert_eq!(discover(&dir.path().join("missing")).unwrap(), vec![]);
    }

    #[test]
    fn checksum_ignores_a_bom_and_crlf() {
        let plain = checksum(b"select 1;\nselect 2;\n");
        assert_eq!(checksum(b"\xEF\xBB\xBFselect 1;\r\nselect 2;\r\n"), plain);
        assert_ne!(checksum(b"select 1;\nselect 3;\n"), plain);
        assert_eq!(&*normalize(b"a\r\rb\r"), b"a\r\rb\r");
    }
}
