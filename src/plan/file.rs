//! Plans saved by `plan --out` for `apply FILE`: the changes plus a fingerprint of the cluster
//! they were computed from, so a later apply can refuse when the cluster changed. A saved plan
//! holds no secret: passwords appear only as the names of their environment variables.

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::Plan;

const FORMAT: u32 = 1;

/// The content of a plan file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// The file format, so a future dbsplit can refuse an old one clearly.
    pub format: u32,
    /// The dbsplit version that made it: the fingerprint is only comparable within one version.
    pub dbsplit_version: String,
    /// The fingerprint of the introspected cluster (`apply::fingerprint`).
    pub fingerprint: String,
    pub plan: Plan,
}

impl SavedPlan {
    pub fn new(plan: Plan, fingerprint: String) -> Self {
        SavedPlan {
            format: FORMAT,
            dbsplit_version: env!("CARGO_PKG_VERSION").to_string(),
            fingerprint,
            plan,
        }
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("cannot serialize the plan")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write plan file {}", path.display()))
    }

    pub fn read(path: &Path) -> anyhow::Result<SavedPlan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read plan file {}", path.display()))?;
        let saved: SavedPlan = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a plan saved by `dbsplit plan --out`",
                path.display()
            )
        })?;
        if saved.format != FORMAT || saved.dbsplit_version != env!("CARGO_PKG_VERSION") {
            bail!(
                "{} was made by dbsplit {} (format {}); this is dbsplit {}: run `dbsplit plan --out` again",
                path.display(),
                saved.dbsplit_version,
                saved.format,
                env!("CARGO_PKG_VERSION")
            );
        }
        Ok(saved)
    }
}
