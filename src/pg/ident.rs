//! Quoting of SQL identifiers and string literals: the only code in dbsplit that writes quotes.
//!
//! Every name that reaches SQL goes through [`Ident`], every string value through [`Literal`],
//! and every dollar-quoted body through [`dollar_quote`]. Nothing else may splice text into SQL.

use std::fmt;

/// A PostgreSQL identifier, always rendered double-quoted with embedded quotes doubled.
///
/// Always quoting keeps the exact spelling (capitals, spaces, dots, semicolons) and makes a
/// keyword used as a name harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident<'a>(pub &'a str);

impl fmt::Display for Ident<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.replace('"', "\"\""))
    }
}

/// A comma-separated list of quoted identifiers: `"a", "b"`.
pub fn ident_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|name| Ident(name).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A PostgreSQL string literal.
///
/// Single quotes are doubled. A value with a backslash is written as an `E'...'` literal with
/// the backslash doubled too, so the result means the same whatever `standard_conforming_strings`
/// says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Literal<'a>(pub &'a str);

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = self.0.replace('\'', "''");
        if quoted.contains('\\') {
            write!(f, "E'{}'", quoted.replace('\\', "\\\\"))
        } else {
            write!(f, "'{quoted}'")
        }
    }
}

/// Wraps `body` in dollar quotes whose tag does not occur in it (`$dbsplit$`, `$dbsplit1$`, ...),
/// so no name inside the body can end the quoted string early.
pub fn dollar_quote(body: &str) -> String {
    let mut tag = String::from("$dbsplit$");
    let mut n = 0u32;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$dbsplit{n}$");
    }
    format!("{tag}{body}{tag}")
}

/// Splits `a.b`, `"A".b` or `a."b.c"` (with `separator` `.`), or a search_path string (with
/// `,`), into identifiers folded as PostgreSQL does: unquoted ones to lowercase, blanks dropped.
pub fn split_identifiers(value: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = value.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' => quoted = !quoted,
            c if c == separator && !quoted => parts.push(std::mem::take(&mut current)),
            c if quoted => current.push(c),
            c if c.is_whitespace() => {}
            c => current.push(c.to_ascii_lowercase()),
        }
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted_and_quotes_doubled() {
        assert_eq!(Ident("billing").to_string(), r#""billing""#);
        assert_eq!(Ident("Billing Svc").to_string(), r#""Billing Svc""#);
        assert_eq!(
            Ident(r#"x"; DROP TABLE t; --"#).to_string(),
            r#""x""; DROP TABLE t; --""#
        );
        assert_eq!(Ident("a.b").to_string(), r#""a.b""#);
        assert_eq!(ident_list(["a", "B"]), r#""a", "B""#);
    }

    #[test]
    fn literals_double_quotes_and_escape_backslashes() {
        assert_eq!(Literal("o'brien").to_string(), "'o''brien'");
        assert_eq!(Literal(r"a\'b").to_string(), r"E'a\\''b'");
        assert_eq!(Literal("").to_string(), "''");
    }

    #[test]
    fn dollar_quote_tag_never_occurs_in_the_body() {
        assert_eq!(dollar_quote(" x "), "$dbsplit$ x $dbsplit$");
        let body = "a $dbsplit$ b $dbsplit1$ c";
        let quoted = dollar_quote(body);
        assert_eq!(quoted, format!("$dbsplit2${body}$dbsplit2$"));
    }
}
