//! Reading a CSV file into a checked header and rows of trimmed cells with their line numbers.
//!
//! The rules every CSV format shares live here: a UTF-8 BOM is dropped, blank lines are skipped,
//! cells are trimmed, the header must name every column of the format exactly once and nothing
//! else (in any order), and every row must have as many cells as the header.

use crate::error::Errors;
use crate::value::Check;

/// A data row: its 1-based line (of its first character) and its cells in file order.
pub(crate) struct Row {
    pub line: u64,
    cells: Vec<String>,
}

/// The header of a file, bound to the columns of a format.
pub(crate) struct Columns {
    /// Each column of the format and its position in the file's rows (`None`: optional, absent).
    pos: Vec<(&'static str, Option<usize>)>,
}

impl Columns {
    /// The trimmed cell of `name` in `row`; `""` if the (optional) column is absent.
    /// Adds columns that this form of a format leaves out (their cells read as empty).
    pub(crate) fn with_absent(mut self, names: &[&'static str]) -> Columns {
        self.pos.extend(names.iter().map(|n| (*n, None)));
        self
    }

    pub(crate) fn cell<'r>(&self, row: &'r Row, name: &str) -> &'r str {
        let at = self
            .pos
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("column {name} not in format"));
        at.1.map_or("", |i| row.cells[i].as_str())
    }
}

/// The raw header: its line and trimmed column names.
pub(crate) struct Header {
    pub line: u64,
    pub names: Vec<String>,
}

/// Splits `text` into header and rows. Errors (a file without a header, rows of the wrong
/// width, broken quoting) go to `errs`; `None` when there is no header to go on.
pub(crate) fn read(errs: &mut Errors, text: &str, expected: &str) -> Option<(Header, Vec<Row>)> {
    // Spreadsheet programs on Windows write a BOM; it is not part of the first column's name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = match records(text) {
        Ok(records) => records,
        Err((line, message)) => {
            errs.push(line, None, message);
            return None;
        }
    };
    let mut header: Option<Header> = None;
    let mut rows = Vec::new();
    for (line, raw) in records {
        let cells: Vec<String> = raw.iter().map(|c| c.trim().to_string()).collect();
        if cells.len() == 1 && cells[0].is_empty() {
            continue; // a blank line
        }
        match &header {
            None => header = Some(Header { line, names: cells }),
            Some(h) if cells.len() != h.names.len() => {
                errs.push(
                    line,
                    None,
                    format!("expected {} cells, found {}", h.names.len(), cells.len()),
                );
                if errs.full() {
                    return None;
                }
            }
            Some(_) => rows.push(Row { line, cells }),
        }
    }
    let Some(header) = header else {
        errs.push(
            0,
            None,
            format!("empty file: expected a header line `{expected}`"),
        );
        return None;
    };
    Some((header, rows))
}

/// A line number and the raw cells of the record starting there.
type Record = (u64, Vec<String>);

