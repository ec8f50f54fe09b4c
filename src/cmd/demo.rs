//! `dbsplit demo`: the whole story on a throwaway local server, in a minute.
//!
//! Start a server, apply the example manifest (with generated passwords, checked by
//! scram-sha-256 authentication), create a table per service as its owner, then connect as
//! billing_rw: its own table works, another service's table and schema public are refused by
//! the database itself; audit the cluster, take two legacy shortcuts and audit again. The
//! server is stopped and deleted at the end, and on Ctrl-C.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use tokio_postgres::{Client, NoTls};

use crate::apply::{self, ApplyOptions, Confirmed};
use crate::audit::read::audit_state;
use crate::catalog::introspect::{Depth, introspect};
use crate::desired::{Desired, desired_state};
use crate::manifest::Manifest;
use crate::pg::error::server_message;
use crate::pg::local::{LocalConfig, LocalServer, SUPERUSER};
use crate::plan::live::{PlanOptions, plan as live_plan};

use super::live;

const EXAMPLE: &str = include_str!("../../services.toml.example");

/// The superuser logs in without a password over the socket and loopback; every other role
/// must present its password, so the demo proves the verifiers dbsplit set.
const HBA: &str = "local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
";

const TABLES: &str = "
SET ROLE monolith_owner;
CREATE TABLE monolith.customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
INSERT INTO monolith.customers (name) VALUES ('Ada'), ('Grace');
SET ROLE billing_owner;
CREATE TABLE billing.invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL, amount numeric(12,2) NOT NULL);
SET ROLE notifications_owner;
CREATE TABLE notifications.outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);
SET ROLE reference_owner;
CREATE TABLE reference.currencies (code text PRIMARY KEY);
INSERT INTO reference.currencies VALUES ('EUR'), ('USD');
RESET ROLE;
";

/// What a hurried migration or a DBA in a hurry does: couplings the audit must find.
const SHORTCUTS: &str = "
ALTER TABLE billing.invoices ADD CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id) REFERENCES monolith.customers (id);
GRANT SELECT ON monolith.customers TO notifications_rw;
";

pub fn run(color: bool, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    live::runtime()?.block_on(async {
        tokio::select! {
            result = demo(color, out) => result,
            _ = tokio::signal::ctrl_c() => {
                // Dropping the demo future dropped the server, which stopped and deleted it.
                eprintln!("interrupted: the throwaway server is stopped and deleted");
                Ok(ExitCode::from(130))
            }
        }
    })
}

async fn demo(color: bool, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::parse(Path::new("services.toml.example"), EXAMPLE)
        .context("the built-in example manifest is invalid")?;
    let desired = desired_state(&manifest);
    writeln!(
        out,
        "dbsplit demo: the example manifest on a throwaway PostgreSQL server\n"
    )?;
    let server = start_server(&manifest.database.name, out).await?;
    let admin = connect(&server, SUPERUSER, &manifest.database.name, None).await?;
    let mut demo = Demo {
        manifest,
        desired,
        admin,
        server,
        color,
    };
    let planning = demo.apply_example(out).await?;
    demo.admin.batch_execute(TABLES).await?;
    writeln!(
        out,
        "3. Created a table per service as its owner role: monolith.customers, billing.invoices,\n   notifications.outbox, reference.currencies."
    )?;
    let billing = demo.try_as_billing(&planning.passwords, out).await?;
    demo.plan_again(&planning, out).await?;
    demo.audit(out).await?;
    demo.take_shortcuts_and_audit(out).await?;
    verify_step(&demo.admin, &demo.manifest, color, out).await?;
    drop(billing);
    // The superuser's session ends first, then the server stops and its data is deleted.
    drop(demo);
    writeln!(out, "\nStopped the server and deleted its data.")?;
    Ok(ExitCode::SUCCESS)
}

/// What the demo's steps share: the example, the superuser's session and the throwaway server
/// (declared last, so it stops after the session ends).
struct Demo {
    manifest: Manifest,
    desired: Desired,
    admin: Client,
    server: LocalServer,
    color: bool,
}

/// Step 1: a throwaway server with the example's database.
async fn start_server(database: &str, out: &mut impl Write) -> anyhow::Result<LocalServer> {
    let started = Instant::now();
    let config = LocalConfig {
        hba: Some(HBA.to_string()),
        ..LocalConfig::default()
    };
    let server = LocalServer::start_with(&config).context("cannot start a throwaway server")?;
    let admin = connect(&server, SUPERUSER, "postgres", None).await?;
    let version: String = admin.query_one("SHOW server_version", &[]).await?.get(0);
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {}",
            crate::pg::ident::Ident(database)
        ))
        .await?;
    writeln!(
        out,
        "1. Started PostgreSQL {version} on 127.0.0.1:{} in {} ms (deleted when the demo ends).",
        server.port(),
        started.elapsed().as_millis()
    )?;
    Ok(server)
}

