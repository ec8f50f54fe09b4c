//! Checks on a whole top-level statement, from its leading words: statements that cannot run in
//! a transaction, transaction control in a file that already runs in one, and COPY FROM STDIN.
//! The runner wraps a transactional file in one transaction and sends a no-transaction file's
//! statements one by one, so these are decided per file.

use super::scan::Hit;
use crate::finding::RuleId;
use crate::sql::lex::Token;
use crate::sql::split::copy_from_stdin;
use crate::sql::{leading_words, non_transactional};

/// Statement-level findings for the statement `tokens` of a file that is `transactional`.
pub fn check(text: &str, tokens: &[Token], transactional: bool) -> Vec<Hit> {
    let words = leading_words(text, tokens);
    let offset = tokens.first().map_or(0, |t| t.start);
    let hit = |rule: RuleId, message: String| Hit {
        offset,
        rule,
        target_schema: None,
        role: None,
        message,
    };
    let mut hits = Vec::new();
    if copy_from_stdin(text, tokens) {
        hits.push(hit(
            RuleId::CopyFromStdin,
            "`COPY ... FROM STDIN` needs psql; load data with INSERT, or COPY from a server-side file".into(),
        ));
    }
    if !transactional {
        return hits;
    }
    let w = |i: usize| words.get(i).map_or("", String::as_str);
    if let Some(what) = non_transactional(text, tokens) {
        hits.push(hit(
            RuleId::NonTransactionalStatement,
            format!(
                "`{what}` cannot run in a transaction; put it in a file whose first line is `-- dbsplit:no-transaction`"
            ),
        ));
    }
    let control = match (w(0), w(1)) {
        ("begin", _) | ("start", "transaction") => Some("BEGIN"),
        ("commit", _) | ("end", _) => Some("COMMIT"),
        ("rollback", "to") => None,
        ("rollback", _) | ("abort", _) => Some("ROLLBACK"),
        ("prepare", "transaction") => Some("PREPARE TRANSACTION"),
        _ => None,
    };
    if let Some(what) = control {
        hits.push(hit(
            RuleId::TransactionControl,
            format!("`{what}` in a file that runs in a transaction of its own; remove it"),
        ));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::lex::tokens;

    fn rules(sql: &str, transactional: bool) -> Vec<&'static str> {
        check(sql, &tokens(sql), transactional)
            .iter()
            .map(|h| h.rule.as_str())
            .collect()
    }

    #[test]
    fn non_transactional_statements_only_matter_in_transactional_files() {
        for sql in [
            "create index concurrently i on t (a)",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
            "drop index concurrently if exists i",
            "reindex index concurrently i",
            "vacuum (analyze) t",
            "alter system set work_mem = '1MB'",
            "create database other",
            "alter table t detach partition p concurrently",
        ] {
            assert_eq!(rules(sql, true), ["non-transactional-statement"], "{sql}");
            assert_eq!(rules(sql, false), Vec::<&str>::new(), "{sql}");
        }
        for sql in ["create index i on t (a)", "drop index i", "select 'vacuum'"] {
            assert_eq!(rules(sql, true), Vec::<&str>::new(), "{sql}");
        }
    }

    #[test]
    fn transaction_control_and_copy() {
        assert_eq!(rules("begin", true), ["transaction-control"]);
        assert_eq!(rules("commit", true), ["transaction-control"]);
        assert_eq!(rules("rollback to savepoint a", true), Vec::<&str>::new());
        assert_eq!(rules("begin", false), Vec::<&str>::new());
        assert_eq!(rules("copy t from stdin", false), ["copy-from-stdin"]);
        assert_eq!(rules("copy t to stdout", true), Vec::<&str>::new());
    }
}
