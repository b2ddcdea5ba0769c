//! Text for numbers: byte rates, percentages, sizes, ages and clock times, as the
//! dashboard prints them. Pure functions; a value that is missing or not finite prints
//! as [`MISSING`].

use gpuwatch_model::Timestamp;

/// What a cell shows when the source did not send the value.
pub const MISSING: &str = "-";

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const TIB: f64 = GIB * 1024.0;

/// Bytes per second with decimal prefixes (network convention): `512B/s`, `1.5K/s`,
/// `182.3G/s`. At most 8 characters up to 999.9 T/s.
pub fn byte_rate(bytes_per_second: Option<f64>) -> String {
    let Some(v) = bytes_per_second.filter(|v| v.is_finite() && *v >= 0.0) else {
        return MISSING.to_string();
    };
    if v < 999.5 {
        return format!("{v:.0}B/s");
    }
    let mut scaled = v;
    for prefix in ["K", "M", "G", "T", "P"] {
        scaled /= 1000.0;
        // Round first, so 999.97 K/s becomes 1.0M/s rather than 1000.0K/s.
        if (scaled * 10.0).round() / 10.0 < 1000.0 || prefix == "P" {
            return format!("{scaled:.1}{prefix}/s");
        }
    }
    MISSING.to_string()
}

/// A 0..1 ratio as a whole percentage, right-aligned in 4 characters: ` 52%`, `100%`.
/// Values outside 0..1 are clamped (a sampler may overshoot by rounding).
pub fn percent(ratio: Option<f64>) -> String {
    match ratio.filter(|r| r.is_finite()) {
        Some(r) => format!("{:>3.0}%", (r.clamp(0.0, 1.0) * 100.0).round()),
        None => format!("{MISSING:>4}"),
    }
}

/// GiB with one decimal below 100 and none above: `41.2`, `141`.
pub fn gib(bytes: f64) -> String {
    let g = bytes / GIB;
    if g < 99.95 {
        format!("{g:.1}")
    } else {
        format!("{g:.0}")
    }
}

/// Memory of one GPU: `41.2/80.0G`, `41.2G` when the limit is unknown, `-` when the use
/// is unknown.
pub fn memory_used_of_limit(used: Option<f64>, limit: Option<f64>) -> String {
    let used = used.filter(|v| v.is_finite() && *v >= 0.0);
    let limit = limit.filter(|v| v.is_finite() && *v > 0.0);
    match (used, limit) {
        (Some(u), Some(l)) => format!("{}/{}G", gib(u), gib(l)),
        (Some(u), None) => format!("{}G", gib(u)),
        (None, _) => MISSING.to_string(),
    }
}

/// A larger amount of memory, for cluster totals: `812 GiB`, `2.5 TiB`.
pub fn bytes_binary(bytes: f64) -> String {
    if bytes >= TIB {
        format!("{:.1} TiB", bytes / TIB)
    } else {
        format!("{:.0} GiB", bytes / GIB)
    }
}

/// Used and total memory of many GPUs in the unit of the total: `362/520 GiB`,
/// `1.2/2.5 TiB`.
pub fn bytes_binary_pair(used: f64, total: f64) -> String {
    if total >= TIB {
        format!("{:.1}/{:.1} TiB", used / TIB, total / TIB)
    } else {
        format!("{:.0}/{:.0} GiB", used / GIB, total / GIB)
    }
}

/// Power of one GPU: `612/700W`, `612W` without a known limit, `-`.
pub fn power_of_limit(watts: Option<f64>, limit: Option<f64>) -> String {
    let watts = watts.filter(|v| v.is_finite());
    let limit = limit.filter(|v| v.is_finite() && *v > 0.0);
    match (watts, limit) {
        (Some(w), Some(l)) => format!("{w:.0}/{l:.0}W"),
        (Some(w), None) => format!("{w:.0}W"),
        (None, _) => MISSING.to_string(),
    }
}

/// Power of many GPUs: `612 W`, `18.2 kW`, `1.05 MW`.
pub fn power_total(watts: f64) -> String {
    if watts >= 999_500.0 {
        format!("{:.2} MW", watts / 1e6)
    } else if watts >= 9_995.0 {
        format!("{:.1} kW", watts / 1e3)
    } else {
        format!("{watts:.0} W")
    }
}

/// `71°C` or `-`.
pub fn temperature(celsius: Option<f64>) -> String {
    match celsius.filter(|v| v.is_finite()) {
        Some(c) => format!("{c:.0}°C"),
        None => MISSING.to_string(),
    }
}

pub use gpuwatch_model::format::thousands;

/// How long ago, short: `0.4s`, `12s`, `3m05s`, `2h03m`, `4d02h`. Negative ages (a
/// source whose clock runs ahead of ours) count as zero.
pub fn age(millis: i64) -> String {
    let ms = millis.max(0);
    if ms < 10_000 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
        _ => format!("{}d{:02}h", s / 86_400, (s / 3600) % 24),
    }
}

