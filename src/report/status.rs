//! `migrate status`: one row per service with its applied and pending migrations, as a table or
//! as JSON.

use std::io::{self, Write};

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;

use crate::migrate::verify::Status;

/// One service's row.
#[derive(Debug, Clone)]
pub struct ServiceStatus {
    pub service: String,
    pub status: Status,
    /// When the newest applied migration ran, as the server reported it.
    pub last_applied_at: Option<String>,
    /// Why the login could not read the service's history, when it could not.
    pub unreadable: Option<String>,
    /// With a fleet manifest: the cluster and database the service is placed in.
    pub target: Option<(String, String)>,
}

impl ServiceStatus {
    /// `up-to-date`, `pending`, `blocked` (something would stop `migrate`) or `unreadable`.
    pub fn state(&self) -> &'static str {
        if self.unreadable.is_some() {
            "unreadable"
        } else if !self.status.problems.is_empty() {
            "blocked"
        } else if self.status.pending > 0 {
            "pending"
        } else {
            "up-to-date"
        }
    }
}

/// A table of every service, then the problems that stop `migrate` in full.
pub fn human(rows: &[ServiceStatus], color: bool, out: &mut impl Write) -> io::Result<()> {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "service",
            "applied",
            "pending",
            "last applied",
            "state",
        ]);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    for row in rows {
        let status = &row.status;
        let last = match (&status.last, &row.last_applied_at) {
            (Some(last), Some(at)) => format!("{} at {at} UTC", last.name),
            (Some(last), None) => last.name.clone(),
            (None, _) => "-".to_string(),
        };
        let state = match row.state() {
            "up-to-date" => Cell::new("up to date").fg(Color::Green),
            "pending" => Cell::new("pending").fg(Color::Yellow),
            "unreadable" => Cell::new("unreadable").fg(Color::Red),
            _ => {
                let briefs: Vec<String> = status.problems.iter().map(|p| p.brief()).collect();
                Cell::new(briefs.join("\n")).fg(Color::Red)
            }
        };
        let count = |n: usize| match row.unreadable {
            Some(_) => "-".to_string(),
            None => n.to_string(),
        };
        table.add_row(vec![
            Cell::new(&row.service),
            Cell::new(count(status.applied)),
            Cell::new(count(status.pending)),
            Cell::new(last),
            state,
        ]);
    }
    writeln!(out, "{table}")?;
    for row in rows {
        for problem in &row.status.problems {
            writeln!(out, "{}: {problem}", row.service)?;
        }
        if let Some(why) = &row.unreadable {
            writeln!(out, "{}: {why}", row.service)?;
        }
    }
    Ok(())
}

/// `{"services":[...]}`: the JSON contract of `migrate status --format json`.
#[derive(Serialize)]
struct JsonStatus<'a> {
    services: Vec<JsonService<'a>>,
}

#[derive(Serialize)]
struct JsonService<'a> {
    service: &'a str,
    /// With a fleet manifest: where the service is placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'a str>,
    /// `up-to-date`, `pending`, `blocked` or `unreadable`.
    state: &'static str,
    /// `null` when unreadable.
    applied: Option<usize>,
    pending: Option<usize>,
    last_applied: Option<&'a str>,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    last_applied_at: Option<&'a str>,
    /// What stops `migrate`, and why the history could not be read.
    problems: Vec<JsonProblem>,
}

#[derive(Serialize)]
struct JsonProblem {
    brief: String,
    message: String,
}

/// The rows as one JSON document.
pub fn json(rows: &[ServiceStatus], out: &mut impl Write) -> io::Result<()> {
    let services = rows
        .iter()
        .map(|row| {
            let readable = row.unreadable.is_none();
            let mut problems: Vec<JsonProblem> = row
                .status
                .problems
                .iter()
                .map(|p| JsonProblem {
                    brief: p.brief(),
                    message: p.to_string(),
                })
                .collect();
            if let Some(why) = &row.unreadable {
                problems.push(JsonProblem {
                    brief: "unreadable".into(),
                    message: why.clone(),
                });
            }
            JsonService {
                service: &row.service,
                cluster: row.target.as_ref().map(|t| t.0.as_str()),
                database: row.target.as_ref().map(|t| t.1.as_str()),
                state: row.state(),
                applied: readable.then_some(row.status.applied),
                pending: readable.then_some(row.status.pending),
                last_applied: row.status.last.as_ref().map(|l| l.name.as_str()),
                last_applied_at: row.last_applied_at.as_deref(),
                problems,
            }
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &JsonStatus { services })?;
    writeln!(out)
}
