//! Compares a service's history table with its migration files, before anything runs. Pure: the
//! runner reads both and acts on the answer.
//!
//! [`verify`] fails, listing every problem it finds, when:
//! - a history row is dirty (`success = false`): a `-- dbsplit:no-transaction` migration stopped
//!   part way, and only a person can tell what it left behind ([`VerifyError::Dirty`]);
//! - an applied migration's file changed: its checksum is not the one recorded
//!   ([`VerifyError::Checksum`]);
//! - a history row has no file: the file was deleted or renamed after it ran, or another branch
//!   ran it ([`VerifyError::Missing`]);
//! - a pending file is older than the newest applied version: it was added out of order (a
//!   branch merged late) and running it now would run it after migrations it predates
//!   ([`VerifyError::OutOfOrder`]).
//!
//! Otherwise it returns the pending files, in version order.

use crate::migrations::Local;

/// A row of `<schema>.dbsplit_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: u64,
    pub name: String,
    pub sha256: String,
    pub success: bool,
}

/// One reason the migrations of a service cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "migration {name} is dirty: it has no transaction and stopped part way; fix the database by hand, then run `dbsplit migrate resolve {service} {version}` to mark it done, or delete its row from {schema}.dbsplit_migrations to run it again"
    )]
    Dirty {
        service: String,
        schema: String,
        version: u64,
        name: String,
    },
    #[error(
        "migration {name} changed after it was applied (checksum {recorded} recorded, {actual} now); restore the file and put the change in a new migration"
    )]
    Checksum {
        name: String,
        recorded: String,
        actual: String,
    },
    #[error(
        "migration {name} was applied but its file is missing; restore it (migrations are never deleted or renamed once applied)"
    )]
    Missing { name: String },
    #[error(
        "migration {name} is older than {newest}, which is applied already; give it a new version with `dbsplit new` so it runs after the applied ones"
    )]
    OutOfOrder { name: String, newest: String },
}

/// Who the rows belong to, for the messages.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub service: &'a str,
    pub schema: &'a str,
}

/// The pending files, or every reason they cannot run; see the module documentation.
pub fn verify<'a>(
    owner: Owner<'_>,
    local: &'a [Local],
    applied: &[Applied],
) -> Result<Vec<&'a Local>, Vec<VerifyError>> {
    let mut errors = Vec::new();
    for row in applied {
        if !row.success {
            errors.push(VerifyError::Dirty {
                service: owner.service.to_string(),
                schema: owner.schema.to_string(),
                version: row.version,
                name: row.name.clone(),
            });
        }
        match local.iter().find(|l| l.version == row.version) {
            None => errors.push(VerifyError::Missing {
                name: row.name.clone(),
            }),
            Some(file) if file.sha256 != row.sha256 => errors.push(VerifyError::Checksum {
                name: file.file_name.clone(),
                recorded: short(&row.sha256),
                actual: short(&file.sha256),
            }),
            Some(_) => {}
        }
    }
    let newest = applied.iter().max_by_key(|row| row.version);
    let pending: Vec<&Local> = local
        .iter()
        .filter(|l| !applied.iter().any(|row| row.version == l.version))
        .collect();
    if let Some(newest) = newest {
        for file in pending.iter().filter(|l| l.version < newest.version) {
            errors.push(VerifyError::OutOfOrder {
                name: file.file_name.clone(),
                newest: newest.name.clone(),
            });
        }
    }
    if errors.is_empty() {
        Ok(pending)
    } else {
        Err(errors)
    }
}

/// Where a service stands, for `migrate status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// History rows that finished.
    pub applied: usize,
    /// Files without a history row.
    pub pending: usize,
    /// The newest finished row.
    pub last: Option<Applied>,
    /// What would stop `migrate`: the errors of [`verify`].
    pub problems: Vec<VerifyError>,
}

/// The status of a service's migrations.
pub fn status(owner: Owner<'_>, local: &[Local], applied: &[Applied]) -> Status {
    Status {
        applied: applied.iter().filter(|row| row.success).count(),
        pending: local
            .iter()
            .filter(|l| !applied.iter().any(|row| row.version == l.version))
            .count(),
        last: applied
            .iter()
            .filter(|row| row.success)
            .max_by_key(|row| row.version)
            .cloned(),
        problems: verify(owner, local, applied).err().unwrap_or_default(),
    }
}

impl VerifyError {
    /// A few words for a table cell: the kind of problem and the file.
    pub fn brief(&self) -> String {
        match self {
            VerifyError::Dirty { name, .. } => format!("dirty: {name}"),
            VerifyError::Checksum { name, .. } => format!("changed: {name}"),
            VerifyError::Missing { name } => format!("file missing: {name}"),
            VerifyError::OutOfOrder { name, .. } => format!("out of order: {name}"),
        }
    }
}

