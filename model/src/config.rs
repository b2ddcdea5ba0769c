//! What agent and collector configurations share: the error that names the key and the
//! rule, and the rules themselves (a duration at least so long, a ratio, a positive
//! number, an http(s) URL, a byte size). A leaf: it knows no section of either config.

use std::time::Duration;

use crate::duration;

/// A config value that breaks a rule: `{key} {rule}`, `key` the full dotted path, e.g.
/// `agent.interval must be at least 100ms, got 10ms`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {rule}")]
pub struct ConfigError {
    pub key: String,
    /// What is wrong, and the value found.
    pub rule: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, rule: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            rule: rule.into(),
        }
    }
}

/// The duration `value` at `key`, refused under `min`.
pub fn duration_at_least(key: &str, value: &str, min: Duration) -> Result<Duration, ConfigError> {
    let d = duration::parse(value).map_err(|e| ConfigError::new(key, e.to_string()))?;
    if d < min {
        return Err(ConfigError::new(
            key,
            format!("must be at least {}, got {value}", duration::format(min)),
        ));
    }
    Ok(d)
}

/// `duration_at_least` in nanoseconds (saturating at `i64::MAX`, some 292 years).
pub fn nanos_at_least(key: &str, value: &str, min: Duration) -> Result<i64, ConfigError> {
    let d = duration_at_least(key, value, min)?;
    Ok(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A share between 0 and 1.
pub fn ratio(key: &str, value: f64) -> Result<f64, ConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            key,
            format!("must be between 0 and 1, got {value}"),
        ))
    }
}

/// A threshold above 0.
pub fn positive(key: &str, value: f64) -> Result<f64, ConfigError> {
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(ConfigError::new(
            key,
            format!("must be above 0, got {value}"),
        ))
    }
}

/// An `http://` or `https://` URL with a host; `example` is shown in the error
/// (`http://127.0.0.1:4318`), and the value found unless it is `secret`.
pub fn http_url(key: &str, url: &str, example: &str, secret: bool) -> Result<(), ConfigError> {
    let has_host = ["http://", "https://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if has_host && !url.contains(char::is_whitespace) {
        return Ok(());
    }
    let mut rule = String::from("must be an http:// or https:// URL");
    if !example.is_empty() {
        rule.push_str(" such as ");
        rule.push_str(example);
    }
    if !secret {
        rule.push_str(&format!(", got {url:?}"));
    }
    Err(ConfigError::new(key, rule))
}

/// Parses `10GB`, `512MiB`, `1TB` or a plain number of bytes.
pub fn parse_size(input: &str) -> Option<u64> {
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * scale;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_name_the_key_the_least_and_the_value() {
        let min = Duration::from_millis(100);
        assert_eq!(
            duration_at_least("a.b", "1s", min),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(
            duration_at_least("a.b", "10ms", min).map_err(|e| e.to_string()),
            Err("a.b must be at least 100ms, got 10ms".to_string())
        );
        let bad = duration_at_least("a.b", "soon", min).expect_err("not a duration");
        assert_eq!(bad.key, "a.b");
        assert_eq!(nanos_at_least("a.b", "2s", min), Ok(2_000_000_000));
    }

    #[test]
    fn ratios_positives_and_urls() {
        assert_eq!(ratio("k", 0.5), Ok(0.5));
        assert_eq!(
            ratio("k", 1.5).map_err(|e| e.rule),
            Err("must be between 0 and 1, got 1.5".to_string())
        );
        assert_eq!(positive("k", 2.0), Ok(2.0));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(positive("k", bad).is_err(), "{bad}");
        }
        assert_eq!(http_url("k", "https://h:1/x", "", false), Ok(()));
        for bad in ["h:1", "http://", "http:///x", "http://a b"] {
            assert!(http_url("k", bad, "", false).is_err(), "{bad}");
        }
        assert_eq!(
            http_url("k", "h:1", "http://h:1", false).map_err(|e| e.rule),
            Err("must be an http:// or https:// URL such as http://h:1, got \"h:1\"".to_string())
        );
        assert_eq!(
            http_url("k", "token@h", "", true).map_err(|e| e.rule),
            Err("must be an http:// or https:// URL".to_string())
        );
    }

    #[test]
    fn sizes_in_decimal_and_binary_units() {
        assert_eq!(parse_size("10GB"), Some(10_000_000_000));
        assert_eq!(parse_size("512MiB"), Some(512 * 1024 * 1024));
        assert_eq!(parse_size("1.5 kb"), Some(1500));
        assert_eq!(parse_size("2048"), Some(2048));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5 parsecs"), None);
    }
}
