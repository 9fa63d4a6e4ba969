//! Copying the fields a read needs out of a block's lines, so that polars'
//! parser splits only those.
//!
//! Polars splits a line into fields with a byte-at-a-time loop on stable
//! Rust (its SIMD splitter needs nightly), up to the last column read: a
//! read of 2 of 13 taxi columns spends most of its time finding the
//! fields it then skips. [`project_lines`] finds every separator and line
//! end 64 bytes at a time (SSE2 compares on x86-64) and copies the wanted
//! fields of each line into a small buffer of lines that hold only them,
//! which polars then parses as a file of just those columns.
//!
//! Only where the result is the same field for field: a block holding the
//! quote character, or a line with fewer fields than the last column
//! read, is parsed as it is (see [`project_lines`]).

/// Bytes examined per step.
const WINDOW: usize = 64;

/// The lines of `bytes` (a block of a file separated by `sep` and quoted
/// by `quote`) cut down to their fields `keep`, when that is worth a copy
/// and gives the same fields: `None` when the block's first line keeps
/// more than half its bytes, or as [`project_lines`] says.
pub(crate) fn project_block(
    bytes: &[u8],
    sep: u8,
    quote: Option<u8>,
    keep: &[usize],
) -> Option<Vec<u8>> {
    let eol = b'\n';
    let first = &bytes[..memchr::memchr(eol, bytes).map_or(bytes.len(), |p| p + 1)];
    let mut out = Vec::new();
    if !project_lines(first, sep, eol, quote, keep, &mut out) || out.len() * 2 > first.len() {
        return None;
    }
    // Sized from the first line, a sixteenth more; it grows if later
    // lines keep more.
    let estimate = (bytes.len() as u128 * out.len() as u128 / first.len() as u128) as usize;
    out.reserve(estimate + estimate / 16 + 64);
    project_lines(bytes, sep, eol, quote, keep, &mut out).then_some(out)
}

/// The lines of `bytes` cut down to their fields `keep` (ascending
/// indices, at least one), written to `out` (cleared first): each line
/// becomes its kept fields joined by `sep` and ended by `eol`.
///
/// Returns `false` (and `out` is to be ignored) when some line has no
/// field `keep.last()` — a short or empty line, which polars pads with
/// nulls by rules best left to it — or when `bytes` hold the `quote`
/// character: a quoted field may hold `sep` or `eol`.
pub(crate) fn project_lines(
    bytes: &[u8],
    sep: u8,
    eol: u8,
    quote: Option<u8>,
    keep: &[usize],
    out: &mut Vec<u8>,
) -> bool {
    debug_assert!(!keep.is_empty() && keep.windows(2).all(|w| w[0] < w[1]));
    out.clear();
    let mut line = LineCursor::new(keep, sep, eol);
    let mut base = 0;
    while base < bytes.len() {
        let (stops, ends, quotes) = match bytes.get(base..base + WINDOW) {
            Some(w) => stop_masks(w.try_into().expect("a full window"), sep, eol, quote),
            None => {
                // The last, partial window: pad with a byte that is none.
                let pad = (0..=3)
                    .find(|&b| b != sep && b != eol && Some(b) != quote)
                    .expect("four bytes");
                let mut w = [pad; WINDOW];
                w[..bytes.len() - base].copy_from_slice(&bytes[base..]);
                stop_masks(&w, sep, eol, quote)
            }
        };
        if quotes != 0 || !line.window(bytes, base, stops, ends, out) {
            return false;
        }
        base += WINDOW;
    }
    // A last line without its line end ends with the bytes.
    bytes.last().is_none_or(|&b| b == eol) || line.last_field(bytes, out)
}

/// Bit `i` of the first mask is set where `w[i]` is `sep` or `eol`, of the
/// second where it is `eol`, of the third where it is `quote`.
#[inline(always)]
fn stop_masks(w: &[u8; WINDOW], sep: u8, eol: u8, quote: Option<u8>) -> (u64, u64, u64) {
    // With quoting off, a quote test that never holds (`eol` is a stop).
    let quote = quote.unwrap_or(eol);
    let quoting = if quote == eol { 0 } else { u64::MAX };
    let (stops, ends, quotes) = lanes::masks(w, sep, eol, quote);
    (stops, ends, quotes & quoting)
}

#[cfg(target_arch = "x86_64")]
use sse2 as lanes;

#[cfg(not(target_arch = "x86_64"))]
use bytewise as lanes;

