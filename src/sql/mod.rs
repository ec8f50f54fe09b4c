//! SQL text as psql reads it, for `lint` and `migrate` alike: the lexer (`lex`), the
//! statement splitter (`split`), byte offsets to lines (`lines`), and a migration file cut into
//! the statements the runner sends one by one ([`executable`]). No parser, no database.

pub mod lex;
pub mod lines;
pub mod split;

use crate::finding::RuleId;
use lex::{Kind, Token};
use lines::LineIndex;
use split::PieceKind;

/// The directive on a file's first line that runs it without a transaction.
pub const NO_TRANSACTION: &str = "no-transaction";

/// A migration file cut into the statements the runner sends one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable<'a> {
    /// False when the first line is `-- dbsplit:no-transaction`.
    pub transactional: bool,
    pub statements: Vec<Statement<'a>>,
}

/// One statement of a migration file, as the runner sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The 1-based line it starts on.
    pub line: usize,
    /// The statement without its `;`.
    pub sql: &'a str,
    /// True for a statement that cannot run in a transaction block (`CREATE INDEX
    /// CONCURRENTLY`, `VACUUM`, ...).
    pub autocommit: bool,
}

/// Splits a migration file as `lint` does, for running it. A psql meta-command or a
/// `COPY ... FROM STDIN` cannot be sent as a statement: the error is its line and rule.
pub fn executable(text: &str) -> Result<Executable<'_>, (usize, RuleId)> {
    let lines = LineIndex::new(text);
    let script = split::split_file(text);
    let transactional = !script.directives.iter().any(|d| {
        d.text.split_whitespace().next() == Some(NO_TRANSACTION) && lines.position(d.offset).0 == 1
    });
    let mut statements = Vec::with_capacity(script.pieces.len());
    for piece in &script.pieces {
        let line = lines.position(piece.text.start).0;
        let tokens = &script.tokens[piece.tokens.clone()];
        match piece.kind {
            PieceKind::MetaCommand => return Err((line, RuleId::PsqlMetaCommand)),
            PieceKind::Statement if split::copy_from_stdin(text, tokens) => {
                return Err((line, RuleId::CopyFromStdin));
            }
            PieceKind::Statement => statements.push(Statement {
                line,
                sql: &text[piece.text.clone()],
                autocommit: non_transactional(text, tokens).is_some(),
            }),
        }
    }
    Ok(Executable {
        transactional,
        statements,
    })
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
pub(crate) fn leading_words(text: &str, tokens: &[Token]) -> Vec<String> {
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

    #[test]
    fn executable_statements_carry_their_lines_and_refuse_what_is_not_sql() {
        let text =
            "-- dbsplit:no-transaction\ncreate index concurrently i on t (a);\n\nselect ';'\n  ;";
        let file = executable(text).unwrap();
        assert!(!file.transactional);
        let statements: Vec<_> = file
            .statements
            .iter()
            .map(|s| (s.line, s.sql, s.autocommit))
            .collect();
        assert_eq!(
            statements,
            [
                (2, "create index concurrently i on t (a)", true),
                (4, "select ';'", false)
            ]
        );
        assert!(executable("select 1;").unwrap().transactional);
        assert_eq!(
            executable("select 1;\n\\connect other\n"),
            Err((2, RuleId::PsqlMetaCommand))
        );
        assert_eq!(
            executable("select 1;\ncopy t from stdin;\nx\n\\.\n"),
            Err((2, RuleId::CopyFromStdin))
        );
    }
}
