//! What the SQL parser (sqlparser, PostgreSQL dialect) tells about one statement: whether it
//! parses at all, where its relation names are, and which names in it are table aliases, CTE
//! names or unqualified table names, so that `alias.column` is not taken for `schema.object`.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Query, TableFactor, Visit, Visitor};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

use super::lines::LineIndex;

/// What the parser found in a statement that parsed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Aliases, CTE names and unqualified relation names, normalized.
    pub qualifiers: HashSet<String>,
    /// Byte offsets (in the text the statement was cut from) of the first part of every
    /// qualified relation name: a name there is certainly `schema.relation`.
    pub relations: HashSet<usize>,
}

/// Parses `sql`, a statement starting at byte `base` of a larger text. The error is the
/// parser's message without its position.
pub fn parse(sql: &str, base: usize) -> Result<Parsed, String> {
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
        let parsed = parse(sql, 100).unwrap();
        let mut qualifiers: Vec<_> = parsed.qualifiers.iter().map(String::as_str).collect();
        qualifiers.sort();
        assert_eq!(qualifiers, ["Billing", "recent", "t"]);
        let at = sql.find("billing.invoices").unwrap() + 100;
        assert_eq!(parsed.relations, HashSet::from([at]));
    }

    #[test]
    fn errors_lose_their_position() {
        let error = parse("DO $$ begin end $$", 0).unwrap_err();
        assert!(!error.contains("Line:"), "{error}");
        assert!(error.starts_with("Expected"), "{error}");
    }
}
