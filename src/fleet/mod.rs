//! The fleet: a manifest's services placed across databases and clusters, as targets.
//!
//! A target is one database on one cluster. Each carries the manifest restricted to it (its
//! services and shared schemas, the observers that read there, with only those reads), a v1
//! manifest that today's single-database pipeline (desired state, introspection, plan, apply,
//! audit) takes as it is. A v1 manifest is a fleet of one target: the manifest itself. What
//! spans targets (roles of one cluster planned once, clusters run concurrently, the report of
//! which targets landed) lives here too; nothing below knows about other targets.

pub mod connect;
pub mod run;
pub mod saved;

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::model::ClusterState;
use crate::desired::{Desired, desired_state};
use crate::manifest::{ClusterConnection, Manifest};

/// One database of the fleet, with the manifest restricted to it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name of its cluster (`default` for a manifest without `[clusters.*]`).
    pub cluster: String,
    /// The key of `[databases.<key>]` (a v1 manifest: the database name).
    pub key: String,
    /// The database's name on the cluster.
    pub database: String,
    /// Where the cluster's connection settings come from.
    pub connection: ClusterConnection,
    /// The manifest restricted to this database: a v1 manifest of its services, shared
    /// schemas and observers.
    pub manifest: Manifest,
}

impl Target {
    /// `cluster/database`, how output names the target.
    pub fn label(&self) -> String {
        format!("{}/{}", self.cluster, self.database)
    }
}

/// Every target of `manifest`, in the order of the file (clusters, then their databases); a
/// v1 manifest's one target holds the manifest unchanged.
pub fn targets(manifest: &Manifest) -> Vec<Target> {
    let mut targets = Vec::new();
    for cluster in &manifest.clusters {
        for database in manifest
            .databases
            .iter()
            .filter(|d| d.cluster == cluster.name)
        {
            let restricted = if manifest.fleet {
                restrict(manifest, &database.key)
            } else {
                manifest.clone()
            };
            targets.push(Target {
                cluster: cluster.name.clone(),
                key: database.key.clone(),
                database: database.settings.name.clone(),
                connection: cluster.connection.clone(),
                manifest: restricted,
            });
        }
    }
    targets
}

/// Keeps the targets `--target` names (a database's key or name, or `cluster/database`); all of
/// them when none is named. An unknown name is an error that lists the targets.
pub fn select(targets: Vec<Target>, names: &[String]) -> anyhow::Result<Vec<Target>> {
    if names.is_empty() {
        return Ok(targets);
    }
    for name in names {
        if !targets.iter().any(|t| t.matches(name)) {
            let known: Vec<String> = targets.iter().map(Target::label).collect();
            anyhow::bail!(
                "unknown target `{name}`; the manifest's targets are: {}",
                known.join(", ")
            );
        }
    }
    Ok(targets
        .into_iter()
        .filter(|t| names.iter().any(|n| t.matches(n)))
        .collect())
}

impl Target {
    fn matches(&self, name: &str) -> bool {
        name == self.key || name == self.database || name == self.label()
    }
}

/// The desired state of each of `selected` (in its order), with each role planned once per
/// cluster: the first selected target of a cluster holding a role plans its cluster-wide
/// state and records in its mark every database of the cluster it serves (from `all`, the
/// whole fleet); later targets of that cluster plan only their grants and settings for it.
/// The cluster's roles a target does not use are in its `planned_elsewhere` too.
pub fn desired_states(all: &[Target], selected: &[Target]) -> Vec<Desired> {
    let mut serves: BTreeMap<(&str, String), BTreeSet<String>> = BTreeMap::new();
    for target in all {
        for role in desired_state(&target.manifest).state.roles.into_keys() {
            serves
                .entry((target.cluster.as_str(), role))
                .or_default()
                .insert(target.database.clone());
        }
    }
    let mut planned: BTreeSet<(&str, String)> = BTreeSet::new();
    selected
        .iter()
        .map(|target| {
            let mut desired = desired_state(&target.manifest);
            // The fleet's other roles on this cluster are planned by their own targets: never
            // departing here, so `--prune` leaves them (an observer that reads nothing left in
            // this database still serves another).
            for (cluster, role) in serves.keys() {
                if *cluster == target.cluster && !desired.state.roles.contains_key(role) {
                    desired.planned_elsewhere.insert(role.clone());
                }
            }
            for role in desired.state.roles.keys() {
                let key = (target.cluster.as_str(), role.clone());
                if !planned.insert(key.clone()) {
                    desired.planned_elsewhere.insert(role.clone());
                } else if let Some(databases) = serves.get(&key).filter(|d| d.len() > 1) {
                    desired.serves.insert(role.clone(), databases.clone());
                }
            }
            desired
        })
        .collect()
}

