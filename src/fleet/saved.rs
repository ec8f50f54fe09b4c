//! A fleet's saved plan (`plan --out` on a fleet manifest): one saved plan per target, each
//! with the fingerprint of what that target owns ([`super::own_state`]), so `apply FILE`
//! refuses a target whose database or roles changed since, and applies the others.

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::Target;
use crate::desired::Desired;
use crate::plan::file::{SavedPlan, manifest_digest};

/// The file format of a fleet's saved plan.
const FLEET_FORMAT: u32 = 1;

/// The content of a fleet's plan file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetPlanFile {
    pub fleet_format: u32,
    pub targets: Vec<SavedTarget>,
}

/// One target's saved plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedTarget {
    pub cluster: String,
    pub database: String,
    pub saved: SavedPlan,
}

impl FleetPlanFile {
    pub fn new(targets: Vec<SavedTarget>) -> Self {
        FleetPlanFile {
            fleet_format: FLEET_FORMAT,
            targets,
        }
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("cannot serialize the plan")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write plan file {}", path.display()))
    }

    /// Reads a fleet plan file made by this dbsplit.
    pub fn read(path: &Path) -> anyhow::Result<FleetPlanFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read plan file {}", path.display()))?;
        let not_fleet = || {
            format!(
                "{} is not a fleet plan saved by `dbsplit plan --out`",
                path.display()
            )
        };
        let file: FleetPlanFile = serde_json::from_str(&text).with_context(not_fleet)?;
        let ours = env!("CARGO_PKG_VERSION");
        let made_by = file
            .targets
            .first()
            .map(|t| t.saved.dbsplit_version.as_str());
        if file.fleet_format != FLEET_FORMAT || made_by.is_some_and(|v| v != ours) {
            bail!(
                "{} was made by dbsplit {}; this is dbsplit {ours}: run `dbsplit plan --out` again",
                path.display(),
                made_by.unwrap_or("unknown")
            );
        }
        Ok(file)
    }

    /// The saved plan of `target`, checked against what the manifest asks of it now.
    pub fn for_target(&self, target: &Target, desired: &Desired) -> anyhow::Result<&SavedPlan> {
        let entry = self
            .targets
            .iter()
            .find(|t| t.cluster == target.cluster && t.database == target.database)
            .with_context(|| format!("the plan file has no plan for {}", target.label()))?;
        if entry.saved.manifest != manifest_digest(desired) {
            bail!(
                "the plan file was made for another manifest (it changed since): run `dbsplit plan --out` again"
            );
        }
        Ok(&entry.saved)
    }
}
