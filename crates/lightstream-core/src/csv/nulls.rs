//! Which CSV cells are null: the null tokens ([`NullTokens`], shared with the
//! writer, which quotes strings a reader would take for a null) and a
//! column's rule for applying them ([`NullRule`]). Not the conversion of
//! non-null cells (`builders.rs`).

/// Null tokens, with a quick reject on length and first byte (the writer
/// uses them too, to quote strings a reader would take for a null).
#[derive(Debug)]
pub(crate) struct NullTokens {
    tokens: Vec<Vec<u8>>,
    lengths: u64,
    first: [bool; 256],
    empty: bool,
}

impl NullTokens {
    pub(crate) fn new(values: &[String]) -> Self {
        let mut n = NullTokens {
            tokens: Vec::new(),
            lengths: 0,
            first: [false; 256],
            empty: false,
        };
        for v in values {
            let b = v.as_bytes();
            match b.first() {
                None => n.empty = true,
                Some(&f) => {
                    n.first[usize::from(f)] = true;
                    n.lengths |= 1u64.checked_shl(b.len() as u32).unwrap_or(0);
                    n.tokens.push(b.to_vec());
                }
            }
        }
        n
    }

    #[inline]
    pub(crate) fn is_null(&self, cell: &[u8]) -> bool {
        match cell.first() {
            None => self.empty,
            Some(&f) => {
                if !self.first[usize::from(f)] {
                    return false;
                }
                let len_bit = 1u64.checked_shl(cell.len() as u32).unwrap_or(0);
                if cell.len() < 64 && self.lengths & len_bit == 0 {
                    return false;
                }
                self.tokens.iter().any(|t| t == cell)
            }
        }
    }
}

/// Which cells of a column read as null: the one rule for every conversion
/// path (column at a time and row at a time).
#[derive(Debug, Clone, Copy)]
pub(super) struct NullRule {
    /// Whether null tokens apply (always in non-text columns; in text columns
    /// with `strings_can_be_null`, or when inference saw only nulls).
    pub(super) tokens: bool,
    /// A text column read with [`StringNulls::Unquoted`](super::StringNulls::Unquoted): a quoted field is
    /// always text, an empty unquoted one always null.
    pub(super) quoting: bool,
}

impl NullRule {
    /// Whether `cell` is null; `quoted` says whether its field was quoted
    /// (asked only when it matters: an empty cell or a null token).
    /// Always inlined: it runs once per cell of every conversion loop.
    #[inline(always)]
    pub(super) fn is_null(
        self,
        cell: &[u8],
        tokens: &NullTokens,
        quoted: impl FnOnce() -> bool,
    ) -> bool {
        if self.quoting {
            (cell.is_empty() || (self.tokens && tokens.is_null(cell))) && !quoted()
        } else {
            self.tokens && tokens.is_null(cell)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NullTokens;

    /// The quick reject never rejects a token: every cell built from the
    /// tokens' bytes (prefixes, extensions, the long ones sharing the top
    /// length bit) is null exactly when it is one of the tokens.
    #[test]
    fn quick_reject_agrees_with_the_token_list() {
        let long = |n: usize, c: char| std::iter::repeat_n(c, n).collect::<String>();
        let tokens: Vec<String> = ["", "NA", "-nan", "-1.#IND", "1.#QNAN", "n/a", "null"]
            .iter()
            .map(|s| s.to_string())
            .chain([long(62, 'x'), long(63, 'x'), long(70, 'y')])
            .collect();
        let nulls = NullTokens::new(&tokens);
        let mut cells: Vec<String> = Vec::new();
        for t in &tokens {
            for end in 0..=t.len() {
                cells.push(t[..end].to_string());
                cells.push(format!("{}z", &t[..end]));
            }
        }
        cells.extend([
            long(64, 'x'),
            long(69, 'y'),
            long(71, 'y'),
            "-1".into(),
            "1".into(),
        ]);
        for c in &cells {
            assert_eq!(nulls.is_null(c.as_bytes()), tokens.contains(c), "{c:?}");
        }
        assert!(!NullTokens::new(&["NA".into()]).is_null(b""));
    }
}
