//! `dbsplit lint`: the corpus under tests/lint (one SQL case per construct, each with its
//! expected findings in `-- expect:` lines), and the binary on a migrations tree: exit codes,
//! every output format, stale sums. Also `new` and `migrate hash`, which write what lint reads.

use std::path::{Path, PathBuf};

use dbsplit::finding::Location;
use dbsplit::lint::{Input, SqlFile, lint};
use dbsplit::manifest::Manifest;

use crate::support::{dbsplit, root, stderr, stdout};

/// Every `tests/lint/*.sql` is linted as a migration of `billing`; its `-- expect: <rule>
/// <line>:<column> [<target schema>]` lines list exactly the findings it must have (none when
/// there is no such line).
#[test]
fn corpus_cases_have_exactly_their_expected_findings() {
    let dir = root().join("tests").join("lint");
    let manifest = Manifest::load(&dir.join("services.toml")).expect("the corpus manifest loads");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).unwrap();
        let mut expected: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("-- expect: "))
            .map(str::to_string)
            .collect();
        let input = Input {
            files: vec![SqlFile {
                path: case.file_name().unwrap().into(),
                service: "billing".into(),
                text: text.clone(),
            }],
            sums: vec![],
        };
        let mut actual: Vec<String> = lint(&manifest, &input)
            .iter()
            .map(|f| {
                let Location::File { line, column, .. } = &f.location else {
                    panic!("lint findings are in files")
                };
                let target = f
                    .target_schema
                    .as_deref()
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default();
                format!("{} {line}:{column}{target}", f.rule)
            })
            .collect();
        expected.sort();
        actual.sort();
        if expected != actual {
            failures.push(format!(
                "{}:\n  expected: {expected:?}\n  actual:   {actual:?}\n{}",
                case.display(),
                actual
                    .iter()
                    .map(|a| format!("-- expect: {a}\n"))
                    .collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A project in a temp dir: the corpus manifest and a migrations tree with one clean file, one
/// with findings (an error and a warning), and one with only a warning.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::copy(
        root().join("tests/lint/services.toml"),
        dir.path().join("services.toml"),
    )
    .expect("the manifest is copied");
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("folders are made");
        std::fs::write(path, text).expect("the migration is written");
    };
    write(
        "migrations/billing/20250101000000_create_invoices.sql",
        "CREATE TABLE invoices (id bigint PRIMARY KEY, user_id bigint NOT NULL, currency text);\n",
    );
    write(
        "migrations/billing/20250102000000_link_users.sql",
        "ALTER TABLE invoices ADD FOREIGN KEY (user_id) REFERENCES monolith.users (id);\n\
         SELECT * FROM reference.currencies;\n\
         DO $$ BEGIN PERFORM 1; END $$;\n",
    );
    write(
        "migrations/monolith/20250101000000_create_users.sql",
        "DO $$ BEGIN CREATE TABLE users (id bigint PRIMARY KEY); END $$;\n",
    );
    let hash = run_in(dir.path(), &["migrate", "hash"]);
    assert_eq!(hash.status.code(), Some(0), "{}", stderr(&hash));
    dir
}

/// Runs dbsplit in `dir` with its services.toml.
fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["-m", "services.toml"];
    all.extend_from_slice(args);
    std::process::Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .args(&all)
        .current_dir(dir)
        .env_remove("DBSPLIT_MANIFEST")
        .env("NO_COLOR", "1")
        .output()
        .expect("the dbsplit binary runs")
}

#[test]
fn lint_json_lists_every_finding_with_its_location_and_exits_1() {
    let project = project();
    let output = run_in(project.path(), &["lint", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    for finding in json["findings"].as_array().expect("a findings array") {
        let mut keys: Vec<&str> = finding
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "column",
                "file",
                "line",
                "message",
                "rule",
                "schema",
                "severity",
                "target_schema"
            ]
        );
    }
    insta::assert_json_snapshot!(json);
}

