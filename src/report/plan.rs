//! Renders a plan for people (a table per service, then the SQL) and for machines (JSON).
//!
//! Who answers for a service (the manifest's `team` and `contact`) is added here, at render
//! time, from the manifest ([`Owners`]): a [`Plan`] is also the saved-plan file and its
//! fingerprint, which must not change when a service changes hands.

use std::collections::BTreeMap;
use std::io::{self, Write};

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;

use crate::cli::PlanFormat;
use crate::finding::Owner;
use crate::manifest::Manifest;
use crate::plan::change::Marker;
use crate::plan::preflight::Blocked;
use crate::plan::{Change, Plan, Scope, sql};

/// Who answers for each service: its `team` and `contact`, for services that name either.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners(BTreeMap<String, Owner>);

impl Owners {
    /// The owners the manifest names (every database of a fleet).
    pub fn of(manifest: &Manifest) -> Self {
        Owners(
            manifest
                .services
                .iter()
                .filter(|s| s.team.is_some() || s.contact.is_some())
                .map(|s| {
                    let owner = Owner {
                        team: s.team.clone(),
                        contact: s.contact.clone(),
                    };
                    (s.name.clone(), owner)
                })
                .collect(),
        )
    }

    /// Who answers for the service a scope is, if it is one and names them.
    pub fn of_scope(&self, scope: &Scope) -> Option<&Owner> {
        scope.service().and_then(|name| self.0.get(name))
    }
}

/// `team @acme/billing, contact #billing-oncall`: what the human plan and the annotations show.
pub fn owned_by(owner: &Owner) -> String {
    let mut parts = Vec::new();
    if let Some(team) = &owner.team {
        parts.push(format!("team {team}"));
    }
    if let Some(contact) = &owner.contact {
        parts.push(format!("contact {contact}"));
    }
    parts.join(", ")
}

/// Writes `plan` in `format`, each service's changes with who answers for it.
pub fn render(
    format: PlanFormat,
    plan: &Plan,
    owners: &Owners,
    color: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    match format {
        PlanFormat::Human => human(plan, owners, color, out),
        PlanFormat::Sql => sql(plan, out),
        PlanFormat::Json => json(plan, owners, out),
        PlanFormat::Markdown => super::markdown::plan(plan, owners, out),
        PlanFormat::Github => super::github::plan(plan, owners, out),
    }
}

/// The JSON form of a plan: `{"changes":[{"service","kind","object","sql","team"?,"contact"?}]}`.
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
    /// Who answers for the service, when the manifest names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<&'a str>,
}