/// What of a target's live cluster a saved plan's fingerprint covers: the roles the target
/// plans and its own database. Other targets of the cluster change the rest (their roles,
/// their databases) when they land first in the same apply, which must not make this
/// target's saved plan stale.
pub fn own_state(state: &ClusterState, desired: &Desired) -> ClusterState {
    ClusterState {
        roles: state
            .roles
            .iter()
            .filter(|(name, _)| {
                desired.state.roles.contains_key(*name)
                    && !desired.planned_elsewhere.contains(*name)
            })
            .map(|(name, role)| (name.clone(), role.clone()))
            .collect(),
        databases: state
            .databases
            .iter()
            .filter(|(name, _)| **name == desired.database)
            .map(|(name, db)| (name.clone(), db.clone()))
            .collect(),
    }
}

/// The manifest restricted to the database `key`: the services and shared schemas placed
/// there, and each observer with the reads of schemas there (observers reading nothing there
/// are left out). The result is a v1 manifest of that one database on its cluster.
pub fn restrict(manifest: &Manifest, key: &str) -> Manifest {
    let database = manifest
        .database_by_key(key)
        .expect("restrict() is called with a declared database")
        .clone();
    let here = |schema: &str| manifest.database_of_schema(schema) == Some(key);
    let observers = manifest
        .observers
        .iter()
        .filter_map(|observer| {
            let reads: Vec<String> = observer
                .reads
                .iter()
                .filter(|schema| here(schema))
                .cloned()
                .collect();
            (!reads.is_empty()).then(|| crate::manifest::Observer {
                reads,
                ..observer.clone()
            })
        })
        .collect();
    Manifest {
        path: manifest.path.clone(),
        database: database.settings.clone(),
        services: manifest
            .services
            .iter()
            .filter(|s| s.database == key)
            .cloned()
            .collect(),
        shared: manifest
            .shared
            .iter()
            .filter(|s| s.database == key)
            .cloned()
            .collect(),
        observers,
        pooler: manifest.pooler.clone(),
        warnings: Vec::new(),
        fleet: false,
        clusters: manifest
            .clusters
            .iter()
            .filter(|c| c.name == database.cluster)
            .cloned()
            .collect(),
        databases: vec![database],
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const FLEET: &str = r#"version = 1
[clusters.main]
url_env = "MAIN_DATABASE_URL"
[clusters.billing]
url = "postgres://admin@db-billing.internal:5432"
[databases.app]
cluster = "main"
[databases.reports]
cluster = "main"
name = "reporting"
[databases.billing]
cluster = "billing"
[services.monolith]
database = "app"
roles.monolith_rw = { access = "readwrite" }
[services.analytics]
database = "reports"
[services.billing]
database = "billing"
[shared.reference]
database = "app"
[observers.warehouse]
reads = ["*"]
reason = "export"
[observers.auditor]
reads = ["billing"]
reason = "audit"
"#;

    fn fleet() -> Manifest {
        Manifest::parse(Path::new("services.toml"), FLEET).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn one_target_per_database_each_with_what_is_placed_there() {
        let targets = targets(&fleet());
        let labels: Vec<String> = targets.iter().map(Target::label).collect();
        assert_eq!(labels, ["main/app", "main/reporting", "billing/billing"]);
        let app = &targets[0].manifest;
        assert!(!app.fleet);
        assert_eq!(app.database.name, "app");
        let names = |m: &Manifest| {
            m.services
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(app), ["monolith"]);
        assert_eq!(app.shared[0].name, "reference");
        assert_eq!(app.observers.len(), 1, "auditor reads nothing in app");
        assert_eq!(app.observers[0].reads, ["monolith", "reference"]);
        let billing = &targets[2].manifest;
        assert_eq!(names(billing), ["billing"]);
        let observers: Vec<_> = billing.observers.iter().map(|o| &o.name).collect();
        assert_eq!(observers, ["warehouse", "auditor"]);
        assert_eq!(billing.observers[0].reads, ["billing"]);
        assert_eq!(
            targets[2].connection,
            ClusterConnection::Url("postgres://admin@db-billing.internal:5432".into())
        );
    }

    #[test]
    fn each_role_is_planned_once_per_cluster_and_marked_with_every_database_it_serves() {
        let all = targets(&fleet());
        let desired = desired_states(&all, &all);
        // warehouse reads main/app and main/reporting: main/app plans it, for both. The
        // cluster's roles of other databases are planned there (never pruned here).
        let elsewhere = |d: &Desired| d.planned_elsewhere.iter().cloned().collect::<Vec<_>>();
        assert_eq!(elsewhere(&desired[0]), ["analytics_owner"]);
        assert_eq!(
            desired[0].serves["warehouse"],
            BTreeSet::from(["app".to_string(), "reporting".to_string()])
        );
        assert_eq!(
            elsewhere(&desired[1]),
            [
                "monolith_owner",
                "monolith_rw",
                "reference_owner",
                "warehouse"
            ]
        );
        // Another cluster plans it again: roles are per cluster.
        assert!(desired[2].planned_elsewhere.is_empty());
        assert!(desired[2].state.roles.contains_key("warehouse"));
        assert!(
            !desired[2].serves.contains_key("warehouse"),
            "one database there"
        );
        // With main/app left out, main/reporting plans it, still for both databases.
        let picked = select(all.clone(), &["reports".into()]).unwrap();
        let desired = desired_states(&all, &picked);
        assert!(!desired[0].planned_elsewhere.contains("warehouse"));
        assert_eq!(desired[0].serves["warehouse"].len(), 2);
    }

    #[test]
    fn a_role_the_fleet_keeps_on_the_cluster_never_departs_from_a_database_it_left() {
        // warehouse reads nothing in reports any more, but still serves app on main.
        let text = FLEET.replace("reads = [\"*\"]", "reads = [\"monolith\"]");
        let manifest = Manifest::parse(Path::new("services.toml"), &text).unwrap();
        let all = targets(&manifest);
        assert!(
            !all[1]
                .manifest
                .observers
                .iter()
                .any(|o| o.name == "warehouse")
        );
        let desired = desired_states(&all, &all);
        assert!(desired[1].planned_elsewhere.contains("warehouse"));
        assert!(!desired[2].state.roles.contains_key("warehouse"));
    }

    #[test]
    fn a_v1_manifest_is_its_own_one_target() {
        let manifest = Manifest::parse(
            Path::new("services.toml"),
            "version = 1\n[database]\nname = \"app\"\n[services.a]\n",
        )
        .unwrap();
        let targets = targets(&manifest);
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].label(), "default/app");
        assert_eq!(targets[0].manifest, manifest);
    }

    #[test]
    fn targets_are_selected_by_key_name_or_label() {
        let all = targets(&fleet());
        let picked = select(all.clone(), &["reports".into(), "billing/billing".into()]).unwrap();
        let labels: Vec<String> = picked.iter().map(Target::label).collect();
        assert_eq!(labels, ["main/reporting", "billing/billing"]);
        let picked = select(all.clone(), &["reporting".into()]).unwrap();
        assert_eq!(picked.len(), 1);
        let error = select(all, &["nope".into()]).unwrap_err().to_string();
        assert_eq!(
            error,
            "unknown target `nope`; the manifest's targets are: main/app, main/reporting, billing/billing"
        );
    }
}
