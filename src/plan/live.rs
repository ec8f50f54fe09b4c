//! Planning against a live cluster: introspect once, then diff the manifest against what was
//! read. Nothing here writes; `cmd::plan` runs it under a read-only transaction, `apply` inside
//! its own transaction under the advisory lock.

use std::collections::BTreeMap;

use crate::catalog::introspect::{
    Depth, IntrospectError, Introspection, Queryer, introspect_joining, read_linked,
};
use crate::desired::Desired;
use crate::manifest::Manifest;
use crate::plan::Plan;
use crate::plan::diff::{DiffOptions, PasswordState, diff};
use crate::plan::moves::hold;
use crate::plan::preflight;
use crate::plan::scopes::Scopes;
use crate::select::Selection;

/// Settings of a live plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Also drop what the manifest no longer declares.
    pub prune: bool,
    /// Role -> password, read from the roles' `password_env` variables.
    pub passwords: BTreeMap<String, String>,
    /// `--service`: the live state is narrowed to these services (the desired state is the
    /// caller's to narrow).
    pub select: Option<Selection>,
}

/// Introspects and plans without changing anything; returns the plan and what was read.
pub async fn plan<Q: Queryer>(
    db: &Q,
    manifest: &Manifest,
    desired: &Desired,
    options: &PlanOptions,
) -> Result<(Plan, Introspection), IntrospectError> {
    let (plan, live, _) =
        plan_joining(db, async { db.helper() }, manifest, desired, options).await?;
    Ok((plan, live))
}

/// [`plan`], with a second session on its way (see [`introspect_joining`]): the catalog
/// queries start on `db` at once, and the helper takes its share when `joining` yields it.
/// The moves' marks are read on `db` meanwhile. Returns the helper, for the caller to close.
pub async fn plan_joining<Q: Queryer, H: Queryer>(
    db: &Q,
    joining: impl std::future::Future<Output = Option<H>>,
    manifest: &Manifest,
    desired: &Desired,
    options: &PlanOptions,
) -> Result<(Plan, Introspection, Option<H>), IntrospectError> {
    let (introspected, sightings) = tokio::join!(
        introspect_joining(db, joining, Depth::Privileges),
        hold::sightings(db)
    );
    let (mut live, helper) = introspected?;
    let sightings = sightings?;
    // Which sequences follow their table's owner, when some sequence's owner is to change.
    let desired_db = desired.db();
    read_linked(db, &mut live, |schema| {
        desired_db.schemas.get(schema).map(|s| s.owner.as_str())
    })
    .await?;
    let diff_options = DiffOptions {
        passwords: password_states(desired, &live, &options.passwords),
        prune: options.prune,
        membership_options: live.membership_options(),
    };
    let narrowed = options.select.as_ref().map(|s| s.live(&live.state));
    let mut plan = diff(
        manifest,
        desired,
        narrowed.as_ref().unwrap_or(&live.state),
        &live.database,
        &diff_options,
    );
    crate::catalog::timings::phase("diff");
    // A service being moved: its writes are the move's to open and close, not apply's.
    hold::filter(&mut plan, &hold::held(&sightings, manifest));
    hold::keep_mover(&mut plan, &sightings, manifest);
    // What a non-superuser admin gives itself to make the other changes; not drift, so not
    // part of the diff (audit reports the diff).
    let scopes = Scopes::new(manifest);
    let joins = preflight::self_grants(&plan.changes, desired, &live, &scopes);
    if !joins.is_empty() {
        plan.changes.extend(joins);
        plan.sort();
    }
    crate::catalog::timings::phase("moves in progress, self-grants");
    Ok((plan, live, helper))
}

/// The password states for a diff, comparing the passwords from the environment with the
/// stored verifiers when they are readable.
pub fn password_states(
    desired: &Desired,
    live: &Introspection,
    passwords: &BTreeMap<String, String>,
) -> BTreeMap<String, PasswordState> {
    desired
        .password_envs
        .keys()
        .map(|role| {
            let state = match (passwords.get(role), live.state.roles.get(role)) {
                (None, _) if env_is_empty(desired, role) => PasswordState::Empty,
                (None, _) => PasswordState::Unset,
                (Some(_), None) => PasswordState::Differs,
                (Some(_), Some(_)) if !live.passwords_readable => PasswordState::Unknown,
                (Some(password), Some(have)) => match &have.password {
                    Some(stored) if crate::pg::scram::matches(password, stored) => {
                        PasswordState::Matches
                    }
                    _ => PasswordState::Differs,
                },
            };
            (role.clone(), state)
        })
        .collect()
}

/// Whether the role's password variable is set, but empty.
fn env_is_empty(desired: &Desired, role: &str) -> bool {
    desired
        .password_envs
        .get(role)
        .and_then(std::env::var_os)
        .is_some_and(|value| value.is_empty())
}
