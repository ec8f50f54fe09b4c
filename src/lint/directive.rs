//! `-- dbsplit:` comments in a migration file: `-- dbsplit:no-transaction` on the first line,
//! and `-- dbsplit:allow <rule> <reason>` on the line before a statement, which suppresses that
//! rule for the statement (as squawk's `-- squawk-ignore`). A reason is required: the next
//! reader needs to know why the boundary is crossed on purpose.

use std::collections::HashMap;

use super::scan::Hit;
use crate::finding::RuleId;
use crate::sql::NO_TRANSACTION;
use crate::sql::lex::Directive;
use crate::sql::lines::LineIndex;

/// The directives of one file.
#[derive(Debug, Default)]
pub struct Directives {
    /// False when the first line is `-- dbsplit:no-transaction`.
    pub transactional: bool,
    /// Allowed rules by the 1-based line of their comment.
    allows: HashMap<usize, Vec<RuleId>>,
    /// Directives that are not understood, as `bad-directive` findings.
    pub bad: Vec<Hit>,
}

impl Directives {
    /// The rules allowed for a statement starting on `line`: those of the `allow` comments on
    /// the lines right above it.
    pub fn allowed_before(&self, line: usize) -> Vec<RuleId> {
        let mut allowed = Vec::new();
        let mut above = line.saturating_sub(1);
        while let Some(rules) = self.allows.get(&above) {
            allowed.extend(rules);
            above = above.saturating_sub(1);
        }
        allowed
    }
}

/// Reads the directives of a file.
pub fn read(directives: &[Directive], lines: &LineIndex<'_>) -> Directives {
    let mut out = Directives {
        transactional: true,
        ..Directives::default()
    };
    let bad = |offset, message: String| Hit {
        offset,
        rule: RuleId::BadDirective,
        target_schema: None,
        role: None,
        message,
    };
    for directive in directives {
        let line = lines.position(directive.offset).0;
        let mut words = directive.text.split_whitespace();
        match words.next() {
            Some(NO_TRANSACTION) if line == 1 => out.transactional = false,
            Some("no-transaction") => out.bad.push(bad(
                directive.offset,
                "`-- dbsplit:no-transaction` only counts on the first line of the file".into(),
            )),
            Some("allow") => match words.next().map(str::parse::<RuleId>) {
                Some(Ok(rule)) if words.next().is_some() => {
                    out.allows.entry(line).or_default().push(rule);
                }
                Some(Ok(rule)) => out.bad.push(bad(
                    directive.offset,
                    format!("`-- dbsplit:allow {rule}` needs a reason after the rule"),
                )),
                Some(Err(unknown)) => out.bad.push(bad(directive.offset, unknown.to_string())),
                None => out.bad.push(bad(
                    directive.offset,
                    "`-- dbsplit:allow` needs a rule and a reason".into(),
                )),
            },
            _ => out.bad.push(bad(
                directive.offset,
                format!(
                    "unknown directive `-- dbsplit:{}`; use `-- dbsplit:allow <rule> <reason>` or `-- dbsplit:no-transaction`",
                    directive.text
                ),
            )),
        }
    }
    out
}
