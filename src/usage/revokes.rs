//! `plan`'s warning before a revoke that runtime statements used: for each REVOKE of a table
//! privilege (or of USAGE on a schema) from a role, the statements `usage` saw that role run
//! against that table (or schema) with that kind of access. Only what `usage` records counts:
//! relations of other services than the role's own.

use crate::catalog::model::Privilege;
use crate::plan::Plan;
use crate::plan::change::{Action, Object, keywords};

use super::{Access, Usage, plural};

/// One note per revoke that runtime statements used, in plan order.
pub fn revoke_notes(plan: &Plan, usage: &Usage) -> Vec<String> {
    let mut notes = Vec::new();
    for change in &plan.changes {
        let Action::Revoke {
            privileges,
            on,
            from,
        } = &change.action
        else {
            continue;
        };
        // USAGE on a schema is needed for every access to what is in it.
        let schema_usage = matches!(on, Object::Schema(_))
            && privileges
                .as_ref()
                .is_some_and(|p| p.contains(&Privilege::Usage));
        let reads = schema_usage
            || privileges
                .as_ref()
                .is_none_or(|p| p.contains(&Privilege::Select));
        let writes = schema_usage
            || privileges.as_ref().is_none_or(|p| {
                [
                    Privilege::Insert,
                    Privilege::Update,
                    Privilege::Delete,
                    Privilege::Truncate,
                ]
                .iter()
                .any(|w| p.contains(w))
            });
        for grantee in from {
            let Some(role) = grantee
                .role()
                .and_then(|name| usage.roles.iter().find(|r| r.role == name))
            else {
                continue;
            };
            let (mut statements, mut calls) = (0u64, 0i64);
            for touch in &role.touches {
                let on_it = match on {
                    Object::Schema(schema) => touch.schema == *schema,
                    Object::InSchema { schema, name, .. } => {
                        touch.schema == *schema && touch.relation == *name
                    }
                    Object::Database(_) | Object::Column { .. } => false,
                };
                let kind = match touch.access {
                    Access::Read => reads,
                    Access::Write => writes,
                };
                if on_it && kind {
                    statements += touch.statements;
                    calls += touch.calls;
                }
            }
            if statements == 0 {
                continue;
            }
            let what = privileges.as_ref().map_or("ALL".to_string(), keywords);
            let since = usage
                .stats_reset
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            notes.push(format!(
                "revoke {what} on {on} from {}: used by {}, {} since the statistics were reset{since}",
                role.role,
                plural(statements, "statement"),
                thousands(calls, "call"),
            ));
        }
    }
    notes
}

/// `12,040 calls`, `1 call`.
fn thousands(n: i64, noun: &str) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if n < 0 { "-" } else { "" };
    let s = if n == 1 { "" } else { "s" };
    format!("{sign}{grouped} {noun}{s}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::{Grantee, ObjectKind};
    use crate::plan::change::{Change, Scope};
    use crate::usage::{RoleUsage, Touch};

    fn revoke(privileges: Option<&[Privilege]>, on: Object) -> Change {
        Change {
            scope: Scope::Database("app".into()),
            action: Action::Revoke {
                privileges: privileges.map(|p| p.iter().copied().collect()),
                on,
                from: vec![Grantee::Role("orders_rw".into()), Grantee::Public],
            },
        }
    }

    fn table(name: &str) -> Object {
        Object::InSchema {
            kind: ObjectKind::Table,
            schema: "billing".into(),
            name: name.into(),
            args: None,
        }
    }

    #[test]
    fn revokes_of_used_privileges_are_marked_with_statements_and_calls() {
        let touch = |relation: &str, access, statements, calls| Touch {
            schema: "billing".into(),
            relation: relation.into(),
            service: "billing".into(),
            access,
            statements,
            calls,
            rows: 0,
            declared: None,
        };
        let usage = Usage {
            roles: vec![RoleUsage {
                role: "orders_rw".into(),
                service: Some("orders".into()),
                observer: false,
                search_path: Vec::new(),
                statements: 4,
                calls: 12_045,
                touches: vec![
                    touch("invoices", Access::Read, 3, 12_040),
                    touch("ledger", Access::Write, 1, 5),
                ],
            }],
            stats_reset: Some("2026-12-01 00:00:00+00".into()),
            ..Usage::default()
        };
        let plan = Plan {
            database: "app".into(),
            changes: vec![
                revoke(Some(&[Privilege::Select]), table("invoices")),
                // Reads only: the write of ledger is not this revoke's.
                revoke(Some(&[Privilege::Select]), table("ledger")),
                revoke(Some(&[Privilege::Insert]), table("ledger")),
                revoke(None, Object::Schema("billing".into())),
                revoke(Some(&[Privilege::Usage]), Object::Schema("billing".into())),
                revoke(Some(&[Privilege::Select]), table("unused")),
            ],
            notes: Vec::new(),
        };
        assert_eq!(
            revoke_notes(&plan, &usage),
            [
                "revoke SELECT on table billing.invoices from orders_rw: used by 3 statements, 12,040 calls since the statistics were reset (2026-12-01 00:00:00+00)",
                "revoke INSERT on table billing.ledger from orders_rw: used by 1 statement, 5 calls since the statistics were reset (2026-12-01 00:00:00+00)",
                "revoke ALL on schema billing from orders_rw: used by 4 statements, 12,045 calls since the statistics were reset (2026-12-01 00:00:00+00)",
                "revoke USAGE on schema billing from orders_rw: used by 4 statements, 12,045 calls since the statistics were reset (2026-12-01 00:00:00+00)",
            ]
        );
        assert_eq!(thousands(1, "call"), "1 call");
        assert_eq!(thousands(1_234_567, "call"), "1,234,567 calls");
    }
}
