//! Checks on a whole top-level statement, from its leading words: statements that cannot run in
//! a transaction, transaction control in a file that already runs in one, and COPY FROM STDIN.
//! The runner wraps a transactional file in one transaction and sends a no-transaction file's
//! statements one by one, so these are decided per file.

use super::lex::{Kind, Token};
use super::scan::Hit;
use super::split::copy_from_stdin;
use crate::finding::RuleId;

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

/// What a statement is when it cannot run in a transaction block (`CREATE INDEX CONCURRENTLY`,
/// `VACUUM`, ...), from its leading words.
pub fn non_transactional(text: &str, tokens: &[Token]) -> Option<&'static str> {
    let words = leading_words(text, tokens);
    let w = |i: usize| words.get(i).map_or("", String::as_str);
    let has_word = |word: &str| tokens.iter().any(|t| t.is_word(text, word));
    match w(0) {
        "create" if w(1) == "index" || (w(1) == "unique" && w(2) == "index") => {
            has_word("concurrently").then_some("CREATE INDEX CONCURRENTLY")
        }
        "drop" if w(1) == "index" => has_word("concurrently").then_some("DROP INDEX CONCURRENTLY"),
        "reindex" if has_word("concurrently") => Some("REINDEX ... CONCURRENTLY"),
        "reindex" if matches!(w(1), "system" | "database") => Some("REINDEX SYSTEM/DATABASE"),
        "vacuum" => Some("VACUUM"),
        "alter" if w(1) == "system" => Some("ALTER SYSTEM"),
        "alter" if w(1) == "table" && has_word("detach") && has_word("concurrently") => {
            Some("DETACH PARTITION ... CONCURRENTLY")
        }
        "create" | "drop" if matches!(w(1), "database" | "tablespace" | "subscription") => {
            Some("CREATE/DROP DATABASE, TABLESPACE or SUBSCRIPTION")
        }
        "cluster" if tokens.len() == 1 => Some("CLUSTER without a table"),
        _ => None,
    }
}

/// The first (up to four) words of a statement, lowercase.
fn leading_words(text: &str, tokens: &[Token]) -> Vec<String> {
    tokens
        .iter()
        .take_while(|t| t.kind == Kind::Word)
        .take(4)
        .map(|t| text[t.range()].to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::lex::tokens;

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
