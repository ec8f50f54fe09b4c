//! Problems found in a manifest, with the byte span they point at, and their rendering as
//! `file:line:column` messages with the offending source line underlined.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Byte range in the manifest source.
    pub span: Range<usize>,
    /// What is wrong, lowercase, with names quoted in backticks.
    pub message: String,
    /// What to write instead.
    pub help: Option<String>,
    /// Bytes of the source holding a secret (a password written in the file): shown as `*`.
    pub secret: Option<Range<usize>>,
}

impl Diagnostic {
    pub fn new(span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            message: message.into(),
            help: None,
            secret: None,
        }
    }

    /// Marks bytes of the source as a secret, masked wherever the source is shown.
    pub fn secret(mut self, span: Range<usize>) -> Self {
        self.secret = Some(span);
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A 1-based line and column (in characters) of a byte offset, as lint counts them in SQL.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    crate::sql::lines::LineIndex::new(source).position(offset)
}

/// Every problem of one manifest file. Its `Display` renders all of them, sorted by position.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ManifestErrors {
    pub path: PathBuf,
    pub source_text: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl ManifestErrors {
    pub fn new(path: &Path, source_text: &str, mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by(|a, b| {
            (a.span.start, a.span.end, &a.message).cmp(&(b.span.start, b.span.end, &b.message))
        });
        diagnostics.dedup();
        // A password written in the file must not reach a terminal or a CI log through the
        // source lines shown: mask it, byte for byte, so every span still points right.
        let mut bytes = source_text.as_bytes().to_vec();
        for secret in diagnostics.iter().filter_map(|d| d.secret.clone()) {
            for byte in bytes.get_mut(secret).into_iter().flatten() {
                if byte.is_ascii() && !matches!(*byte, b'"' | b'\'' | b'\n') {
                    *byte = b'*';
                }
            }
        }
        // Only ASCII bytes were replaced by ASCII: still UTF-8.
        let source_text = String::from_utf8(bytes).unwrap_or_else(|_| source_text.to_string());
        ManifestErrors {
            path: path.to_path_buf(),
            source_text,
            diagnostics,
        }
    }
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.diagnostics.len();
        for (i, diagnostic) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let (line, column) = line_column(&self.source_text, diagnostic.span.start);
            writeln!(
                f,
                "{}:{line}:{column}: error: {}",
                self.path.display(),
                diagnostic.message
            )?;
            let text = self.source_text.lines().nth(line - 1).unwrap_or("");
            let gutter = line.to_string().len();
            writeln!(f, "{:gutter$} |", "")?;
            writeln!(f, "{line} | {text}")?;
            let width = self.source_text[diagnostic.span.start.min(self.source_text.len())..]
                .chars()
                .take_while(|c| *c != '\n')
                .take(diagnostic.span.len().max(1))
                .count()
                .max(1);
            writeln!(
                f,
                "{:gutter$} | {:pad$}{}",
                "",
                "",
                "^".repeat(width),
                pad = column - 1
            )?;
            if let Some(help) = &diagnostic.help {
                writeln!(f, "{:gutter$} = help: {help}", "")?;
            }
        }
        write!(
            f,
            "{}: {count} error{} in manifest",
            self.path.display(),
            crate::text::plural(count)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn errors_never_show_a_password_written_in_the_file() {
        let text = "version = 1\n[database]\nname = \"app\"\n[services.billing]\n\
            roles.billing_rw = { access = \"readwrite\", password = \"hunter2\" }\n\
            roles.billing_ro = { access = \"readonly\", pasword = \"typo-secret\" }\n\
            roles.billing_x = { acess = \"readonly\", password_env = \"plain text secret\" }\n";
        let errors = crate::manifest::Manifest::parse(Path::new("services.toml"), text)
            .expect_err("a password in the file is an error")
            .to_string();
        for secret in ["hunter2", "typo-secret", "plain text secret"] {
            assert!(!errors.contains(secret), "{secret} shown:\n{errors}");
        }
        // Masked byte for byte, so the carets still point at the right columns.
        assert!(errors.contains("password = \"*******\""), "{errors}");
        assert!(errors.contains("pasword = \"***********\""), "{errors}");
        // The other problems of those lines are still reported.
        assert!(errors.contains("unknown key `acess`"), "{errors}");
        assert!(
            errors.contains("error: `password_env` is not an environment variable name"),
            "{errors}"
        );
    }
}
