//! What `plan` and `apply` leave to a move: the service's write privileges where the move
//! closed them. On the source from the fence on (phases fenced, switched, cut-over, aborting)
//! and on a schema a finished move left behind; on the target until cut-over opens it (while
//! the forward subscription lives there, or the reverse publication's comment says its writes
//! are closed). Without this, an `apply` during a move would give the fenced side its writes
//! back, and a write there would be lost.
//!
//! One catalog query per plan, whatever the number of services; [`held`] and [`filter`] are pure.

use crate::catalog::introspect::{IntrospectError, Queryer};
use crate::catalog::model::{Grantee, ObjectKind, Privilege, Privileges};
use crate::manifest::{Access, Manifest};
use crate::plan::change::Object;
use crate::plan::{Action, Change, Plan};

use super::state::{Mark, Names, Phase};

/// The reverse publication's comment while the target's writes are closed (from before the
/// forward subscription goes until the writes open, and again while an abort moves them back).
pub const BACK_CLOSED: &str = "dbsplit move: reverse; the service's writes are closed here";
/// The reverse publication's comment once the target takes the service's writes (followed by
/// the source's address, see [`back_open`]).
pub const BACK_OPEN: &str = "dbsplit move: reverse";

/// The reverse publication's comment once the target takes the service's writes: names the
/// source (`user@host:port/dbname`, no password), where `migrate` on the target carries the
/// new tables of a migration.
pub fn back_open(source: &str) -> String {
    format!("{BACK_OPEN}; source {source}")
}

/// The source named by a [`back_open`] comment.
pub fn back_source(comment: &str) -> Option<&str> {
    comment.strip_prefix(BACK_OPEN)?.strip_prefix("; source ")
}

/// The privileges the fence takes.
pub const WRITES: [Privilege; 4] = [
    Privilege::Insert,
    Privilege::Update,
    Privilege::Delete,
    Privilege::Truncate,
];

const QUERY: &str =
    "SELECT 'publication', pubname::text, coalesce(obj_description(oid, 'pg_publication'), '')
     FROM pg_catalog.pg_publication
     WHERE pubname LIKE 'dbsplit\\_move\\_%' OR pubname LIKE 'dbsplit\\_back\\_%'
   UNION ALL
   SELECT 'subscription', subname::text, ''
     FROM pg_catalog.pg_subscription
     WHERE subname LIKE 'dbsplit\\_move\\_%'
       AND subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
   UNION ALL
   SELECT 'schema', nspname::text, ''
     FROM pg_catalog.pg_namespace
     WHERE obj_description(oid, 'pg_namespace') LIKE 'dbsplit: left behind%'
   UNION ALL
   SELECT 'user', current_user::text, ''";

/// A replication object or mark of a move in the planned database, as [`QUERY`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub kind: String,
    pub name: String,
    pub comment: String,
}

/// A service whose writes the move closed in the planned database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub service: String,
    pub schema: String,
    pub writers: Vec<String>,
    /// Why, for the plan's note.
    pub why: String,
}

/// The service's roles the fence closes: its `readwrite` logins.
pub fn writers(service: &crate::manifest::Service) -> Vec<&str> {
    service
        .roles
        .iter()
        .filter(|r| r.access == Access::ReadWrite)
        .map(|r| r.name.as_str())
        .collect()
}

/// Reads the moves' marks in the planned database and takes the write grants they manage out
/// of `plan`, with a note saying so.
pub async fn hold(
    db: &impl Queryer,
    manifest: &Manifest,
    plan: &mut Plan,
) -> Result<(), IntrospectError> {
    let sightings = sightings(db).await?;
    filter(plan, &held(&sightings, manifest));
    keep_mover(plan, &sightings, manifest);
    Ok(())
}

/// The moves' marks in the planned database ([`QUERY`]), for [`held`].
pub async fn sightings(db: &impl Queryer) -> Result<Vec<Sighting>, IntrospectError> {
    let rows = db
        .query_all(QUERY)
        .await
        .map_err(|error| IntrospectError::Query {
            query: "moves in progress",
            source: crate::pg::error::ServerError(error),
        })?;
    Ok(rows
        .iter()
        .map(|row| Sighting {
            kind: row.get(0),
            name: row.get(1),
            comment: row.get(2),
        })
        .collect())
}

