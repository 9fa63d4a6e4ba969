//! Parsing and defaults of the memory limit.

/// Parses a byte size: `2GiB`, `512 MiB`, `1.5GB`, `300000000`, or `none`
/// (no limit, `None`). Units: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB
/// (powers of 1024); case-insensitive.
pub fn parse_bytes(text: &str) -> Result<Option<usize>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (expected e.g. 2GiB, 512MB or none)"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use B, KB, MB, GB, KiB, MiB, GiB, …)"
            ));
        }
    };
    Ok(Some((number * scale) as usize))
}

/// Half of the machine's physical memory (`MemTotal` in /proc/meminfo), or
/// 4 GiB where that cannot be read.
pub fn default_limit() -> usize {
    physical_memory().map_or(4 << 30, |m| m / 2)
}

/// The machine's physical memory in bytes, where known.
pub fn physical_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("2GiB").unwrap(), Some(2 << 30));
        assert_eq!(parse_bytes(" 512 MiB ").unwrap(), Some(512 << 20));
        assert_eq!(parse_bytes("1.5GB").unwrap(), Some(1_500_000_000));
        assert_eq!(parse_bytes("1000").unwrap(), Some(1000));
        assert_eq!(parse_bytes("none").unwrap(), None);
        assert!(parse_bytes("lots").unwrap_err().contains("lots"));
        assert!(parse_bytes("3 parsecs").unwrap_err().contains("parsecs"));
        assert!(default_limit() > 0);
    }
}
