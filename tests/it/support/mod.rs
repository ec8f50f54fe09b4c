//! Helpers shared by the integration tests.

pub mod pg;

use std::path::PathBuf;
use std::process::{Command, Output};

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

/// Stdout of a run as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr of a run as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
