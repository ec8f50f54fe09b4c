//! Renders findings (of `lint`, later of `audit`) for people and machines: `human` (a table per
//! rule, then counts), `json`, and via `sarif` and `github` the other two formats. Findings are
//! sorted by the caller (`finding::sort`); renderers keep that order.

use std::io::{self, Write};

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;

use crate::finding::{Finding, Location, RULES, Severity};

/// The formats findings render in (`--format` of lint and audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Github,
    Markdown,
}

/// Writes `findings` in `format`.
pub fn render(
    format: Format,
    findings: &[Finding],
    color: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    match format {
        Format::Human => human(findings, color, out),
        Format::Json => json(findings, out),
        Format::Sarif => super::sarif::sarif(findings, out),
        Format::Github => super::github::github(findings, out),
        Format::Markdown => super::markdown::findings(findings, out),
    }
}

/// `{"findings":[...]}`.
#[derive(Serialize)]
struct JsonFindings<'a> {
    findings: Vec<JsonFinding<'a>>,
}

/// One finding as JSON, a stable contract. A finding in a file (lint) has
/// `{"rule","severity","file","line","column","schema","target_schema","message"}`; one on a
/// database object (audit) `{"rule","severity","schema","object","target_schema","role","message"}`.
#[derive(Serialize)]
#[serde(untagged)]
enum JsonFinding<'a> {
    File {
        rule: &'static str,
        severity: &'static str,
        file: String,
        line: usize,
        column: usize,
        schema: Option<&'a str>,
        target_schema: Option<&'a str>,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        team: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        contact: Option<&'a str>,
    },
    Object {
        rule: &'static str,
        severity: &'static str,
        schema: Option<&'a str>,
        object: &'a str,
        target_schema: Option<&'a str>,
        role: Option<&'a str>,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        team: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        contact: Option<&'a str>,
    },
}

impl<'a> From<&'a Finding> for JsonFinding<'a> {
    fn from(f: &'a Finding) -> Self {
        let (rule, severity) = (f.rule.as_str(), f.severity.as_str());
        let (team, contact) = owner(f);
        match &f.location {
            Location::File { path, line, column } => JsonFinding::File {
                rule,
                severity,
                file: path.display().to_string(),
                line: *line,
                column: *column,
                schema: f.schema.as_deref(),
                target_schema: f.target_schema.as_deref(),
                message: &f.message,
                team,
                contact,
            },
            Location::Object { object } => JsonFinding::Object {
                rule,
                severity,
                schema: f.schema.as_deref(),
                object,
                target_schema: f.target_schema.as_deref(),
                role: f.role.as_deref(),
                message: &f.message,
                team,
                contact,
            },
        }
    }
}

/// The finding's team and contact, each when the manifest names it.
pub fn owner(f: &Finding) -> (Option<&str>, Option<&str>) {
    match &f.owner {
        Some(owner) => (owner.team.as_deref(), owner.contact.as_deref()),
        None => (None, None),
    }
}

/// Writes `{"findings":[...]}`.
pub fn json(findings: &[Finding], out: &mut impl Write) -> io::Result<()> {
    let findings = findings.iter().map(JsonFinding::from).collect();
    serde_json::to_writer_pretty(&mut *out, &JsonFindings { findings })?;
    writeln!(out)
}

/// `file:line:column` or the object's name.
pub fn location(location: &Location) -> String {
    match location {
        Location::File { path, line, column } => format!("{}:{line}:{column}", path.display()),
        Location::Object { object } => object.clone(),
    }
}

/// The finding's location, after its fleet target (`main/app: billing.invoices`) when it has one.
pub fn located(f: &Finding) -> String {
    match &f.place {
        Some(place) => format!("{}: {}", place.label(), location(&f.location)),
        None => location(&f.location),
    }
}

/// Whether a finding names its team or contact: the tables then have a `team` column.
pub fn any_owner(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.owner.is_some())
}

fn header(findings: &[Finding]) -> Vec<&'static str> {
    let mut header = vec!["", "location", "schema", "role", "message"];
    if any_owner(findings) {
        header.push("team");
    }
    header
}

/// A table per rule (in the order of the rule table), then the counts.
pub fn human(findings: &[Finding], color: bool, out: &mut impl Write) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(out, "No findings.");
    }
    for rule in RULES {
        let of_rule: Vec<&Finding> = findings.iter().filter(|f| f.rule == rule.id).collect();
        if of_rule.is_empty() {
            continue;
        }
        writeln!(
            out,
            "{}[{}] {} ({})",
            rule.severity,
            rule.name,
            rule.description,
            of_rule.len()
        )?;
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(header(findings));
        if color {
            table.enforce_styling();
        } else {
            table.force_no_tty();
        }
        for f in of_rule {
            let fg = match f.severity {
                Severity::Error => Color::Red,
                Severity::Warning => Color::Yellow,
            };
            let mut row = vec![
                Cell::new(f.severity.as_str()).fg(fg),
                Cell::new(located(f)),
                Cell::new(schemas(f)),
                Cell::new(f.role.as_deref().unwrap_or("")),
                Cell::new(&f.message),
            ];
            if any_owner(findings) {
                row.push(Cell::new(
                    f.owner.as_ref().map(|o| o.describe()).unwrap_or_default(),
                ));
            }
            table.add_row(row);
        }
        writeln!(out, "{table}")?;
        writeln!(out, "fix: {}\n", rule.fix)?;
    }
    writeln!(out, "{}", counts(findings))
}

/// The schemas a finding couples, `from → to`, or the one it names.
pub fn schemas(finding: &Finding) -> String {
    match (&finding.schema, &finding.target_schema) {
        (Some(from), Some(to)) => format!("{from} → {to}"),
        (Some(one), None) | (None, Some(one)) => one.clone(),
        (None, None) => String::new(),
    }
}

/// `N errors, M warnings`, under a table of findings.
pub fn counts(findings: &[Finding]) -> String {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    format!(
        "{errors} error{}, {warnings} warning{}",
        crate::text::plural(errors),
        crate::text::plural(warnings)
    )
}
