//! The `dbsplit` binary: parse the command line, run, pick the exit code.

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use dbsplit::cli::{Cli, Command};

fn main() -> ExitCode {
    let args = dbsplit::cli::format_after_command(std::env::args_os().collect());
    let matches = Cli::command().get_matches_from(args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    // clap checks conflicts per command level; -q before the command and -v after it are
    // merged only after that.
    if cli.quiet && cli.verbose {
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "the argument '--quiet' cannot be used with '--verbose'",
            )
            .exit();
    }
    // `demo` always runs the built-in example; a manifest named on its command line would be
    // silently ignored, so it is refused (DBSPLIT_MANIFEST set for other commands is not).
    let manifest_given = [Some(&matches), matches.subcommand_matches("demo")]
        .into_iter()
        .flatten()
        .any(|m| m.value_source("manifest") == Some(ValueSource::CommandLine));
    if matches!(cli.command, Command::Demo) && manifest_given {
        eprintln!(
            "error: demo runs the built-in example manifest (services.toml.example) on a throwaway server and takes no --manifest; to see your manifest's changes, run `dbsplit plan --offline -m {}`",
            cli.manifest.display()
        );
        return ExitCode::from(2);
    }
    match dbsplit::run(cli) {
        Ok(code) => code,
        Err(error) if error.is::<dbsplit::Reported>() => ExitCode::from(2),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
