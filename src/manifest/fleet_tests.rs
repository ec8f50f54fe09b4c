//! Fleet manifests: clusters, databases, placement, and each fleet validation rule with its
//! line and column.

use std::path::Path;

use super::*;

fn errors(text: &str) -> String {
    match Manifest::parse(Path::new("services.toml"), text) {
        Ok(_) => panic!("expected errors, the manifest was accepted"),
        Err(errors) => errors.to_string(),
    }
}

fn ok(text: &str) -> Manifest {
    Manifest::parse(Path::new("services.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

const FLEET: &str = r#"version = 1
migrations_dir = "db/migrations"

[clusters.main]
url_env = "MAIN_DATABASE_URL"
[clusters.billing]
url = "postgres://admin@db-billing.internal:5432"

[databases.app]
cluster = "main"
public_schema = "unmanaged"
[databases.reports]
cluster = "main"
name = "reporting"
revoke_public_connect = false
[databases.billing]
cluster = "billing"

[services.monolith]
database = "app"
roles.monolith_rw = { access = "readwrite" }
reads = [{ schema = "reference", reason = "currency codes" }]
[services.analytics]
database = "reports"
roles.analytics_rw = { access = "readwrite" }
[services.billing]
database = "billing"
roles.billing_rw = { access = "readwrite" }

[shared.reference]
database = "app"

[observers.warehouse]
reads = ["*"]
reason = "nightly export"
"#;

#[test]
fn a_fleet_places_each_service_on_its_cluster_and_database() {
    let manifest = ok(FLEET);
    assert!(manifest.fleet);
    let clusters: Vec<_> = manifest.clusters.iter().map(|c| &c.name).collect();
    assert_eq!(clusters, ["main", "billing"]);
    assert_eq!(
        manifest.clusters[0].connection,
        ClusterConnection::UrlEnv("MAIN_DATABASE_URL".into())
    );
    let placed = |service: &str| {
        let p = manifest.placement(service).unwrap();
        (p.cluster.name.as_str(), p.database.settings.name.as_str())
    };
    assert_eq!(placed("monolith"), ("main", "app"));
    assert_eq!(placed("analytics"), ("main", "reporting"));
    assert_eq!(placed("billing"), ("billing", "billing"));
    let reference = manifest.shared_placement("reference").unwrap();
    assert_eq!(reference.database.key, "app");
    assert_eq!(manifest.database_of_schema("reference"), Some("app"));
    let reports = manifest.database_by_key("reports").unwrap();
    assert!(!reports.settings.revoke_public_connect);
    assert_eq!(
        manifest
            .database_by_key("app")
            .unwrap()
            .settings
            .public_schema,
        PublicSchema::Unmanaged
    );
    assert_eq!(manifest.migrations_dir(), Path::new("db/migrations"));
}

#[test]
fn a_v1_manifest_is_a_fleet_of_one() {
    let manifest = ok("version = 1\n[database]\nname = \"app\"\n[services.a]\n[shared.r]\n");
    assert!(!manifest.fleet);
    assert_eq!(manifest.clusters.len(), 1);
    assert_eq!(manifest.clusters[0].name, DEFAULT_CLUSTER);
    assert_eq!(manifest.clusters[0].connection, ClusterConnection::Args);
    let placement = manifest.placement("a").unwrap();
    assert_eq!(placement.database.settings, manifest.database);
    assert_eq!(manifest.shared_placement("r").unwrap().database.key, "app");
}

#[test]
fn databases_without_clusters_live_on_the_cluster_of_the_database_url() {
    let manifest = ok(
        "version = 1\n[databases.app]\n[databases.billing]\n[services.a]\ndatabase = \"app\"\n[services.b]\ndatabase = \"billing\"\n",
    );
    let placement = manifest.placement("b").unwrap();
    assert_eq!(placement.cluster.name, DEFAULT_CLUSTER);
    assert_eq!(placement.cluster.connection, ClusterConnection::Args);
    assert_eq!(placement.database.settings.name, "billing");
}

#[test]
fn unknown_clusters_and_databases_and_missing_placements() {
    insta::assert_snapshot!(errors(
        "version = 1\n[clusters.a]\nurl = \"postgres://x@a\"\n[clusters.b]\nurl = \"postgres://x@b\"\n[databases.app]\ncluster = \"c\"\n[databases.other]\n[databases.third]\ncluster = \"a\"\n[services.s]\ndatabase = \"nowhere\"\n[services.t]\n[shared.r]\ndatabase = \"gone\"\n"
    ));
}

#[test]
fn a_read_across_databases_is_refused() {
    insta::assert_snapshot!(errors(
        "version = 1\n[databases.app]\n[databases.billing]\n[services.billing]\ndatabase = \"billing\"\nreads = [{ schema = \"reference\", reason = \"codes\" }, { schema = \"monolith\", reason = \"orders\" }]\nsearch_path = [\"billing\", \"reference\"]\n[services.monolith]\ndatabase = \"app\"\n[shared.reference]\ndatabase = \"app\"\n[observers.bi]\nreads = [\"*\"]\nreason = \"an observer reads across databases\"\n"
    ));
}

#[test]
fn a_role_name_on_two_clusters_for_different_services_is_refused() {
    insta::assert_snapshot!(errors(
        "version = 1\n[clusters.a]\nurl_env = \"A_URL\"\n[clusters.b]\nurl_env = \"B_URL\"\n[databases.one]\ncluster = \"a\"\n[databases.two]\ncluster = \"b\"\n[services.x]\ndatabase = \"one\"\nroles.app_rw = { access = \"readwrite\" }\n[services.y]\ndatabase = \"two\"\nroles.app_rw = { access = \"readwrite\" }\n"
    ));
}

#[test]
fn passwords_in_urls_and_malformed_clusters_are_refused() {
    insta::assert_snapshot!(errors(
        "version = 1\n[clusters.a]\nurl = \"postgres://admin:secret@db:5432\"\n[clusters.b]\nurl = \"host=db password=secret\"\n[clusters.c]\nurl_env = \"not a name\"\n[clusters.d]\n[clusters.e]\nurl = \"postgres://x@e\"\nurl_env = \"E_URL\"\n[clusters.f]\npassword = \"secret\"\nurl = \"postgres://x@f\"\n[databases.app]\ncluster = \"a\"\n"
    ));
}

#[test]
fn the_v1_and_fleet_forms_do_not_mix() {
    insta::assert_snapshot!(errors(
        "version = 1\n[database]\nname = \"app\"\n[databases.app]\n[services.a]\n"
    ));
    insta::assert_snapshot!(errors(
        "version = 1\nmigrations_dir = \"m\"\n[database]\nname = \"app\"\n[services.a]\ndatabase = \"app\"\n"
    ));
    insta::assert_snapshot!(errors(
        "version = 1\n[clusters.a]\nurl_env = \"A_URL\"\n[services.a]\n"
    ));
}

#[test]
fn one_database_declared_twice_on_a_cluster_is_refused() {
    insta::assert_snapshot!(errors(
        "version = 1\n[databases.app]\n[databases.copy]\nname = \"app\"\n[services.a]\ndatabase = \"app\"\n"
    ));
}