impl Demo {
    /// Step 2: plan and apply the example with generated passwords; returns how it planned
    /// (the passwords included), to plan again with.
    async fn apply_example(&mut self, out: &mut impl Write) -> anyhow::Result<PlanOptions> {
        let passwords: BTreeMap<String, String> = self
            .desired
            .password_envs
            .keys()
            .map(|role| Ok((role.clone(), random_password()?)))
            .collect::<anyhow::Result<_>>()?;
        let options = ApplyOptions {
            lock_timeout: std::time::Duration::from_secs(30),
            plan: PlanOptions {
                prune: false,
                passwords,
                select: None,
            },
        };
        let started = Instant::now();
        let (plan, _) =
            live_plan(&self.admin, &self.manifest, &self.desired, &options.plan).await?;
        let confirmed = Confirmed {
            plan,
            fingerprint: None,
        };
        // Within the lock budget: in transactions of whole services when one does not fit.
        let report = apply::apply_budgeted(
            &mut self.admin,
            &self.manifest,
            &self.desired,
            &options,
            &confirmed,
            false,
        )
        .await?;
        writeln!(
            out,
            "2. Applied services.toml.example: {} changes, {} statements, {}, {} ms.",
            report.plan.changes.len(),
            report.statements,
            match report.transactions {
                1 => "one transaction".to_string(),
                n => format!("{n} transactions of whole services (lock budget)"),
            },
            started.elapsed().as_millis()
        )?;
        let mut summary: Vec<(String, usize)> = Vec::new();
        for change in &report.plan.changes {
            let scope = change.scope.to_string();
            match summary.iter_mut().find(|(s, _)| *s == scope) {
                Some((_, n)) => *n += 1,
                None => summary.push((scope, 1)),
            }
        }
        for (scope, n) in summary {
            writeln!(out, "     {scope}: {n} change{}", crate::text::plural(n))?;
        }
        Ok(options.plan)
    }

    /// Step 4: log in as billing_rw with its generated password and show what the database
    /// allows it; returns the session, kept open to the end as an application's would be.
    async fn try_as_billing(
        &self,
        passwords: &BTreeMap<String, String>,
        out: &mut impl Write,
    ) -> anyhow::Result<Client> {
        let password = passwords.get("billing_rw").map(String::as_str);
        let billing = connect(
            &self.server,
            "billing_rw",
            &self.manifest.database.name,
            password,
        )
        .await?;
        writeln!(
            out,
            "4. Connected as billing_rw with its generated password (scram-sha-256):"
        )?;
        let statements = [
            "INSERT INTO invoices (customer_id, amount) VALUES (1, 42.00)",
            "SELECT count(*) FROM invoices",
            "SELECT string_agg(code, ', ') FROM reference.currencies",
            "SELECT * FROM monolith.customers",
            "CREATE TABLE public.sneaky (id int)",
            "DROP TABLE invoices",
        ];
        for statement in statements {
            show(&billing, statement, self.color, out).await?;
        }
        Ok(billing)
    }

    /// Step 5: the plan after the apply and the tables.
    async fn plan_again(&self, planning: &PlanOptions, out: &mut impl Write) -> anyhow::Result<()> {
        let (again, _) = live_plan(&self.admin, &self.manifest, &self.desired, planning).await?;
        writeln!(
            out,
            "5. Planned again: {}.",
            if again.is_empty() {
                "no changes, the cluster matches the manifest".to_string()
            } else {
                format!("{} changes pending", again.changes.len())
            }
        )?;
        Ok(())
    }

    /// Step 6: audit the converged cluster.
    async fn audit(&self, out: &mut impl Write) -> anyhow::Result<()> {
        let live = introspect(&self.admin, Depth::Dependencies).await?;
        let report = audit_state(Some(&self.manifest), &live)?;
        writeln!(
            out,
            "6. Audited the cluster: {} findings; {} declared exceptions (billing reads reference: {}).",
            report.findings.len(),
            report.exceptions.len(),
            self.manifest
                .service("billing")
                .and_then(|s| s.reads.first())
                .map_or("", |r| r.reason.as_str())
        )?;
        Ok(())
    }

    /// Step 7: two legacy shortcuts, and the audit that finds them.
    async fn take_shortcuts_and_audit(&self, out: &mut impl Write) -> anyhow::Result<()> {
        self.admin.batch_execute(SHORTCUTS).await?;
        writeln!(
            out,
            "7. Took two legacy shortcuts as the superuser (a foreign key from billing.invoices to\n   monolith.customers, SELECT on monolith.customers for notifications_rw); audit again:\n"
        )?;
        let live = introspect(&self.admin, Depth::Dependencies).await?;
        let report = audit_state(Some(&self.manifest), &live)?;
        crate::report::findings::human(&report.findings, self.color, out)?;
        Ok(())
    }
}

async fn connect(
    server: &LocalServer,
    user: &str,
    database: &str,
    password: Option<&str>,
) -> anyhow::Result<Client> {
    let mut conninfo = server.connection_string(user, database);
    if let Some(password) = password {
        // Generated passwords are hex: nothing to escape.
        conninfo.push_str(&format!(" password={password}"));
    }
    let (client, connection) = tokio_postgres::connect(&conninfo, NoTls)
        .await
        .with_context(|| format!("cannot connect to the demo server as {user}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Runs one statement as the connected role and prints what the database said.
async fn show(
    client: &Client,
    statement: &str,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (green, red, reset) = if color {
        ("\x1b[32m", "\x1b[31m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    writeln!(out, "   billing_rw=> {statement};")?;
    match client.simple_query(statement).await {
        Ok(messages) => {
            let value = messages.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            });
            match value {
                Some(value) => writeln!(out, "     {green}ok{reset}: {value}")?,
                None => writeln!(out, "     {green}ok{reset}")?,
            }
        }
        Err(error) => writeln!(out, "     {red}ERROR{reset}: {}", server_message(&error))?,
    }
    Ok(())
}

fn random_password() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for a password")?;
    Ok(crate::text::hex(&bytes))
}

/// Step 8, the last: verify as the superuser of the throwaway server, and show the table.
async fn verify_step(
    client: &tokio_postgres::Client,
    manifest: &crate::manifest::Manifest,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "\n8. Verified the boundary live (dbsplit verify): audit reads the grants, verify runs a\n   statement as each service role and sees what the server allows now:\n"
    )?;
    let report = crate::verify::verify(client, manifest, &[]).await?;
    crate::verify::render::human(&report, color, out)?;
    Ok(())
}