/// The three masks, 16 bytes at a time with SSE2 (part of every x86-64).
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    #[inline(always)]
    pub(super) fn masks(w: &[u8; super::WINDOW], sep: u8, eol: u8, quote: u8) -> (u64, u64, u64) {
        // SAFETY: SSE2 is part of every x86-64 processor (the compiler
        // assumes it for this target), and each load reads 16 bytes of `w`.
        #[allow(unsafe_code)]
        unsafe {
            let (sep, eol, quote) = (
                _mm_set1_epi8(sep as i8),
                _mm_set1_epi8(eol as i8),
                _mm_set1_epi8(quote as i8),
            );
            let bits = |v: __m128i| u64::from(_mm_movemask_epi8(v) as u16);
            let (mut stops, mut ends, mut quotes) = (0, 0, 0);
            for i in 0..super::WINDOW / 16 {
                let v = _mm_loadu_si128(w.as_ptr().add(16 * i).cast());
                let e = _mm_cmpeq_epi8(v, eol);
                stops |= bits(_mm_or_si128(_mm_cmpeq_epi8(v, sep), e)) << (16 * i);
                ends |= bits(e) << (16 * i);
                quotes |= bits(_mm_cmpeq_epi8(v, quote)) << (16 * i);
            }
            (stops, ends, quotes)
        }
    }
}

/// The three masks, a byte at a time: for other processors (and the
/// SSE2 version's oracle in tests).
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
mod bytewise {
    #[inline(always)]
    pub(super) fn masks(w: &[u8; super::WINDOW], sep: u8, eol: u8, quote: u8) -> (u64, u64, u64) {
        let (mut stops, mut ends, mut quotes) = (0u64, 0u64, 0u64);
        for (i, &b) in w.iter().enumerate() {
            stops |= u64::from(b == sep || b == eol) << i;
            ends |= u64::from(b == eol) << i;
            quotes |= u64::from(b == quote) << i;
        }
        (stops, ends, quotes)
    }
}

/// Where the scan is in the current line.
struct LineCursor<'k> {
    keep: &'k [usize],
    sep: u8,
    eol: u8,
    /// Offset where the current field starts.
    start: usize,
    /// Index of the current field in its line.
    field: usize,
    /// How many of `keep` the line has given.
    kept: usize,
}

impl<'k> LineCursor<'k> {
    fn new(keep: &'k [usize], sep: u8, eol: u8) -> Self {
        LineCursor {
            keep,
            sep,
            eol,
            start: 0,
            field: 0,
            kept: 0,
        }
    }

    /// Handles the stops of the window at `base`; `false` on a short line.
    ///
    /// Fields not kept are passed over by clearing their stops from the
    /// mask, a few instructions each; only a kept field's stop costs a
    /// copy.
    #[inline(always)]
    fn window(
        &mut self,
        bytes: &[u8],
        base: usize,
        mut stops: u64,
        ends: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        while stops != 0 {
            let Some(&want) = self.keep.get(self.kept) else {
                // The line has given every field wanted: on past its end.
                let rest = ends & stops;
                if rest == 0 {
                    return true;
                }
                let end = rest.trailing_zeros();
                stops &= !(u64::MAX >> (63 - end));
                self.start = base + end as usize + 1;
                self.field = 0;
                self.kept = 0;
                continue;
            };
            let before = stops;
            let mut skip = want - self.field;
            while skip > 0 && stops != 0 {
                stops &= stops - 1;
                skip -= 1;
            }
            let passed = before ^ stops;
            if passed & ends != 0 {
                return false;
            }
            if passed != 0 {
                self.start = base + (63 - passed.leading_zeros()) as usize + 1;
                self.field = want - skip;
            }
            if stops == 0 {
                return true;
            }
            // The lowest stop left ends the wanted field.
            let bit = stops.trailing_zeros();
            stops &= stops - 1;
            if !self.keep_field(bytes, base + bit as usize, ends >> bit & 1 == 1, out) {
                return false;
            }
        }
        true
    }

    /// The wanted field from `self.start` ends at `pos` (a line end when
    /// `at_end`); `false` when the line ends short of the rest wanted.
    #[inline(always)]
    fn keep_field(&mut self, bytes: &[u8], pos: usize, at_end: bool, out: &mut Vec<u8>) -> bool {
        out.extend_from_slice(&bytes[self.start..pos]);
        self.kept += 1;
        let done = self.kept == self.keep.len();
        out.push(if done { self.eol } else { self.sep });
        self.start = pos + 1;
        if at_end {
            self.field = 0;
            self.kept = 0;
            done
        } else {
            self.field += 1;
            true
        }
    }

