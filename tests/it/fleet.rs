//! Fleet manifests: services placed across databases and clusters, against two real servers.

use crate::support::{TempDir, dbsplit, stderr, stdout};

/// Writes `text` as services.toml in `dir` and returns its path as a string.
fn write_manifest(dir: &TempDir, text: &str) -> String {
    let path = dir.path().join("services.toml");
    std::fs::write(&path, text).expect("write the manifest");
    path.display().to_string()
}

#[test]
fn validate_summarises_a_fleet_and_single_database_commands_refuse_it() {
    let dir = TempDir::new("fleet-validate");
    let manifest = write_manifest(
        &dir,
        "version = 1\n[clusters.a]\nurl = \"postgres://admin@a\"\n[clusters.b]\nurl_env = \"B_URL\"\n[databases.app]\ncluster = \"a\"\n[databases.billing]\ncluster = \"b\"\n[services.monolith]\ndatabase = \"app\"\n[services.billing]\ndatabase = \"billing\"\n",
    );
    let output = dbsplit(&["-m", &manifest, "validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with(
            "is valid: 2 databases on 2 clusters, 2 services, 0 shared schemas, 0 observers, 2 roles\n"
        ),
        "{}",
        stdout(&output)
    );
    let output = dbsplit(&["-m", &manifest, "plan"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("this command works on one database"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_points_at_a_password_in_a_cluster_url() {
    let dir = TempDir::new("fleet-password");
    let manifest = write_manifest(
        &dir,
        "version = 1\n[clusters.a]\nurl = \"postgres://admin:hunter2@a\"\n[databases.app]\n[services.monolith]\n",
    );
    let output = dbsplit(&["-m", &manifest, "validate"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("services.toml:3:7: error: the url of cluster `a` contains a password"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "the password is masked: {text}");
}
