//! Markdown for pull-request comments and GitHub job summaries: `plan --format markdown` (a
//! table per service, then the SQL folded away) and `audit`/`lint --format markdown` (one table
//! of findings). Nothing secret is in a plan: passwords appear only as the names of their
//! environment variables (`$BILLING_DB_PASSWORD`), as in every other format.

use std::io::{self, Write};

use crate::finding::{Finding, Owner};
use crate::plan::{Plan, sql};

use super::findings::{counts, located, schemas};
use super::plan::{Owners, by_scope};
use crate::text::plural;

/// Writes the plan: a heading with the count, a table per scope (a service's headed by who
/// answers for it), the notes, the SQL in a collapsed `<details>` block.
pub fn plan(plan: &Plan, owners: &Owners, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "### dbsplit plan: database `{}`\n",
        code(&plan.database)
    )?;
    if plan.is_empty() {
        writeln!(out, "No changes: the cluster matches the manifest.\n")?;
        return notes(plan, out);
    }
    let scopes = by_scope(plan);
    writeln!(
        out,
        "{} change{} in {} part{} of the manifest.\n",
        plan.changes.len(),
        plural(plan.changes.len()),
        scopes.len(),
        plural(scopes.len())
    )?;
    for (scope, changes) in scopes {
        write!(
            out,
            "#### {}: {} change{}",
            cell(&scope.to_string()),
            changes.len(),
            plural(changes.len())
        )?;
        match owners.of_scope(scope) {
            Some(owner) => writeln!(out, " ({})\n", owner_text(owner))?,
            None => writeln!(out, "\n")?,
        }
        writeln!(out, "| | kind | object | change |")?;
        writeln!(out, "|---|---|---|---|")?;
        for change in changes {
            writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                change.action.marker().symbol(),
                cell(change.action.kind()),
                cell(&change.action.object()),
                cell(&change.action.describe())
            )?;
        }
        writeln!(out)?;
    }
    notes(plan, out)?;
    writeln!(out, "<details><summary>SQL</summary>\n")?;
    // A fence longer than any run of backticks in the SQL (quoted identifiers may hold some).
    let script = sql::script(plan);
    let fence = "`".repeat(longest_run(&script, '`').max(2) + 1);
    writeln!(out, "{fence}sql")?;
    write!(out, "{script}")?;
    if !script.ends_with('\n') {
        writeln!(out)?;
    }
    writeln!(out, "{fence}\n\n</details>")
}

fn notes(plan: &Plan, out: &mut impl Write) -> io::Result<()> {
    if plan.notes.is_empty() {
        return Ok(());
    }
    writeln!(out, "Notes:\n")?;
    for note in &plan.notes {
        writeln!(out, "- {}", inline(note))?;
    }
    writeln!(out)
}

/// Writes the findings as one table (in the caller's order), then the counts.
pub fn findings(findings: &[Finding], out: &mut impl Write) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(out, "No findings.");
    }
    let with_team = super::findings::any_owner(findings);
    let (team_header, team_rule) = if with_team {
        (" team |", "---|")
    } else {
        ("", "")
    };
    writeln!(
        out,
        "| | rule | location | schema | role | message |{team_header}"
    )?;
    writeln!(out, "|---|---|---|---|---|---|{team_rule}")?;
    for f in findings {
        writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} |{}",
            f.severity,
            f.rule.as_str(),
            cell(&located(f)),
            cell(&schemas(f)),
            cell(f.role.as_deref().unwrap_or("")),
            inline(&f.message),
            if with_team {
                format!(
                    " {} |",
                    f.owner.as_ref().map(owner_cell).unwrap_or_default()
                )
            } else {
                String::new()
            }
        )?;
    }
    writeln!(out, "\n{}", counts(findings))
}

