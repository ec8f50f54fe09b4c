//! The fleet: a manifest's services placed across databases and clusters, as targets.
//!
//! A target is one database on one cluster. Each carries the manifest restricted to it (its
//! services and shared schemas, the observers that read there, with only those reads), a v1
//! manifest that today's single-database pipeline (desired state, introspection, plan, apply,
//! audit) takes as it is. A v1 manifest is a fleet of one target: the manifest itself. What
//! spans targets (roles of one cluster planned once, clusters run concurrently, the report of
//! which targets landed) lives here too; nothing below knows about other targets.

pub mod connect;

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
