//! `dbsplit completions SHELL`: a completion script from the clap definitions (clap_complete).

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes the completion script of `shell` for every command and flag.
pub fn run(shell: Shell, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "dbsplit", out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
