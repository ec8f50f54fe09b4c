//! `dbsplit verify`: connect to the manifest's database, probe as each service role (every
//! transaction rolled back), render, and exit 1 on a hole, 2 when a role could not be verified.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::{ConnectArgs, VerifyArgs, VerifyFormat};
use crate::verify::{render, verify};

use super::{TROUBLE, live};

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &VerifyArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_fleet_manifest(path)?;
    if manifest.fleet {
        return super::fleet::verify::run(&manifest, connect, args, color, out);
    }
    super::fleet::check_v1_targets(&manifest, &args.fleet)?;
    for service in &args.services {
        if manifest.service(service).is_none() {
            let known: Vec<&str> = manifest.services.iter().map(|s| s.name.as_str()).collect();
            anyhow::bail!(
                "service `{service}` is not in the manifest (it declares {})",
                known.join(", ")
            );
        }
    }
    let report = live::runtime()?.block_on(async {
        let client = live::connect_to(connect, &manifest.database.name).await?;
        anyhow::Ok(verify(&client, &manifest, &args.services).await?)
    })?;
    match args.format {
        VerifyFormat::Human => render::human(&report, color, out)?,
        VerifyFormat::Json => render::json(&report, out)?,
    }
    for role in &report.roles {
        if let Some(trouble) = &role.trouble {
            eprintln!("error: {trouble}");
        }
    }
    Ok(if report.has_trouble() {
        ExitCode::from(TROUBLE)
    } else if report.holes().next().is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