/// Splits CSV text (RFC 4180: `,` separates, `"` quotes, `""` is a quote inside quotes, a line
/// ends with LF, CRLF or CR) into records with the line each starts on. Quoting is strict: a
/// quote inside an unquoted cell, text after a closing quote and an unclosed quote are errors,
/// since each usually means the cells are not what the author thinks.
fn records(text: &str) -> Result<Vec<Record>, (u64, String)> {
    let mut it = text.chars().peekable();
    let mut line: u64 = 1;
    let mut out = Vec::new();
    while it.peek().is_some() {
        let start = line;
        let mut cells = Vec::new();
        loop {
            let mut cell = String::new();
            while let Some(&c) = it.peek().filter(|c| **c == ' ' || **c == '\t') {
                cell.push(c);
                it.next();
            }
            if it.peek() == Some(&'"') {
                it.next();
                cell.clear();
                let opened = line;
                loop {
                    match it.next() {
                        None => {
                            return Err((
                                opened,
                                "a quote opened on this line is never closed".to_string(),
                            ));
                        }
                        Some('"') if it.peek() == Some(&'"') => {
                            it.next();
                            cell.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' || (c == '\r' && it.peek() != Some(&'\n')) {
                                line += 1;
                            }
                            cell.push(c);
                        }
                    }
                }
                while it.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                    it.next();
                }
                if let Some(&c) = it.peek().filter(|c| !matches!(c, ',' | '\n' | '\r')) {
                    return Err((
                        line,
                        format!(
                            "unexpected {c:?} after a closing quote: a quoted cell ends at its quote"
                        ),
                    ));
                }
            } else {
                while let Some(&c) = it.peek().filter(|c| !matches!(c, ',' | '\n' | '\r')) {
                    if c == '"' {
                        return Err((line, "a quote inside an unquoted cell: quote the whole cell and double the quote (\"\")".to_string()));
                    }
                    cell.push(c);
                    it.next();
                }
            }
            cells.push(cell);
            match it.next() {
                Some(',') => continue,
                Some('\r') => {
                    if it.peek() == Some(&'\n') {
                        it.next();
                    }
                }
                Some(_) | None => {} // '\n' or the end of the text
            }
            line += 1;
            break;
        }
        out.push((start, cells));
    }
    Ok(out)
}

/// Binds a header to a format's columns: each of `required` must appear, each of `optional` may,
/// and no other column nor any column twice.
pub(crate) fn bind(
    errs: &mut Errors,
    header: &Header,
    required: &[&'static str],
    optional: &[&'static str],
) -> Option<Columns> {
    let before = errs.len();
    let known = || {
        required
            .iter()
            .chain(optional)
            .copied()
            .collect::<Vec<_>>()
            .join(",")
    };
    for (i, name) in header.names.iter().enumerate() {
        if name.is_empty() {
            errs.push(
                header.line,
                None,
                format!("column {} has no name; expected columns {}", i + 1, known()),
            );
        } else if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
            errs.push(
                header.line,
                Some(name),
                format!("unknown column; expected columns {}", known()),
            );
        } else if header.names[..i].contains(name) {
            errs.push(header.line, Some(name), "column appears twice");
        }
    }
    for name in required {
        if !header.names.iter().any(|n| n == name) {
            errs.push(header.line, Some(name), "missing column");
        }
    }
    if errs.len() != before {
        return None;
    }
    let pos = required
        .iter()
        .chain(optional)
        .map(|name| (*name, header.names.iter().position(|n| n == name)))
        .collect();
    Some(Columns { pos })
}

/// Reads the cells of one row into typed values, recording each bad cell.
pub(crate) struct Cells<'a> {
    pub errs: &'a mut Errors,
    pub cols: &'a Columns,
    pub row: &'a Row,
    /// Set once any cell of the row failed; the row is then dropped.
    pub failed: bool,
}

impl<'a> Cells<'a> {
    pub(crate) fn new(errs: &'a mut Errors, cols: &'a Columns, row: &'a Row) -> Cells<'a> {
        Cells {
            errs,
            cols,
            row,
            failed: false,
        }
    }

    pub(crate) fn raw(&self, name: &str) -> &'a str {
        self.cols.cell(self.row, name)
    }

    pub(crate) fn error(&mut self, name: &str, message: impl Into<String>) {
        self.failed = true;
        self.errs.push(self.row.line, Some(name), message);
    }

    /// A cell that must not be empty.
    pub(crate) fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Check<T>,
    ) -> Option<T> {
        let s = self.raw(name);
        if s.is_empty() {
            self.error(name, "must not be empty");
            return None;
        }
        self.parse(name, s, parse)
    }

    /// A cell that may be empty (`None`: empty or bad; bad cells set `failed`).
    pub(crate) fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Check<T>,
    ) -> Option<T> {
        let s = self.raw(name);
        if s.is_empty() {
            return None;
        }
        self.parse(name, s, parse)
    }

    fn parse<T>(&mut self, name: &str, s: &str, parse: impl FnOnce(&str) -> Check<T>) -> Option<T> {
        match parse(s) {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(name, message);
                None
            }
        }
    }
}