/// `team `@acme/billing`, contact #billing-oncall`: the team as code, so that a pull-request
/// comment shows it without notifying the team at every push (CODEOWNERS asks it for review).
fn owner_text(owner: &Owner) -> String {
    let mut parts = Vec::new();
    if let Some(team) = &owner.team {
        parts.push(format!("team `{}`", code(team)));
    }
    if let Some(contact) = &owner.contact {
        parts.push(format!("contact {}", cell(contact)));
    }
    parts.join(", ")
}

/// `` `@acme/billing` (#billing-oncall) ``, in a `team` column: [`Owner::describe`] with the
/// team as code, as in [`owner_text`].
fn owner_cell(owner: &Owner) -> String {
    match (&owner.team, &owner.contact) {
        (Some(team), Some(contact)) => format!("`{}` ({})", code(team), cell(contact)),
        (Some(team), None) => format!("`{}`", code(team)),
        (None, Some(contact)) => cell(contact),
        (None, None) => String::new(),
    }
}

/// Plain text in a table cell: markdown's special characters escaped, `|` and line breaks
/// that would end the cell or the row too.
fn cell(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '$' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '\r' => {}
            '\n' => escaped.push_str("<br>"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Text whose `names in backticks` stay code spans; everything else is escaped as [`cell`].
fn inline(text: &str) -> String {
    let mut rendered = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 && !part.is_empty() {
            rendered.push_str(&format!("`{}`", code(part)));
        } else {
            rendered.push_str(&cell(part));
        }
    }
    rendered
}

/// The content of a code span: no backtick can end it early, no `|` the cell, no line break
/// the row.
fn code(text: &str) -> String {
    text.replace('`', "'")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// The longest run of `c` in `text`.
fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::desired::desired_state;
    use crate::finding::Severity;
    use crate::finding::{Location, RuleId};
    use crate::manifest::Manifest;
    use crate::plan::bootstrap::bootstrap;

    const MANIFEST: &str = r#"
version = 1

[database]
name = "app"

[services.billing]
roles.billing_rw = { access = "readwrite", password_env = "BILLING_DB_PASSWORD" }
"#;

    fn rendered(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plan_is_a_table_per_service_with_passwords_as_env_names() {
        let manifest = Manifest::parse(Path::new("services.toml"), MANIFEST).unwrap();
        let plan = bootstrap(&manifest, &desired_state(&manifest));
        let text = rendered(|out| super::plan(&plan, &Default::default(), out));
        assert!(text.contains("password from \\$BILLING\\_DB\\_PASSWORD"));
        insta::assert_snapshot!(text);
    }

    #[test]
    fn an_empty_plan_says_so() {
        let plan = Plan {
            database: "app".into(),
            changes: Vec::new(),
            notes: vec!["schema `legacy` is not managed".into()],
        };
        insta::assert_snapshot!(rendered(|out| super::plan(&plan, &Default::default(), out)));
    }

    #[test]
    fn findings_are_one_table_with_counts() {
        let mut fk = Finding::new(
            RuleId::CrossSchemaFk,
            Location::File {
                path: PathBuf::from("migrations/billing/20250102000000_link_users.sql"),
                line: 1,
                column: 63,
            },
            "foreign key to `monolith.users` in schema `monolith`; keys across services couple them",
        );
        fk.schema = Some("billing".into());
        fk.target_schema = Some("monolith".into());
        let mut grant = Finding::new(
            RuleId::CrossSchemaGrant,
            Location::Object {
                object: "monolith.users".into(),
            },
            "`billing_rw` may SELECT `monolith.users` | a pipe",
        );
        grant.schema = Some("monolith".into());
        grant.role = Some("billing_rw".into());
        grant.severity = Severity::Warning;
        insta::assert_snapshot!(rendered(|out| findings(&[fk, grant], out)));
        assert_eq!(rendered(|out| findings(&[], out)), "No findings.\n");
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc_d"), "a\\|b<br>c\\_d");
        assert_eq!(inline("x `a|b` y"), "x `a\\|b` y");
        assert_eq!(code("a`b\nc"), "a'b c");
        assert_eq!(longest_run("a```b``", '`'), 3);
    }
}
