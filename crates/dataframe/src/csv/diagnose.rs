//! Finding the line and column a CSV parse failed at. Polars reports what
//! failed but not always where; on that (cold) error path the block is
//! scanned again line by line with a plain field splitter and each field
//! checked against its column's type.

use polars::prelude::{DataType, Schema};

use super::options::CsvOptions;

/// What is wrong with one line: its 0-based index in the block, the
/// 1-based column (0 when the whole line is at fault) and why.
#[derive(Debug, PartialEq)]
pub(crate) struct BadField {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

/// Splits one line into fields, honouring the quote character (a doubled
/// quote inside a quoted field is a literal quote).
pub(crate) fn split_fields(line: &[u8], sep: u8, quote: Option<u8>) -> Vec<Vec<u8>> {
    let mut fields = Vec::new();
    let mut cur = Vec::new();
    let mut in_quotes = false;
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        if Some(c) == quote {
            if in_quotes && line.get(i + 1) == Some(&c) {
                cur.push(c);
                i += 1;
            } else {
                in_quotes = !in_quotes;
            }
        } else if c == sep && !in_quotes {
            fields.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
        i += 1;
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

/// The first line of `block` that does not fit `schema`: a wrong number of
/// fields, or a field of a numeric or boolean column that does not parse
/// as one. `None` when every line fits.
pub(crate) fn find_bad_field(block: &[u8], schema: &Schema, opts: &CsvOptions) -> Option<BadField> {
    let ncols = schema.len();
    let mut lines: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (li, raw) in lines.into_iter().enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        let fields = split_fields(line, opts.separator, opts.quote_char);
        if fields.len() != ncols {
            return Some(BadField {
                line: li,
                column: fields.len().min(ncols) + 1,
                message: format!("expected {ncols} fields, found {}", fields.len()),
            });
        }
        for (ci, (field, (name, dtype))) in fields.iter().zip(schema.iter()).enumerate() {
            let text = String::from_utf8_lossy(field);
            if text.is_empty() || opts.null_values.iter().any(|n| *n == text) {
                continue;
            }
            if !parses_as(&text, dtype) {
                return Some(BadField {
                    line: li,
                    column: ci + 1,
                    message: format!("column {name:?}: cannot parse {text:?} as {dtype}"),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::Field;

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
