//! Human durations as config and the CLI write them: `500ms`, `30s`, `5m`, `1h30m`, `7d`.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration: {reason} (write e.g. 500ms, 30s, 5m, 1h30m, 7d)")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses a sequence of `<number><unit>` parts, units `ms`, `s`, `m`, `h`, `d`.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("it is empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| err("a number needs a unit"))?;
        if digits == 0 {
            return Err(err("expected a number"));
        }
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| err("expected a number"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(err("unknown unit")),
        };
        rest = &rest[unit_len..];
        total += Duration::from_secs_f64(value * scale);
    }
    Ok(total)
}

/// Formats the way `parse` reads, in the largest units that are exact: `90s` -> `1m30s`.
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        let cases = [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("7d", 604_800_000),
            ("1.5s", 1_500),
        ];
        for (input, ms) in cases {
            assert_eq!(parse(input).map(|d| d.as_millis()), Ok(ms), "{input}");
        }
    }

    #[test]
    fn rejects_with_a_reason() {
        for (input, reason) in [
            ("", "it is empty"),
            ("30", "a number needs a unit"),
            ("s", "expected a number"),
            ("5 minutes", "unknown unit"),
            ("3w", "unknown unit"),
        ] {
            assert_eq!(parse(input).map_err(|e| e.reason), Err(reason), "{input}");
        }
    }

    #[test]
    fn format_round_trips() {
        for ms in [1, 999, 1000, 90_000, 5_400_000, 604_800_001] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse(&format(d)), Ok(d), "{ms}");
        }
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
    }
}
