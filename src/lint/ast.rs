//! What the SQL parser (sqlparser, PostgreSQL dialect) tells about one statement: whether it
//! parses at all, where its relation names are, and which names in it are table aliases, CTE
//! names or unqualified table names, so that `alias.column` is not taken for `schema.object`.
//!
//! sqlparser limits its own recursion, but builds `a OR b OR c ...` (and `+`, `::`, `UNION`,
//! ... chains) as a left-deep tree in a loop, one level per operator; walking that tree (its
//! visitor) and dropping it recurse once per level and overflow the stack near 100,000 terms.
//! So a statement whose operators could nest deeper than [`MAX_NESTING`] is never given to the
//! parser ([`nesting`] bounds the depth from the tokens, without building anything).

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Query, TableFactor, Visit, Visitor};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

use crate::sql::lex::{Kind, Token};
use crate::sql::lines::LineIndex;

/// The deepest operator nesting a statement may have to be parsed: far below what the
/// visitor and `Drop` survive on a 2 MiB thread (about 20,000 levels), far above any
/// migration written by hand.
pub const MAX_NESTING: usize = 2000;

/// Words that join two operands into one expression node.
const OPERATOR_WORDS: &[&str] = &[
    "and", "or", "not", "is", "isnull", "notnull", "in", "like", "ilike", "similar", "between",
    "collate", "at", "overlaps", "escape", "any", "some", "all",
];

/// Words that join two queries, across the commas of their select lists.
const SET_OPERATORS: &[&str] = &["union", "intersect", "except"];

/// An upper bound of how deep a statement's expression trees nest: the operators on the way
/// from the statement to each token, counted over the brackets enclosing it (each bracket
/// counting one more). A comma ends an operand, so operators before it no longer count;
/// set operators always do, since a select list's commas sit between them.
pub fn nesting(text: &str, tokens: &[Token]) -> usize {
    // Per open bracket: operators since the last comma, and set operators.
    let mut levels: Vec<(usize, usize)> = vec![(0, 0)];
    let mut total = 0usize;
    let mut deepest = 0usize;
    for token in tokens {
        let operator = match token.kind {
            Kind::Punct(b'(') => {
                levels.push((0, 0));
                false
            }
            Kind::Punct(b'[') => {
                // `a[1]` and `int[]` nest like an operator, and open a bracket of their own.
                total += 1;
                if let Some(level) = levels.last_mut() {
                    level.0 += 1;
                }
                levels.push((0, 0));
                false
            }
            Kind::Punct(b')' | b']') => {
                if levels.len() > 1 {
                    let (chain, sets) = levels.pop().unwrap_or_default();
                    total -= chain + sets;
                }
                false
            }
            Kind::Punct(b',') => {
                if let Some(level) = levels.last_mut() {
                    total -= level.0;
                    level.0 = 0;
                }
                false
            }
            Kind::Punct(b';') => false,
            Kind::Punct(_) => true,
            Kind::Word if SET_OPERATORS.iter().any(|w| token.is_word(text, w)) => {
                total += 1;
                if let Some(level) = levels.last_mut() {
                    level.1 += 1;
                }
                false
            }
            Kind::Word => OPERATOR_WORDS.iter().any(|w| token.is_word(text, w)),
            _ => false,
        };
        if operator {
            total += 1;
            if let Some(level) = levels.last_mut() {
                level.0 += 1;
            }
        }
        deepest = deepest.max(total + levels.len());
    }
    deepest
}

/// What the parser found in a statement that parsed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Aliases, CTE names and unqualified relation names, normalized.
    pub qualifiers: HashSet<String>,
    /// Byte offsets (in the text the statement was cut from) of the first part of every
    /// qualified relation name: a name there is certainly `schema.relation`.
    pub relations: HashSet<usize>,
}

/// Parses the statement made of `tokens` of `text`, unless it could nest deeper than
/// [`MAX_NESTING`]. The error is the parser's message without its position.
pub fn parse(text: &str, tokens: &[Token]) -> Result<Parsed, String> {
    let (Some(first), Some(last)) = (tokens.first(), tokens.last()) else {
        return Ok(Parsed::default());
    };
    let depth = nesting(text, tokens);
    if depth > MAX_NESTING {
        return Err(format!(
            "its operators nest {depth} deep, more than the {MAX_NESTING} it is given"
        ));
    }
    parse_at(&text[first.start..last.end], first.start)
}

