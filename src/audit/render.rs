//! What `audit` prints besides the findings themselves (which `report::findings` renders as
//! for `lint`): whether services were inferred, and with `--verbose` who belongs where and the
//! declared exceptions.

use std::io::{self, Write};

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::report::findings;

use super::Report;

/// The human lines after the findings: the sessions per service, the inferred-services line,
/// and with `verbose` the role -> service map (inferred only) and the declared exceptions.
pub fn human(report: &Report, verbose: bool, out: &mut impl Write) -> io::Result<()> {
    sessions(report, out)?;
    if report.inferred {
        let services: BTreeSet<&String> = report.roles.values().collect();
        writeln!(
            out,
            "\nServices were inferred from the cluster (no manifest): {} roles placed in {} services{}.",
            report.roles.len(),
            services.len(),
            if verbose {
                ""
            } else {
                "; --verbose lists them"
            }
        )?;
        if verbose {
            for (role, service) in &report.roles {
                writeln!(out, "  {role} -> {service}")?;
            }
        }
    }
    if !verbose {
        return Ok(());
    }
    if report.exceptions.is_empty() {
        return writeln!(out, "\nNo declared exceptions.");
    }
    writeln!(out, "\nDeclared exceptions ({}):", report.exceptions.len())?;
    for exception in &report.exceptions {
        let role = exception
            .role
            .as_deref()
            .map(|r| format!(" by {r}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {} {}{role}: {}",
            exception.rule, exception.object, exception.reason
        )?;
    }
    Ok(())
}

/// `Sessions per service (pg_stat_activity): in use of the connection limits`, one line per
/// service with its login roles.
fn sessions(report: &Report, out: &mut impl Write) -> io::Result<()> {
    if report.sessions.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nSessions per service (pg_stat_activity), in use of the connection limits:"
    )?;
    let width = report
        .sessions
        .iter()
        .map(|s| s.service.len())
        .max()
        .unwrap_or(0);
    for service in &report.sessions {
        let of = |limit: Option<i64>| match limit {
            Some(limit) => format!(" of {limit}"),
            None => " (no limit)".to_string(),
        };
        let roles: Vec<String> = service
            .roles
            .iter()
            .map(|r| {
                let pool = r.pool.map(|p| format!(", pool {p}")).unwrap_or_default();
                format!(
                    "{} {}{}{pool}",
                    r.role,
                    r.sessions,
                    of(r.connection_limit.map(i64::from))
                )
            })
            .collect();
        writeln!(
            out,
            "  {:width$}  {}{}: {}",
            service.service,
            service.sessions,
            of(service.limit),
            roles.join("; ")
        )?;
    }
    if report.sessions_hidden {
        writeln!(
            out,
            "Other roles' application_name is hidden from this role: shared-credentials needs pg_read_all_stats."
        )?;
    }
    Ok(())
}

/// `{"findings":[...],"inferred":bool}`, with `"sessions":[...]` per service when read, and with `verbose` `"roles":{"role":"service"}` and
/// `"exceptions":[{"rule","object","role","reason"}]`. Each finding is as `lint --format json`
/// writes one on a database object.
pub fn json(report: &Report, verbose: bool, out: &mut impl Write) -> io::Result<()> {
    json_with(report, None, verbose, out)
}

/// How one target of a fleet audit went: `{"cluster","database","status","error"?}`.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub cluster: String,
    pub database: String,
    /// `audited` or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// [`json`], with a fleet's `"targets":[...]` first when given.
pub fn json_with(
    report: &Report,
    targets: Option<&[TargetStatus]>,
    verbose: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    let findings = report
        .findings
        .iter()
        .map(|f| JsonFinding {
            place: f.place.as_ref().map(|p| JsonPlace {
                cluster: &p.cluster,
                database: p.database.as_deref(),
            }),
            rule: f.rule.as_str(),
            severity: f.severity.as_str(),
            schema: f.schema.as_deref(),
            object: findings::location(&f.location),
            target_schema: f.target_schema.as_deref(),
            role: f.role.as_deref(),
            message: &f.message,
            team: findings::owner(f).0,
            contact: findings::owner(f).1,
        })
        .collect();
    let exceptions = report
        .exceptions
        .iter()
        .map(|e| JsonException {
            rule: e.rule.as_str(),
            object: &e.object,
            role: e.role.as_deref(),
            reason: &e.reason,
        })
        .collect();
    let json = Json {
        targets,
        findings,
        inferred: report.inferred,
        roles: verbose.then_some(&report.roles),
        exceptions: verbose.then_some(exceptions),
        sessions: &report.sessions,
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}

#[derive(Serialize)]
struct Json<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    targets: Option<&'a [TargetStatus]>,
    findings: Vec<JsonFinding<'a>>,
    inferred: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exceptions: Option<Vec<JsonException<'a>>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    sessions: &'a [crate::pooler::activity::ServiceSessions],
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    /// With a fleet manifest: `"cluster"` and `"database"` (null for a cluster-wide finding).
    #[serde(flatten)]
    place: Option<JsonPlace<'a>>,
    rule: &'static str,
    severity: &'static str,
    schema: Option<&'a str>,
    object: String,
    target_schema: Option<&'a str>,
    role: Option<&'a str>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonPlace<'a> {
    cluster: &'a str,
    database: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonException<'a> {
    rule: &'static str,
    object: &'a str,
    role: Option<&'a str>,
    reason: &'a str,
}
