//! The relation names a function body written as a string mentions, for `audit` (which has
//! the live catalog to tell a relation from an alias or a column): built from the splitter, the
//! parser and the tokens `lint` uses, nothing of its own.
//!
//! Qualified names are every `a.b` outside strings and comments (`a.b.c` counts as `a.b`).
//! Unqualified names are, in a SQL statement the parser understands, the relation names and
//! aliases it reports; otherwise (PL/pgSQL, or a statement it does not know) the name after
//! FROM, JOIN, INTO, UPDATE, TABLE or ONLY. Dynamic SQL (`EXECUTE '...'`) is not seen.

use std::collections::BTreeSet;

use super::ast;
use crate::sql::lex::{Kind, Token};
use crate::sql::split;

/// A relation name in a body; `schema` when it is qualified.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Named {
    pub schema: Option<String>,
    pub name: String,
}

/// Words after which PL/pgSQL or an unparsed statement names a relation.
const RELATION_WORDS: &[&str] = &["from", "join", "into", "update", "table", "only"];

/// Words that open a PL/pgSQL block or branch before the statement proper.
const BLOCK_WORDS: &[&str] = &["begin", "then", "else", "loop", "declare", "exception"];

/// The relation names `body` (in `language`, `sql` or `plpgsql`) mentions, sorted.
pub fn relation_names(body: &str, language: &str) -> BTreeSet<Named> {
    collect(body, language).0
}

/// The relation names one SQL text (a statement as `pg_stat_statements` shows it, for `usage`)
/// mentions, and whether the parser read all of it (`false`: some names came from its tokens).
pub fn statement_names(text: &str) -> (BTreeSet<Named>, bool) {
    collect(text, "sql")
}

fn collect(body: &str, language: &str) -> (BTreeSet<Named>, bool) {
    let script = split::split_body(body);
    let mut found = BTreeSet::new();
    let mut all_parsed = true;
    for piece in &script.pieces {
        let mut tokens = &script.tokens[piece.tokens.clone()];
        while tokens
            .first()
            .is_some_and(|t| BLOCK_WORDS.iter().any(|w| t.is_word(body, w)))
        {
            tokens = &tokens[1..];
        }
        if tokens.is_empty() {
            continue;
        }
        qualified(body, tokens, &mut found);
        let parsed = (language == "sql")
            .then(|| ast::parse(body, tokens).ok())
            .flatten();
        match parsed {
            Some(parsed) => found.extend(
                parsed
                    .qualifiers
                    .into_iter()
                    .map(|name| Named { schema: None, name }),
            ),
            None => {
                all_parsed = false;
                unqualified(body, tokens, &mut found);
            }
        }
    }
    (found, all_parsed)
}

fn is_name(token: Option<&Token>) -> bool {
    token.is_some_and(|t| matches!(t.kind, Kind::Word | Kind::Quoted))
}

/// Every `a.b` (and the `a.b` of `a.b.c`).
fn qualified(body: &str, tokens: &[Token], found: &mut BTreeSet<Named>) {
    for (i, token) in tokens.iter().enumerate() {
        let after_dot = i > 0 && tokens[i - 1].is_punct(b'.');
        if after_dot
            || !is_name(Some(token))
            || !tokens.get(i + 1).is_some_and(|t| t.is_punct(b'.'))
            || !is_name(tokens.get(i + 2))
        {
            continue;
        }
        if let (Some(schema), Some(name)) = (token.name(body), tokens[i + 2].name(body)) {
            found.insert(Named {
                schema: Some(schema),
                name,
            });
        }
    }
}

/// Unqualified names right after a word that introduces a relation.
fn unqualified(body: &str, tokens: &[Token], found: &mut BTreeSet<Named>) {
    for (i, token) in tokens.iter().enumerate().skip(1) {
        let introduced = RELATION_WORDS
            .iter()
            .any(|w| tokens[i - 1].is_word(body, w));
        let qualified = tokens.get(i + 1).is_some_and(|t| t.is_punct(b'.'));
        if introduced && !qualified {
            if let Some(name) = token.name(body) {
                found.insert(Named { schema: None, name });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unqualified names first, then qualified ones.
    fn names(body: &str, language: &str) -> Vec<String> {
        relation_names(body, language)
            .into_iter()
            .map(|n| match n.schema {
                Some(schema) => format!("{schema}.{}", n.name),
                None => n.name,
            })
            .collect()
    }

    #[test]
    fn sql_bodies_name_qualified_and_parsed_relations() {
        assert_eq!(
            names(
                "SELECT c.email FROM Monolith.customers c JOIN \"Odd\".\"T\" USING (id); SELECT 1 FROM local_t",
                "sql"
            ),
            ["c", "local_t", "Odd.T", "c.email", "monolith.customers"]
        );
    }

    #[test]
    fn plpgsql_bodies_name_relations_by_their_tokens_and_skip_strings() {
        let body = "DECLARE n int; BEGIN
            SELECT count(*) INTO n FROM billing.invoices;
            IF n > 0 THEN UPDATE ledger SET x = 1; END IF;
            EXECUTE 'DELETE FROM other.t';
            -- FROM commented.out
            RETURN n;
        END";
        assert_eq!(names(body, "plpgsql"), ["ledger", "n", "billing.invoices"]);
    }

    #[test]
    fn a_body_too_deep_for_the_parser_is_read_by_its_tokens() {
        let body = format!(
            "SELECT 1 FROM monolith.t WHERE {}",
            vec!["a = 1"; 150_000].join(" OR ")
        );
        assert_eq!(names(&body, "sql"), ["monolith.t"]);
    }
}
