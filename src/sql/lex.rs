//! A small PostgreSQL lexer, as psql reads a script: enough to split statements and to find
//! names outside strings and comments. It never fails and never panics: an unterminated string
//! or comment runs to the end of the text.
//!
//! It knows `'...'` with `''`, `E'...'` with backslash escapes, `"..."` with `""`, dollar quotes
//! with tags (`$fn$...$fn$`), `--` comments, nested `/* */` comments, and (at the top level of a
//! file) psql meta-commands: a backslash outside quotes starts one that runs to the end of the
//! line. Comments are not tokens; `-- dbsplit:` comments are kept as directives.

use std::ops::Range;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An unquoted identifier or keyword.
    Word,
    /// A double-quoted identifier.
    Quoted,
    /// A string constant, any prefix; `body` is the text between the quotes.
    Str {
        body_start: usize,
    },
    /// A dollar-quoted string; `body` is the text between the tags.
    Dollar {
        body_start: usize,
        body_end: usize,
    },
    Number,
    /// One character of punctuation or operator.
    Punct(u8),
    /// A psql meta-command, from the backslash to the end of the line.
    Meta,
}

/// A token: its kind and its byte range in the text lexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    pub fn is_punct(&self, c: u8) -> bool {
        self.kind == Kind::Punct(c)
    }

    /// Whether this is the unquoted word `keyword` (given in lowercase).
    pub fn is_word(&self, text: &str, keyword: &str) -> bool {
        self.kind == Kind::Word
            && text
                .get(self.start..self.end)
                .is_some_and(|w| w.eq_ignore_ascii_case(keyword))
    }

    /// The name this token stands for: an unquoted word folded to lowercase as PostgreSQL does
    /// (ASCII only), a quoted identifier without its quotes. `None` for other tokens.
    pub fn name(&self, text: &str) -> Option<String> {
        let raw = text.get(self.start..self.end)?;
        match self.kind {
            Kind::Word => Some(raw.to_ascii_lowercase()),
            Kind::Quoted => {
                let inner = raw.strip_prefix('"')?;
                let inner = inner.strip_suffix('"').unwrap_or(inner);
                Some(inner.replace("\"\"", "\""))
            }
            _ => None,
        }
    }

    /// The contents of a plain string constant (`'...'` with `''` undone), if this is one.
    pub fn string_value(&self, text: &str) -> Option<String> {
        let Kind::Str { body_start } = self.kind else {
            return None;
        };
        let body = text.get(body_start..self.end)?;
        let body = body.strip_suffix('\'').unwrap_or(body);
        Some(body.replace("''", "'"))
    }
}

/// A `-- dbsplit:...` comment: its byte offset and the text after `dbsplit:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub offset: usize,
    pub text: String,
}

/// The lexer. It is driven by the splitter, which needs to skip COPY data in the middle.
pub struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    meta_commands: bool,
    /// The directives met so far.
    pub directives: Vec<Directive>,
}

impl<'a> Lexer<'a> {
    /// A lexer over a whole file: backslashes start psql meta-commands, and a UTF-8 byte order
    /// mark at the start is skipped.
    pub fn file(text: &'a str) -> Self {
        Lexer {
            text,
            bytes: text.as_bytes(),
            pos: if text.starts_with('\u{feff}') { 3 } else { 0 },
            meta_commands: true,
            directives: Vec::new(),
        }
    }

    /// A lexer over a function body: a backslash is only punctuation.
    pub fn body(text: &'a str) -> Self {
        Lexer {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            meta_commands: false,
            directives: Vec::new(),
        }
    }

