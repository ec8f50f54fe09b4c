//! What one statement from `pg_stat_statements` touches: the relation names it mentions (from
//! `lint`'s name extraction: the parser's view, or its tokens when the parser cannot read it)
//! and which of them it writes. Only statements that read or write rows count (SELECT, WITH,
//! VALUES, TABLE, INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY); DDL, GRANT, SET and the like
//! are migrations' and administrators' business, not an application's runtime coupling.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::lint::names::{Named, statement_names};
use crate::sql::lex::Token;
use crate::sql::split::split_body;

/// How a statement touched a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// The relation names of one statement and how each is touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touches {
    pub names: BTreeMap<Named, Access>,
    /// Whether the SQL parser read the statement (otherwise its names came from its tokens).
    pub parsed: bool,
}

/// Words a statement that reads or writes rows starts with.
const DATA_WORDS: &[&str] = &[
    "select", "with", "values", "table", "insert", "update", "delete", "merge", "truncate", "copy",
];

/// What `text` touches, or `None` when it is not a statement that reads or writes rows.
pub fn touches(text: &str) -> Option<Touches> {
    let all = split_body(text).tokens;
    let first = all.iter().find(|t| !t.is_punct(b'('))?;
    if !DATA_WORDS.iter().any(|w| first.is_word(text, w)) {
        return None;
    }
    let (names, parsed) = statement_names(text);
    let written = written(text, &all);
    let mut touched: BTreeMap<Named, Access> = names
        .into_iter()
        .map(|name| {
            let access = if written.contains(&name) {
                Access::Write
            } else {
                Access::Read
            };
            (name, access)
        })
        .collect();
    for name in written {
        touched.insert(name, Access::Write);
    }
    Some(Touches {
        names: touched,
        parsed,
    })
}

/// The relation a name starting at `tokens[i]` stands for (`a` or `a.b`), if it is one.
fn name_at(text: &str, tokens: &[Token], i: usize) -> Option<Named> {
    let first = tokens.get(i)?.name(text)?;
    let dotted = tokens.get(i + 1).is_some_and(|t| t.is_punct(b'.'));
    match (dotted, tokens.get(i + 2).and_then(|t| t.name(text))) {
        (true, Some(name)) => Some(Named {
            schema: Some(first),
            name,
        }),
        _ => Some(Named {
            schema: None,
            name: first,
        }),
    }
}

/// Index of the token after the optional words `skip` at `i`.
fn skip_words(text: &str, tokens: &[Token], mut i: usize, skip: &[&str]) -> usize {
    while tokens
        .get(i)
        .is_some_and(|t| skip.iter().any(|w| t.is_word(text, w)))
    {
        i += 1;
    }
    i
}

/// The relations a statement writes: the target of INSERT INTO, UPDATE, DELETE FROM, MERGE
/// INTO, TRUNCATE and COPY ... FROM, in the statement or in its WITH queries. `FOR UPDATE` and
/// `ON CONFLICT DO UPDATE` name no target.
fn written(text: &str, tokens: &[Token]) -> BTreeSet<Named> {
    let mut found = BTreeSet::new();
    let word = |i: usize, w: &str| tokens.get(i).is_some_and(|t| t.is_word(text, w));
    for i in 0..tokens.len() {
        let target = if (word(i, "insert") || word(i, "merge")) && word(i + 1, "into") {
            Some(skip_words(text, tokens, i + 2, &["only"]))
        } else if word(i, "update") {
            let after_lock =
                i > 0 && (word(i - 1, "for") || word(i - 1, "key") || word(i - 1, "do"));
            let next = skip_words(text, tokens, i + 1, &["only"]);
            let clause = ["set", "of", "nowait", "skip"]
                .iter()
                .any(|w| word(next, w));
            (!after_lock && !clause).then_some(next)
        } else if word(i, "delete") && word(i + 1, "from") {
            Some(skip_words(text, tokens, i + 2, &["only"]))
        } else if word(i, "truncate") {
            let mut at = skip_words(text, tokens, i + 1, &["table", "only"]);
            // TRUNCATE a, b, c: every name of the list.
            while let Some(name) = name_at(text, tokens, at) {
                at += if name.schema.is_some() { 3 } else { 1 };
                found.insert(name);
                if !tokens.get(at).is_some_and(|t| t.is_punct(b',')) {
                    break;
                }
                at = skip_words(text, tokens, at + 1, &["only"]);
            }
            None
        } else if word(i, "copy") && (i + 1..tokens.len()).any(|j| word(j, "from")) {
            Some(i + 1)
        } else {
            None
        };
        if let Some(name) = target.and_then(|at| name_at(text, tokens, at)) {
            found.insert(name);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(text: &str) -> Vec<String> {
        touches(text)
            .expect("a data statement")
            .names
            .into_iter()
            .map(|(n, a)| match n.schema {
                Some(s) => format!("{} {s}.{}", a.as_str(), n.name),
                None => format!("{} {}", a.as_str(), n.name),
            })
            .collect()
    }

    #[test]
    fn reads_and_writes_of_normalized_statements() {
        assert_eq!(
            seen("SELECT i.amount FROM billing.invoices i WHERE i.id = $1"),
            [
                "read i",
                "read billing.invoices",
                "read i.amount",
                "read i.id"
            ]
        );
        assert_eq!(
            seen("insert into billing.invoices (amount) values ($1), ($2)"),
            ["write billing.invoices"]
        );
        assert_eq!(
            seen(
                "UPDATE ONLY \"Billing\".invoices SET amount = $1 FROM ledger WHERE ledger.id = $2"
            ),
            // The parser does not know UPDATE ONLY: the tokens' `only` resolves to nothing.
            [
                "read ledger",
                "read only",
                "write Billing.invoices",
                "read ledger.id"
            ]
        );
        assert_eq!(
            seen(
                "WITH gone AS (DELETE FROM outbox WHERE id < $1 RETURNING id) SELECT count(*) FROM gone"
            ),
            ["read gone", "write outbox"]
        );
        assert_eq!(seen("TRUNCATE TABLE a.x, ONLY y"), ["write y", "write a.x"]);
    }

    #[test]
    fn locking_clauses_and_upserts_write_only_their_target() {
        assert_eq!(
            seen("SELECT * FROM billing.invoices FOR UPDATE OF invoices SKIP LOCKED"),
            ["read billing.invoices"]
        );
        assert_eq!(
            seen("INSERT INTO t (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET id = excluded.id"),
            ["write t", "read excluded.id"]
        );
    }

    #[test]
    fn statements_the_parser_cannot_read_fall_back_to_tokens() {
        let touched = touches("SELECT * FROM billing.invoices WHERE x = $1 FOO BAR (").unwrap();
        assert!(!touched.parsed);
        assert!(touched.names.contains_key(&Named {
            schema: Some("billing".into()),
            name: "invoices".into()
        }));
        assert!(touches("SELECT 1").unwrap().parsed);
    }

    #[test]
    fn ddl_and_session_statements_are_not_data_statements() {
        for text in [
            "CREATE TABLE billing.x (id int)",
            "GRANT SELECT ON billing.invoices TO orders_rw",
            "SET search_path = billing",
            "BEGIN",
            "",
            "<insufficient privilege>",
        ] {
            assert_eq!(touches(text), None, "{text}");
        }
        assert!(touches("(SELECT 1) UNION (SELECT 2)").is_some());
    }
}
