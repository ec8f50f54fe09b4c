//! Provisioning a database from the manifest before data lands in it: the same plan and apply
//! as `dbsplit apply`, for the database the session is connected to (roles, schemas, grants,
//! default privileges, search_path), so the objects restored afterwards as the owner get the
//! manifest's grants from the default privileges.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use crate::apply::{self, ApplyOptions, Confirmed};
use crate::desired::{Desired, desired_state};
use crate::manifest::Manifest;
use crate::plan::live::{self, PlanOptions};
use crate::plan::preflight;

use super::error::MoveError;

/// The manifest of one service alone, for a database of its own: the service, the shared
/// schemas it reads, the observers that read it; database-wide settings as the manifest says.
pub fn service_slice(manifest: &Manifest, service: &str, database: &str) -> Manifest {
    let mut slice = manifest.clone();
    slice.database.name = database.to_string();
    slice.services.retain(|s| s.name == service);
    let schemas: Vec<String> = slice
        .services
        .iter()
        .flat_map(|s| {
            std::iter::once(s.schema.clone()).chain(s.reads.iter().map(|r| r.schema.clone()))
        })
        .collect();
    slice.shared.retain(|s| schemas.contains(&s.schema));
    for observer in &mut slice.observers {
        observer.reads.retain(|schema| schemas.contains(schema));
    }
    slice.observers.retain(|o| !o.reads.is_empty());
    slice
}

/// Applies `manifest` to the connected database (whose name it must carry), in one
/// transaction; returns the number of changes made. `passwords` reads the roles' passwords
/// from the environment.
pub async fn provision(
    client: &mut Client,
    manifest: &Manifest,
    passwords: fn(&Desired) -> BTreeMap<String, String>,
) -> Result<usize, MoveError> {
    let desired = desired_state(manifest);
    let options = ApplyOptions {
        lock_timeout: std::time::Duration::from_secs(30),
        plan: PlanOptions {
            prune: false,
            passwords: passwords(&desired),
            select: None,
        },
    };
    let (plan, live) = live::plan(client, manifest, &desired, &options.plan).await?;
    live.expect_database(&manifest.database.name)
        .map_err(|e| MoveError::Refused(e.to_string()))?;
    let refused = preflight::refusals(&desired, &live);
    if !refused.is_empty() {
        return Err(MoveError::Refused(format!(
            "cannot provision database `{}`: {}",
            manifest.database.name,
            refused.join("; ")
        )));
    }
    let blocked = preflight::blocked(&plan, &desired, &live);
    if !blocked.is_empty() {
        let who = preflight::Session::new(&live).describe();
        let list: Vec<String> = blocked.iter().map(|b| b.to_string()).collect();
        return Err(MoveError::Refused(format!(
            "cannot provision database `{}` as {who}: {}",
            manifest.database.name,
            list.join("; ")
        )));
    }
    if plan.is_empty() {
        return Ok(0);
    }
    let changes = plan.changes.len();
    let confirmed = Confirmed {
        plan,
        fingerprint: None,
    };
    apply::apply_budgeted(client, manifest, &desired, &options, &confirmed, false).await?;
    Ok(changes)
}
