//! `migrate status`: one row per service with its applied and pending migrations.

use std::io::{self, Write};

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use crate::migrate::verify::Status;

/// One service's row.
#[derive(Debug, Clone)]
pub struct ServiceStatus {
    pub service: String,
    pub status: Status,
    /// When the newest applied migration ran, as the server reported it.
    pub last_applied_at: Option<String>,
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
        let state = if status.problems.is_empty() {
            Cell::new(if status.pending == 0 {
                "up to date"
            } else {
                "pending"
            })
            .fg(if status.pending == 0 {
                Color::Green
            } else {
                Color::Yellow
            })
        } else {
            let briefs: Vec<String> = status.problems.iter().map(|p| p.brief()).collect();
            Cell::new(briefs.join("\n")).fg(Color::Red)
        };
        table.add_row(vec![
            Cell::new(&row.service),
            Cell::new(status.applied),
            Cell::new(status.pending),
            Cell::new(last),
            state,
        ]);
    }
    writeln!(out, "{table}")?;
    for row in rows {
        for problem in &row.status.problems {
            writeln!(out, "{}: {problem}", row.service)?;
        }
    }
    Ok(())
}
