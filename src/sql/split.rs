//! Splits a script into statements as psql does: at `;` outside parentheses, strings, quoted
//! identifiers, dollar quotes, comments and `BEGIN ATOMIC ... END` bodies. A psql meta-command
//! is a piece of its own, and the data after `COPY ... FROM STDIN` is skipped up to `\.`.

use std::ops::Range;

use super::lex::{Directive, Kind, Lexer, Token};

/// One piece of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub kind: PieceKind,
    /// Indexes into [`Script::tokens`]; never empty.
    pub tokens: Range<usize>,
    /// Byte range from the first token's start to the last token's end (the `;` excluded).
    pub text: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    Statement,
    /// A psql meta-command line such as `\connect other`.
    MetaCommand,
}

/// A lexed and split script.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub tokens: Vec<Token>,
    pub pieces: Vec<Piece>,
    pub directives: Vec<Directive>,
}

/// Splits a whole file.
pub fn split_file(text: &str) -> Script {
    split(text, Lexer::file(text))
}

/// Splits a function body written in SQL (no meta-commands, no COPY data).
pub fn split_body(text: &str) -> Script {
    split(text, Lexer::body(text))
}

fn split(text: &str, mut lexer: Lexer<'_>) -> Script {
    let mut script = Script::default();
    let mut first = 0usize;
    let mut depth = 0usize;
    let mut atomic = 0usize;
    while let Some(token) = lexer.next_token() {
        let index = script.tokens.len();
        script.tokens.push(token);
        match token.kind {
            Kind::Meta => {
                close(&mut script, first, index, PieceKind::Statement);
                close(&mut script, index, index + 1, PieceKind::MetaCommand);
                first = index + 1;
                depth = 0;
                atomic = 0;
            }
            Kind::Punct(b'(') => depth += 1,
            Kind::Punct(b')') => depth = depth.saturating_sub(1),
            Kind::Punct(b';') if depth == 0 && atomic == 0 => {
                let is_copy_from_stdin = copy_from_stdin(text, &script.tokens[first..index]);
                close(&mut script, first, index, PieceKind::Statement);
                first = index + 1;
                if is_copy_from_stdin {
                    lexer.skip_copy_data();
                }
            }
            Kind::Word => {
                let opens_atomic = token.is_word(text, "atomic")
                    && index > first
                    && script.tokens[index - 1].is_word(text, "begin")
                    && creates_routine(text, &script.tokens[first..=index]);
                if opens_atomic || (atomic > 0 && token.is_word(text, "case")) {
                    atomic += 1;
                } else if atomic > 0 && token.is_word(text, "end") {
                    atomic -= 1;
                }
            }
            _ => {}
        }
    }
    let end = script.tokens.len();
    close(&mut script, first, end, PieceKind::Statement);
    script.directives = lexer.directives;
    script
}

fn close(script: &mut Script, first: usize, end: usize, kind: PieceKind) {
    if first >= end {
        return;
    }
    let text = script.tokens[first].start..script.tokens[end - 1].end;
    script.pieces.push(Piece {
        kind,
        tokens: first..end,
        text,
    });
}

/// Whether the statement starts `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
pub fn creates_routine(text: &str, tokens: &[Token]) -> bool {
    let mut words = tokens.iter().filter(|t| t.kind == Kind::Word).take(4);
    if !words.next().is_some_and(|t| t.is_word(text, "create")) {
        return false;
    }
    words.any(|t| t.is_word(text, "function") || t.is_word(text, "procedure"))
}

/// Whether the statement is `COPY ... FROM STDIN`.
pub fn copy_from_stdin(text: &str, tokens: &[Token]) -> bool {
    tokens.first().is_some_and(|t| t.is_word(text, "copy"))
        && tokens
            .windows(2)
            .any(|w| w[0].is_word(text, "from") && w[1].is_word(text, "stdin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<String> {
        let script = split_file(text);
        script
            .pieces
            .iter()
            .map(|p| {
                let kind = match p.kind {
                    PieceKind::Statement => "",
                    PieceKind::MetaCommand => "meta ",
                };
                format!("{kind}{}", &text[p.text.clone()])
            })
            .collect()
    }

    #[test]
    fn splits_at_semicolons_outside_quotes_comments_and_bodies() {
        let text = r#"
-- a comment; with a semicolon
select 'a;b', E'c\';d', "e;f" from t; /* x; /* y; */ z; */ select 2;
create function f() returns int language plpgsql as $fn$ begin return 1; end $fn$;
create function g() returns int language sql begin atomic select case when true then 1 end; select 2; end;
select (select 1; );
\connect other
select 3
"#;
        insta::assert_debug_snapshot!(pieces(text), @r#"
        [
            "select 'a;b', E'c\\';d', \"e;f\" from t",
            "select 2",
            "create function f() returns int language plpgsql as $fn$ begin return 1; end $fn$",
            "create function g() returns int language sql begin atomic select case when true then 1 end; select 2; end",
            "select (select 1; )",
            "meta \\connect other",
            "select 3",
        ]
        "#);
    }

    #[test]
    fn copy_data_is_skipped_up_to_the_end_marker() {
        let text = "copy t (a) from stdin;\nO'Brien; \"x\n\\.\nselect 1;\n";
        assert_eq!(pieces(text), ["copy t (a) from stdin", "select 1"]);
        let text = "/* c */ COPY t FROM STDIN;\nno end marker; select 1;\n";
        assert_eq!(pieces(text), ["COPY t FROM STDIN"]);
    }

    #[test]
    fn a_meta_command_ends_the_statement_before_it() {
        let text = "select 1 \\gset\nselect 2;";
        assert_eq!(pieces(text), ["select 1", "meta \\gset", "select 2"]);
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet: Vec<char> = "ab;'\"$()\\-/*E\n .:é\u{feff}x1cpyrfomstdinbegatc"
            .chars()
            .collect();
        for _ in 0..3000 {
            let len = (seed % 40) as usize;
            let text: String = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let script = split_file(&text);
            for piece in &script.pieces {
                assert!(text.get(piece.text.clone()).is_some(), "{text:?}");
            }
            split_body(&text);
        }
    }
}
