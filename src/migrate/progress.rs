//! What happens while a service migrates, reported as it happens.

/// What happens while a service migrates, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Another session holds the service's lock; its pid when it is known.
    Waiting {
        holder: Option<i32>,
    },
    Applied {
        name: String,
        millis: u64,
    },
    /// With `--dry-run`: this file would run.
    WouldApply {
        name: String,
        transactional: bool,
    },
}
