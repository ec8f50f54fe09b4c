//! `dbsplit verify` over a fleet: the probes of each target's roles on its own database (a
//! service's role against every schema of its database; observers where they read there),
//! clusters concurrently. Output per target (`cluster/database`); JSON carries `cluster` and
//! `database` on every role, hole and untested schema. Exit 1 on a hole, 2 when a target or a
//! role could not be verified.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::cli::{ConnectArgs, VerifyArgs, VerifyFormat};
use crate::fleet::run::Outcome;
use crate::manifest::Manifest;
use crate::verify::{Report, render, verify};

use super::super::TROUBLE;

pub fn run(
    manifest: &Manifest,
    connect: &ConnectArgs,
    args: &VerifyArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let selected = super::services_per_target(manifest, &args.fleet, &args.services)?;
    let connect = Arc::new(connect.clone());
    let outcomes = super::run_each(selected, &args.fleet, move |target, services| {
        let connect = Arc::clone(&connect);
        async move {
            let (client, _connection) = super::connect_target(&target, &connect, None).await?;
            anyhow::Ok(verify(&client, &target.manifest, &services).await?)
        }
    })?;
    match args.format {
        VerifyFormat::Human => {
            for (index, outcome) in outcomes.iter().enumerate() {
                if index > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "=== {} ===", outcome.target.label())?;
                match &outcome.result {
                    Ok(report) => render::human(report, color, out)?,
                    Err(error) => writeln!(out, "FAILED: {}", super::chain(error))?,
                }
            }
        }
        VerifyFormat::Json => json(&outcomes, out)?,
    }
    let failed = super::plan::report_failures(&outcomes);
    let mut trouble = failed > 0;
    let mut holes = false;
    for outcome in &outcomes {
        let Ok(report) = &outcome.result else {
            continue;
        };
        for role in &report.roles {
            if let Some(why) = &role.trouble {
                eprintln!("error: {}: {why}", outcome.target.label());
            }
        }
        trouble |= report.has_trouble();
        holes |= report.holes().next().is_some();
    }
    Ok(if trouble {
        ExitCode::from(TROUBLE)
    } else if holes {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `{"holds","targets":[{"cluster","database","status","connected_as"?,"error"?}],
/// "roles":[...],"holes":[...],"untested":[...]}`: each role (and its checks), hole and
/// untested schema as the single-database JSON writes it, with `cluster` and `database`.
fn json(outcomes: &[Outcome<Report>], out: &mut impl Write) -> anyhow::Result<()> {
    let mut targets = Vec::new();
    let mut lists: [(&str, Vec<Value>); 3] = [
        ("roles", Vec::new()),
        ("holes", Vec::new()),
        ("untested", Vec::new()),
    ];
    let mut holds = true;
    for outcome in outcomes {
        let (cluster, database) = (&outcome.target.cluster, &outcome.target.database);
        let report = match &outcome.result {
            Ok(report) => report,
            Err(error) => {
                holds = false;
                targets.push(json!({
                    "cluster": cluster,
                    "database": database,
                    "status": "failed",
                    "error": super::chain(error),
                }));
                continue;
            }
        };
        let mut buffer = Vec::new();
        render::json(report, &mut buffer)?;
        let single: Value = serde_json::from_slice(&buffer)?;
        let held = single["holds"].as_bool().unwrap_or(false);
        holds &= held;
        targets.push(json!({
            "cluster": cluster,
            "database": database,
            "status": if held { "holds" } else { "broken" },
            "connected_as": single["connected_as"],
        }));
        let placed = |item: &Value| {
            let mut with = serde_json::Map::new();
            with.insert("cluster".into(), json!(cluster));
            with.insert("database".into(), json!(database));
            if let Value::Object(fields) = item {
                with.extend(fields.clone());
            }
            Value::Object(with)
        };
        for (key, list) in &mut lists {
            for item in single[*key].as_array().into_iter().flatten() {
                let mut item = placed(item);
                if let Some(checks) = item.get_mut("checks").and_then(Value::as_array_mut) {
                    for check in checks.iter_mut() {
                        *check = placed(check);
                    }
                }
                list.push(item);
            }
        }
    }
    let mut document = json!({"holds": holds, "targets": targets});
    for (key, list) in lists {
        document[key] = Value::Array(list);
    }
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)?;
    Ok(())
}
