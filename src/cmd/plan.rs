//! `dbsplit plan`: the changes that bring a cluster to the manifest.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;

use crate::cli::{PlanArgs, PlanFormat};
use crate::desired::desired_state;
use crate::plan::bootstrap::bootstrap;
use crate::report;

pub fn run(
    path: &Path,
    args: &PlanArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    if !args.offline {
        bail!(
            "planning against a live cluster is not available yet; use `dbsplit plan --offline` for the bootstrap of an empty cluster"
        );
    }
    let manifest = match super::load_manifest(path) {
        Ok(manifest) => manifest,
        Err(code) => return Ok(code),
    };
    let plan = bootstrap(&manifest, &desired_state(&manifest));
    match args.format {
        PlanFormat::Human => report::plan::human(&plan, color, out)?,
        PlanFormat::Sql => report::plan::sql(&plan, out)?,
        PlanFormat::Json => report::plan::json(&plan, out)?,
    }
    Ok(ExitCode::SUCCESS)
}
