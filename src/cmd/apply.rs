//! `dbsplit apply`: show the plan, confirm, and apply it in one transaction, or, when the
//! plan needs more locks than one transaction may take, in transactions of whole services.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use tokio_postgres::Client;

use crate::apply::budget::{LockTable, Split, split};
use crate::apply::{self, ApplyOptions, Confirmed};
use crate::cli::{ApplyArgs, ConnectArgs};
use crate::desired::{Desired, desired_state};
use crate::manifest::Manifest;
use crate::plan::file::SavedPlan;
use crate::plan::live::PlanOptions;
use crate::plan::preflight;
use crate::report;
use crate::select::Selection;

use super::{TROUBLE, live};

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &ApplyArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_fleet_manifest(path)?;
    if manifest.fleet {
        return super::fleet::apply::run(&manifest, connect, args, color, out);
    }
    super::fleet::check_v1_targets(&manifest, &args.fleet)?;
    let select = Selection::new(&manifest, &args.services)?;
    let desired = select.as_ref().map_or_else(
        || desired_state(&manifest),
        |s| s.desired(&desired_state(&manifest)),
    );
    let saved = args
        .plan_file
        .as_deref()
        .map(|file| SavedPlan::read(file, &desired))
        .transpose()?;
    let options = ApplyOptions {
        lock_timeout: args.lock_timeout,
        plan: PlanOptions {
            prune: args.prune,
            passwords: live::passwords(&desired),
            select,
        },
    };
    let owners = report::plan::Owners::of(&manifest);
    live::runtime()?.block_on(async {
        let notices = Some(live::show_notices(None));
        let mut client =
            live::connect_noticing_to(connect, &manifest.database.name, notices).await?;
        crate::pg::connect::refuse_standby(&client, "apply").await?;
        // With --yes there is no one to show the plan to before it runs: plan once, under
        // the lock, instead of once to show and once more under the lock.
        let held = args.yes && saved.is_none();
        if held {
            apply::lock(&client, options.lock_timeout)
                .await
                .map_err(|error| {
                    anyhow::Error::new(error).context("apply failed; nothing was changed")
                })?;
        }
        let run = Run {
            manifest: &manifest,
            desired: &desired,
            options: &options,
            owners: &owners,
            args,
            color,
            held,
        };
        let result = run.go(&mut client, saved, out).await;
        if held {
            apply::unlock(&client).await;
        }
        result
    })
}

/// One `dbsplit apply` on a connected client.
struct Run<'a> {
    manifest: &'a Manifest,
    desired: &'a Desired,
    options: &'a ApplyOptions,
    owners: &'a report::plan::Owners,
    args: &'a ApplyArgs,
    color: bool,
    /// The session holds the apply lock already (`apply::lock`): what is planned here is
    /// applied as it is, without planning again.
    held: bool,
}