    /// Skips the data of `COPY ... FROM STDIN`: every line up to and including a line `\.`.
    pub fn skip_copy_data(&mut self) {
        // The data starts on the line after the statement.
        match self.bytes[self.pos..].iter().position(|&b| b == b'\n') {
            Some(i) => self.pos += i + 1,
            None => {
                self.pos = self.bytes.len();
                return;
            }
        }
        while self.pos < self.bytes.len() {
            let end = self.bytes[self.pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(self.bytes.len(), |i| self.pos + i);
            let line = &self.bytes[self.pos..end];
            self.pos = (end + 1).min(self.bytes.len());
            if line.strip_suffix(b"\r").unwrap_or(line) == b"\\." {
                return;
            }
        }
    }

    /// The next token, or `None` at the end.
    pub fn next_token(&mut self) -> Option<Token> {
        self.skip_blanks_and_comments();
        let start = self.pos;
        let &c = self.bytes.get(start)?;
        let kind = match c {
            b'\'' => {
                self.pos += 1;
                self.string(false);
                Kind::Str {
                    body_start: start + 1,
                }
            }
            b'"' => {
                self.pos += 1;
                self.quoted_ident();
                Kind::Quoted
            }
            b'$' => match self.dollar_tag(start) {
                Some(tag_len) => {
                    let body_start = start + tag_len;
                    let tag = &self.text[start..body_start];
                    match self.text[body_start..].find(tag) {
                        Some(i) => {
                            self.pos = body_start + i + tag_len;
                            Kind::Dollar {
                                body_start,
                                body_end: body_start + i,
                            }
                        }
                        None => {
                            self.pos = self.bytes.len();
                            Kind::Dollar {
                                body_start,
                                body_end: self.bytes.len(),
                            }
                        }
                    }
                }
                None => {
                    self.pos += 1;
                    while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                        self.pos += 1;
                    }
                    Kind::Punct(b'$')
                }
            },
            b'\\' if self.meta_commands => {
                self.pos = self.bytes[start..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(self.bytes.len(), |i| start + i);
                Kind::Meta
            }
            b'0'..=b'9' => {
                self.number();
                Kind::Number
            }
            b'.' if self.bytes.get(start + 1).is_some_and(u8::is_ascii_digit) => {
                self.number();
                Kind::Number
            }
            c if is_ident_start(c) => {
                self.pos += 1;
                while self.bytes.get(self.pos).is_some_and(|&b| is_ident_char(b)) {
                    self.pos += 1;
                }
                let word = &self.bytes[start..self.pos];
                if self.bytes.get(self.pos) == Some(&b'\'') && word.len() == 1 {
                    // E'...' (backslash escapes), and B'', X'', N'' (plain).
                    self.pos += 1;
                    self.string(word.eq_ignore_ascii_case(b"e"));
                    Kind::Str {
                        body_start: start + 2,
                    }
                } else {
                    Kind::Word
                }
            }
            _ => {
                // One character; a multi-byte one is consumed whole.
                self.pos += self.text[start..].chars().next().map_or(1, char::len_utf8);
                Kind::Punct(c)
            }
        };
        Some(Token {
            kind,
            start,
            end: self.pos,
        })
    }

    fn skip_blanks_and_comments(&mut self) {
        loop {
            match self.bytes.get(self.pos) {
                Some(b) if b.is_ascii_whitespace() => self.pos += 1,
                Some(b'-') if self.bytes.get(self.pos + 1) == Some(&b'-') => {
                    let start = self.pos;
                    self.pos = self.bytes[start..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(self.bytes.len(), |i| start + i);
                    let comment = self.text[start + 2..self.pos].trim();
                    if let Some(rest) = comment.strip_prefix("dbsplit:") {
                        self.directives.push(Directive {
                            offset: start,
                            text: rest.trim().to_string(),
                        });
                    }
                }
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'*') => {
                    self.pos += 2;
                    let mut depth = 1usize;
                    while depth > 0 && self.pos < self.bytes.len() {
                        match (self.bytes[self.pos], self.bytes.get(self.pos + 1)) {
                            (b'/', Some(b'*')) => {
                                depth += 1;
                                self.pos += 2;
                            }
                            (b'*', Some(b'/')) => {
                                depth -= 1;
                                self.pos += 2;
                            }
                            _ => self.pos += 1,
                        }
                    }
                    self.pos = self.pos.min(self.bytes.len());
                }
                _ => return,
            }
        }
    }

    /// After the opening quote: up to and including the closing one.
    fn string(&mut self, backslash_escapes: bool) {
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            match b {
                b'\\' if backslash_escapes => self.pos = (self.pos + 1).min(self.bytes.len()),
                b'\'' if self.bytes.get(self.pos) == Some(&b'\'') => self.pos += 1,
                b'\'' => return,
                _ => {}
            }
        }
    }

