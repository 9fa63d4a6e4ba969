//! Checking CSV lines against the schema. Polars reports what failed but
//! not always where, and reads a line with too few fields as nulls
//! without a word; so a block is scanned again for its records and their
//! field counts (fast, [`Records`]) when its parse failed or may have
//! padded a short line, and on the (cold) error path each field is checked
//! against its column's type to name the line and column.

use polars::prelude::{DataType, Schema};

use super::options::{BadLines, CsvOptions};

/// One record of a block: its bytes (without the line end), the 0-based
/// number of the line it starts on (counting newlines inside quotes, so
/// it maps to the file's lines), and how many fields it has.
#[derive(Debug, PartialEq)]
pub(crate) struct Record<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) line: usize,
    pub(crate) fields: usize,
}

/// The non-empty records of a block, split as polars splits them: a field
/// is quoted when it starts with the quote character, a doubled quote
/// inside it is a literal quote, and separators and newlines inside quotes
/// belong to the field. Only separators, quotes and newlines are looked
/// at (`memchr`), so a scan runs at memory speed.
pub(crate) struct Records<'a> {
    block: &'a [u8],
    sep: u8,
    quote: Option<u8>,
    /// Where the next record starts.
    pos: usize,
    /// Newlines before `pos`.
    line: usize,
}

impl<'a> Records<'a> {
    pub(crate) fn new(block: &'a [u8], opts: &CsvOptions) -> Self {
        Records {
            block,
            sep: opts.separator,
            quote: opts.quote_char,
            pos: 0,
            line: 0,
        }
    }

    /// The end of the record starting at `self.pos` (the index of its
    /// newline, or the block's end), its field count and the newlines
    /// inside it.
    fn next_record(&self) -> (usize, usize, usize) {
        let rest = &self.block[self.pos..];
        let mut fields = 1;
        let mut quoted_newlines = 0;
        let mut field_start = 0;
        let mut in_quotes = false;
        // The position just after a closing quote: a quote there is the
        // second half of a doubled quote and reopens the field.
        let mut after_close = usize::MAX;
        let quote = self.quote.unwrap_or(b'\n');
        for p in memchr::memchr3_iter(self.sep, quote, b'\n', rest) {
            let c = rest[p];
            if c == b'\n' {
                if in_quotes {
                    quoted_newlines += 1;
                    continue;
                }
                return (self.pos + p, fields, quoted_newlines);
            }
            if Some(c) == self.quote {
                if in_quotes {
                    in_quotes = false;
                    after_close = p + 1;
                } else if p == field_start || p == after_close {
                    in_quotes = true;
                }
            } else if !in_quotes {
                fields += 1;
                field_start = p + 1;
            }
        }
        (self.block.len(), fields, quoted_newlines)
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        while self.pos < self.block.len() {
            let (end, fields, inner) = self.next_record();
            let raw = &self.block[self.pos..end];
            let bytes = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = self.line;
            self.line += inner + usize::from(end < self.block.len());
            self.pos = end + 1;
            // Polars skips empty lines.
            if !bytes.is_empty() {
                return Some(Record {
                    bytes,
                    line,
                    fields,
                });
            }
        }
        None
    }
}

/// The first record of `block` whose field count is not `ncols`.
pub(crate) fn first_ragged(block: &[u8], ncols: usize, opts: &CsvOptions) -> Option<BadField> {
    Records::new(block, opts)
        .find(|r| r.fields != ncols)
        .map(|r| ragged(&r, ncols))
}

fn ragged(r: &Record<'_>, ncols: usize) -> BadField {
    BadField {
        line: r.line,
        column: r.fields.min(ncols) + 1,
        message: format!("expected {ncols} fields, found {}", r.fields),
    }
}

/// `block` without its records whose field count is not `ncols`, written
/// to `out` (cleared first), each record followed by a newline; returns
/// the 0-based lines of the records left out.
pub(crate) fn keep_whole_records(
    block: &[u8],
    ncols: usize,
    opts: &CsvOptions,
    out: &mut Vec<u8>,
) -> Vec<usize> {
    out.clear();
    out.reserve(block.len());
    let mut dropped = Vec::new();
    for r in Records::new(block, opts) {
        if r.fields == ncols {
            out.extend_from_slice(r.bytes);
            out.push(b'\n');
        } else {
            dropped.push(r.line);
        }
    }
    dropped
}

