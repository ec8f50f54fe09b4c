//! dbsplit makes the service boundary inside a shared PostgreSQL cluster real.
//!
//! A manifest (`manifest`) becomes a desired cluster state (`desired`, in the model of
//! `catalog::model`), which becomes an ordered plan of changes (`plan`) rendered as SQL, tables
//! or JSON (`report`). `cmd` holds one function per command; `pg` the quoting of names and the
//! throwaway servers used by tests and the demo.

pub mod apply;
pub mod audit;
pub mod catalog;
pub mod cli;
mod cmd;
pub mod desired;
pub mod finding;
pub mod lint;
pub mod manifest;
pub mod migrate;
pub mod pg;
pub mod plan;
pub mod report;

use std::process::ExitCode;

use cli::{Cli, Command};

/// Runs one command and returns its exit code: 0 clean, 1 found something, 2 trouble.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let color = cli.color.enabled();
    let mut stdout = std::io::stdout().lock();
    match &cli.command {
        Command::Init(args) => cmd::init::run(&cli.manifest, args, &mut stdout),
        Command::Validate => cmd::validate::run(&cli.manifest, &mut stdout),
        Command::Plan(args) => {
            cmd::plan::run(&cli.manifest, &cli.connect, args, color, &mut stdout)
        }
        Command::Apply(args) => {
            cmd::apply::run(&cli.manifest, &cli.connect, args, color, &mut stdout)
        }
        Command::Demo => cmd::demo::run(color, &mut stdout),
        Command::Audit(args) => {
            cmd::audit::run(&cli.manifest, &cli.connect, args, color, &mut stdout)
        }
        Command::New(args) => cmd::new::run(&cli.manifest, args, &mut stdout),
        Command::Migrate(args) => {
            cmd::migrate::run(&cli.manifest, &cli.connect, args, color, &mut stdout)
        }
        Command::Lint(args) => cmd::lint::run(&cli.manifest, args, color, &mut stdout),
    }
}

/// An error already reported to the user in full (an invalid manifest's diagnostics): the
/// binary exits 2 without printing it again.
#[derive(Debug, thiserror::Error)]
#[error("already reported")]
pub struct Reported;

/// Whether an error comes from writing to a closed pipe (`dbsplit plan | head`), which is not
/// a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
