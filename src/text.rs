//! Small pieces of wording and encoding every layer uses: the plural ending of a count, and
//! bytes as lowercase hex.

/// The plural `s` of a noun after `n`: `format!("{n} change{}", plural(n))`.
pub fn plural<N: PartialEq + From<u8>>(n: N) -> &'static str {
    if n == N::from(1) { "" } else { "s" }
}

/// Bytes as lowercase hexadecimal, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(plural(1usize), "");
        assert_eq!(plural(0usize), "s");
        assert_eq!(plural(2u32), "s");
        assert_eq!(plural(1i64), "");
    }

    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(hex(&[0, 9, 0xab, 0xff]), "0009abff");
        assert_eq!(hex(&[]), "");
    }
}