/// What is wrong with one line: its 0-based index in the block, the
/// 1-based column (0 when the whole line is at fault) and why.
#[derive(Debug, PartialEq)]
pub(crate) struct BadField {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

/// Splits one record into fields as [`Records`] counts them (a quote opens
/// a field only at its start; a doubled quote inside is a literal quote).
pub(crate) fn split_fields(line: &[u8], sep: u8, quote: Option<u8>) -> Vec<Vec<u8>> {
    let mut fields = Vec::new();
    let mut cur = Vec::new();
    let mut in_quotes = false;
    let mut field_start = 0;
    let mut after_close = usize::MAX;
    for (i, &c) in line.iter().enumerate() {
        if Some(c) == quote {
            if in_quotes {
                in_quotes = false;
                after_close = i + 1;
                continue;
            }
            if i == field_start || i == after_close {
                if i == after_close {
                    cur.push(c);
                }
                in_quotes = true;
                continue;
            }
            cur.push(c);
        } else if c == sep && !in_quotes {
            fields.push(std::mem::take(&mut cur));
            field_start = i + 1;
        } else {
            cur.push(c);
        }
    }
    fields.push(cur);
    fields
}

fn parses_as(field: &str, dtype: &DataType) -> bool {
    match dtype {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            field.parse::<i64>().is_ok()
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            field.parse::<u64>().is_ok()
        }
        DataType::Float32 | DataType::Float64 => field.parse::<f64>().is_ok(),
        DataType::Boolean => {
            field.eq_ignore_ascii_case("true") || field.eq_ignore_ascii_case("false")
        }
        _ => true,
    }
}

/// The first record of `block` that does not fit `schema`: a wrong number
/// of fields, or a field of a numeric or boolean column that does not
/// parse as one. `None` when every record fits.
pub(crate) fn find_bad_field(block: &[u8], schema: &Schema, opts: &CsvOptions) -> Option<BadField> {
    let ncols = schema.len();
    for r in Records::new(block, opts) {
        if r.fields != ncols {
            if opts.bad_lines == BadLines::Skip {
                continue;
            }
            return Some(ragged(&r, ncols));
        }
        let fields = split_fields(r.bytes, opts.separator, opts.quote_char);
        for (ci, (field, (name, dtype))) in fields.iter().zip(schema.iter()).enumerate() {
            let text = String::from_utf8_lossy(field);
            if text.is_empty() || opts.null_values.iter().any(|n| *n == text) {
                continue;
            }
            if !parses_as(&text, dtype) {
                return Some(BadField {
                    line: r.line,
                    column: ci + 1,
                    message: format!("column {name:?}: cannot parse {text:?} as {dtype}"),
                });
            }
        }
    }
    None
}

