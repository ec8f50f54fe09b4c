//! The help of every command and sub-command, found by walking clap's command tree (so a new
//! command cannot be left out): a snapshot of each `--help`, and each command's examples run
//! that command and parse.

use clap::{CommandFactory, Parser};

use super::Cli;

/// Every command under `command` (itself included) with its path of names, `help` left out.
fn walk(
    command: &clap::Command,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, clap::Command)>,
) {
    out.push((path.clone(), command.clone()));
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        path.push(sub.get_name().to_string());
        walk(sub, path, out);
        path.pop();
    }
}

fn commands() -> Vec<(Vec<String>, clap::Command)> {
    let mut root = Cli::command();
    // Sets each sub-command's bin name (`dbsplit migrate status`), as parsing does.
    root.build();
    let mut out = Vec::new();
    walk(&root, &mut Vec::new(), &mut out);
    out
}

#[test]
fn every_help_text() {
    let commands = commands();
    assert!(commands.len() >= 30, "{}", commands.len());
    for (path, command) in commands {
        let name = if path.is_empty() {
            "help".to_string()
        } else {
            format!("help_{}", path.join("_"))
        };
        // The width clap uses when stdout is not a terminal, fixed for the snapshots.
        let text = command.term_width(100).render_long_help().to_string();
        insta::assert_snapshot!(name, text);
    }
}

/// The `dbsplit` command lines of an `Examples:` section, each cut at a pipe or redirection.
fn example_lines(examples: &str) -> Vec<Vec<String>> {
    examples
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("dbsplit "))
        .map(|line| {
            line.split_whitespace()
                .take_while(|word| !["|", ">", "&&"].contains(word))
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn every_command_teaches_with_examples_that_parse() {
    for (path, command) in commands() {
        let examples = command
            .get_after_long_help()
            .map(|help| help.to_string())
            .unwrap_or_default();
        assert!(
            examples.starts_with("Examples:\n"),
            "`dbsplit {}` has no Examples section (src/cli/examples.rs)",
            path.join(" ")
        );
        let lines = example_lines(&examples);
        // Each command shows itself; the top level shows several.
        let own = lines
            .iter()
            .filter(|words| {
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                let names: Vec<&str> = words[1..]
                    .iter()
                    .copied()
                    .filter(|w| !w.starts_with('-'))
                    .collect();
                path.iter().all(|name| names.contains(&name.as_str()))
            })
            .count();
        assert!(own > 0, "`dbsplit {}`: no example runs it", path.join(" "));
        for words in lines {
            let args = super::format_after_command(words.iter().map(Into::into).collect());
            if let Err(error) = Cli::try_parse_from(args) {
                panic!("example `{}` does not parse: {error}", words.join(" "));
            }
        }
    }
}

#[test]
fn an_example_with_an_unknown_flag_is_caught() {
    let lines = example_lines("Examples:\n  dbsplit plan --no-such-flag | less\n");
    assert_eq!(lines, [["dbsplit", "plan", "--no-such-flag"]]);
    assert!(Cli::try_parse_from(&lines[0]).is_err());
}
