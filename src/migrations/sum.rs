//! `dbsplit.sum`: a running hash of a service's migration folder, in the format of Atlas's
//! `atlas.sum` (`sql/migrate/dir.go`, `NewHashFile`).
//!
//! The first line is `h1:<total>`; then one line `<file> h1:<hash>` per migration, in version
//! order, where each hash is SHA-256 over every earlier file's name and contents and its own.
//! Editing a migration changes its line and every line after it, and two branches that each add
//! a migration both rewrite the `h1:` line, so git reports a conflict instead of merging them
//! silently. Contents are normalized as for checksums (no BOM, LF line ends).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use std::path::{Path, PathBuf};

use super::discover::{DiscoverError, SUM_FILE, discover, normalize, read_bytes};

/// Renders the sum file for migrations given as `(file name, contents)` in version order.
pub fn render<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut running = Sha256::new();
    let mut lines = Vec::new();
    for (name, contents) in files {
        running.update(name.as_bytes());
        running.update(normalize(contents));
        lines.push((name, STANDARD.encode(running.clone().finalize())));
    }
    let mut total = Sha256::new();
    for (name, hash) in &lines {
        total.update(name.as_bytes());
        total.update(hash.as_bytes());
    }
    let mut out = format!("h1:{}\n", STANDARD.encode(total.finalize()));
    for (name, hash) in lines {
        out.push_str(&format!("{name} h1:{hash}\n"));
    }
    out
}

/// Rewrites `dir/dbsplit.sum` from the migrations in `dir`; returns its path and how many
/// migrations it covers.
pub fn rehash(dir: &Path) -> Result<(PathBuf, usize), DiscoverError> {
    let migrations = discover(dir)?;
    let mut files = Vec::with_capacity(migrations.len());
    for migration in &migrations {
        files.push((migration.file_name.as_str(), read_bytes(&migration.path)?));
    }
    let text = render(files.iter().map(|(name, bytes)| (*name, bytes.as_slice())));
    let sum_path = dir.join(SUM_FILE);
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&sum_path, text))
        .map_err(|source| DiscoverError::Write {
            path: sum_path.clone(),
            source,
        })?;
    Ok((sum_path, migrations.len()))
}

/// The line (1-based) of `actual` to fix, if it differs from `expected`: the first migration's
/// line that differs (the first one edited, added or removed), else the `h1:` line. Line ends
/// are compared as LF, so a CRLF checkout of the sum file is not stale.
pub fn first_difference(expected: &str, actual: &str) -> Option<usize> {
    let actual = actual.replace("\r\n", "\n");
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let lines = expected.len().max(actual.len());
    (1..lines)
        .chain([0])
        .find(|&i| expected.get(i) != actual.get(i))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_chains_every_earlier_file() {
        let one = render([("20250101000000_a.sql", b"create table a ();\n".as_slice())]);
        let two = render([
            ("20250101000000_a.sql", b"create table a ();\n".as_slice()),
            ("20250102000000_b.sql", b"create table b ();\n".as_slice()),
        ]);
        let edited = render([
            (
                "20250101000000_a.sql",
                b"create table a (x int);\n".as_slice(),
            ),
            ("20250102000000_b.sql", b"create table b ();\n".as_slice()),
        ]);
        insta::assert_snapshot!(two, @r"
        h1:6E6Ltibx/pKDsUtlXjD8+syiwQ+Mnd5mKr/uGyrtBP0=
        20250101000000_a.sql h1:5MIX9sLYKWGgmxqm4SmGUbVNe+n4clbXX1jtu6vOV9E=
        20250102000000_b.sql h1:25dF7tVLO6hpOSNsjjnQgHPmBMB7W3hMkmjyzPllGSQ=
        ");
        let line = |s: &str, n: usize| s.lines().nth(n).unwrap().to_string();
        assert_eq!(line(&one, 1), line(&two, 1));
        assert_ne!(line(&one, 0), line(&two, 0));
        // Editing the first file changes the second file's line too.
        assert_ne!(line(&edited, 2), line(&two, 2));
        assert_eq!(first_difference(&two, &edited), Some(2));
        assert_eq!(first_difference(&two, &two.replace('\n', "\r\n")), None);
        assert_eq!(first_difference(&two, &one), Some(3));
        let mut total = two.clone();
        total.replace_range(3..6, "xyz");
        assert_eq!(first_difference(&two, &total), Some(1));
        assert_eq!(
            render([]),
            format!("h1:{}\n", STANDARD.encode(Sha256::digest(b"")))
        );
    }

    #[test]
    fn crlf_and_bom_do_not_change_the_sum() {
        let lf = render([("20250101000000_a.sql", b"select 1;\n".as_slice())]);
        let crlf = render([(
            "20250101000000_a.sql",
            b"\xEF\xBB\xBFselect 1;\r\n".as_slice(),
        )]);
        assert_eq!(lf, crlf);
    }
}
