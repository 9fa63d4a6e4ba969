//! Functions registered with `#[oxidask::remote]` that graphs sent to the
//! `run_graph` binary call: they must be compiled into that binary, as a
//! cluster worker must be the same program as its client.

/// The squares of a list, summed.
#[oxidask::remote]
pub fn sum_of_squares(xs: Vec<i64>) -> i64 {
    xs.iter().map(|x| x * x).sum()
}

/// Parses a whole number, failing on anything else.
#[oxidask::remote]
pub fn parse_int(s: String) -> Result<i64, std::num::ParseIntError> {
    s.trim().parse()
}

/// `n` copies of `s`, joined.
#[oxidask::remote]
pub fn repeat(s: String, n: i64) -> String {
    s.repeat(n.max(0) as usize)
}
