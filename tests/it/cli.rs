//! The CLI as users run it: exit codes and where messages go.

use std::process::Command;

use crate::support::{TempDir, dbsplit, fixture, root, stderr, stdout, with_closed_stdout};

#[test]
fn validate_accepts_the_example_and_exits_0() {
    let example = root().join("services.toml.example");
    let output = dbsplit(&["-m", example.to_str().unwrap(), "validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("3 services"));
}

#[test]
fn validate_reports_every_problem_with_its_location_and_exits_2() {
    let output = dbsplit(&["-m", fixture("invalid.toml").to_str().unwrap(), "validate"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&output).replace(&*root().to_string_lossy(), "<root>"));
}

#[test]
fn a_missing_manifest_is_one_clear_error() {
    let output = dbsplit(&["-m", "/nonexistent/services.toml", "validate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read manifest /nonexistent/services.toml"));
}

#[test]
fn plan_offline_json_lists_every_change_with_its_sql() {
    let example = root().join("services.toml.example");
    let output = dbsplit(&[
        "-m",
        example.to_str().unwrap(),
        "plan",
        "--offline",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let changes = json["changes"].as_array().expect("a changes array");
    assert!(!changes.is_empty());
    for change in changes {
        for field in ["kind", "object", "sql"] {
            assert!(change[field].is_string(), "{field} in {change}");
        }
        assert!(change["service"].is_string() || change["service"].is_null());
    }
    let create = changes
        .iter()
        .find(|c| c["kind"] == "create-role" && c["object"] == "role billing_rw")
        .expect("billing_rw is created");
    assert_eq!(create["service"], "billing");
    assert!(
        create["sql"]
            .as_str()
            .unwrap()
            .contains("$BILLING_DB_PASSWORD")
    );
}

#[test]
fn durations_and_conflicting_flags_are_usage_errors() {
    let example = root().join("services.toml.example");
    let example = example.to_str().unwrap();
    let bad = dbsplit(&["-m", example, "apply", "--lock-timeout", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("is not a duration"),
        "{}",
        stderr(&bad)
    );
    let conflict = dbsplit(&["-m", example, "plan", "--offline", "--exit-code"]);
    assert_eq!(conflict.status.code(), Some(2));
}

#[test]
fn lint_findings_exit_1_even_when_the_reader_of_stdout_is_gone() {
    let project = TempDir::new("lint-pipe");
    let migrations = project.path().join("migrations").join("billing");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::copy(
        root().join("services.toml.example"),
        project.path().join("services.toml"),
    )
    .unwrap();
    std::fs::write(
        migrations.join("20250101000000_read_customers.sql"),
        "SELECT * FROM monolith.customers;\n",
    )
    .unwrap();
    let lint = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dbsplit"));
        command
            .args(["-m", "services.toml", "lint"])
            .current_dir(project.path())
            .env_remove("DBSPLIT_MANIFEST")
            .env("NO_COLOR", "1");
        command
    };
    let output = lint().output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(with_closed_stdout(&mut lint()).code(), Some(1));
}

#[test]
fn demo_refuses_a_manifest_it_would_ignore() {
    for args in [
        &["-m", "mine.toml", "demo"][..],
        &["demo", "--manifest", "mine.toml"],
    ] {
        let output = dbsplit(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(
            stderr(&output),
            "error: demo runs the built-in example manifest (services.toml.example) on a throwaway server and takes no --manifest; to see your manifest's changes, run `dbsplit plan --offline -m mine.toml`\n"
        );
        assert!(stdout(&output).is_empty(), "no server was started");
    }
}

#[test]
fn the_connection_argument_never_shows_its_password_in_debug_output() {
    let args = dbsplit::cli::ConnectArgs {
        database_url: Some("postgres://u:url-hunter2@h/db".into()),
    };
    let text = format!("{args:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("ConnectArgs"), "{text}");
}