impl Run<'_> {
    async fn go(
        &self,
        client: &mut Client,
        saved: Option<SavedPlan>,
        out: &mut impl Write,
    ) -> anyhow::Result<ExitCode> {
        let Run {
            manifest,
            desired,
            options,
            owners,
            args,
            color,
            held,
        } = *self;
        let (confirmed, live) = match saved {
            Some(saved) => (
                Confirmed {
                    plan: saved.plan,
                    fingerprint: Some(saved.fingerprint),
                },
                None,
            ),
            None => {
                let (plan, live) =
                    crate::plan::live::plan(&*client, manifest, desired, &options.plan)
                        .await
                        .context("cannot read the cluster's catalogs")?;
                live.expect_database(&manifest.database.name)?;
                let refused = preflight::refusals(desired, &live);
                if !refused.is_empty() {
                    bail!("refusing this manifest: {}", refused.join("; "));
                }
                let blocked = preflight::blocked(&plan, desired, &live);
                if !blocked.is_empty() {
                    report::plan::human(&plan, owners, color, out)?;
                    let who = preflight::Session::new(&live).describe();
                    eprint!("{}", report::plan::blocked(&who, &blocked));
                    eprintln!("error: nothing was applied");
                    return Ok(ExitCode::from(TROUBLE));
                }
                (
                    Confirmed {
                        plan,
                        fingerprint: None,
                    },
                    Some(live),
                )
            }
        };
        report::plan::human(&confirmed.plan, owners, color, out)?;
        if confirmed.plan.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        let table = LockTable::read(client)
            .await
            .context("cannot read the server's lock settings")?;
        let transactions = match split(&confirmed.plan, table.usable()) {
            Split::One { .. } => None,
            Split::TooBig { locks, part } => {
                eprintln!(
                    "error: lock-budget: {part} alone needs about {locks} lock entries, more than one transaction may take ({}): {}; raise max_locks_per_transaction (a restart is needed); nothing was applied",
                    table.usable(),
                    table.describe()
                );
                return Ok(ExitCode::from(TROUBLE));
            }
            Split::Many {
                locks,
                transactions,
            } if args.single_transaction => {
                eprintln!(
                    "error: lock-budget: --single-transaction: this plan needs about {locks} lock entries, more than one transaction may take ({}): {}; raise max_locks_per_transaction (a restart is needed), or apply without --single-transaction in {} transactions of whole services; nothing was applied",
                    table.usable(),
                    table.describe(),
                    transactions.len()
                );
                return Ok(ExitCode::from(TROUBLE));
            }
            Split::Many {
                locks,
                transactions,
            } => {
                writeln!(
                    out,
                    "This plan needs about {locks} lock entries, more than one transaction may take ({}): {}.\nIt is applied in {} transactions, in this order; if one fails, those before it stay applied:",
                    table.usable(),
                    table.describe(),
                    transactions.len()
                )?;
                for (i, transaction) in transactions.iter().enumerate() {
                    writeln!(out, "  {}. {}", i + 1, transaction.describe())?;
                }
                Some(transactions)
            }
        };
        if !args.yes {
            if !std::io::stdin().is_terminal() {
                eprintln!(
                    "error: refusing to apply without confirmation: stdin is not a terminal; pass --yes"
                );
                return Ok(ExitCode::from(TROUBLE));
            }
            let question = format!(
                "Apply these {} changes to database {}?",
                confirmed.plan.changes.len(),
                manifest.database.name
            );
            let confirm = tokio::task::spawn_blocking(move || {
                dialoguer::Confirm::new()
                    .with_prompt(question)
                    .default(false)
                    .interact()
            })
            .await
            .context("the confirmation prompt failed")?
            .context("the confirmation prompt failed")?;
            if !confirm {
                writeln!(out, "Nothing applied.")?;
                return Ok(ExitCode::from(TROUBLE));
            }
        }
        let started = Instant::now();
        let result = match (&transactions, live) {
            (_, Some(live)) if held => {
                apply::apply_held(
                    client,
                    manifest,
                    desired,
                    options,
                    confirmed.plan,
                    &live,
                    transactions.as_deref(),
                )
                .await
            }
            (None, _) => apply::apply(client, manifest, desired, options, &confirmed).await,
            (Some(list), _) => {
                apply::apply_in(client, manifest, desired, options, &confirmed, list).await
            }
        };
        let report = result.map_err(|error| {
            let what = if error.is_partial() {
                "apply failed part-way"
            } else {
                "apply failed; nothing was changed"
            };
            anyhow::Error::new(error).context(what)
        })?;
        if report.statements == 0 {
            writeln!(
                out,
                "Nothing to do: another apply already brought the cluster to the manifest."
            )?;
        } else {
            writeln!(
                out,
                "Applied {} changes ({} statements in {} round trip{}{}) in {} ms; the cluster matches the manifest.",
                report.plan.changes.len(),
                report.statements,
                report.round_trips,
                crate::text::plural(report.round_trips),
                transactions
                    .as_ref()
                    .map(|t| format!(", {} transactions", t.len()))
                    .unwrap_or_default(),
                started.elapsed().as_millis()
            )?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
