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

/// A person, as JSON-lines records read into a typed bag.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    /// Their name.
    pub name: String,
    /// Their age in years.
    pub age: u32,
}
oxidask::bag::register_record!(Person);

/// A person's name.
#[oxidask::remote]
pub fn person_name(p: Person) -> String {
    p.name
}

/// Orders `(name, count)` pairs by count, then name (Dask's topk order).
#[oxidask::remote]
pub fn by_count_then_name(x: &(String, usize)) -> (usize, std::cmp::Reverse<String>) {
    (x.1, std::cmp::Reverse(x.0.clone()))
}