/// The services whose writes a move closed here.
pub fn held(sightings: &[Sighting], manifest: &Manifest) -> Vec<Held> {
    let seen = |kind: &str, name: &str| sightings.iter().find(|s| s.kind == kind && s.name == name);
    let mut held = Vec::new();
    for service in &manifest.services {
        let names = Names::of(&service.name);
        let source_phase = seen("publication", &names.forward)
            .and_then(|s| Mark::parse(&s.comment))
            .map(|m| m.phase)
            .filter(|p| *p != Phase::Copying);
        let why = if let Some(phase) = source_phase {
            Some(format!(
                "the move's source, fenced (phase {})",
                phase.as_str()
            ))
        } else if seen("schema", &service.schema).is_some() {
            Some("left behind by a finished move, fenced".to_string())
        } else if seen("subscription", &names.forward).is_some()
            || seen("publication", &names.back).is_some_and(|s| s.comment == BACK_CLOSED)
        {
            Some("the move's target, closed until cut-over".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            held.push(Held {
                service: service.name.clone(),
                schema: service.schema.clone(),
                writers: writers(service).into_iter().map(str::to_string).collect(),
                why,
            });
        }
    }
    held
}

/// Takes out of the plan's revokes the USAGE and SELECT that the connecting role holds on the
/// schema of a service whose move is under way here (any of its replication objects seen): a
/// move run by a role that is not a superuser gives it those for its subscriptions'
/// lookups and initial copy (`relocate::replication::grant_move_reads`) and takes them back
/// when it ends. Notes what it left alone.
pub fn keep_mover(plan: &mut Plan, sightings: &[Sighting], manifest: &Manifest) {
    let Some(role) = sightings.iter().find(|s| s.kind == "user").map(|s| &s.name) else {
        return;
    };
    let mover = Grantee::Role(role.clone());
    let seen = |kind: &str, name: &str| sightings.iter().any(|s| s.kind == kind && s.name == name);
    for service in &manifest.services {
        let names = Names::of(&service.name);
        if !(seen("publication", &names.forward)
            || seen("subscription", &names.forward)
            || seen("publication", &names.back))
        {
            continue;
        }
        let mut left = 0;
        for change in &mut plan.changes {
            let Action::Revoke {
                privileges: Some(privileges),
                on,
                from,
            } = &mut change.action
            else {
                continue;
            };
            let in_schema = match on {
                Object::Schema(schema) => schema == &service.schema,
                Object::InSchema { schema, .. } => schema == &service.schema,
                _ => false,
            };
            let reads = privileges
                .iter()
                .all(|p| matches!(p, Privilege::Usage | Privilege::Select));
            if in_schema && reads && from.contains(&mover) {
                from.retain(|g| g != &mover);
                left += 1;
            }
        }
        plan.changes.retain(
            |change| !matches!(&change.action, Action::Revoke { from, .. } if from.is_empty()),
        );
        if left > 0 {
            plan.notes.push(format!(
                "left {left} grant(s) of USAGE or SELECT on schema `{}` to {role} alone: the move of service `{}` under way reads it as {role}, and takes them back when it ends",
                service.schema, service.name
            ));
        }
    }
}

/// Takes the write privileges of each held service's writers on its schema's relations out of
/// the plan's grants (keeping the rest of each grant), and notes what it left alone.
pub fn filter(plan: &mut Plan, held: &[Held]) {
    for hold in held {
        let mut left = 0;
        let mut kept = Vec::with_capacity(plan.changes.len());
        for change in plan.changes.drain(..) {
            let (keep, took) = split(change, hold);
            left += usize::from(took);
            kept.extend(keep);
        }
        plan.changes = kept;
        if left > 0 {
            plan.notes.push(format!(
                "left {left} grant(s) of INSERT, UPDATE, DELETE on schema `{}` to {} alone: {} by `dbsplit move {}`, which gives them back",
                hold.schema,
                hold.writers.join(", "),
                hold.why,
                hold.service
            ));
        }
    }
}

/// The change without the held writes (none, itself, or the parts that remain), and whether
/// anything was taken.
fn split(change: Change, hold: &Held) -> (Vec<Change>, bool) {
    let Action::Grant { privileges, on, to } = &change.action else {
        return (vec![change], false);
    };
    let in_schema = match on {
        Object::InSchema { kind, schema, .. } => {
            schema == &hold.schema && *kind != ObjectKind::Sequence
        }
        Object::Column { schema, .. } => schema == &hold.schema,
        _ => false,
    };
    let writes = privileges.iter().any(|p| WRITES.contains(p));
    let is_held = |g: &Grantee| matches!(g, Grantee::Role(r) if hold.writers.contains(r));
    if !in_schema || !writes || !to.iter().any(is_held) {
        return (vec![change], false);
    }
    let (held_to, free_to): (Vec<Grantee>, Vec<Grantee>) = to.iter().cloned().partition(is_held);
    let rest: Privileges = privileges
        .iter()
        .filter(|p| !WRITES.contains(p))
        .copied()
        .collect();
    let mut parts = Vec::new();
    for (privileges, to) in [(rest, held_to), (privileges.clone(), free_to)] {
        if !privileges.is_empty() && !to.is_empty() {
            parts.push(Change {
                scope: change.scope.clone(),
                action: Action::Grant {
                    privileges,
                    on: on.clone(),
                    to,
                },
            });
        }
    }
    (parts, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Scope;

    fn manifest() -> Manifest {
        Manifest::parse(
            std::path::Path::new("services.toml"),
            r#"version = 1
[database]
name = "app"
[services.billing]
roles.billing_rw = { access = "readwrite" }
roles.billing_ro = { access = "readonly" }
"#,
        )
        .expect("a valid manifest")
    }

    fn sighting(kind: &str, name: &str, comment: &str) -> Sighting {
        Sighting {
            kind: kind.into(),
            name: name.into(),
            comment: comment.into(),
        }
    }

    fn grant(privileges: &[Privilege], table: &str, to: &[&str]) -> Change {
        Change {
            scope: Scope::Service("billing".into()),
            action: Action::Grant {
                privileges: privileges.iter().copied().collect(),
                on: Object::InSchema {
                    kind: ObjectKind::Table,
                    schema: "billing".into(),
                    name: table.into(),
                    args: None,
                },
                to: to.iter().map(|r| Grantee::Role(r.to_string())).collect(),
            },
        }
    }

    fn mark(phase: Phase) -> String {
        Mark::new("billing", phase, "postgres@db:5432/app").to_comment()
    }

    #[test]
    fn the_fenced_source_the_closed_target_and_a_left_schema_are_held() {
        let m = manifest();
        let holds = |s: &[Sighting]| held(s, &m).into_iter().map(|h| h.why).collect::<Vec<_>>();
        assert!(holds(&[]).is_empty());
        let copying = sighting("publication", "dbsplit_move_billing", &mark(Phase::Copying));
        assert!(holds(&[copying]).is_empty(), "writes stay on the source");
        for phase in [
            Phase::Fenced,
            Phase::Switched,
            Phase::CutOver,
            Phase::Aborting,
        ] {
            let fenced = sighting("publication", "dbsplit_move_billing", &mark(phase));
            assert_eq!(holds(&[fenced]).len(), 1, "{phase:?}");
        }
        let target = sighting("subscription", "dbsplit_move_billing", "");
        assert_eq!(held(&[target], &m)[0].writers, ["billing_rw"]);
        let closed = sighting("publication", "dbsplit_back_billing", BACK_CLOSED);
        assert_eq!(holds(&[closed]).len(), 1);
        let open = sighting(
            "publication",
            "dbsplit_back_billing",
            &back_open("u@h:1/app"),
        );
        assert_eq!(back_source(&open.comment), Some("u@h:1/app"));
        assert_eq!(back_source(BACK_CLOSED), None);
        assert!(holds(&[open]).is_empty(), "the target took over");
        let left = sighting("schema", "billing", "");
        assert!(holds(&[left])[0].contains("left behind"));
    }

    #[test]
    fn only_the_writes_of_the_held_writers_leave_the_plan() {
        use Privilege::*;
        let mut plan = Plan {
            database: "app".into(),
            changes: vec![
                grant(&[Insert, Update, Delete], "events", &["billing_rw"]),
                grant(&[Select, Insert], "invoices", &["billing_rw", "other_rw"]),
                grant(&[Select], "invoices", &["billing_ro"]),
            ],
            notes: vec![],
        };
        let hold = held(&[sighting("schema", "billing", "")], &manifest());
        filter(&mut plan, &hold);
        assert_eq!(
            plan.changes,
            vec![
                grant(&[Select], "invoices", &["billing_rw"]),
                grant(&[Select, Insert], "invoices", &["other_rw"]),
                grant(&[Select], "invoices", &["billing_ro"]),
            ]
        );
        assert_eq!(plan.notes.len(), 1);
        assert!(
            plan.notes[0].starts_with(
                "left 2 grant(s) of INSERT, UPDATE, DELETE on schema `billing` to billing_rw alone"
            ),
            "{}",
            plan.notes[0]
        );
    }
}
