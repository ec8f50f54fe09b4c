//! How `usage` prints: per role, the relations of other services it read or wrote (human), or
//! everything as JSON; SARIF and GitHub annotations carry the findings alone.

use std::io::{self, Write};

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;

use crate::report::findings::{self, Format};

use super::{Usage, plural};

/// Writes `usage` in `format`.
pub fn render(format: Format, usage: &Usage, color: bool, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Human => human(usage, color, out),
        Format::Json => json(usage, out),
        other => findings::render(other, &usage.findings, color, out),
    }
}

/// Notes about what the statistics do not show, for people (stderr with JSON and SARIF).
pub fn notes(usage: &Usage) -> Vec<String> {
    let mut notes = Vec::new();
    if usage.hidden > 0 {
        notes.push(format!(
            "pg_stat_statements shows this login only its own statements: {} of other roles are hidden; connect as a superuser or a member of pg_read_all_stats to see them",
            plural(usage.hidden, "statement")
        ));
    }
    if usage.unparsed > 0 {
        notes.push(format!(
            "the SQL parser could not read {}; their relation names were taken from their tokens",
            plural(usage.unparsed, "statement")
        ));
    }
    notes
}

fn human(usage: &Usage, color: bool, out: &mut impl Write) -> io::Result<()> {
    let since = usage
        .stats_reset
        .as_deref()
        .map(|t| format!(" since {t}"))
        .unwrap_or_default();
    writeln!(
        out,
        "Statements recorded by pg_stat_statements{since}, per role ({} of superusers and {} of dbsplit left out):\n",
        usage.superuser_statements, usage.own_statements
    )?;
    let mut silent = Vec::new();
    for role in &usage.roles {
        if role.statements == 0 {
            silent.push(role.role.as_str());
            continue;
        }
        let whose = match (&role.service, role.observer) {
            (Some(service), _) => format!("service {service}"),
            (None, true) => "observer".to_string(),
            (None, false) => "outside every service".to_string(),
        };
        writeln!(
            out,
            "{} ({whose}; search_path {}): {}, {}",
            role.role,
            if role.search_path.is_empty() {
                "empty".to_string()
            } else {
                role.search_path.join(", ")
            },
            plural(role.statements, "statement"),
            plural(role.calls.max(0) as u64, "call")
        )?;
        if role.touches.is_empty() {
            writeln!(out, "  nothing of another service\n")?;
            continue;
        }
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(vec![
                "",
                "relation",
                "service",
                "statements",
                "calls",
                "rows",
                "declared",
            ]);
        if color {
            table.enforce_styling();
        } else {
            table.force_no_tty();
        }
        for touch in &role.touches {
            let fg = match (&touch.declared, touch.access) {
                (Some(_), _) => Color::Reset,
                (None, super::Access::Read) => Color::Yellow,
                (None, super::Access::Write) => Color::Red,
            };
            table.add_row(vec![
                Cell::new(touch.access.as_str()).fg(fg),
                Cell::new(touch.qualified()),
                Cell::new(&touch.service),
                Cell::new(touch.statements),
                Cell::new(touch.calls),
                Cell::new(touch.rows),
                Cell::new(touch.declared.as_deref().unwrap_or("")),
            ]);
        }
        writeln!(out, "{table}\n")?;
    }
    if !silent.is_empty() {
        writeln!(out, "No statements recorded for: {}.\n", silent.join(", "))?;
    }
    for note in notes(usage) {
        writeln!(out, "note: {note}")?;
    }
    writeln!(
        out,
        "{} (cross-schema-query)",
        plural(usage.findings.len() as u64, "warning")
    )
}

#[derive(Serialize)]
struct Json<'a> {
    findings: serde_json::Value,
    roles: Vec<JsonRole<'a>>,
    exceptions: Vec<JsonException<'a>>,
    hidden_statements: u64,
    unparsed_statements: u64,
    ignored_statements: Ignored,
    stats_reset: Option<&'a str>,
    inferred: bool,
}

#[derive(Serialize)]
struct Ignored {
    superuser: u64,
    dbsplit: u64,
}

#[derive(Serialize)]
struct JsonRole<'a> {
    role: &'a str,
    service: Option<&'a str>,
    observer: bool,
    search_path: &'a [String],
    statements: u64,
    calls: i64,
    relations: Vec<JsonTouch<'a>>,
}

