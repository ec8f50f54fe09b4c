//! The offline plan: the live diff of the desired state against the state of an empty cluster,
//! in its idempotent form. One generator: what `plan --offline` prints is what `plan` would
//! plan on a new cluster, plus what makes the script safe to run again on one that drifted
//! (roles are created in DO blocks that check `pg_roles` and bring existing ones back, schemas
//! with IF NOT EXISTS, and the defensive revokes below, which take away nothing on an empty
//! cluster).

use std::collections::BTreeMap;

use crate::catalog::model::{Acl, ClusterState, Database, Grantee, Privilege, Schema};
use crate::desired::Desired;
use crate::manifest::Manifest;

use super::change::{Action, Change, Object, Phase, Plan};
use super::diff::{DiffOptions, diff};
use super::scopes::Scopes;

/// The complete bootstrap of `desired` for an empty cluster, in apply order.
pub fn bootstrap(manifest: &Manifest, desired: &Desired) -> Plan {
    let empty = empty_cluster(&desired.database);
    let options = DiffOptions::default();
    let mut plan = diff(manifest, desired, &empty, &desired.database, &options);
    // Notes describe a live cluster (passwords not set, roles left alone): none here.
    plan.notes.clear();
    idempotent(&mut plan, manifest, desired);
    plan.sort();
    plan
}

/// What a new cluster holds, as introspection would read it: no role of the manifest, the
/// database with PostgreSQL's default ACL (PUBLIC may connect and create temporary tables),
/// and an empty schema `public` that PUBLIC may use and, as on PostgreSQL 14, create in.
pub fn empty_cluster(database: &str) -> ClusterState {
    let public = Schema {
        owner: "pg_database_owner".to_string(),
        acl: Acl::from([(
            Grantee::Public,
            [Privilege::Usage, Privilege::Create].into(),
        )]),
        grant_options: Acl::new(),
        objects: BTreeMap::new(),
    };
    let db = Database {
        acl: Acl::from([(
            Grantee::Public,
            [Privilege::Connect, Privilege::Temporary].into(),
        )]),
        schemas: BTreeMap::from([(crate::pg::PUBLIC_SCHEMA.to_string(), public)]),
        ..Database::default()
    };
    ClusterState {
        roles: BTreeMap::new(),
        databases: BTreeMap::from([(database.to_string(), db)]),
    }
}

/// Makes the plan safe to run again on a cluster that drifted: offline plans name each role's
/// password variable (apply sets it), every schema created is first cleared of any privilege
/// of PUBLIC and of the manifest's roles that its ACL does not name, and the lockdown of
/// `public` takes CREATE from every managed role too.
fn idempotent(plan: &mut Plan, manifest: &Manifest, desired: &Desired) {
    let scopes = Scopes::new(manifest);
    let db = desired.db();
    let managed = || desired.state.roles.keys().map(|r| Grantee::Role(r.clone()));
    let mut defensive = Vec::new();
    for change in &mut plan.changes {
        match &mut change.action {
            Action::CreateRole {
                role, password_env, ..
            } => *password_env = desired.password_envs.get(role.as_str()).cloned(),
            Action::CreateSchema { schema, .. } => {
                let Some(want) = db.schemas.get(schema.as_str()) else {
                    continue;
                };
                let mut from = vec![Grantee::Public];
                from.extend(managed().filter(|g| {
                    g.role() != Some(want.owner.as_str()) && !want.acl.contains_key(g)
                }));
                defensive.push(Change {
                    scope: scopes.of_schema(schema),
                    action: Action::Revoke {
                        privileges: None,
                        on: Object::Schema(schema.clone()),
                        from,
                    },
                });
            }
            Action::Revoke {
                privileges: Some(privileges),
                on: Object::Schema(schema),
                from,
            } if schema == crate::pg::PUBLIC_SCHEMA && privileges.contains(&Privilege::Create) => {
                let more: Vec<Grantee> = managed().filter(|g| !from.contains(g)).collect();
                from.extend(more);
            }
            _ => {}
        }
    }
    // The defensive revokes come first among the revokes, as they always did.
    let (revokes, mut changes): (Vec<Change>, Vec<Change>) = std::mem::take(&mut plan.changes)
        .into_iter()
        .partition(|c| c.action.phase() == Phase::Revokes);
    changes.extend(defensive);
    changes.extend(revokes);
    plan.changes = changes;
}
