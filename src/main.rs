//! The `dbsplit` binary: parse the command line, run, pick the exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = dbsplit::cli::Cli::parse();
    match dbsplit::run(cli) {
        Ok(code) => code,
        Err(error) if error.is::<dbsplit::Reported>() => ExitCode::from(2),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
