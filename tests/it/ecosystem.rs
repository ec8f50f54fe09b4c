//! Fitting the ecosystem: shell completions, the man page, pre-commit hooks, markdown reports and
//! the GitHub Action's script, each run the way its host runs it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::pg::TestCluster;
use crate::support::{TempDir, dbsplit, fixture, root, stderr, stdout};

/// Whether `program` runs here.
fn installed(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

#[test]
fn bash_completion_parses_and_completes_every_command() {
    let output = dbsplit(&["completions", "bash"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let script = stdout(&output);
    for command in ["plan", "apply", "audit", "lint", "completions", "man"] {
        assert!(script.contains(command), "{command} is completed");
    }
    let dir = TempDir::new("bash-completion");
    let file = dir.path().join("dbsplit.bash");
    std::fs::write(&file, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(check.status.success(), "bash -n: {}", stderr(&check));
    // Sourcing it defines the completion function and registers it for dbsplit.
    let source = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p dbsplit", file.display()))
        .output()
        .unwrap();
    assert!(source.status.success(), "{}", stderr(&source));
    assert!(stdout(&source).contains("_dbsplit"), "{}", stdout(&source));
}

#[test]
fn every_shell_gets_a_completion_script() {
    for (shell, marker) in [
        ("zsh", "#compdef dbsplit"),
        ("fish", "complete -c dbsplit"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = dbsplit(&["completions", shell]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{shell}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).contains(marker), "{shell}");
    }
    let output = dbsplit(&["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
}

/// The zsh and fish scripts parse in their shells (`zsh -n`, `fish --no-execute`), as bash's
/// does in `bash -n`. Never skipped: .ci/run installs Debian's zsh and fish.
#[test]
fn zsh_and_fish_completions_parse() {
    let dir = TempDir::new("completions-parse");
    for (shell, check) in [("zsh", &["-n"][..]), ("fish", &["--no-execute"][..])] {
        assert!(
            installed(shell),
            "{shell} is needed to parse its completion script: apt-get install {shell}"
        );
        let output = dbsplit(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let file = dir.path().join(format!("dbsplit.{shell}"));
        std::fs::write(&file, stdout(&output)).unwrap();
        let parsed = Command::new(shell).args(check).arg(&file).output().unwrap();
        assert!(
            parsed.status.success() && parsed.stderr.is_empty(),
            "{shell}: {}",
            stderr(&parsed)
        );
    }
    // A broken script fails the same check: it can fail.
    let broken = dir.path().join("broken.zsh");
    std::fs::write(&broken, "_dbsplit() {\n  case $x in\n").unwrap();
    let parsed = Command::new("zsh").arg("-n").arg(&broken).output().unwrap();
    assert!(!parsed.status.success());
}

#[test]
fn the_man_page_is_roff_that_man_renders() {
    let output = dbsplit(&["man"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let roff = stdout(&output);
    // The structure of a section-1 page, checked with or without `man`.
    assert!(roff.starts_with(".ie \\n(.g"), "roff preamble: {roff}");
    let headers: Vec<&str> = roff
        .lines()
        .filter(|l| l.starts_with(".TH ") || l.starts_with(".SH "))
        .collect();
    assert_eq!(
        headers,
        [
            ".TH dbsplit 1  \"dbsplit 0.1.0\" ",
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH DESCRIPTION",
            ".SH OPTIONS",
            ".SH SUBCOMMANDS",
            ".SH EXAMPLES",
            ".SH VERSION",
        ]
    );
    for command in ["dbsplit\\-plan", "dbsplit\\-audit", "dbsplit\\-completions"] {
        assert!(roff.contains(command), "{command} in the man page");
    }
    // Never skipped: .ci/run installs Debian's man-db (a fresh Debian has no `man`).
    assert!(
        installed("man"),
        "`man` is needed to render the page: apt-get install man-db"
    );
    let dir = TempDir::new("man");
    let page = dir.path().join("dbsplit.1");
    std::fs::write(&page, &roff).unwrap();
    let rendered = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    assert_eq!(stderr(&rendered), "", "groff warnings");
    let text = stdout(&rendered);
    assert!(text.contains("NAME"), "{text}");
    assert!(text.contains("one schema per service"), "{text}");
    assert!(text.contains("--manifest"), "{text}");
    // The examples keep their lines.
    assert!(
        text.contains("\n         dbsplit plan --exit-code --format markdown\n"),
        "{text}"
    );
}

/// A lint-only project in a temp dir: the lint corpus manifest, a clean migration of `billing`
/// and, when `coupled`, one with a foreign key into `monolith`; dbsplit.sum up to date.
fn project(coupled: bool) -> TempDir {
    let dir = TempDir::new("eco-project");
    std::fs::copy(
        root().join("tests/lint/services.toml"),
        dir.path().join("services.toml"),
    )
    .expect("the manifest is copied");
    let mut files = vec![(
        "migrations/billing/20250101000000_create_invoices.sql",
        "CREATE TABLE invoices (id bigint PRIMARY KEY, user_id bigint NOT NULL);\n",
    )];
    if coupled {
        files.push((
            "migrations/billing/20250102000000_link_users.sql",
            "ALTER TABLE invoices ADD FOREIGN KEY (user_id) REFERENCES monolith.users (id);\n",
        ));
    }
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("folders are made");
        std::fs::write(path, text).expect("the migration is written");
    }
    let hash = in_dir(dir.path(), &["migrate", "hash"]);
    assert_eq!(hash.status.code(), Some(0), "{}", stderr(&hash));
    dir
}

/// Runs dbsplit in `dir`, where its services.toml is.
fn in_dir(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .args(args)
        .current_dir(dir)
        .env_remove("DBSPLIT_MANIFEST")
        .env("NO_COLOR", "1")
        .output()
        .expect("the dbsplit binary runs")
}

/// The hooks of .pre-commit-hooks.yaml, each as its `key: value` pairs (the file is a flat list).
fn hooks() -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml"))
        .expect(".pre-commit-hooks.yaml is read");
    let mut hooks: Vec<BTreeMap<String, String>> = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let (started, pair) = match line.strip_prefix("- ") {
            Some(rest) => (true, rest),
            None if line.starts_with("  ") => (false, line.trim()),
            None => continue,
        };
        let Some((key, value)) = pair.split_once(": ") else {
            continue;
        };
        if started {
            hooks.push(BTreeMap::new());
        }
        hooks
            .last_mut()
            .expect("a hook starts with `- `")
            .insert(key.to_string(), value.to_string());
    }
    hooks
}

/// Runs `hook` as pre-commit does in `project` with `staged` changed: skipped (None) when no
/// staged file matches its `files` pattern, else its entry with the matching files when
/// `pass_filenames`. The pattern is matched by `grep -E`, the same ERE as Python's re here.
fn run_hook(hook: &BTreeMap<String, String>, project: &Path, staged: &[&str]) -> Option<Output> {
    let mut grep = Command::new("grep")
        .args(["-E", &hook["files"]])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("grep runs");
    let mut input = staged.join("\n");
    input.push('\n');
    std::io::Write::write_all(&mut grep.stdin.take().expect("a stdin"), input.as_bytes())
        .expect("grep reads the files");
    let matched =
        String::from_utf8_lossy(&grep.wait_with_output().expect("grep ends").stdout).into_owned();
    let matched: Vec<&str> = matched.lines().collect();
    if matched.is_empty() {
        return None;
    }
    let mut entry = hook["entry"].split_whitespace();
    assert_eq!(entry.next(), Some("dbsplit"), "the entry runs dbsplit");
    let mut args: Vec<&str> = entry.collect();
    if hook.get("pass_filenames").map(String::as_str) != Some("false") {
        args.extend(&matched);
    }
    Some(in_dir(project, &args))
}

#[test]
fn pre_commit_hooks_lint_staged_migrations_and_validate_the_manifest() {
    let hooks = hooks();
    let ids: Vec<&str> = hooks.iter().map(|h| h["id"].as_str()).collect();
    assert_eq!(ids, ["dbsplit-lint", "dbsplit-validate"]);
    for hook in &hooks {
        for key in ["name", "entry", "language", "files"] {
            assert!(hook.contains_key(key), "{key} in {hook:?}");
        }
        // pre-commit builds the hook from this repository's Cargo.toml.
        assert_eq!(hook["language"], "rust");
    }
    let (lint, validate) = (&hooks[0], &hooks[1]);

    let clean = project(false);
    let first = "migrations/billing/20250101000000_create_invoices.sql";
    let output = run_hook(lint, clean.path(), &[first, "README.md"]).expect("lint runs");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(run_hook(lint, clean.path(), &["README.md", "services.toml"]).is_none());

    let coupled = project(true);
    let second = "migrations/billing/20250102000000_link_users.sql";
    let output = run_hook(lint, coupled.path(), &[first, second]).expect("lint runs");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("cross-schema-fk"),
        "{}",
        stdout(&output)
    );
    // Only the staged files are linted: the clean one alone passes.
    let output = run_hook(lint, coupled.path(), &[first]).expect("lint runs");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    assert!(run_hook(validate, clean.path(), &[first]).is_none());
    let output = run_hook(validate, clean.path(), &["services.toml"]).expect("validate runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    std::fs::write(
        clean.path().join("services.toml"),
        "version = 1\n[database]\nname = \"app\"\nbogus = 1\n",
    )
    .unwrap();
    let output = run_hook(validate, clean.path(), &["services.toml"]).expect("validate runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("services.toml:4:1"),
        "{}",
        stderr(&output)
    );
}

/// Two services, one password from the environment.
const TWO_SERVICES: &str = r#"version = 1

[database]
name = "app"

[services.billing]
roles.billing_rw = { access = "readwrite", password_env = "BILLING_DB_PASSWORD" }

[services.notifications]
roles.notifications_rw = { access = "readwrite" }
"#;

/// `manifest` with `team` and `contact` on its billing service.
fn with_billing_team(manifest: &str) -> String {
    manifest.replacen(
        "[services.billing]\n",
        "[services.billing]\nteam = \"@acme/billing\"\ncontact = \"#billing-oncall\"\n",
        1,
    )
}

/// A secret the markdown must never show.
const SECRET: &str = "s3cret-Pa55word";

/// Runs dbsplit in `dir` against `cluster`'s database app as postgres.
fn against(cluster: &TestCluster, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .args(args)
        .current_dir(dir)
        .env_remove("DBSPLIT_MANIFEST")
        .env("NO_COLOR", "1")
        .env("BILLING_DB_PASSWORD", SECRET)
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("postgres", "app"),
        )
        .output()
        .expect("the dbsplit binary runs")
}

#[test]
fn plan_and_audit_render_markdown_for_pull_requests_without_secrets() {
    let cluster = TestCluster::start("app");
    let dir = TempDir::new("markdown");
    std::fs::write(dir.path().join("services.toml"), TWO_SERVICES).unwrap();

    let offline = against(
        &cluster,
        dir.path(),
        &["plan", "--offline", "--format", "markdown"],
    );
    assert_eq!(offline.status.code(), Some(0), "{}", stderr(&offline));
    let live = against(
        &cluster,
        dir.path(),
        &["plan", "--format", "markdown", "--exit-code"],
    );
    assert_eq!(live.status.code(), Some(1), "{}", stderr(&live));
    for output in [&offline, &live] {
        let text = stdout(output);
        assert!(
            text.starts_with("### dbsplit plan: database `app`\n"),
            "{text}"
        );
        assert!(text.contains("#### service billing: "), "{text}");
        assert!(text.contains("#### service notifications: "), "{text}");
        assert!(text.contains("| | kind | object | change |"), "{text}");
        assert!(
            text.contains("password from \\$BILLING\\_DB\\_PASSWORD"),
            "{text}"
        );
        assert!(!text.contains(SECRET), "no password in markdown: {text}");
        assert!(!stderr(output).contains(SECRET));
    }

    let apply = against(&cluster, dir.path(), &["apply", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    let clean = against(&cluster, dir.path(), &["audit", "--format", "markdown"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    assert_eq!(stdout(&clean), "No findings.\n");

    cluster.psql_ok(
        "app",
        "CREATE TABLE notifications.outbox (id int); \
         GRANT USAGE ON SCHEMA notifications TO billing_rw; \
         GRANT SELECT ON notifications.outbox TO billing_rw;",
    );
    let audit = against(&cluster, dir.path(), &["audit", "--format", "markdown"]);
    assert_eq!(audit.status.code(), Some(1), "{}", stderr(&audit));
    let text = stdout(&audit);
    assert!(
        text.starts_with("| | rule | location | schema | role | message |\n|---|"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l
            .starts_with("| error | `cross-schema-grant` | notifications.outbox |")
            && l.contains("billing\\_rw")),
        "{text}"
    );
    assert!(text.contains("error"), "{text}");
    let drift = against(&cluster, dir.path(), &["plan", "--format", "markdown"]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
    assert!(
        stdout(&drift).contains("| `-` | revoke |"),
        "{}",
        stdout(&drift)
    );
}

/// What a run of action/run.sh left: its output, the job summary, the step outputs.
struct ActionRun {
    output: Output,
    summary: String,
    outputs: String,
}

/// Runs the GitHub Action's run step in `project` as a runner does: GITHUB_STEP_SUMMARY and
/// GITHUB_OUTPUT are files, RUNNER_TEMP a folder, the inputs INPUT_* variables, and the built
/// binary is on PATH instead of being installed.
fn run_action(project: &Path, inputs: &[(&str, &str)]) -> ActionRun {
    let runner = TempDir::new("runner");
    let summary = runner.path().join("step_summary.md");
    let outputs = runner.path().join("output");
    std::fs::write(&summary, "").expect("the summary file is made");
    std::fs::write(&outputs, "").expect("the output file is made");
    let temp = runner.path().join("temp");
    std::fs::create_dir(&temp).expect("RUNNER_TEMP is made");
    let bin = Path::new(env!("CARGO_BIN_EXE_dbsplit"))
        .parent()
        .expect("the binary's folder");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The step's `run:` line, run as a composite step's `shell: bash` runs it.
    let action = std::fs::read_to_string(root().join("action.yml")).expect("action.yml is read");
    let run = action
        .lines()
        .skip_while(|l| !l.contains("id: run"))
        .find_map(|l| l.trim().strip_prefix("run: "))
        .expect("the run step has a run line");
    let mut command = Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
        .arg(run.trim_matches('\''))
        .env("GITHUB_ACTION_PATH", root())
        .current_dir(project)
        .env_remove("DBSPLIT_MANIFEST")
        .env_remove("DATABASE_URL")
        .env("PATH", path)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("RUNNER_TEMP", &temp);
    for (name, value) in inputs {
        command.env(
            format!("INPUT_{}", name.to_uppercase().replace('-', "_")),
            value,
        );
    }
    let output = command.output().expect("bash runs the script");
    // The script cleans up after itself.
    assert_eq!(
        std::fs::read_dir(&temp)
            .expect("RUNNER_TEMP is read")
            .count(),
        0,
        "RUNNER_TEMP is left clean"
    );
    ActionRun {
        output,
        summary: std::fs::read_to_string(&summary).expect("the summary is read"),
        outputs: std::fs::read_to_string(&outputs).expect("the outputs are read"),
    }
}

#[test]
fn the_action_lints_with_annotations_and_a_job_summary() {
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    assert!(action.contains("using: composite"));
    for input in ["command", "manifest", "database-url", "fail-on", "args"] {
        assert!(action.contains(&format!("\n  {input}:\n")), "input {input}");
        let variable = format!(
            "INPUT_{}: ${{{{ inputs.{input} }}}}",
            input.to_uppercase().replace('-', "_")
        );
        assert!(action.contains(&variable), "{variable}");
    }
    assert!(action.contains("$GITHUB_ACTION_PATH/action/run.sh"));
    assert!(action.contains("$GITHUB_ACTION_PATH/action/install.sh"));

    // Coupled migrations: an annotation on the file's line, the table in the summary, exit 1.
    let coupled = project(true);
    let run = run_action(coupled.path(), &[]);
    assert_eq!(run.output.status.code(), Some(1), "{}", stderr(&run.output));
    let log = stdout(&run.output);
    assert!(
        log.contains("::error file=migrations/billing/20250102000000_link_users.sql,line=1,col="),
        "{log}"
    );
    assert!(log.contains("title=cross-schema-fk::"), "{log}");
    assert!(
        run.summary.starts_with("### dbsplit lint\n\n| | rule |"),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains("| error | `cross-schema-fk` |"),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains("1 error, 0 warnings"),
        "{}",
        run.summary
    );
    assert_eq!(run.outputs, "lint=1\nexit-code=1\n");

    // Clean migrations: no annotation, "No findings." in the summary, exit 0.
    let clean = project(false);
    let run = run_action(
        clean.path(),
        &[("command", "check"), ("fail-on", "warning")],
    );
    assert_eq!(run.output.status.code(), Some(0), "{}", stderr(&run.output));
    assert!(
        !stdout(&run.output).contains("::error"),
        "{}",
        stdout(&run.output)
    );
    assert_eq!(run.summary, "### dbsplit lint\n\nNo findings.\n\n");
    assert_eq!(run.outputs, "lint=0\nexit-code=0\n");

    // A manifest elsewhere, through the input.
    let nested = TempDir::new("nested");
    let moved = nested.path().join("db");
    std::fs::rename(clean.path(), &moved)
        .unwrap_or_else(|_| panic!("move {} to {}", clean.path().display(), moved.display()));
    let run = run_action(
        nested.path(),
        &[("manifest", "db/services.toml"), ("command", "validate")],
    );
    assert_eq!(run.output.status.code(), Some(0), "{}", stderr(&run.output));
    assert_eq!(run.outputs, "validate=0\nexit-code=0\n");

    // Trouble: the messages in the summary and an annotation, exit 2.
    std::fs::write(moved.join("services.toml"), "version = 1\nbogus = 1\n").unwrap();
    let run = run_action(nested.path(), &[("manifest", "db/services.toml")]);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(
        run.summary
            .starts_with("### dbsplit lint: failed (exit 2)\n"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains("db/services.toml"), "{}", run.summary);
    assert!(
        stdout(&run.output).contains("::error title=dbsplit lint::"),
        "{}",
        stdout(&run.output)
    );
    assert_eq!(run.outputs, "lint=2\nexit-code=2\n");

    // Inputs it cannot use.
    let run = run_action(coupled.path(), &[("command", "plan")]);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(stdout(&run.output).contains("plan needs the database-url input"));
    let run = run_action(coupled.path(), &[("fail-on", "never")]);
    assert_eq!(run.output.status.code(), Some(2));
}

#[test]
fn the_action_plans_and_audits_when_given_a_database_url() {
    let cluster = TestCluster::start("app");
    let dir = TempDir::new("action-live");
    std::fs::write(
        dir.path().join("services.toml"),
        with_billing_team(TWO_SERVICES),
    )
    .unwrap();
    let url = cluster.server.connection_string("postgres", "app");

    // An empty cluster: changes pending, so the step fails; the plan is in the summary, and
    // each change is a notice naming its service's team.
    let run = run_action(dir.path(), &[("database-url", &url)]);
    assert_eq!(run.output.status.code(), Some(1), "{}", stderr(&run.output));
    assert!(stdout(&run.output).contains(&format!("::add-mask::{url}")));
    assert!(stdout(&run.output).contains("::error title=dbsplit plan::"));
    assert!(
        stdout(&run.output).contains(
            "::notice title=dbsplit plan%3A service billing::+ create-schema schema billing: \
             create, owned by billing_owner (team @acme/billing, contact #billing-oncall)\n"
        ),
        "{}",
        stdout(&run.output)
    );
    assert!(
        stdout(&run.output).contains(
            "::notice title=dbsplit plan%3A service notifications::+ create-schema schema \
             notifications: create, owned by notifications_owner\n"
        ),
        "{}",
        stdout(&run.output)
    );
    assert!(
        run.summary.contains(
            "#### service billing: 13 changes (team `@acme/billing`, contact \\#billing-oncall)"
        ),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains("### dbsplit lint\n\nNo findings."),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains("### dbsplit plan: database `app`"),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains("#### service billing: "),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains("### dbsplit audit\n"),
        "{}",
        run.summary
    );
    assert!(!run.summary.contains(&url), "no URL in the summary");
    assert!(
        run.outputs.starts_with("lint=0\nplan=1\naudit="),
        "{}",
        run.outputs
    );
    assert!(run.outputs.ends_with("exit-code=1\n"), "{}", run.outputs);

    // Applied: in sync and clean.
    let apply = against(&cluster, dir.path(), &["apply", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    let run = run_action(dir.path(), &[("database-url", &url)]);
    assert_eq!(
        run.output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&run.output),
        run.summary
    );
    assert!(
        run.summary
            .contains("No changes: the cluster matches the manifest.")
    );
    assert_eq!(run.outputs, "lint=0\nplan=0\naudit=0\nexit-code=0\n");

    // A cross-service grant: the audit command alone finds it.
    cluster.psql_ok(
        "app",
        "CREATE TABLE notifications.outbox (id int); \
         GRANT USAGE ON SCHEMA notifications TO billing_rw; \
         GRANT SELECT ON notifications.outbox TO billing_rw;",
    );
    let run = run_action(dir.path(), &[("database-url", &url), ("command", "audit")]);
    assert_eq!(run.output.status.code(), Some(1), "{}", stderr(&run.output));
    assert!(
        stdout(&run.output).contains("title=cross-schema-grant::"),
        "{}",
        stdout(&run.output)
    );
    assert!(
        run.summary.contains("| error | `cross-schema-grant` |"),
        "{}",
        run.summary
    );
    assert_eq!(run.outputs, "audit=1\nexit-code=1\n");
}

#[test]
fn the_installer_keeps_a_dbsplit_already_on_path() {
    let runner = TempDir::new("install");
    let github_path = runner.path().join("path");
    let bin = Path::new(env!("CARGO_BIN_EXE_dbsplit")).parent().unwrap();
    let output = Command::new("bash")
        .arg(root().join("action/install.sh"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("GITHUB_PATH", &github_path)
        .env("RUNNER_TEMP", runner.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("dbsplit is installed: dbsplit 0.1.0"),
        "{}",
        stdout(&output)
    );
    assert!(!github_path.exists(), "nothing added to PATH");
}

#[test]
fn codeowners_gives_each_migrations_folder_to_its_team() {
    let dir = TempDir::new("codeowners");
    std::fs::create_dir(dir.path().join("db")).unwrap();
    let manifest = dir.path().join("db/services.toml");
    std::fs::write(
        &manifest,
        "version = 1\n[database]\nname = \"app\"\n\
         [services.billing]\nteam = \"@acme/billing\"\ncontact = \"#billing-oncall\"\n\
         [services.notifications]\nteam = \"@acme/platform\"\n\
         [services.monolith]\n",
    )
    .unwrap();
    let expected = "/db/services.toml @acme/billing @acme/platform\n\
                    /db/migrations/billing/ @acme/billing\n\
                    /db/migrations/notifications/ @acme/platform\n\
                    # /db/migrations/monolith/: service monolith has no team\n";
    for path in ["db/services.toml", manifest.to_str().unwrap()] {
        let output = in_dir(dir.path(), &["-m", path, "codeowners"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let text = stdout(&output);
        assert!(
            text.starts_with("# Written by `dbsplit codeowners`"),
            "{text}"
        );
        let lines: String = text.lines().skip(2).map(|l| format!("{l}\n")).collect();
        assert_eq!(lines, expected);
    }

    // Run from elsewhere than the repository root: refused rather than wrong paths.
    let output = in_dir(
        &dir.path().join("db"),
        &["-m", "../db/services.toml", "codeowners"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("run dbsplit codeowners from the repository root"));

    // No team anywhere: nothing to write.
    std::fs::write(
        &manifest,
        "version = 1\n[database]\nname = \"app\"\n[services.a]\n",
    )
    .unwrap();
    let output = in_dir(dir.path(), &["-m", "db/services.toml", "codeowners"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no service in db/services.toml names its team"));

    // A team that is no CODEOWNERS owner: the manifest's error, with its location.
    std::fs::write(
        &manifest,
        "version = 1\n[database]\nname = \"app\"\n[services.a]\nteam = \"billing team\"\n",
    )
    .unwrap();
    let output = in_dir(dir.path(), &["-m", "db/services.toml", "validate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("db/services.toml:5:8: error: team `billing team` is not a GitHub team"),
        "{}",
        stderr(&output)
    );
}

/// `dbsplit schema`, parsed.
fn printed_schema() -> serde_json::Value {
    let output = dbsplit(&["schema"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("dbsplit schema prints JSON")
}

/// A TOML file as the JSON instance a schema validator (and taplo) checks.
fn toml_as_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the file is readable");
    let value: toml::Value = toml::from_str(&text).expect("the file is TOML");
    serde_json::to_value(value).expect("TOML without dates is JSON")
}

/// Every key path the schema declares, as `services.*.roles.*.access`.
fn schema_paths(schema: &serde_json::Value) -> Vec<String> {
    fn walk(root: &serde_json::Value, node: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        let node = match node
            .get("$ref")
            .or_else(|| node.get("allOf").and_then(|all| all.get(0)?.get("$ref")))
        {
            Some(reference) => {
                let name = reference
                    .as_str()
                    .expect("a $ref is a string")
                    .trim_start_matches("#/definitions/");
                &root["definitions"][name]
            }
            None => node,
        };
        if let Some(properties) = node.get("properties").and_then(|p| p.as_object()) {
            for (key, value) in properties {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                out.push(path.clone());
                walk(root, value, &path, out);
            }
        }
        if let Some(named) = node.get("additionalProperties").filter(|a| a.is_object()) {
            walk(root, named, &format!("{at}.*"), out);
        }
        if let Some(items) = node.get("items") {
            walk(root, items, &format!("{at}[]"), out);
        }
    }
    let mut out = Vec::new();
    walk(schema, schema, "", &mut out);
    out
}

/// Whether a TOML document has a value at `path` (`*` any key, `[]` any array item).
fn has_path(value: &serde_json::Value, path: &str) -> bool {
    let Some((head, rest)) = split_path(path) else {
        return true;
    };
    let children: Vec<&serde_json::Value> = match head {
        "*" => value
            .as_object()
            .map(|o| o.values().collect())
            .unwrap_or_default(),
        "[]" => value
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        key => value.get(key).into_iter().collect(),
    };
    children.into_iter().any(|child| has_path(child, rest))
}

fn split_path(path: &str) -> Option<(&str, &str)> {
    if path.is_empty() {
        return None;
    }
    if let Some(rest) = path.strip_prefix("[]") {
        return Some(("[]", rest.trim_start_matches('.')));
    }
    let end = path.find(['.', '[']).unwrap_or(path.len());
    Some((&path[..end], path[end..].trim_start_matches('.')))
}

#[test]
fn the_schema_validates_the_example_and_the_tricky_fixtures() {
    let schema = printed_schema();
    let validator = jsonschema::validator_for(&schema).expect("a valid draft-07 schema");
    for path in [
        root().join("services.toml.example"),
        fixture("tricky.toml"),
        fixture("migrate.toml"),
        fixture("full.toml"),
        fixture("full-fleet.toml"),
    ] {
        let instance = toml_as_json(&path);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        let validated = dbsplit(&["validate", "-m", path.to_str().unwrap()]);
        assert_eq!(
            validated.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            stderr(&validated)
        );
    }
    // What the validator refuses for its shape, the schema refuses too.
    let dir = TempDir::new("schema-refuses");
    for (name, text) in [
        (
            "typo",
            "version = 1\n[database]\nname = \"app\"\n[services.a]\nroles.a_rw = { acess = \"readwrite\" }\n",
        ),
        (
            "access",
            "version = 1\n[database]\nname = \"app\"\n[services.a]\nroles.a_rw = { access = \"write\" }\n",
        ),
        (
            "password",
            "version = 1\n[database]\nname = \"app\"\n[services.a]\nroles.a_rw = { access = \"readwrite\", password = \"x\" }\n",
        ),
        ("version", "version = 2\n[database]\nname = \"app\"\n"),
    ] {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        assert!(!validator.is_valid(&toml_as_json(&path)), "{name}");
        let validated = dbsplit(&["validate", "-m", path.to_str().unwrap()]);
        assert_eq!(validated.status.code(), Some(2), "{name}");
    }
}

#[test]
fn every_key_of_the_schema_is_in_the_full_fixtures_which_the_validator_accepts() {
    // The reader's key lists are the schema's properties (src/schema's unit tests hold that);
    // here each of them is used in a manifest the validator accepts, so none is invented.
    let paths = schema_paths(&printed_schema());
    assert!(paths.len() > 35, "{paths:?}");
    // A v1 manifest cannot hold the fleet's keys: full-fleet.toml holds those.
    let full = toml_as_json(&fixture("full.toml"));
    let fleet = toml_as_json(&fixture("full-fleet.toml"));
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| !has_path(&full, p) && !has_path(&fleet, p))
        .collect();
    assert!(
        missing.is_empty(),
        "not in tests/fixtures/full.toml or full-fleet.toml: {missing:?}"
    );
}

#[test]
fn the_example_and_init_point_at_the_schema_file_which_is_current() {
    let printed = stdout(&dbsplit(&["schema"]));
    let committed = std::fs::read_to_string(root().join("services.schema.json")).unwrap();
    assert!(
        committed == printed,
        "services.schema.json is stale: run `cargo run -- schema > services.schema.json`"
    );
    let example = std::fs::read_to_string(root().join("services.toml.example")).unwrap();
    assert_eq!(
        example.lines().next(),
        Some("#:schema ./services.schema.json")
    );

    let dir = TempDir::new("init-schema");
    let output = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .args(["init", "--service", "billing", "--yes"])
        .current_dir(dir.path())
        .env_remove("DBSPLIT_MANIFEST")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let manifest = std::fs::read_to_string(dir.path().join("services.toml")).unwrap();
    assert_eq!(
        manifest.lines().next(),
        Some("#:schema ./services.schema.json")
    );
    let written = std::fs::read_to_string(dir.path().join("services.schema.json")).unwrap();
    assert_eq!(written, printed);
    let validator = jsonschema::validator_for(&serde_json::from_str(&written).unwrap()).unwrap();
    assert!(validator.is_valid(&toml_as_json(&dir.path().join("services.toml"))));
}

/// Runs dbsplit in `dir` against `cluster` on a pseudo-terminal (`script`), as a person at a
/// terminal would: stdin, stdout and stderr are the terminal. Returns what the terminal showed.
fn on_terminal(cluster: &TestCluster, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let command = std::iter::once(env!("CARGO_BIN_EXE_dbsplit"))
        .chain(args.iter().copied())
        .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir)
        .env_remove("DBSPLIT_MANIFEST")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("BILLING_DB_PASSWORD", SECRET)
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("postgres", "app"),
        )
        .output()
        .expect("script (util-linux) runs");
    (output.status.code(), stdout(&output))
}

/// A project of TWO_SERVICES with a first migration for billing.
fn migrating_project(cluster: &TestCluster, name: &str) -> TempDir {
    let dir = TempDir::new(name);
    std::fs::write(dir.path().join("services.toml"), TWO_SERVICES).expect("a writable temp dir");
    let new = against(cluster, dir.path(), &["new", "billing", "create_invoices"]);
    assert_eq!(new.status.code(), Some(0), "{}", stderr(&new));
    let file = stdout(&new).trim().to_string();
    std::fs::write(
        dir.path().join(&file),
        "CREATE TABLE invoices (id bigint PRIMARY KEY);\n",
    )
    .expect("a writable temp dir");
    let hash = against(cluster, dir.path(), &["migrate", "hash"]);
    assert_eq!(hash.status.code(), Some(0), "{}", stderr(&hash));
    dir
}

#[test]
fn progress_shows_on_a_terminal_and_never_in_a_pipe() {
    if !installed("script") {
        panic!("script (util-linux) is needed to run dbsplit on a pseudo-terminal");
    }
    // On a terminal: a bar while apply runs its changes and migrate its services, a spinner
    // while audit reads the catalogs; the summary lines as everywhere.
    let cluster = TestCluster::start("app");
    let dir = migrating_project(&cluster, "progress-tty");
    let (code, screen) = on_terminal(&cluster, dir.path(), &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("applying changes ["), "{screen}");
    assert!(screen.contains("Applied "), "{screen}");
    let (code, screen) = on_terminal(&cluster, dir.path(), &["migrate", "--trust-migrations"]);
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("migrating services ["), "{screen}");
    assert!(screen.contains("billing: 1 migration applied"), "{screen}");
    let (code, screen) = on_terminal(&cluster, dir.path(), &["audit"]);
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("reading the catalogs"), "{screen}");
    assert!(
        screen.contains("0 errors, 0 warnings") || screen.contains("No findings."),
        "{screen}"
    );
    // --quiet: results only, no progress on a terminal either.
    let (code, screen) = on_terminal(&cluster, dir.path(), &["--quiet", "audit"]);
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("No findings."), "{screen}");
    assert!(!screen.contains("reading the catalogs"), "{screen}");

    // In pipes (CI logs): the same work, the same summaries, no progress and no escape codes.
    let cluster = TestCluster::start("app");
    let dir = migrating_project(&cluster, "progress-pipe");
    for (args, summary) in [
        (&["apply", "--yes"][..], "Applied "),
        (
            &["migrate", "--trust-migrations"][..],
            "billing: 1 migration applied",
        ),
        (&["audit"][..], "No findings."),
    ] {
        let output = against(&cluster, dir.path(), args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stdout(&output).contains(summary),
            "{args:?}: {}",
            stdout(&output)
        );
        let err = stderr(&output);
        for progress in [
            "applying changes",
            "migrating services",
            "reading the catalogs",
            "\x1b[",
        ] {
            assert!(!err.contains(progress), "{args:?}: {err:?}");
        }
    }
}

#[test]
fn format_is_read_before_or_after_the_command() {
    let dir = project(true);
    let after = in_dir(dir.path(), &["lint", "--format", "json"]);
    assert_eq!(after.status.code(), Some(1), "{}", stderr(&after));
    assert!(stdout(&after).starts_with('{'), "{}", stdout(&after));
    for args in [
        &["--format", "json", "lint"][..],
        &["--format=json", "lint"],
        &[
            "-m",
            "services.toml",
            "--format",
            "json",
            "--color",
            "never",
            "lint",
        ],
    ] {
        let before = in_dir(dir.path(), args);
        assert_eq!(
            before.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&before)
        );
        assert_eq!(stdout(&before), stdout(&after), "{args:?}");
    }
    // Nested commands get it too; a command without formats says so, as clap does.
    let status = in_dir(
        dir.path(),
        &["--format", "sarif", "lint", "--fail-on", "warning"],
    );
    assert!(
        stdout(&status).contains("\"version\": \"2.1.0\""),
        "{}",
        stdout(&status)
    );
    let refused = in_dir(dir.path(), &["--format", "json", "validate"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("unexpected argument '--format'"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn quiet_and_verbose_are_accepted_by_every_command_and_exclude_each_other() {
    let dir = project(false);
    for flag in ["-q", "--quiet", "-v", "--verbose"] {
        for args in [
            &[flag, "validate"][..],
            &["validate", flag],
            &["lint", flag],
            &["plan", "--offline", flag],
            &["codeowners", flag],
            &["migrate", "hash", flag],
            &["schema", flag],
        ] {
            let output = in_dir(dir.path(), args);
            // codeowners exits 2 here for want of a team, not for the flag.
            assert!(
                !stderr(&output).contains("unexpected argument"),
                "{args:?}: {}",
                stderr(&output)
            );
        }
    }
    let both = in_dir(dir.path(), &["-q", "lint", "-v"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
}

/// `plan --offline` of the example, stdout a pipe, with `env` set and NO_COLOR unset.
fn colours(args: &[&str], env: &[(&str, &str)]) -> bool {
    let example = root().join("services.toml.example");
    let mut command = Command::new(env!("CARGO_BIN_EXE_dbsplit"));
    command
        .args([
            "plan",
            "--offline",
            "-m",
            example.to_str().expect("a UTF-8 path"),
        ])
        .args(args)
        .env_remove("DBSPLIT_MANIFEST")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("the dbsplit binary runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    stdout(&output).contains("\x1b[")
}

#[test]
fn colour_follows_the_flag_then_no_color_then_clicolor_force() {
    assert!(!colours(&[], &[]), "a pipe is not coloured");
    assert!(colours(&[], &[("CLICOLOR_FORCE", "1")]));
    assert!(!colours(&[], &[("CLICOLOR_FORCE", "0")]));
    assert!(!colours(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]));
    assert!(colours(&["--color", "always"], &[("NO_COLOR", "1")]));
    assert!(!colours(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    assert!(!colours(&[], &[("CLICOLOR", "0")]));
}

#[test]
fn findings_name_the_team_and_contact_of_their_service_in_every_format() {
    let dir = project(true);
    let manifest = dir.path().join("services.toml");
    let text = std::fs::read_to_string(&manifest).expect("the manifest is readable");
    let text = text.replacen(
        "[services.billing]\n",
        "[services.billing]\nteam = \"@acme/billing\"\ncontact = \"#billing-oncall\"\n",
        1,
    );
    std::fs::write(&manifest, text).expect("the manifest is written");
    let mut shown = String::new();
    for format in ["human", "json", "sarif", "github", "markdown"] {
        let output = in_dir(dir.path(), &["lint", "--format", format]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{format}: {}",
            stderr(&output)
        );
        let text = stdout(&output);
        assert!(text.contains("@acme/billing"), "{format}: {text}");
        assert!(text.contains("#billing-oncall"), "{format}: {text}");
        // SARIF's rule table grows with every rule; its results are what carry the team.
        let text = if format == "sarif" {
            let log: serde_json::Value = serde_json::from_str(&text).expect("SARIF is JSON");
            serde_json::to_string_pretty(&log["runs"][0]["results"]).expect("JSON") + "\n"
        } else {
            text
        };
        shown.push_str(&format!("--- {format}\n{text}"));
    }
    insta::assert_snapshot!(shown);

    // audit: a finding in billing's schema names billing's team; one in notifications' none.
    let cluster = TestCluster::start("app");
    let dir = TempDir::new("audit-team");
    let manifest = TWO_SERVICES.replacen(
        "[services.billing]\n",
        "[services.billing]\nteam = \"@acme/billing\"\ncontact = \"#billing-oncall\"\n",
        1,
    );
    std::fs::write(dir.path().join("services.toml"), manifest).expect("a writable temp dir");
    let applied = against(&cluster, dir.path(), &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    cluster.psql_ok(
        "app",
        "CREATE TABLE billing.invoices (id int); CREATE TABLE notifications.sent (id int);",
    );
    let audit = against(&cluster, dir.path(), &["audit", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&audit)).expect("JSON");
    let findings = json["findings"].as_array().expect("findings");
    assert!(findings.iter().any(|f| f["schema"] == "billing"), "{json}");
    assert!(
        findings.iter().any(|f| f["schema"] == "notifications"),
        "{json}"
    );
    for finding in findings {
        let expected = if finding["schema"] == "billing" {
            serde_json::json!("@acme/billing")
        } else {
            serde_json::Value::Null
        };
        assert_eq!(finding["team"], expected, "{finding}");
    }
}

#[test]
fn plan_changes_name_their_team_and_a_saved_plan_survives_a_new_team() {
    let cluster = TestCluster::start("app");
    let dir = TempDir::new("plan-team");
    let manifest = dir.path().join("services.toml");
    std::fs::write(&manifest, with_billing_team(TWO_SERVICES)).unwrap();

    let human = against(&cluster, dir.path(), &["plan"]);
    assert_eq!(human.status.code(), Some(0), "{}", stderr(&human));
    let text = stdout(&human);
    assert!(
        text.contains(
            "service billing: 14 changes (team @acme/billing, contact #billing-oncall)\n"
        ),
        "{text}"
    );
    assert!(text.contains("service notifications: "), "{text}");
    assert!(
        !text.contains("service notifications: 7 changes ("),
        "{text}"
    );

    let json = against(&cluster, dir.path(), &["plan", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    let changes = json["changes"].as_array().expect("changes");
    assert!(changes.iter().any(|c| c["service"] == "billing"), "{json}");
    for change in changes {
        let billing = change["service"] == "billing";
        assert_eq!(change["team"] == "@acme/billing", billing, "{change}");
        assert_eq!(change["contact"] == "#billing-oncall", billing, "{change}");
    }

    let github = against(&cluster, dir.path(), &["plan", "--format", "github"]);
    let text = stdout(&github);
    assert_eq!(text.lines().count(), changes.len(), "{text}");
    for line in text.lines() {
        let billing = line.starts_with("::notice title=dbsplit plan%3A service billing::");
        assert_eq!(
            line.ends_with(" (team @acme/billing, contact #billing-oncall)"),
            billing,
            "{line}"
        );
    }

    let markdown = against(&cluster, dir.path(), &["plan", "--format", "markdown"]);
    assert!(
        stdout(&markdown).contains(
            "#### service billing: 14 changes (team `@acme/billing`, contact \\#billing-oncall)\n"
        ),
        "{}",
        stdout(&markdown)
    );

    // The owners are read from the manifest when shown, not saved with the plan: a plan saved
    // before billing changed hands still applies, and shows the new team.
    let saved = dir.path().join("plan.json");
    let out = against(
        &cluster,
        dir.path(),
        &["plan", "--out", saved.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!std::fs::read_to_string(&saved).unwrap().contains("acme"));
    let handed_over = with_billing_team(TWO_SERVICES)
        .replace("@acme/billing", "@acme/payments")
        .replace("#billing-oncall", "#payments");
    std::fs::write(&manifest, handed_over).unwrap();
    let applied = against(
        &cluster,
        dir.path(),
        &["apply", "--yes", saved.to_str().unwrap()],
    );
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    assert!(
        stdout(&applied)
            .contains("service billing: 14 changes (team @acme/payments, contact #payments)\n"),
        "{}",
        stdout(&applied)
    );
}

/// `text` with the commented `team` and `contact` lines of the service `service` uncommented
/// and filled in; panics when they are not right under the service's owner.
fn with_owner_uncommented(text: &str, service: &str, team: &str) -> String {
    let heading = format!("[services.{service}]\n");
    let start = text
        .find(&heading)
        .unwrap_or_else(|| panic!("{heading} in {text}"));
    let (before, after) = text.split_at(start + heading.len());
    let mut lines: Vec<String> = after.lines().map(str::to_string).collect();
    let team_line = lines
        .iter()
        .position(|l| l.starts_with("# team = "))
        .unwrap_or_else(|| panic!("a commented team under {heading}: {after}"));
    assert!(lines[team_line + 1].starts_with("# contact = "), "{after}");
    assert!(
        !lines[..team_line].iter().any(|l| l.starts_with('[')),
        "the team line is under {heading}: {after}"
    );
    lines[team_line] = format!("team = \"{team}\"");
    lines[team_line + 1] = "contact = \"#oncall\"".to_string();
    format!("{before}{}\n", lines.join("\n"))
}

#[test]
fn init_and_import_write_team_and_contact_commented() {
    let dir = TempDir::new("init-owner");
    let init = in_dir(
        dir.path(),
        &[
            "init",
            "--service",
            "billing",
            "--service",
            "notifications",
            "--yes",
        ],
    );
    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    let manifest = dir.path().join("services.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert_eq!(text.matches("\n# team = ").count(), 2, "{text}");
    assert_eq!(text.matches("\n# contact = ").count(), 2, "{text}");
    // Commented, they change nothing; uncommented, they name the owner.
    let codeowners = in_dir(dir.path(), &["codeowners"]);
    assert_eq!(codeowners.status.code(), Some(2), "{}", stdout(&codeowners));
    std::fs::write(
        &manifest,
        with_owner_uncommented(&text, "billing", "@acme/billing"),
    )
    .unwrap();
    let codeowners = in_dir(dir.path(), &["codeowners"]);
    assert_eq!(codeowners.status.code(), Some(0), "{}", stderr(&codeowners));
    assert!(
        stdout(&codeowners).contains("/migrations/billing/ @acme/billing\n"),
        "{}",
        stdout(&codeowners)
    );

    let cluster = TestCluster::start("app");
    cluster.psql_ok(
        "app",
        "CREATE ROLE billing_owner NOLOGIN; CREATE SCHEMA billing AUTHORIZATION billing_owner; \
         CREATE ROLE billing_app LOGIN IN ROLE billing_owner; \
         CREATE TABLE billing.invoices (id int); ALTER TABLE billing.invoices OWNER TO billing_owner;",
    );
    let dir = TempDir::new("import-owner");
    let imported = against(&cluster, dir.path(), &["import"]);
    assert_eq!(imported.status.code(), Some(0), "{}", stderr(&imported));
    let text = stdout(&imported);
    assert_eq!(text.matches("\n# team = ").count(), 1, "{text}");
    let manifest = dir.path().join("services.toml");
    std::fs::write(
        &manifest,
        with_owner_uncommented(&text, "billing", "@acme/billing"),
    )
    .unwrap();
    let plan = against(&cluster, dir.path(), &["plan", "--format", "json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let json: serde_json::Value = serde_json::from_str(&stdout(&plan)).expect("JSON");
    let billing: Vec<&serde_json::Value> = json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["service"] == "billing")
        .collect();
    assert!(!billing.is_empty(), "{json}");
    assert!(
        billing
            .iter()
            .all(|c| c["team"] == "@acme/billing" && c["contact"] == "#oncall"),
        "{json}"
    );
}

/// A server logical replication can run from or to.
fn logical_cluster() -> TestCluster {
    TestCluster::start_with(
        "app",
        &dbsplit::pg::local::LocalConfig {
            conf: vec!["wal_level = logical".into(), "max_wal_senders = 10".into()],
            ..Default::default()
        },
    )
}

#[test]
fn move_shows_progress_on_a_terminal_and_never_in_a_pipe() {
    let source = logical_cluster();
    let target = logical_cluster();
    let dir = TempDir::new("move-progress");
    std::fs::write(dir.path().join("services.toml"), TWO_SERVICES).unwrap();
    let applied = against(&source, dir.path(), &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    source.psql_ok(
        "app",
        "SET ROLE billing_owner; CREATE TABLE billing.invoices (id int PRIMARY KEY); RESET ROLE;",
    );
    let to = target.server.connection_string("postgres", "app");
    let start = ["move", "billing", "start", "--to", &to];

    let (code, screen) = on_terminal(&source, dir.path(), &start);
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("copying the schema's definitions"),
        "{screen}"
    );
    assert!(
        screen.contains("copied the definitions of schema `billing`"),
        "{screen}"
    );

    let abort = against(
        &source,
        dir.path(),
        &["move", "billing", "abort", "--to", &to],
    );
    assert_eq!(abort.status.code(), Some(0), "{}", stderr(&abort));
    let target = logical_cluster();
    let to = target.server.connection_string("postgres", "app");
    let piped = against(
        &source,
        dir.path(),
        &["move", "billing", "start", "--to", &to],
    );
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    assert!(
        stdout(&piped).contains("copied the definitions of schema `billing`"),
        "{}",
        stdout(&piped)
    );
    assert!(!stderr(&piped).contains("copying"), "{}", stderr(&piped));
    assert!(!stderr(&piped).contains('\x1b'), "{}", stderr(&piped));
}
