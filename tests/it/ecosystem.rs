//! Fitting the ecosystem: shell completions, the man page, pre-commit hooks, markdown reports and
//! the GitHub Action's script, each run the way its host runs it.

use std::process::Command;

use crate::support::{TempDir, dbsplit, stderr, stdout};

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