/// How long ago, in one unit, for lists: `42s`, `12m`, `3h`, `2d`. Negative ages
/// count as zero.
pub fn age_short(millis: i64) -> String {
    let s = millis.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The time of day of a Unix-millisecond instant, UTC: `10:00:03 UTC`.
pub fn clock_utc(unix_ms: i64) -> String {
    let rfc = Timestamp::from_unix_millis(unix_ms).to_rfc3339();
    // `YYYY-MM-DDTHH:MM:SSZ`: the part between `T` and `Z`.
    let time = rfc
        .split_once('T')
        .map_or(rfc.as_str(), |(_, t)| t.trim_end_matches('Z'));
    format!("{time} UTC")
}

/// The GPU model without the vendor's marketing prefix: `NVIDIA H100 80GB HBM3` →
/// `H100 80GB HBM3`, `NVIDIA GeForce RTX 4090` → `RTX 4090`.
pub fn short_model(model: &str) -> &str {
    let mut m = model.trim();
    for prefix in ["NVIDIA ", "Tesla ", "GeForce ", "Quadro "] {
        m = m.strip_prefix(prefix).unwrap_or(m);
    }
    m
}

/// Cuts `text` to at most `width` characters, ending with `…` when it was cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_rate_picks_a_decimal_prefix() {
        let cases = [
            (None, "-"),
            (Some(f64::NAN), "-"),
            (Some(-1.0), "-"),
            (Some(0.0), "0B/s"),
            (Some(512.0), "512B/s"),
            (Some(999.4), "999B/s"),
            (Some(999.6), "1.0K/s"),
            (Some(1_500.0), "1.5K/s"),
            (Some(999_960.0), "1.0M/s"),
            (Some(25.0e6), "25.0M/s"),
            (Some(182.3e9), "182.3G/s"),
            (Some(1.2e12), "1.2T/s"),
            (Some(3.0e15), "3.0P/s"),
        ];
        for (input, want) in cases {
            assert_eq!(byte_rate(input), want, "{input:?}");
        }
    }

    #[test]
    fn byte_rate_fits_eight_columns() {
        for v in [999.0, 999.9e3, 999.9e6, 999.9e9, 999.9e12] {
            assert!(byte_rate(Some(v)).chars().count() <= 8, "{v}");
        }
    }

    #[test]
    fn percent_rounds_clamps_and_aligns() {
        let cases = [
            (None, "   -"),
            (Some(0.0), "  0%"),
            (Some(0.524), " 52%"),
            (Some(0.996), "100%"),
            (Some(1.2), "100%"),
            (Some(-0.1), "  0%"),
            (Some(f64::INFINITY), "   -"),
        ];
        for (input, want) in cases {
            assert_eq!(percent(input), want, "{input:?}");
        }
    }

    #[test]
    fn memory_and_power_show_what_is_known() {
        let g = GIB;
        assert_eq!(
            memory_used_of_limit(Some(41.2 * g), Some(80.0 * g)),
            "41.2/80.0G"
        );
        assert_eq!(
            memory_used_of_limit(Some(139.8 * g), Some(141.0 * g)),
            "140/141G"
        );
        assert_eq!(memory_used_of_limit(Some(1.0 * g), None), "1.0G");
        assert_eq!(memory_used_of_limit(None, Some(80.0 * g)), "-");
        assert_eq!(power_of_limit(Some(612.4), Some(700.0)), "612/700W");
        assert_eq!(power_of_limit(Some(71.0), None), "71W");
        assert_eq!(power_of_limit(None, Some(700.0)), "-");
        assert_eq!(power_total(612.0), "612 W");
        assert_eq!(power_total(18_240.0), "18.2 kW");
        assert_eq!(power_total(1_050_000.0), "1.05 MW");
        assert_eq!(bytes_binary(812.0 * g), "812 GiB");
        assert_eq!(bytes_binary(2560.0 * g), "2.5 TiB");
        assert_eq!(bytes_binary_pair(362.4 * g, 520.0 * g), "362/520 GiB");
        assert_eq!(bytes_binary_pair(1229.0 * g, 2560.0 * g), "1.2/2.5 TiB");
        assert_eq!(temperature(Some(71.4)), "71°C");
        assert_eq!(temperature(None), "-");
    }

    #[test]
    fn age_is_short_at_every_scale() {
        let cases = [
            (-500, "0.0s"),
            (0, "0.0s"),
            (1_234, "1.2s"),
            (42_000, "42s"),
            (185_000, "3m05s"),
            (7_380_000, "2h03m"),
            (352_800_000, "4d02h"),
        ];
        for (input, want) in cases {
            assert_eq!(age(input), want, "{input}");
        }
    }

    #[test]
    fn short_age_has_one_unit() {
        let cases = [
            (-500, "0s"),
            (999, "0s"),
            (42_000, "42s"),
            (720_000, "12m"),
            (3_599_000, "59m"),
            (7_380_000, "2h"),
            (352_800_000, "4d"),
        ];
        for (input, want) in cases {
            assert_eq!(age_short(input), want, "{input}");
        }
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        // 2026-11-28T10:00:03Z
        let ms = Timestamp::parse_rfc3339("2026-11-28T10:00:03Z")
            .expect("valid time")
            .unix_millis();
        assert_eq!(clock_utc(ms), "10:00:03 UTC");
    }

    #[test]
    fn model_loses_vendor_prefixes() {
        assert_eq!(short_model("NVIDIA H100 80GB HBM3"), "H100 80GB HBM3");
        assert_eq!(short_model("NVIDIA A100-SXM4-80GB"), "A100-SXM4-80GB");
        assert_eq!(short_model("NVIDIA GeForce RTX 4090"), "RTX 4090");
        assert_eq!(short_model("Tesla T4"), "T4");
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(truncate("ääää", 3), "ää…");
    }
}