/// How many fields of `block` do not parse as their column's type (what
/// polars reads as null when told to ignore errors).
/// Only the columns at `columns` (all when `None`) count.
pub(crate) fn count_bad_values(
    block: &[u8],
    schema: &Schema,
    columns: Option<&[usize]>,
    opts: &CsvOptions,
) -> usize {
    Records::new(block, opts)
        .map(|r| {
            split_fields(r.bytes, opts.separator, opts.quote_char)
                .iter()
                .zip(schema.iter())
                .enumerate()
                .filter(|(i, _)| columns.is_none_or(|c| c.contains(i)))
                .filter(|(_, (field, (_, dtype)))| {
                    let text = String::from_utf8_lossy(field);
                    !(text.is_empty()
                        || opts.null_values.iter().any(|n| *n == text)
                        || parses_as(&text, dtype))
                })
                .count()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::Field;

    #[test]
    fn records_keep_quoted_separators_and_newlines_and_skip_empty_lines() {
        let opts = CsvOptions::default();
        let block = b"a,\"x,\ny\",c\n\n1,2\r\n\"q\"\"\",z,\"\"\nab\"c,d";
        let got: Vec<(usize, usize)> = Records::new(block, &opts)
            .map(|r| (r.line, r.fields))
            .collect();
        assert_eq!(got, vec![(0, 3), (3, 2), (4, 3), (5, 2)]);
        let last = Records::new(block, &opts).last().unwrap();
        // A quote inside an unquoted field is a literal one.
        assert_eq!(
            split_fields(last.bytes, b',', Some(b'"')),
            vec![b"ab\"c".to_vec(), b"d".to_vec()]
        );
        let mut kept = Vec::new();
        let dropped = keep_whole_records(block, 3, &opts, &mut kept);
        assert_eq!(dropped, vec![3, 5]);
        assert_eq!(kept, b"a,\"x,\ny\",c\n\"q\"\"\",z,\"\"\n");
        // Without quoting, quotes are plain bytes.
        let plain = CsvOptions::default().quote_char(None);
        let got: Vec<usize> = Records::new(b"\"a,b\",c\n", &plain)
            .map(|r| r.fields)
            .collect();
        assert_eq!(got, vec![3]);
    }

    proptest::proptest! {
        /// Rows of fields holding separators, quotes, newlines and `\r`,
        /// written with quoting where needed: every record comes back with
        /// its row's field count, line and fields.
        #[test]
        fn records_are_the_rows_written(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a,\"\n\r ]{0,4}", 1..5),
                0..20,
            ),
        ) {
            let mut text = Vec::new();
            let mut lines = Vec::new();
            let mut line = 0;
            let mut want = Vec::new();
            for row in &rows {
                let fields: Vec<String> = row
                    .iter()
                    .map(|f| {
                        if f.contains([',', '"', '\n', '\r']) {
                            format!("\"{}\"", f.replace('"', "\"\""))
                        } else {
                            f.clone()
                        }
                    })
                    .collect();
                let rec = fields.join(",");
                if rec.is_empty() {
                    // An empty line: skipped, as polars does.
                    text.push(b'\n');
                    line += 1;
                    continue;
                }
                lines.push(line);
                want.push(row.iter().map(|f| f.as_bytes().to_vec()).collect::<Vec<_>>());
                line += 1 + rec.matches('\n').count();
                text.extend_from_slice(rec.as_bytes());
                text.push(b'\n');
            }
            let opts = CsvOptions::default();
            let got: Vec<Record<'_>> = Records::new(&text, &opts).collect();
            proptest::prop_assert_eq!(got.len(), want.len());
            for ((r, w), l) in got.iter().zip(&want).zip(&lines) {
                proptest::prop_assert_eq!(r.fields, w.len());
                proptest::prop_assert_eq!(r.line, *l);
                proptest::prop_assert_eq!(&split_fields(r.bytes, b',', Some(b'"')), w);
            }
        }
    }

    #[test]
    fn quoted_fields_split_whole() {
        let f = split_fields(br#"1,"a,b","say ""hi""",x"#, b',', Some(b'"'));
        assert_eq!(
            f,
            vec![
                b"1".to_vec(),
                b"a,b".to_vec(),
                br#"say "hi""#.to_vec(),
                b"x".to_vec()
            ]
        );
    }

    #[test]
    fn finds_the_first_bad_line_and_column() {
        let schema = Schema::from_iter([
            Field::new("a".into(), DataType::Int64),
            Field::new("b".into(), DataType::Float64),
        ]);
        let opts = CsvOptions::default().null_values(["NA"]);
        let ok = b"1,2.5\nNA,\n3,4\n";
        assert_eq!(find_bad_field(ok, &schema, &opts), None);
        let bad = b"1,2.5\n2,x\n3\n";
        let f = find_bad_field(bad, &schema, &opts).unwrap();
        assert_eq!((f.line, f.column), (1, 2));
        assert!(f.message.contains("\"x\""), "{}", f.message);
        let short = b"1,2.5\n3\n";
        let f = find_bad_field(short, &schema, &opts).unwrap();
        assert_eq!((f.line, f.column), (1, 2));
        assert!(f.message.contains("expected 2 fields, found 1"));
    }
}
