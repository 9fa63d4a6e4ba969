//! Compact encodings the array ops share when written to bytes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Chunk lengths per axis as runs of equal lengths (`serde(with =
/// "wire::runs")`): a regular chunking of 10,000 blocks is a few bytes, not
/// 10,000 numbers, and every op of a layer carries its grid.
pub(crate) mod runs {
    use super::*;

    pub fn serialize<S: Serializer>(chunks: &[Vec<usize>], s: S) -> Result<S::Ok, S::Error> {
        let runs: Vec<Vec<(usize, usize)>> = chunks
            .iter()
            .map(|axis| {
                let mut out: Vec<(usize, usize)> = Vec::new();
                for &c in axis {
                    match out.last_mut() {
                        Some((len, n)) if *len == c => *n += 1,
                        _ => out.push((c, 1)),
                    }
                }
                out
            })
            .collect();
        runs.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<usize>>, D::Error> {
        let runs = Vec::<Vec<(usize, usize)>>::deserialize(d)?;
        // Corrupt bytes must not make a huge allocation.
        for axis in &runs {
            let n = axis.iter().try_fold(0usize, |acc, r| acc.checked_add(r.1));
            if n.is_none_or(|n| n > crate::grid::MAX_BLOCKS) {
                return Err(serde::de::Error::custom(
                    "an axis of more blocks than an array can have",
                ));
            }
        }
        Ok(runs
            .into_iter()
            .map(|axis| {
                axis.into_iter()
                    .flat_map(|(len, n)| std::iter::repeat_n(len, n))
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct G(#[serde(with = "super::runs")] Vec<Vec<usize>>);

    #[test]
    fn runs_round_trip_and_are_small() {
        for g in [
            vec![vec![100; 10_000]],
            vec![vec![3, 3, 1], vec![0], vec![2, 5, 5, 5, 2]],
            vec![],
        ] {
            let bytes = postcard::to_stdvec(&G(g.clone())).unwrap();
            assert_eq!(postcard::from_bytes::<G>(&bytes).unwrap(), G(g.clone()));
            assert!(bytes.len() <= 2 + 4 * g.iter().map(|a| a.len()).sum::<usize>());
        }
        assert!(
            postcard::to_stdvec(&G(vec![vec![100; 10_000]]))
                .unwrap()
                .len()
                < 8
        );
    }
}
