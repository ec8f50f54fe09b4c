//! Renders a plan for people (a table per service, then the SQL) and for machines (JSON).

use std::io::{self, Write};

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;

use crate::plan::change::Marker;
use crate::plan::preflight::Blocked;
use crate::plan::{Change, Plan, Scope, sql};

/// The JSON form of a plan: `{"changes":[{"service","kind","object","sql"}]}`.
#[derive(Serialize)]
struct JsonPlan<'a> {
    changes: Vec<JsonChange<'a>>,
    /// What the plan leaves alone and why.
    notes: &'a [String],
}

#[derive(Serialize)]
struct JsonChange<'a> {
    /// The service the change belongs to; null for shared schemas, observers and the database.
    service: Option<&'a str>,
    kind: &'static str,
    object: String,
    sql: String,
}

/// Writes the plan as JSON, one change per entry, SQL included.
pub fn json(plan: &Plan, out: &mut impl Write) -> io::Result<()> {
    let changes = plan
        .changes
        .iter()
        .map(|change| JsonChange {
            service: change.scope.service(),
            kind: change.action.kind(),
            object: change.action.object(),
            sql: sql::statements(&change.action).join("\n"),
        })
        .collect();
    let notes = &plan.notes;
    serde_json::to_writer_pretty(&mut *out, &JsonPlan { changes, notes })?;
    writeln!(out)
}

/// Writes the SQL script of the plan.
pub fn sql(plan: &Plan, out: &mut impl Write) -> io::Result<()> {
    out.write_all(sql::script(plan).as_bytes())
}

/// Writes a summary table per scope (services first, in manifest order), then the SQL.
pub fn human(plan: &Plan, color: bool, out: &mut impl Write) -> io::Result<()> {
    if plan.is_empty() {
        writeln!(out, "No changes: the cluster matches the manifest.")?;
        return notes(plan, out);
    }
    for (scope, changes) in by_scope(plan) {
        writeln!(
            out,
            "{scope}: {} change{}",
            changes.len(),
            crate::text::plural(changes.len())
        )?;
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(vec!["", "kind", "object", "change"]);
        if color {
            table.enforce_styling();
        } else {
            table.force_no_tty();
        }
        for change in changes {
            let marker = change.action.marker();
            let color = match marker {
                Marker::Add => Color::Green,
                Marker::Change => Color::Yellow,
                Marker::Remove => Color::Red,
            };
            table.add_row(vec![
                Cell::new(marker.symbol()).fg(color),
                Cell::new(change.action.kind()),
                Cell::new(change.action.object()),
                Cell::new(change.action.describe()),
            ]);
        }
        writeln!(out, "{table}\n")?;
    }
    notes(plan, out)?;
    writeln!(out, "SQL:\n")?;
    sql(plan, out)
}

/// The changes grouped by scope: services first (in manifest order), then shared schemas,
/// observers and the database; changes keep their order within a scope.
pub(super) fn by_scope(plan: &Plan) -> Vec<(&Scope, Vec<&Change>)> {
    let mut scopes: Vec<&Scope> = Vec::new();
    for change in &plan.changes {
        if !scopes.contains(&&change.scope) {
            scopes.push(&change.scope);
        }
    }
    scopes.sort_by_key(|scope| match scope {
        Scope::Service(_) => 0,
        Scope::Shared(_) => 1,
        Scope::Observer(_) => 2,
        Scope::Database(_) => 3,
    });
    scopes
        .into_iter()
        .map(|scope| {
            let changes = plan.changes.iter().filter(|c| &c.scope == scope).collect();
            (scope, changes)
        })
        .collect()
}

fn notes(plan: &Plan, out: &mut impl Write) -> io::Result<()> {
    if plan.notes.is_empty() {
        return Ok(());
    }
    writeln!(out, "Notes:")?;
    for note in &plan.notes {
        writeln!(out, "  - {note}")?;
    }
    writeln!(out)
}

/// What `apply` would refuse, for people.
pub fn blocked(who: &str, blocked: &[Blocked]) -> String {
    let mut text = format!(
        "\n{} change{} cannot be made as {who}; apply refuses until a superuser runs the statements below:\n",
        blocked.len(),
        crate::text::plural(blocked.len())
    );
    for item in blocked {
        text.push_str(&format!("  - {item}\n"));
    }
    text
}
