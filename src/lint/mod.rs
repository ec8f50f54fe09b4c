//! `lint`: migration files checked against the service boundary, without a database. Pure: the
//! caller reads the files and the sum files; this returns findings.
//!
//! Each file is split into statements by our own psql-aware splitter (`split`), and each
//! statement is parsed on its own with sqlparser (`ast`), so one statement the parser does not
//! know (reported as `unparsed-statement`) never hides the rest of the file. The schemas and
//! roles a statement touches are found from its tokens (`scan`), with the parser's view where it
//! has one, and judged against the manifest (`boundary`). Function and DO bodies are checked
//! too: SQL bodies statement by statement like a file, PL/pgSQL bodies by their tokens.

mod ast;
mod boundary;
mod directive;
pub mod names;
mod scan;
mod statement;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use boundary::Boundary;
use scan::Hit;

use crate::finding::{self, Finding, Location, RuleId};
use crate::manifest::Manifest;
use crate::migrations::sum;

pub use crate::migrations::{Input, SqlFile, SumFile};
use crate::sql::lex::{Kind, Token};
use crate::sql::lines::LineIndex;
use crate::sql::split::{self, PieceKind};

/// How deep function bodies inside function bodies are followed.
const MAX_BODY_DEPTH: usize = 4;

/// Lints every file (in parallel) and every sum; findings come back sorted.
pub fn lint(manifest: &Manifest, input: &Input) -> Vec<Finding> {
    let boundaries: HashMap<&str, Boundary<'_>> = manifest
        .services
        .iter()
        .map(|s| (s.name.as_str(), Boundary::new(manifest, s)))
        .collect();
    let lint_one = |file: &SqlFile| match boundaries.get(file.service.as_str()) {
        Some(boundary) => lint_file(boundary, file),
        None => Vec::new(),
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(input.files.len());
    let mut findings: Vec<Finding> = if threads <= 1 {
        input.files.iter().flat_map(lint_one).collect()
    } else {
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut found = Vec::new();
                        while let Some(file) = input.files.get(next.fetch_add(1, Ordering::Relaxed))
                        {
                            found.extend(lint_one(file));
                        }
                        found
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("linting a file does not panic"))
                .collect()
        })
    };
    for sum in &input.sums {
        let schema = manifest.service(&sum.service).map(|s| s.schema.clone());
        findings.extend(check_sum(sum).map(|f| match schema {
            Some(schema) => f.schema(schema),
            None => f,
        }));
    }
    finding::sort(&mut findings);
    findings
}

/// The `stale-sum` finding of one sum file, if it is missing or stale.
fn check_sum(sum: &SumFile) -> Option<Finding> {
    let fix = format!("run `dbsplit migrate hash {}`", sum.service);
    let (line, message) = match &sum.actual {
        None => (1, format!("`dbsplit.sum` is missing; {fix}")),
        Some(actual) => {
            let line = sum::first_difference(&sum.expected, actual)?;
            (
                line,
                format!(
                    "`dbsplit.sum` does not match the migrations from this line on: a migration was edited, added or removed, or two branches added migrations; check the order, then {fix}"
                ),
            )
        }
    };
    let location = Location::File {
        path: sum.path.clone(),
        line,
        column: 1,
    };
    Some(Finding::new(RuleId::StaleSum, location, message))
}

fn lint_file(boundary: &Boundary<'_>, file: &SqlFile) -> Vec<Finding> {
    let text = file.text.as_str();
    let lines = LineIndex::new(text);
    let script = split::split_file(text);
    let directives = directive::read(&script.directives, &lines);
    let mut findings = Vec::new();
    let mut found = |offset: usize, rule: RuleId, hit: Hit| {
        let (line, column) = lines.position(offset);
        let location = Location::File {
            path: file.path.clone(),
            line,
            column,
        };
        let mut f = Finding::new(rule, location, hit.message).schema(boundary.schema());
        f.target_schema = hit.target_schema;
        f.role = hit.role;
        findings.push(f);
    };
    for bad in &directives.bad {
        found(bad.offset, bad.rule, bad.clone());
    }
    for piece in &script.pieces {
        let tokens = &script.tokens[piece.tokens.clone()];
        let hits = match piece.kind {
            PieceKind::MetaCommand => vec![Hit {
                offset: piece.text.start,
                rule: RuleId::PsqlMetaCommand,
                target_schema: None,
                role: None,
                message: format!(
                    "psql meta-command `{}` is not SQL; migrations run without psql",
                    text[piece.text.clone()]
                        .split_whitespace()
                        .next()
                        .unwrap_or("\\")
                ),
            }],
            PieceKind::Statement => {
                let mut hits = statement::check(text, tokens, directives.transactional);
                hits.extend(analyze(text, piece.text.clone(), tokens, boundary, 0));
                hits
            }
        };
        let allowed = directives.allowed_before(lines.position(piece.text.start).0);
        for hit in hits {
            if !allowed.contains(&hit.rule) {
                found(hit.offset, hit.rule, hit);
            }
        }
    }
    findings
}