#[derive(Serialize)]
struct JsonTouch<'a> {
    relation: String,
    schema: &'a str,
    service: &'a str,
    access: &'static str,
    statements: u64,
    calls: i64,
    rows: i64,
    declared: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonException<'a> {
    rule: &'static str,
    object: &'a str,
    role: Option<&'a str>,
    reason: &'a str,
}

/// `{"findings":[...],"roles":[{"role","service","observer","search_path","statements","calls",
/// "relations":[{"relation","schema","service","access","statements","calls","rows","declared"}]}],
/// "exceptions":[...],"hidden_statements","unparsed_statements","ignored_statements":{"superuser",
/// "dbsplit"},"stats_reset","inferred"}`; each finding as `audit --format json` writes one.
fn json(usage: &Usage, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &json_value(usage)?)?;
    writeln!(out)
}

/// The usage of each target of a fleet as one document: the v1 document's `findings`,
/// `roles` and `exceptions` of every target, each entry with its `cluster` and `database`;
/// the statement counts summed; `targets` lists each target with its `stats_reset`.
pub fn fleet_json(targets: &[(&str, &str, &Usage)], out: &mut impl Write) -> io::Result<()> {
    let mut merged = serde_json::json!({
        "findings": [],
        "roles": [],
        "exceptions": [],
        "hidden_statements": 0,
        "unparsed_statements": 0,
        "ignored_statements": {"superuser": 0, "dbsplit": 0},
        "targets": [],
        "inferred": false,
    });
    let mut sums = [0u64; 4];
    for (cluster, database, usage) in targets {
        let mut value = json_value(usage)?;
        for list in ["findings", "roles", "exceptions"] {
            let items = value[list]
                .as_array_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            for mut item in items {
                item["cluster"] = (*cluster).into();
                item["database"] = (*database).into();
                if let Some(all) = merged[list].as_array_mut() {
                    all.push(item);
                }
            }
        }
        sums[0] += usage.hidden;
        sums[1] += usage.unparsed;
        sums[2] += usage.superuser_statements;
        sums[3] += usage.own_statements;
        if let Some(all) = merged["targets"].as_array_mut() {
            all.push(serde_json::json!({
                "cluster": cluster,
                "database": database,
                "stats_reset": usage.stats_reset,
            }));
        }
    }
    merged["hidden_statements"] = sums[0].into();
    merged["unparsed_statements"] = sums[1].into();
    merged["ignored_statements"] = serde_json::json!({"superuser": sums[2], "dbsplit": sums[3]});
    serde_json::to_writer_pretty(&mut *out, &merged)?;
    writeln!(out)
}

/// The v1 JSON document of `usage`, as a value.
fn json_value(usage: &Usage) -> io::Result<serde_json::Value> {
    let mut buffer = Vec::new();
    findings::json(&usage.findings, &mut buffer)?;
    let mut findings: serde_json::Value = serde_json::from_slice(&buffer)?;
    let json = Json {
        findings: findings["findings"].take(),
        roles: usage
            .roles
            .iter()
            .map(|r| JsonRole {
                role: &r.role,
                service: r.service.as_deref(),
                observer: r.observer,
                search_path: &r.search_path,
                statements: r.statements,
                calls: r.calls,
                relations: r
                    .touches
                    .iter()
                    .map(|t| JsonTouch {
                        relation: t.qualified(),
                        schema: &t.schema,
                        service: &t.service,
                        access: t.access.as_str(),
                        statements: t.statements,
                        calls: t.calls,
                        rows: t.rows,
                        declared: t.declared.as_deref(),
                    })
                    .collect(),
            })
            .collect(),
        exceptions: usage
            .exceptions
            .iter()
            .map(|e| JsonException {
                rule: e.rule.as_str(),
                object: &e.object,
                role: e.role.as_deref(),
                reason: &e.reason,
            })
            .collect(),
        hidden_statements: usage.hidden,
        unparsed_statements: usage.unparsed,
        ignored_statements: Ignored {
            superuser: usage.superuser_statements,
            dbsplit: usage.own_statements,
        },
        stats_reset: usage.stats_reset.as_deref(),
        inferred: usage.inferred,
    };
    Ok(serde_json::to_value(&json)?)
}
