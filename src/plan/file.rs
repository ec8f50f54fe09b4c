//! Plans saved by `plan --out` for `apply FILE`: the changes plus fingerprints of the manifest
//! and of the cluster they were computed from, so a later apply can refuse, saying what
//! differs, when either changed. A saved plan holds no secret: passwords appear only as the
//! names of their environment variables, and the fingerprints are digests of a canonical
//! serialization of the catalog model, which leaves stored password verifiers out.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Plan;
use crate::catalog::model::ClusterState;
use crate::desired::Desired;
use crate::manifest::PublicSchema;

mod canonical;

const FORMAT: u32 = 2;

/// The content of a plan file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// The file format, so a future dbsplit can refuse an old one clearly.
    pub format: u32,
    /// The dbsplit version that made it: the fingerprints are only comparable within one
    /// version.
    pub dbsplit_version: String,
    /// A digest of what the manifest asks for (`manifest_digest`).
    pub manifest: String,
    /// The introspected cluster the plan was computed from.
    pub fingerprint: Fingerprint,
    pub plan: Plan,
}

/// Digests of a cluster's state: the whole, and each role and schema, to say what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub whole: String,
    /// "role NAME", "database NAME", "schema DB.NAME" -> digest.
    pub parts: BTreeMap<String, String>,
}

/// Why a saved plan is not applied to the cluster as it is now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    #[error("the saved plan is already applied: the cluster matches the manifest; nothing to do")]
    AlreadyApplied,
    #[error("the cluster changed since the plan was made: {0}; run `dbsplit plan --out` again")]
    Changed(String),
}

fn digest(bytes: &[u8]) -> String {
    crate::text::hex(&Sha256::digest(bytes))
}

/// The digest of a value's canonical bytes (JSON cannot take the model's ACL maps, keyed by
/// `Grantee`; `Debug` text changes between versions).
fn value_digest(value: &impl Serialize) -> String {
    digest(&canonical::to_bytes(value))
}

impl Fingerprint {
    /// The fingerprint of an introspected state.
    pub fn of(state: &ClusterState) -> Fingerprint {
        let mut parts = BTreeMap::new();
        for (name, role) in &state.roles {
            parts.insert(format!("role {name}"), value_digest(role));
        }
        for (name, database) in &state.databases {
            for (schema_name, schema) in &database.schemas {
                parts.insert(format!("schema {name}.{schema_name}"), value_digest(schema));
            }
            let mut rest = database.clone();
            rest.schemas.clear();
            parts.insert(format!("database {name}"), value_digest(&rest));
        }
        Fingerprint {
            whole: value_digest(state),
            parts,
        }
    }

    /// Checks the cluster as it is now (`live`, and the plan computed from it) against this
    /// fingerprint of the cluster the saved plan was made from.
    pub fn check(&self, live: &ClusterState, plan_now: &Plan) -> Result<(), Stale> {
        let now = Fingerprint::of(live);
        if now.whole == self.whole {
            return Ok(());
        }
        if plan_now.is_empty() {
            return Err(Stale::AlreadyApplied);
        }
        let mut what = Vec::new();
        for (part, digest) in &now.parts {
            match self.parts.get(part) {
                None => what.push(format!("{part} appeared")),
                Some(before) if before != digest => what.push(format!("{part} changed")),
                Some(_) => {}
            }
        }
        for part in self.parts.keys() {
            if !now.parts.contains_key(part) {
                what.push(format!("{part} disappeared"));
            }
        }
        if what.is_empty() {
            what.push("the catalogs differ".to_string());
        }
        Err(Stale::Changed(what.join(", ")))
    }
}

/// A digest of what a manifest asks for: a reformatted or commented manifest keeps it.
pub fn manifest_digest(desired: &Desired) -> String {
    let public = match desired.public_schema {
        PublicSchema::Lockdown => "lockdown",
        PublicSchema::Drop => "drop",
        PublicSchema::Unmanaged => "unmanaged",
    };
    value_digest(&(
        &desired.state,
        &desired.database,
        &desired.enforced_roles,
        &desired.password_envs,
        public,
    ))
}

impl SavedPlan {
    pub fn new(plan: Plan, desired: &Desired, state: &ClusterState) -> Self {
        SavedPlan {
            format: FORMAT,
            dbsplit_version: env!("CARGO_PKG_VERSION").to_string(),
            manifest: manifest_digest(desired),
            fingerprint: Fingerprint::of(state),
            plan,
        }
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("cannot serialize the plan")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write plan file {}", path.display()))
    }

    /// Reads a plan file made by this dbsplit for the manifest `desired` comes from.
    pub fn read(path: &Path, desired: &Desired) -> anyhow::Result<SavedPlan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read plan file {}", path.display()))?;
        let version: serde_json::Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a plan saved by `dbsplit plan --out`",
                path.display()
            )
        })?;
        let made_by = version["dbsplit_version"].as_str().unwrap_or("unknown");
        if version["format"] != FORMAT || made_by != env!("CARGO_PKG_VERSION") {
            bail!(
                "{} was made by dbsplit {made_by}; this is dbsplit {}: run `dbsplit plan --out` again",
                path.display(),
                env!("CARGO_PKG_VERSION")
            );
        }
        let saved: SavedPlan = serde_json::from_value(version).with_context(|| {
            format!(
                "{} is not a plan saved by `dbsplit plan --out`",
                path.display()
            )
        })?;
        if saved.plan.database != desired.database {
            bail!(
                "{} was made for database {}, and the manifest manages {}",
                path.display(),
                saved.plan.database,
                desired.database
            );
        }
        if saved.manifest != manifest_digest(desired) {
            bail!(
                "{} was made for another manifest (it changed since, or -m names another file): run `dbsplit plan --out` again",
                path.display()
            );
        }
        Ok(saved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::Role;

    #[test]
    fn stored_verifiers_are_no_part_of_the_fingerprint() {
        let mut state = ClusterState::default();
        state.roles.insert("billing_rw".into(), Role::default());
        let without = Fingerprint::of(&state);
        state.roles.get_mut("billing_rw").unwrap().password =
            Some("SCRAM-SHA-256$4096:c2FsdA==$a2V5:c2VydmVy".into());
        assert_eq!(Fingerprint::of(&state), without);
        state.roles.get_mut("billing_rw").unwrap().attributes.login = true;
        let changed = Fingerprint::of(&state);
        assert_ne!(changed, without);
        assert_eq!(
            without.check(&state, &Plan::default()),
            Err(Stale::AlreadyApplied)
        );
    }
}
