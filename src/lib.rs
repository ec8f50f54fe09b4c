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
pub mod fleet;
pub mod graph;
pub mod import;
pub mod lint;
pub mod manifest;
pub mod migrate;
pub mod migrations;
pub mod pg;
pub mod plan;
pub mod pooler;
pub mod relocate;
pub mod report;
pub mod schema;
pub mod select;
pub mod sql;
pub mod text;
pub mod usage;
pub mod verify;

use std::io::{self, Write};
use std::process::ExitCode;

use cli::{Cli, Command};

/// Runs one command and returns its exit code: 0 clean, 1 found something, 2 trouble.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let color = cli.color.enabled();
    let mut stdout = PipeTolerant::new(io::stdout().lock());
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
        Command::Pooler(args) => cmd::pooler::run(&cli.manifest, &cli.connect, args, &mut stdout),
        Command::Verify(args) => {
            cmd::verify::run(&cli.manifest, &cli.connect, args, color, &mut stdout)
        }
        Command::Import(args) => cmd::import::run(&cli.connect, args, &mut stdout),
        Command::Usage(args) => {
            cmd::usage::run(&cli.manifest, &cli.connect, args, color, &mut stdout)
        }
        Command::Graph(args) => cmd::graph::run(&cli.manifest, &cli.connect, args, &mut stdout),
        Command::Completions(args) => cmd::completions::run(args.shell, &mut stdout),
        Command::Man => cmd::man::run(&mut stdout),
        Command::Codeowners => cmd::codeowners::run(&cli.manifest, &mut stdout),
        Command::Dump(args) => cmd::dump::run(&cli.manifest, &cli.connect, args, &mut stdout),
        Command::Restore(args) => cmd::restore::run(&cli.manifest, &cli.connect, args, &mut stdout),
        Command::Move(args) => cmd::relocate::run(&cli.manifest, &cli.connect, args, &mut stdout),
        Command::Schema => cmd::schema::run(&mut stdout),
    }
}

/// An error already reported to the user in full (an invalid manifest's diagnostics): the
/// binary exits 2 without printing it again.
#[derive(Debug, thiserror::Error)]
#[error("already reported")]
pub struct Reported;

/// Standard output that a closed pipe silences instead of failing: with `dbsplit audit | head`,
/// printing stops when `head` exits, and the command runs to its end, so its result (findings,
/// pending changes) still decides the exit code.
struct PipeTolerant<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeTolerant<W> {
    fn new(inner: W) -> Self {
        PipeTolerant {
            inner,
            closed: false,
        }
    }

    /// Turns a broken pipe into "written, nowhere"; every later write is dropped too.
    fn absorb<T>(&mut self, result: io::Result<T>, nothing: T) -> io::Result<T> {
        match result {
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(nothing)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for PipeTolerant<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.absorb(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.absorb(result, ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader went away after `room` bytes.
    struct Pipe {
        written: Vec<u8>,
        room: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.written.len() + buf.len() > self.room {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_stops_the_printing_and_nothing_else() {
        let mut out = PipeTolerant::new(Pipe {
            written: Vec::new(),
            room: 6,
        });
        writeln!(out, "first").unwrap();
        writeln!(out, "second").unwrap();
        writeln!(out, "x").unwrap();
        out.flush().unwrap();
        assert_eq!(out.inner.written, b"first\n");
    }

    #[test]
    fn other_write_errors_still_fail() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(writeln!(PipeTolerant::new(Full), "x").is_err());
    }
}