/// Parses and scans one statement at `range` of `text`, bodies included.
fn analyze(
    text: &str,
    range: Range<usize>,
    tokens: &[Token],
    boundary: &Boundary<'_>,
    depth: usize,
) -> Vec<Hit> {
    let parsed = ast::parse(text, tokens);
    let mut hits = Vec::new();
    if let Err(error) = &parsed {
        hits.push(Hit {
            offset: range.start,
            rule: RuleId::UnparsedStatement,
            target_schema: None,
            role: None,
            message: format!(
                "the SQL parser cannot read this statement ({error}); only schema and role names were checked in it"
            ),
        });
    }
    hits.extend(scan::scan(
        text,
        tokens,
        boundary,
        parsed.as_ref().ok(),
        false,
    ));
    hits.extend(bodies(text, tokens, boundary, depth));
    hits
}

/// Checks the bodies of `CREATE FUNCTION/PROCEDURE ... AS '...'` and `DO '...'`.
fn bodies(text: &str, tokens: &[Token], boundary: &Boundary<'_>, depth: usize) -> Vec<Hit> {
    let is_do = tokens.first().is_some_and(|t| t.is_word(text, "do"));
    if depth >= MAX_BODY_DEPTH || !(is_do || split::creates_routine(text, tokens)) {
        return Vec::new();
    }
    let language = tokens
        .windows(2)
        .find(|w| w[0].is_word(text, "language"))
        .and_then(|w| w[1].name(text).or_else(|| w[1].string_value(text)))
        .map(|l| l.to_ascii_lowercase())
        .unwrap_or_else(|| if is_do { "plpgsql" } else { "sql" }.to_string());
    let body_tokens = tokens.iter().enumerate().filter(|&(i, t)| {
        let is_string = matches!(t.kind, Kind::Str { .. } | Kind::Dollar { .. });
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
        let after_as = prev.is_some_and(|p| p.is_word(text, "as"));
        let do_body = is_do && prev.is_some_and(|p| !p.is_word(text, "language"));
        is_string && (after_as || do_body)
    });
    let mut hits = Vec::new();
    for (_, token) in body_tokens {
        let range = match token.kind {
            Kind::Dollar {
                body_start,
                body_end,
            } => body_start..body_end,
            Kind::Str { body_start } => {
                let end = if text[..token.end].ends_with('\'') && token.end > body_start {
                    token.end - 1
                } else {
                    token.end
                };
                body_start..end
            }
            _ => continue,
        };
        match language.as_str() {
            "sql" => hits.extend(sql_body(text, range, boundary, depth + 1)),
            "plpgsql" => hits.extend(plpgsql_body(text, range, boundary)),
            // Other languages (C, Python, ...) hold no SQL we can read.
            _ => {}
        }
    }
    hits
}

/// A body in SQL: each statement parsed and scanned as in a file.
fn sql_body(text: &str, range: Range<usize>, boundary: &Boundary<'_>, depth: usize) -> Vec<Hit> {
    let script = split::split_body(&text[range.clone()]);
    let tokens = shift(&script.tokens, range.start);
    let mut hits = Vec::new();
    for piece in &script.pieces {
        let piece_range = piece.text.start + range.start..piece.text.end + range.start;
        hits.extend(analyze(
            text,
            piece_range,
            &tokens[piece.tokens.clone()],
            boundary,
            depth,
        ));
    }
    hits
}

/// A PL/pgSQL body: no parser, only its tokens.
fn plpgsql_body(text: &str, range: Range<usize>, boundary: &Boundary<'_>) -> Vec<Hit> {
    let script = split::split_body(&text[range.clone()]);
    let tokens = shift(&script.tokens, range.start);
    script
        .pieces
        .iter()
        .flat_map(|piece| scan::scan(text, &tokens[piece.tokens.clone()], boundary, None, true))
        .collect()
}

/// Tokens of a slice starting at `base`, moved to offsets of the whole text.
fn shift(tokens: &[Token], base: usize) -> Vec<Token> {
    tokens
        .iter()
        .map(|t| Token {
            kind: match t.kind {
                Kind::Str { body_start } => Kind::Str {
                    body_start: body_start + base,
                },
                Kind::Dollar {
                    body_start,
                    body_end,
                } => Kind::Dollar {
                    body_start: body_start + base,
                    body_end: body_end + base,
                },
                kind => kind,
            },
            start: t.start + base,
            end: t.end + base,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