/// The first 12 hex digits of a checksum: enough to tell two apart in a message.
fn short(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: Owner<'static> = Owner {
        service: "billing",
        schema: "billing",
    };

    fn local(version: u64, sha: &str) -> Local {
        Local {
            version,
            file_name: format!("{version}_m.sql"),
            sha256: sha.into(),
        }
    }

    fn applied(version: u64, sha: &str, success: bool) -> Applied {
        Applied {
            version,
            name: format!("{version}_m.sql"),
            sha256: sha.into(),
            success,
        }
    }

    fn messages(result: Result<Vec<&Local>, Vec<VerifyError>>) -> Vec<String> {
        result.unwrap_err().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn nothing_applied_means_everything_is_pending_in_order() {
        let files = [local(1, "a"), local(2, "b")];
        let pending = verify(OWNER, &files, &[]).unwrap();
        assert_eq!(pending, [&files[0], &files[1]]);
    }

    #[test]
    fn applied_files_with_their_checksums_leave_the_rest_pending() {
        let files = [local(1, "a"), local(2, "b"), local(3, "c")];
        let rows = [applied(1, "a", true), applied(2, "b", true)];
        assert_eq!(verify(OWNER, &files, &rows).unwrap(), [&files[2]]);
        let rows = [
            applied(1, "a", true),
            applied(2, "b", true),
            applied(3, "c", true),
        ];
        assert!(verify(OWNER, &files, &rows).unwrap().is_empty());
    }

    #[test]
    fn a_changed_checksum_is_refused() {
        let files = [local(1, "aaaaaaaaaaaaaaaa"), local(2, "b")];
        let rows = [applied(1, "bbbbbbbbbbbbbbbb", true)];
        assert_eq!(
            messages(verify(OWNER, &files, &rows)),
            [
                "migration 1_m.sql changed after it was applied (checksum bbbbbbbbbbbb recorded, aaaaaaaaaaaa now); restore the file and put the change in a new migration"
            ]
        );
    }

    #[test]
    fn a_row_without_a_file_is_refused() {
        let files = [local(2, "b")];
        let rows = [applied(1, "a", true)];
        let found = messages(verify(OWNER, &files, &rows));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("migration 1_m.sql was applied but its file is missing"),
            "{found:?}"
        );
    }

    #[test]
    fn a_dirty_row_is_refused_with_how_to_resolve_it() {
        let files = [local(1, "a"), local(2, "b")];
        let rows = [applied(1, "a", false)];
        assert_eq!(
            messages(verify(OWNER, &files, &rows)),
            [
                "migration 1_m.sql is dirty: it has no transaction and stopped part way; fix the database by hand, then run `dbsplit migrate resolve billing 1` to mark it done, or delete its row from billing.dbsplit_migrations to run it again"
            ]
        );
    }

    #[test]
    fn a_pending_file_older_than_the_newest_applied_is_out_of_order() {
        let files = [local(1, "a"), local(2, "b"), local(3, "c")];
        let rows = [applied(1, "a", true), applied(3, "c", true)];
        assert_eq!(
            messages(verify(OWNER, &files, &rows)),
            [
                "migration 2_m.sql is older than 3_m.sql, which is applied already; give it a new version with `dbsplit new` so it runs after the applied ones"
            ]
        );
    }

    #[test]
    fn status_counts_applied_and_pending_and_names_the_problems() {
        let files = [local(1, "a"), local(2, "b"), local(3, "c")];
        let rows = [applied(1, "a", true), applied(2, "b", false)];
        let status = status(OWNER, &files, &rows);
        assert_eq!((status.applied, status.pending), (1, 1));
        assert_eq!(status.last, Some(rows[0].clone()));
        let problems: Vec<String> = status.problems.iter().map(VerifyError::brief).collect();
        assert_eq!(problems, ["dirty: 2_m.sql"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let files = [local(1, "x"), local(2, "b"), local(4, "d")];
        let rows = [
            applied(1, "a", true),
            applied(3, "c", true),
            applied(5, "e", false),
        ];
        let found = messages(verify(OWNER, &files, &rows));
        let kinds: Vec<&str> = found
            .iter()
            .map(|m| m.split_once(' ').unwrap().1.split_once(' ').unwrap().1)
            .map(|rest| rest.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .map(|s| match s.as_str() {
                "changed after" => "checksum",
                "was applied" => "missing",
                "is dirty:" => "dirty",
                "is older" => "out of order",
                _ => "other",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "checksum",
                "missing",
                "dirty",
                "missing",
                "out of order",
                "out of order"
            ]
        );
    }
}
