//! Fitting the ecosystem: shell completions, the man page, pre-commit hooks, markdown reports and
//! the GitHub Action's script, each run the way its host runs it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::{TempDir, dbsplit, root, stderr, stdout};

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
            ".SH VERSION",
        ]
    );
    for command in ["dbsplit\\-plan", "dbsplit\\-audit", "dbsplit\\-completions"] {
        assert!(roff.contains(command), "{command} in the man page");
    }
    if !installed("man") {
        // Debian's man-db is not on this machine: the structure above is the check.
        eprintln!("man is not installed: checked the roff structure only");
        return;
    }
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