    /// Ends a last line that has no line end at the end of `bytes`.
    fn last_field(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> bool {
        match self.keep.get(self.kept) {
            None => true,
            Some(&want) if want == self.field => self.keep_field(bytes, bytes.len(), true, out),
            Some(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same cut made field by field.
    fn oracle(bytes: &[u8], keep: &[usize]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        if text.is_empty() && bytes.is_empty() {
            return Some(out);
        }
        for line in text.split(|&b| b == b'\n') {
            let fields: Vec<&[u8]> = line.split(|&b| b == b',').collect();
            let picked: Option<Vec<&[u8]>> = keep.iter().map(|&k| fields.get(k).copied()).collect();
            out.extend_from_slice(&picked?.join(&b","[..]));
            out.push(b'\n');
        }
        Some(out)
    }

    fn project(bytes: &[u8], keep: &[usize]) -> Option<Vec<u8>> {
        let mut out = vec![b'x'; 3];
        project_lines(bytes, b',', b'\n', Some(b'"'), keep, &mut out).then_some(out)
    }

    #[test]
    fn cuts_lines_down_to_the_kept_fields() {
        let csv = b"1,2015-01-01 00:00:00,3,4.5\n2,2015-01-01 00:00:01,,6.25\r\n";
        assert_eq!(project(csv, &[0, 2]).unwrap(), b"1,3\n2,\n");
        assert_eq!(project(csv, &[3]).unwrap(), b"4.5\n6.25\r\n");
        assert_eq!(project(b"a,b\nc,d", &[1]).unwrap(), b"b\nd\n");
    }

    #[test]
    fn short_and_empty_lines_are_left_to_polars() {
        assert_eq!(project(b"1,2,3\n4,5\n", &[2]), None);
        assert_eq!(project(b"1,2,3\n\n4,5,6\n", &[1]), None);
        // A line longer than every window, and one ending on a window's edge.
        let long = format!("{},{}\n", "a".repeat(200), "b".repeat(63));
        assert_eq!(
            project(long.as_bytes(), &[1]).unwrap(),
            format!("{}\n", "b".repeat(63)).as_bytes()
        );
        assert_eq!(project(long.as_bytes(), &[2]), None);
    }

    #[test]
    fn a_quote_anywhere_is_left_to_polars_unless_quoting_is_off() {
        let mut csv = "1,2\n".repeat(40);
        csv.push_str("3,\"a,b\"\n");
        assert_eq!(project(csv.as_bytes(), &[0]), None);
        let mut out = Vec::new();
        assert!(project_lines(
            csv.as_bytes(),
            b',',
            b'\n',
            None,
            &[0],
            &mut out
        ));
        assert_eq!(out, format!("{}3\n", "1\n".repeat(40)).as_bytes());
    }

    proptest! {
        /// The vector compares set the bits a byte-at-a-time test sets.
        #[test]
        fn masks_are_the_bytes_that_match(
            window in prop::array::uniform32(prop::sample::select(&b",\n\"ab"[..])),
            rest in prop::array::uniform32(any::<u8>()),
        ) {
            let mut w = [0u8; WINDOW];
            w[..32].copy_from_slice(&window);
            w[32..].copy_from_slice(&rest);
            prop_assert_eq!(lanes::masks(&w, b',', b'\n', b'"'), bytewise::masks(&w, b',', b'\n', b'"'));
        }

        /// Random lines of random fields (some lines short, empty fields,
        /// lengths around the window) cut the same as field by field.
        #[test]
        fn equals_splitting_each_line(
            lines in prop::collection::vec(prop::collection::vec("[0-9a-z.\\-]{0,70}", 1..8), 0..40),
            keep in prop::collection::btree_set(0usize..8, 1..4),
            final_newline in any::<bool>(),
        ) {
            let mut csv = lines.iter().map(|l| l.join(",")).collect::<Vec<_>>().join("\n");
            if final_newline && !csv.is_empty() {
                csv.push('\n');
            }
            let keep: Vec<usize> = keep.into_iter().collect();
            prop_assert_eq!(project(csv.as_bytes(), &keep), oracle(csv.as_bytes(), &keep));
        }
    }
}
