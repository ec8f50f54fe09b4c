//! The SQL `apply` executes: the plan's statements, with GRANTs and REVOKEs of the same shape
//! merged into one statement over a list of objects, cut into simple-query messages. Pure: it
//! only reshapes text; the plan people read stays one change per object.
//!
//! Merging keeps the plan's order where it matters. Only consecutive GRANTs (or consecutive
//! REVOKEs, or REVOKE GRANT OPTIONs) merge: they commute, since each sets privileges of its
//! own grantees on its own objects. Any other change is a barrier, so an owner change still
//! precedes the grants that depend on it, and the caller cuts the list wherever the acting
//! role changes (`SET ROLE`).

use std::collections::HashMap;
use std::ops::Range;

use crate::plan::change::Action;

use super::{PrivilegeParts, privilege_parts, statements};

/// At most this many objects in one merged GRANT or REVOKE: PostgreSQL takes any number, but
/// a failing statement is quoted in the error and should stay readable.
pub const OBJECTS_PER_STATEMENT: usize = 500;

/// At most this many statements in one simple-query message.
pub const STATEMENTS_PER_MESSAGE: usize = 500;

/// At most about this many bytes in one simple-query message (a statement longer than this
/// goes alone).
const BYTES_PER_MESSAGE: usize = 1 << 20;

/// The statements that make `actions`, in order, with each run of consecutive GRANTs (or
/// REVOKEs) merged per shape (privileges, object kind, grantees, CASCADE), first seen first,
/// [`OBJECTS_PER_STATEMENT`] objects at most per statement.
pub fn grouped<'a>(actions: impl IntoIterator<Item = &'a Action>) -> Vec<String> {
    grouped_with(actions, statements)
}

/// [`grouped`], with `render` giving the statements of every change that is not merged.
pub fn grouped_with<'a>(
    actions: impl IntoIterator<Item = &'a Action>,
    render: impl Fn(&Action) -> Vec<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = Run::default();
    for action in actions {
        match privilege_parts(action) {
            Some(parts) => {
                if run.kind != Some(action.kind()) {
                    run.flush(&mut out);
                    run.kind = Some(action.kind());
                }
                run.push(parts);
            }
            None => {
                run.flush(&mut out);
                out.extend(render(action));
            }
        }
    }
    run.flush(&mut out);
    out
}

/// Consecutive privilege changes of one kind, by shape.
#[derive(Default)]
struct Run {
    kind: Option<&'static str>,
    /// (head, tail) → index in `shapes`.
    index: HashMap<(String, String), usize>,
    shapes: Vec<(PrivilegeParts, Vec<String>)>,
}