/// Writes the plan as JSON, one change per entry, SQL included.
pub fn json(plan: &Plan, owners: &Owners, out: &mut impl Write) -> io::Result<()> {
    let changes = plan
        .changes
        .iter()
        .map(|change| {
            let owner = owners.of_scope(&change.scope);
            JsonChange {
                service: change.scope.service(),
                kind: change.action.kind(),
                object: change.action.object(),
                sql: sql::statements(&change.action).join("\n"),
                team: owner.and_then(|o| o.team.as_deref()),
                contact: owner.and_then(|o| o.contact.as_deref()),
            }
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

/// Writes a summary table per scope (services first, in manifest order), each headed by who
/// answers for the service, then the SQL.
pub fn human(plan: &Plan, owners: &Owners, color: bool, out: &mut impl Write) -> io::Result<()> {
    if plan.is_empty() {
        writeln!(out, "No changes: the cluster matches the manifest.")?;
        return notes(plan, out);
    }
    for (scope, changes) in by_scope(plan) {
        write!(
            out,
            "{scope}: {} change{}",
            changes.len(),
            crate::text::plural(changes.len())
        )?;
        match owners.of_scope(scope) {
            Some(owner) => writeln!(out, " ({})", owned_by(owner))?,
            None => writeln!(out)?,
        }
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
    // One pass: a plan of 100,000 tables has 1,000 scopes and 300,000 changes.
    let mut groups: Vec<(&Scope, Vec<&Change>)> = Vec::new();
    let mut at: std::collections::BTreeMap<&Scope, usize> = std::collections::BTreeMap::new();
    for change in &plan.changes {
        let index = *at.entry(&change.scope).or_insert_with(|| {
            groups.push((&change.scope, Vec::new()));
            groups.len() - 1
        });
        groups[index].1.push(change);
    }
    // A stable sort: within a kind, the order the plan first names them.
    groups.sort_by_key(|(scope, _)| match scope {
        Scope::Service(_) => 0,
        Scope::Shared(_) => 1,
        Scope::Observer(_) => 2,
        Scope::Database(_) => 3,
    });
    groups
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::desired::desired_state;
    use crate::plan::bootstrap::bootstrap;
    use crate::plan::file::{SavedPlan, manifest_digest};

    /// billing names team and contact, notifications its team only, monolith no one.
    const MANIFEST: &str = r##"
version = 1

[database]
name = "app"

[services.billing]
team = "@acme/billing"
contact = "#billing-oncall"
roles.billing_rw = { access = "readwrite", password_env = "BILLING_DB_PASSWORD" }

[services.notifications]
team = "@acme/platform"

[services.monolith]
"##;

    fn planned(text: &str) -> (Manifest, Plan) {
        let manifest = Manifest::parse(Path::new("services.toml"), text).unwrap();
        let plan = bootstrap(&manifest, &desired_state(&manifest));
        (manifest, plan)
    }

    fn rendered(format: PlanFormat) -> String {
        let (manifest, plan) = planned(MANIFEST);
        let mut out = Vec::new();
        render(format, &plan, &Owners::of(&manifest), false, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn human_heads_each_service_with_its_team_and_contact() {
        let text = rendered(PlanFormat::Human);
        assert!(text.contains(
            "service billing: 14 changes (team @acme/billing, contact #billing-oncall)\n"
        ));
        assert!(text.contains("service notifications: 5 changes (team @acme/platform)\n"));
        assert!(text.contains("service monolith: 5 changes\n"));
        insta::assert_snapshot!(text);
    }

    #[test]
    fn json_puts_team_and_contact_on_every_change_of_their_service() {
        let mut json: serde_json::Value =
            serde_json::from_str(&rendered(PlanFormat::Json)).unwrap();
        for change in json["changes"].as_array_mut().unwrap() {
            let (team, contact) = match change["service"].as_str() {
                Some("billing") => (Some("@acme/billing"), Some("#billing-oncall")),
                Some("notifications") => (Some("@acme/platform"), None),
                _ => (None, None),
            };
            assert_eq!(
                change.get("team").and_then(|t| t.as_str()),
                team,
                "{change}"
            );
            assert_eq!(change.get("contact").and_then(|c| c.as_str()), contact);
            // The SQL is the example's snapshot's business (plan::tests).
            change.as_object_mut().unwrap().remove("sql");
        }
        insta::assert_json_snapshot!(json);
    }

    #[test]
    fn markdown_heads_each_service_with_its_team_as_code() {
        let text = rendered(PlanFormat::Markdown);
        assert!(text.contains(
            "#### service billing: 14 changes (team `@acme/billing`, contact \\#billing-oncall)\n"
        ));
        insta::assert_snapshot!(text);
    }

    #[test]
    fn github_writes_a_notice_per_change_with_its_team() {
        let text = rendered(PlanFormat::Github);
        let (_, plan) = planned(MANIFEST);
        assert_eq!(text.lines().count(), plan.changes.len());
        assert!(
            text.lines()
                .all(|l| l.starts_with("::notice title=dbsplit plan%3A "))
        );
        insta::assert_snapshot!(text);
    }

    #[test]
    fn owners_stay_out_of_the_saved_plan_and_its_fingerprint() {
        let (manifest, plan) = planned(MANIFEST);
        let (other, other_plan) = planned(
            &MANIFEST
                .replace("@acme/billing", "@acme/payments")
                .replace("#billing-oncall", "#payments"),
        );
        assert_ne!(Owners::of(&manifest), Owners::of(&other));
        assert_eq!(plan, other_plan);
        let desired = desired_state(&manifest);
        assert_eq!(
            manifest_digest(&desired),
            manifest_digest(&desired_state(&other))
        );
        let saved = SavedPlan::new(plan, &desired, &Default::default());
        let file = serde_json::to_string(&saved).unwrap();
        assert!(!file.contains("acme") && !file.contains("oncall"), "{file}");
    }
}