    fn quoted_ident(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            if b == b'"' {
                if self.bytes.get(self.pos) == Some(&b'"') {
                    self.pos += 1;
                } else {
                    return;
                }
            }
        }
    }

    /// The length of a dollar-quote tag (`$$`, `$fn$`) starting at `start`, if one does.
    fn dollar_tag(&self, start: usize) -> Option<usize> {
        // `a$b$` is an identifier: the lexer only gets here when `$` does not follow a word.
        let mut i = start + 1;
        while let Some(&b) = self.bytes.get(i) {
            if b == b'$' {
                return Some(i - start + 1);
            }
            let ok = if i == start + 1 {
                is_ident_start(b)
            } else {
                is_ident_char(b) && b != b'$'
            };
            if !ok {
                return None;
            }
            i += 1;
        }
        None
    }

    fn number(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            let exponent_sign = (b == b'+' || b == b'-')
                && self.pos > 0
                && matches!(self.bytes[self.pos - 1], b'e' | b'E');
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exponent_sign {
                // `1..2` is not a number followed by a dot: stop before a second dot.
                if b == b'.' && self.bytes.get(self.pos + 1) == Some(&b'.') {
                    return;
                }
                self.pos += 1;
            } else {
                return;
            }
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// Every token of `text` as a function body (no meta-commands, no COPY data).
#[cfg(test)]
pub fn tokens(text: &str) -> Vec<Token> {
    let mut lexer = Lexer::body(text);
    std::iter::from_fn(|| lexer.next_token()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(String, &'static str)> {
        tokens(text)
            .into_iter()
            .map(|t| {
                let kind = match t.kind {
                    Kind::Word => "word",
                    Kind::Quoted => "quoted",
                    Kind::Str { .. } => "str",
                    Kind::Dollar { .. } => "dollar",
                    Kind::Number => "number",
                    Kind::Punct(_) => "punct",
                    Kind::Meta => "meta",
                };
                (text[t.range()].to_string(), kind)
            })
            .collect()
    }

    #[test]
    fn strings_comments_and_quotes_hide_their_contents() {
        let text = r#"a 'it''s; x.y' E'\'; b.c' "q"";" $t$ $$ ; $t$ -- c.d;
/* e.f /* nested; */ g.h */ $1 x$y 1.5e-3 .5"#;
        let tokens: Vec<_> = kinds(text)
            .into_iter()
            .map(|(t, k)| format!("{k}:{t}"))
            .collect();
        assert_eq!(
            tokens,
            [
                "word:a",
                "str:'it''s; x.y'",
                r"str:E'\'; b.c'",
                r#"quoted:"q"";""#,
                "dollar:$t$ $$ ; $t$",
                "punct:$1",
                "word:x$y",
                "number:1.5e-3",
                "number:.5",
            ]
        );
    }

    #[test]
    fn names_fold_unquoted_words_only() {
        let text = r#"Billing "Billing" "a""b" 'x'"#;
        let names: Vec<_> = tokens(text).iter().map(|t| t.name(text)).collect();
        assert_eq!(
            names,
            [
                Some("billing".to_string()),
                Some("Billing".to_string()),
                Some("a\"b".to_string()),
                None
            ]
        );
        let t = tokens(text)[3];
        assert_eq!(t.string_value(text).as_deref(), Some("x"));
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "'",
            "\"",
            "$",
            "$$",
            "$a",
            "$a$",
            "/*",
            "/* /*",
            "--",
            "E'",
            "E'\\",
            "e'\\'",
            "1e",
            "1e+",
            "..",
            "\\",
            "é'",
            "'é",
            "$é$x$é$",
            "\u{feff}select",
            "$$\u{1F600}",
            "\0\0",
            "x.\"",
            "/*/",
            "1..2",
            "'''",
        ];
        for input in inputs {
            let mut lexer = Lexer::file(input);
            while lexer.next_token().is_some() {}
            let _ = tokens(input);
        }
        // Every prefix of a tricky text, cut at every char boundary.
        let text = "select E'a\\'b' \"x\"\"y\" $q$ body $q$ /* a /* b */ */ -- c\n\\connect x\n";
        for (i, _) in text.char_indices() {
            let mut lexer = Lexer::file(&text[..i]);
            while lexer.next_token().is_some() {}
            lexer.skip_copy_data();
        }
    }
}
