//! Progress on stderr while long work runs (apply's changes, migrate's files, audit's catalog
//! reads): a bar or a spinner, drawn only when stderr is a terminal and `--quiet` is not given,
//! so pipes and CI logs never get one. It is cleared when the work ends; the line that sums the
//! work up is the command's own and is printed in every case.
//!
//! `--quiet` turns progress off and, through [`quiet`], the notes commands print on stderr.
//!
//! The command line decides once ([`enable`]); the work only calls [`Progress::bar`] or
//! [`Progress::spinner`] and [`Progress::inc`], which do nothing when progress is off (the
//! library's default, so tests and other callers never draw).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static ENABLED: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);

/// Records `--quiet`: results and errors only.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` was given: notes on stderr (what dbsplit is waiting for, warnings counted
/// elsewhere) are left out.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Turns progress on or off for the rest of the process.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether progress is drawn: stderr is a terminal (not `TERM=dumb`) and not `--quiet`.
pub fn wanted(quiet: bool) -> bool {
    use std::io::IsTerminal;
    !quiet
        && std::io::stderr().is_terminal()
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// A bar or spinner on stderr, or nothing when progress is off. Cleared when dropped.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar of `len` steps: `applying changes [=====>    ] 12/40`.
    pub fn bar(what: &'static str, len: u64) -> Progress {
        Progress::start(|| {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(what);
            bar
        })
    }

    /// A spinner for work of unknown length: `⠋ reading the catalogs (3 s)`.
    pub fn spinner(what: &'static str) -> Progress {
        Progress::start(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} ({elapsed}) {wide_msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(what);
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        })
    }

    fn start(make: impl FnOnce() -> ProgressBar) -> Progress {
        if !ENABLED.load(Ordering::Relaxed) {
            return Progress(None);
        }
        let bar = make();
        // Draw at once: short work would otherwise end before the first refresh.
        bar.tick();
        Progress(Some(bar))
    }

    /// One step done.
    pub fn inc(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    /// What is happening now, after the counter.
    pub fn message(&self, message: impl Into<Cow<'static, str>>) {
        if let Some(bar) = &self.0 {
            bar.set_message(message);
        }
    }

    /// Runs `print` with the bar hidden, so lines written meanwhile are not torn by it.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