#[test]
fn lint_renders_every_format() {
    let project = project();
    for format in ["human", "sarif", "github"] {
        let output = run_in(project.path(), &["lint", "--format", format]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let out = stdout(&output).replace(env!("CARGO_PKG_VERSION"), "[version]");
        insta::assert_snapshot!(format!("lint_{format}"), out);
    }
}

#[test]
fn fail_on_decides_whether_warnings_fail() {
    let project = project();
    let monolith = "migrations/monolith";
    let output = run_in(project.path(), &["lint", monolith]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("unparsed-statement"));
    let output = run_in(project.path(), &["lint", "--fail-on", "warning", monolith]);
    assert_eq!(output.status.code(), Some(1));
    let clean = "migrations/billing/20250101000000_create_invoices.sql";
    let output = run_in(project.path(), &["lint", "--fail-on", "warning", clean]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(stdout(&output), "No findings.\n");
}

#[test]
fn an_edited_or_unhashed_migration_makes_the_sum_stale() {
    let project = project();
    let dir = project.path().join("migrations/billing");
    std::fs::write(
        dir.join("20250101000000_create_invoices.sql"),
        "CREATE TABLE invoices (id bigint PRIMARY KEY);\n",
    )
    .unwrap();
    let clean = "migrations/billing/20250101000000_create_invoices.sql";
    let output = run_in(project.path(), &["lint", "--format", "github", clean]);
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!(stdout(&output), @"::warning file=migrations/billing/dbsplit.sum,line=2,col=1,title=stale-sum::`dbsplit.sum` does not match the migrations from this line on: a migration was edited, added or removed, or two branches added migrations; check the order, then run `dbsplit migrate hash billing`");

    std::fs::remove_file(dir.join("dbsplit.sum")).unwrap();
    let output = run_in(project.path(), &["lint", "--format", "github", clean]);
    insta::assert_snapshot!(stdout(&output), @"::warning file=migrations/billing/dbsplit.sum,line=1,col=1,title=stale-sum::`dbsplit.sum` is missing; run `dbsplit migrate hash billing`");

    let output = run_in(project.path(), &["migrate", "hash", "billing"]);
    assert_eq!(
        stdout(&output),
        "wrote migrations/billing/dbsplit.sum (2 migrations)\n"
    );
    let output = run_in(project.path(), &["lint", clean]);
    assert_eq!(stdout(&output), "No findings.\n");
}

#[test]
fn trouble_exits_2_with_one_sentence() {
    let project = project();
    std::fs::write(project.path().join("migrations/billing/V3__oops.sql"), "").unwrap();
    let output = run_in(project.path(), &["lint"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: migrations/billing/V3__oops.sql is not a migration file name: expected <14-digit version>_<slug>.sql with a slug of [a-z0-9_]+\n"
    );
    let output = run_in(project.path(), &["lint", "/etc/hostname"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("is not inside the migrations folder"));
    std::fs::create_dir(project.path().join("migrations/payments")).unwrap();
    std::fs::remove_file(project.path().join("migrations/billing/V3__oops.sql")).unwrap();
    let output = run_in(project.path(), &["lint"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("migrations/payments is not the migrations folder of a service")
    );
    let output = dbsplit(&["-m", "/nonexistent/services.toml", "lint"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn new_writes_strictly_increasing_versions_from_the_template_and_rehashes() {
    let project = project();
    let mut paths = Vec::new();
    for name in ["add_refunds", "add_credits", "add_taxes"] {
        let output = run_in(project.path(), &["new", "billing", name]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        paths.push(stdout(&output).trim().to_string());
    }
    let versions: Vec<u64> = paths
        .iter()
        .map(|p| {
            let name = Path::new(p).file_name().unwrap().to_str().unwrap();
            name[..14].parse().unwrap()
        })
        .collect();
    // Three files within (most likely) one second still get increasing versions.
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert!(versions[0] > 20250102000000);
    assert!(paths[0].starts_with("migrations/billing/") && paths[0].ends_with("_add_refunds.sql"));
    let text = std::fs::read_to_string(project.path().join(&paths[0])).unwrap();
    let text = text.replace(&versions[0].to_string(), "[version]");
    let created = text
        .lines()
        .nth(1)
        .unwrap()
        .rsplit(" at ")
        .next()
        .unwrap()
        .to_string();
    insta::assert_snapshot!(text.replace(&created, "[created_at]."), @r"
    -- billing: add_refunds
    -- Version [version], created by `dbsplit new` at [created_at].
    --
    -- This file runs as billing_owner with search_path = billing, in one transaction together
    -- with its row in billing.dbsplit_migrations. Write unqualified names: they land in schema
    -- billing. Another service's schema is out of reach: the database refuses it (SQLSTATE 42501)
    -- and `dbsplit lint` reports it before it gets there.
    --
    -- To run statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY, ...), make
    -- the first line of this file: -- dbsplit:no-transaction
    ");
    // The sum covers the new files: no stale-sum.
    let output = run_in(project.path(), &["lint", "migrations/billing/"]);
    assert!(
        !stdout(&output).contains("stale-sum"),
        "{}",
        stdout(&output)
    );
    let sum =
        std::fs::read_to_string(project.path().join("migrations/billing/dbsplit.sum")).unwrap();
    assert_eq!(sum.lines().count(), 6);
}

#[test]
fn new_refuses_unknown_services_and_bad_names() {
    let project = project();
    let output = run_in(project.path(), &["new", "payments", "init"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: unknown service `payments`; the manifest declares monolith, billing, notifications\n"
    );
    let output = run_in(project.path(), &["new", "billing", "Add-Refunds"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("`Add-Refunds` is not a migration name"));
    assert_eq!(
        std::fs::read_dir(project.path().join("migrations/billing"))
            .unwrap()
            .count(),
        3
    );
}

#[test]
fn migrate_lints_first_and_connects_to_nothing_when_lint_fails() {
    let project = project();
    let output = run_in(
        project.path(),
        &[
            "migrate",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/app",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("cross-schema-fk"),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("fix them, or pass --no-lint"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_statement_of_150000_terms_is_an_unparsed_statement_not_a_crash() {
    let project = project();
    let path = "migrations/billing/20250103000000_deep.sql";
    std::fs::write(
        project.path().join(path),
        format!(
            "select 1 from invoices where {};\nselect {};\n",
            vec!["id = 1"; 150_000].join(" or "),
            vec!["1"; 150_000].join(" + ")
        ),
    )
    .unwrap();
    let output = run_in(project.path(), &["lint", "--format", "github", path]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let unparsed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("title=unparsed-statement::") && l.contains("its operators nest"))
        .collect();
    assert_eq!(unparsed.len(), 2, "{text}");
}

#[test]
fn new_renders_the_project_template_next_to_the_manifest_when_there_is_one() {
    let project = project();
    let templates = project.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("migration.sql"),
        "-- {{service}}/{{name}} as {{owner}} in {{schema}}\n-- ticket: \n",
    )
    .unwrap();
    let output = run_in(project.path(), &["new", "billing", "add_refunds"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let path = stdout(&output).trim().to_string();
    assert_eq!(
        std::fs::read_to_string(project.path().join(path)).unwrap(),
        "-- billing/add_refunds as billing_owner in billing\n-- ticket: \n"
    );
}
