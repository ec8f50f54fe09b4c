//! `dbsplit man`: the man page (roff, section 1) from the clap definitions (clap_mangen).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::Cli;

/// Writes dbsplit(1): the synopsis, the long description, every global option and every
/// command with its own description.
pub fn run(out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let command = Cli::command();
    clap_mangen::Man::new(command)
        .render(out)
        .context("cannot write the man page")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
