//! Byte offsets to 1-based lines and columns counted in characters (what findings show and what
//! sqlparser's spans hold), and back.

/// The line starts of a text.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// The line and column of a byte offset; a byte order mark is not a column.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let end = offset.min(self.text.len());
        let column = self
            .text
            .get(start..end)
            .map_or(1, |s| s.trim_start_matches('\u{feff}').chars().count() + 1);
        (line, column)
    }

    /// The byte offset of a line and column, if the text has them.
    pub fn offset(&self, line: u64, column: u64) -> Option<usize> {
        let line_start = *self
            .starts
            .get(usize::try_from(line).ok()?.checked_sub(1)?)?;
        let column = usize::try_from(column).ok()?.checked_sub(1)?;
        let (offset, _) = self.text[line_start..].char_indices().nth(column)?;
        Some(line_start + offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_round_trip() {
        let text = "ab\né x\n";
        let lines = LineIndex::new(text);
        assert_eq!(lines.position(0), (1, 1));
        assert_eq!(lines.position(3), (2, 1));
        let x = text.find('x').unwrap();
        assert_eq!(lines.position(x), (2, 3));
        assert_eq!(lines.offset(2, 3), Some(x));
        assert_eq!(lines.offset(0, 1), None);
        assert_eq!(lines.offset(9, 1), None);
        assert_eq!(lines.position(999), (3, 1));
    }
}