impl Run {
    fn push(&mut self, parts: PrivilegeParts) {
        let key = (parts.head.clone(), parts.tail.clone());
        match self.index.get(&key) {
            Some(&i) => self.shapes[i].1.push(parts.object),
            None => {
                self.index.insert(key, self.shapes.len());
                let object = parts.object.clone();
                self.shapes.push((parts, vec![object]));
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<String>) {
        for (parts, objects) in self.shapes.drain(..) {
            for chunk in objects.chunks(OBJECTS_PER_STATEMENT) {
                let names: Vec<&str> = chunk.iter().map(String::as_str).collect();
                out.push(parts.statement(&names));
            }
        }
        self.index.clear();
        self.kind = None;
    }
}

/// Cuts `statements` into simple-query messages, as ranges of indexes: at most
/// [`STATEMENTS_PER_MESSAGE`] statements and about 1 MiB each. Each statement ends in `;`, so
/// a message is the statements joined by newlines.
pub fn messages(statements: &[String]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, statement) in statements.iter().enumerate() {
        let full = i - start >= STATEMENTS_PER_MESSAGE
            || (i > start && bytes + statement.len() > BYTES_PER_MESSAGE);
        if full {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += statement.len() + 1;
    }
    if start < statements.len() {
        out.push(start..statements.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::catalog::model::{Grantee, ObjectKind, Privilege};
    use crate::plan::change::Object;

    use super::*;

    fn table(schema: &str, name: &str) -> Object {
        Object::InSchema {
            kind: ObjectKind::Table,
            schema: schema.to_string(),
            name: name.to_string(),
            args: None,
        }
    }

    fn grant(privileges: &[Privilege], on: Object, to: &str) -> Action {
        Action::Grant {
            privileges: privileges.iter().copied().collect::<BTreeSet<_>>(),
            on,
            to: vec![Grantee::Role(to.to_string())],
        }
    }

    fn revoke(on: Object, from: Grantee) -> Action {
        Action::Revoke {
            privileges: None,
            on,
            from: vec![from],
        }
    }

    fn owner(on: Object, owner: &str) -> Action {
        Action::AlterOwner {
            object: on,
            owner: owner.to_string(),
        }
    }

    #[test]
    fn merges_grants_of_one_shape_and_keeps_barriers() {
        use Privilege::{Insert, Select, Usage};
        let actions = vec![
            owner(table("billing", "invoices"), "billing_owner"),
            owner(table("billing", "lines"), "billing_owner"),
            grant(&[Usage], Object::Schema("billing".into()), "billing_rw"),
            grant(
                &[Select, Insert],
                table("billing", "invoices"),
                "billing_rw",
            ),
            grant(&[Select], table("billing", "invoices"), "billing_ro"),
            grant(&[Select, Insert], table("billing", "lines"), "billing_rw"),
            grant(&[Select], table("billing", "lines"), "billing_ro"),
            grant(
                &[Select],
                Object::InSchema {
                    kind: ObjectKind::Sequence,
                    schema: "billing".into(),
                    name: "lines_id_seq".into(),
                    args: None,
                },
                "billing_ro",
            ),
            grant(
                &[Select],
                Object::Column {
                    schema: "billing".into(),
                    table: "invoices".into(),
                    column: "total".into(),
                },
                "auditor",
            ),
            revoke(table("billing", "invoices"), Grantee::Public),
            revoke(table("billing", "lines"), Grantee::Public),
            Action::RevokeGrantOption {
                privileges: [Select].into_iter().collect::<BTreeSet<_>>(),
                on: table("billing", "lines"),
                from: vec![Grantee::Role("billing_ro".into())],
            },
            revoke(table("billing", "x\"; DROP"), Grantee::Public),
        ];
        insta::assert_snapshot!(grouped(&actions).join("\n"));
    }

    #[test]
    fn splits_long_lists() {
        let actions: Vec<Action> = (0..OBJECTS_PER_STATEMENT + 2)
            .map(|i| grant(&[Privilege::Select], table("s", &format!("t{i}")), "r"))
            .collect();
        let out = grouped(&actions);
        assert_eq!(out.len(), 2);
        assert!(out[0].starts_with(r#"GRANT SELECT ON TABLE "s"."t0", "s"."t1", "#));
        assert_eq!(
            out[1],
            r#"GRANT SELECT ON TABLE "s"."t500", "s"."t501" TO "r";"#
        );
    }

    #[test]
    fn a_new_role_is_created_and_marked_without_do_blocks() {
        use crate::catalog::model::RoleMark;
        let mark = RoleMark {
            databases: ["reports".to_string(), "app".to_string()]
                .into_iter()
                .collect(),
            password_version: Some(2),
        };
        let action = Action::MarkRole {
            role: "ware\"house".into(),
            mark,
        };
        assert_eq!(
            super::super::new_role_statements(&action),
            Some(vec![
                r#"COMMENT ON ROLE "ware""house" IS 'managed by dbsplit {"databases": ["app", "reports"], "password_version": 2}';"#
                    .to_string()
            ])
        );
        let revoke = revoke(table("s", "t"), Grantee::Public);
        assert_eq!(super::super::new_role_statements(&revoke), None);
    }

    #[test]
    fn a_single_change_reads_as_in_the_plan() {
        let action = grant(&[Privilege::Select], table("s", "t"), "r");
        assert_eq!(grouped([&action]), statements(&action));
    }

    #[test]
    fn messages_hold_at_most_their_share() {
        let statements: Vec<String> = (0..STATEMENTS_PER_MESSAGE * 2 + 1)
            .map(|i| format!("SELECT {i};"))
            .collect();
        assert_eq!(messages(&statements), vec![0..500, 500..1000, 1000..1001]);
        let big = vec!["x".repeat(BYTES_PER_MESSAGE); 3];
        assert_eq!(messages(&big), vec![0..1, 1..2, 2..3]);
        assert!(messages(&[]).is_empty());
    }
}
