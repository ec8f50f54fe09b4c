//! `dbsplit schema`: the JSON Schema of services.toml, for editors and other tools.

use std::io::Write;
use std::process::ExitCode;

/// Prints the schema; it needs no manifest and no database.
pub fn run(out: &mut impl Write) -> anyhow::Result<ExitCode> {
    out.write_all(crate::schema::render().as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
