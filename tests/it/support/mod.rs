//! Helpers shared by the integration tests.

pub mod certs;
pub mod converge;
pub mod pg;

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path below tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests").join("fixtures").join(name)
}

/// Runs the dbsplit binary with `args` and no manifest from the environment.
pub fn dbsplit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .args(args)
        .env_remove("DBSPLIT_MANIFEST")
        .env("NO_COLOR", "1")
        .output()
        .expect("the dbsplit binary runs")
}

/// Runs `command` with its stdout a pipe whose reader is closed before anything is written, as
/// `dbsplit ... | head -0` does, and returns how it exited.
pub fn with_closed_stdout(command: &mut Command) -> ExitStatus {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the dbsplit binary runs");
    drop(child.stdout.take());
    child.wait().expect("the dbsplit binary finishes")
}

/// Stdout of a run as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr of a run as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A folder under the temp dir for one test, deleted when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("dbsplit-it-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