/// Parses `sql`, a statement starting at byte `base` of a larger text.
fn parse_at(sql: &str, base: usize) -> Result<Parsed, String> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => strip_position(&m),
        ParserError::RecursionLimitExceeded => "nested too deeply".to_string(),
    })?;
    let mut collector = Collector {
        lines: LineIndex::new(sql),
        base,
        parsed: Parsed::default(),
    };
    let _ = statements.visit(&mut collector);
    Ok(collector.parsed)
}

fn strip_position(message: &str) -> String {
    let message = match message.find(" at Line: ") {
        Some(i) => &message[..i],
        None => message,
    };
    message.trim().to_string()
}

/// The normalized form of a parsed identifier: unquoted ones fold to lowercase.
fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

struct Collector<'a> {
    lines: LineIndex<'a>,
    base: usize,
    parsed: Parsed,
}

impl Collector<'_> {
    fn alias(&mut self, alias: Option<&sqlparser::ast::TableAlias>) {
        if let Some(alias) = alias {
            self.parsed.qualifiers.insert(normalize(&alias.name));
        }
    }
}

impl Visitor for Collector<'_> {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let parts: Vec<&Ident> = relation
            .0
            .iter()
            .filter_map(|part| match part {
                ObjectNamePart::Identifier(ident) => Some(ident),
                ObjectNamePart::Function(_) => None,
            })
            .collect();
        match parts.as_slice() {
            [one] => {
                self.parsed.qualifiers.insert(normalize(one));
            }
            [first, ..] => {
                if let Some(offset) = self
                    .lines
                    .offset(first.span.start.line, first.span.start.column)
                {
                    self.parsed.relations.insert(self.base + offset);
                }
            }
            [] => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::TableFunction { alias, .. }
            | TableFactor::Function { alias, .. }
            | TableFactor::UNNEST { alias, .. }
            | TableFactor::NestedJoin { alias, .. } => self.alias(alias.as_ref()),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.alias(Some(&cte.alias));
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_qualifiers_and_relation_positions() {
        let sql = "with recent as (select 1) select billing.amount\nfrom billing.invoices AS \"Billing\" join recent on true join t on true";
        let parsed = parse_at(sql, 100).unwrap();
        let mut qualifiers: Vec<_> = parsed.qualifiers.iter().map(String::as_str).collect();
        qualifiers.sort();
        assert_eq!(qualifiers, ["Billing", "recent", "t"]);
        let at = sql.find("billing.invoices").unwrap() + 100;
        assert_eq!(parsed.relations, HashSet::from([at]));
    }

    fn nesting_of(sql: &str) -> usize {
        nesting(sql, &crate::sql::lex::tokens(sql))
    }

    /// Statements of 150,000 terms, each a left-deep tree for the parser.
    fn chains() -> Vec<String> {
        let n = 150_000;
        vec![
            format!("select 1 where {}", vec!["a = 1"; n].join(" or ")),
            format!("select {}", vec!["1"; n].join(" + ")),
            format!("select 1, 2 {}", "union select 1, 2 ".repeat(n)),
            format!("select x {}", "+ array[1, 2] + x ".repeat(n)),
            format!("select 1::int{}", "[]".repeat(n)),
            format!("select {}1{}", "(".repeat(n), ")".repeat(n)),
            format!("select {}", vec!["x::text"; n].join(" || ")),
        ]
    }

    #[test]
    fn deep_chains_are_bounded_without_building_them() {
        for sql in chains() {
            assert!(nesting_of(&sql) > MAX_NESTING, "{}", &sql[..40]);
        }
        assert!(nesting_of("select a + b, c + d from t where x in (1, 2, 3)") < 10);
        // Many operands side by side nest no deeper than one.
        let values = format!(
            "insert into t values {}",
            vec!["(1, -1, 'a' || 'b')"; 50_000].join(", ")
        );
        assert!(nesting_of(&values) < 10);
    }

    #[test]
    fn a_statement_at_the_limit_still_parses_and_drops_on_a_small_stack() {
        let terms = MAX_NESTING / 2 - 2;
        let sql = format!(
            "select 1 from t where {}",
            vec!["a = 1"; terms].join(" or ")
        );
        assert!(nesting_of(&sql) <= MAX_NESTING);
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || parse(&sql, &crate::sql::lex::tokens(&sql)).is_ok())
            .unwrap()
            .join()
            .unwrap();
        assert!(parsed);
    }

    #[test]
    fn errors_lose_their_position() {
        let error = parse_at("DO $$ begin end $$", 0).unwrap_err();
        assert!(!error.contains("Line:"), "{error}");
        assert!(error.starts_with("Expected"), "{error}");
    }
}
