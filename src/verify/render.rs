//! `verify` output: a table per role and one of every hole for people, a stable JSON struct for
//! machines.

use std::io::{self, Write};

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;

use super::{Check, Kind, Outcome, Report, RoleResult};

fn table(header: Vec<&str>, color: bool) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// A line per role, then every hole with the statement that showed it, then what could not be
/// verified.
pub fn human(report: &Report, color: bool, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "Verified as {} in database {}: {} role{}, {} statement{}, each in a savepoint of a \
         transaction that was rolled back.",
        report.connected_as,
        report.database,
        report.roles.len(),
        crate::text::plural(report.roles.len()),
        report.probes(),
        crate::text::plural(report.probes()),
    )?;
    let mut roles = table(
        vec!["role", "service", "access", "statements", "result"],
        color,
    );
    for role in &report.roles {
        let holes = role.checks.iter().filter(|c| c.is_hole()).count();
        let errors = role
            .checks
            .iter()
            .filter(|c| c.got == Outcome::Error)
            .count();
        let result = if role.trouble.is_some() {
            Cell::new("not verified").fg(Color::Red)
        } else if holes > 0 {
            Cell::new(format!("{holes} hole{}", crate::text::plural(holes))).fg(Color::Red)
        } else if errors > 0 {
            Cell::new(format!("{errors} failed")).fg(Color::Yellow)
        } else {
            Cell::new("holds").fg(Color::Green)
        };
        roles.add_row(vec![
            Cell::new(&role.role),
            Cell::new(role.service.as_deref().unwrap_or("(observer)")),
            Cell::new(role.access),
            Cell::new(role.checks.len()),
            result,
        ]);
    }
    writeln!(out, "{roles}")?;

    let holes: Vec<(&RoleResult, &Check)> = report.holes().collect();
    if !holes.is_empty() {
        writeln!(
            out,
            "\n{} hole{} in the boundary:",
            holes.len(),
            crate::text::plural(holes.len())
        )?;
        let mut table = table(vec!["role", "statement", "expected", "got"], color);
        for (role, check) in &holes {
            table.add_row(vec![
                Cell::new(&role.role),
                Cell::new(&check.probe.statement),
                Cell::new(check.probe.expected.as_str()),
                Cell::new(check.got.as_str()).fg(Color::Red),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    let failed: Vec<(&RoleResult, &Check)> = report
        .roles
        .iter()
        .flat_map(|r| {
            r.checks
                .iter()
                .filter(|c| c.got == Outcome::Error)
                .map(move |c| (r, c))
        })
        .collect();
    if !failed.is_empty() {
        writeln!(
            out,
            "\nStatements that failed for another reason (not proven):"
        )?;
        for (role, check) in failed {
            writeln!(
                out,
                "  {}: {}: {} (SQLSTATE {})",
                role.role,
                check.probe.statement,
                check.message.as_deref().unwrap_or(""),
                check.sqlstate.as_deref().unwrap_or("")
            )?;
        }
    }
    for (schema, why) in &report.untested {
        writeln!(out, "note: schema {schema}: {why}")?;
    }
    if report.has_trouble() {
        writeln!(
            out,
            "\nThe verification is incomplete: see the errors above or on stderr."
        )
    } else if holes.is_empty() {
        writeln!(
            out,
            "\nThe boundary holds: every statement did what the manifest says."
        )
    } else {
        writeln!(
            out,
            "\nThe boundary has holes: `dbsplit plan` shows the changes that close them."
        )
    }
}

/// `verify --format json`: a stable contract.
#[derive(Serialize)]
struct JsonReport<'a> {
    database: &'a str,
    connected_as: &'a str,
    /// No hole and every role verified.
    holds: bool,
    roles: Vec<JsonRole<'a>>,
    holes: Vec<JsonCheck<'a>>,
    untested: Vec<JsonUntested<'a>>,
}

#[derive(Serialize)]
struct JsonRole<'a> {
    role: &'a str,
    service: Option<&'a str>,
    access: &'a str,
    /// Why the role could not be verified; `null` when it was.
    trouble: Option<&'a str>,
    checks: Vec<JsonCheck<'a>>,
}

#[derive(Serialize)]
struct JsonCheck<'a> {
    role: &'a str,
    schema: &'a str,
    kind: Kind,
    statement: &'a str,
    expected: Outcome,
    got: Outcome,
    sqlstate: Option<&'a str>,
    message: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonUntested<'a> {
    schema: &'a str,
    reason: &'a str,
}

fn json_check<'a>(role: &'a RoleResult, check: &'a Check) -> JsonCheck<'a> {
    JsonCheck {
        role: &role.role,
        schema: &check.probe.schema,
        kind: check.probe.kind,
        statement: &check.probe.statement,
        expected: check.probe.expected,
        got: check.got,
        sqlstate: check.sqlstate.as_deref(),
        message: check.message.as_deref(),
    }
}

/// `{"database","connected_as","holds","roles":[...],"holes":[...],"untested":[...]}`.
pub fn json(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let holes: Vec<JsonCheck> = report.holes().map(|(r, c)| json_check(r, c)).collect();
    let json = JsonReport {
        database: &report.database,
        connected_as: &report.connected_as,
        holds: holes.is_empty() && !report.has_trouble(),
        roles: report
            .roles
            .iter()
            .map(|role| JsonRole {
                role: &role.role,
                service: role.service.as_deref(),
                access: role.access,
                trouble: role.trouble.as_deref(),
                checks: role.checks.iter().map(|c| json_check(role, c)).collect(),
            })
            .collect(),
        holes,
        untested: report
            .untested
            .iter()
            .map(|(schema, reason)| JsonUntested { schema, reason })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}
