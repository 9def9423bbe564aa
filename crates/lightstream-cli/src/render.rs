//! Aligned plain-text tables for the terminal.
//!
//! What it is for: `lightstream cat` (a header, a rule, one line per row) and the
//! field list of `lightstream schema`. Column widths come from the content.
//!
//! Rows arrive one at a time and memory stays bounded: rows are held back in a
//! window (1,024 rows by default), widths are measured over the window, and the
//! window is printed. Widths only ever grow, so a later, wider value shifts the
//! columns from that window on rather than forcing the whole input into memory.
//!
//! What it is not: a Unicode-width-aware layout engine. Width is the number of
//! `char`s, which is right for the common case and close for the rest.

use std::io::{self, Write};

use crate::format::Align;

/// Space between two columns.
const GAP: &str = "  ";

/// Rows held back to measure column widths before printing them.
pub const DEFAULT_WINDOW: usize = 1024;

/// Prints rows under a header, with columns aligned.
pub struct TextTable<W: Write> {
    out: W,
    header: Vec<String>,
    aligns: Vec<Align>,
    widths: Vec<usize>,
    pending: Vec<Vec<String>>,
    window: usize,
    header_written: bool,
}

impl<W: Write> TextTable<W> {
    /// A table whose columns are `(name, alignment)`.
    pub fn new(out: W, columns: Vec<(String, Align)>, window: usize) -> Self {
        let (header, aligns): (Vec<String>, Vec<Align>) = columns.into_iter().unzip();
        let widths = header.iter().map(|h| text_width(h)).collect();
        TextTable {
            out,
            header,
            aligns,
            widths,
            pending: Vec::new(),
            window: window.max(1),
            header_written: false,
        }
    }

    /// Adds a row (one string per column).
    pub fn push_row(&mut self, row: Vec<String>) -> io::Result<()> {
        self.pending.push(row);
        if self.pending.len() >= self.window {
            self.flush_window()?;
        }
        Ok(())
    }

    /// Prints whatever is held back (and the header, even for no rows) and
    /// returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_window()?;
        Ok(self.out)
    }

    fn flush_window(&mut self) -> io::Result<()> {
        for row in &self.pending {
            for (width, cell) in self.widths.iter_mut().zip(row) {
                *width = (*width).max(text_width(cell));
            }
        }
        if !self.header_written {
            self.header_written = true;
            write_line(&mut self.out, &self.header, &self.aligns, &self.widths)?;
            let rule: Vec<String> = self.widths.iter().map(|w| "-".repeat(*w)).collect();
            write_line(&mut self.out, &rule, &self.aligns, &self.widths)?;
        }
        for row in self.pending.drain(..) {
            write_line(&mut self.out, &row, &self.aligns, &self.widths)?;
        }
        Ok(())
    }
}

/// Prints `rows` with aligned columns and no header, each line after `indent`.
pub fn write_aligned<W: Write>(out: &mut W, indent: &str, rows: &[Vec<String>]) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(text_width(cell));
        }
    }
    let aligns = vec![Align::Left; columns];
    for row in rows {
        out.write_all(indent.as_bytes())?;
        write_line(out, row, &aligns, &widths)?;
    }
    Ok(())
}

fn text_width(s: &str) -> usize {
    s.chars().count()
}

/// One line: cells padded to their column's width, no trailing spaces.
fn write_line<W: Write>(
    out: &mut W,
    cells: &[String],
    aligns: &[Align],
    widths: &[usize],
) -> io::Result<()> {
    let mut line = String::new();
    // Trailing empty left-aligned cells would only add spaces.
    let last = cells
        .iter()
        .rposition(|c| !c.is_empty())
        .map_or(0, |i| i + 1);
    for (i, cell) in cells.iter().enumerate().take(last) {
        if i > 0 {
            line.push_str(GAP);
        }
        let width = widths.get(i).copied().unwrap_or(0);
        let pad = width.saturating_sub(text_width(cell));
        let align = aligns.get(i).copied().unwrap_or(Align::Left);
        if align == Align::Right {
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(cell);
        } else {
            line.push_str(cell);
            if i + 1 < last {
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
    }
    line.push('\n');
    out.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn widths_come_from_the_content() {
        let mut t = TextTable::new(
            Vec::new(),
            vec![
                ("id".to_string(), Align::Right),
                ("name".to_string(), Align::Left),
            ],
            DEFAULT_WINDOW,
        );
        t.push_row(row(&["1", "Ada"])).unwrap();
        t.push_row(row(&["100", "Grace Hopper"])).unwrap();
        let text = String::from_utf8(t.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            " id  name\n\
             ---  ------------\n  \
             1  Ada\n\
             100  Grace Hopper\n"
        );
    }

    #[test]
    fn header_is_printed_without_rows() {
        let t = TextTable::new(Vec::new(), vec![("a".to_string(), Align::Left)], 4);
        assert_eq!(String::from_utf8(t.finish().unwrap()).unwrap(), "a\n-\n");
    }

    #[test]
    fn widths_grow_from_window_to_window() {
        let mut t = TextTable::new(
            Vec::new(),
            vec![
                ("a".to_string(), Align::Left),
                ("b".to_string(), Align::Left),
            ],
            1,
        );
        t.push_row(row(&["x", "1"])).unwrap();
        t.push_row(row(&["xyz", "2"])).unwrap();
        let text = String::from_utf8(t.finish().unwrap()).unwrap();
        assert_eq!(text, "a  b\n-  -\nx  1\nxyz  2\n");
    }

    #[test]
    fn aligned_rows_have_no_trailing_spaces() {
        let mut out = Vec::new();
        write_aligned(
            &mut out,
            "  ",
            &[row(&["id", "Int64", ""]), row(&["longer", "Utf8", "x"])],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  id      Int64\n  longer  Utf8   x\n"
        );
    }
}
