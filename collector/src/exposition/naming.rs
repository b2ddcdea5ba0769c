//! OpenTelemetry names to Prometheus names, as the OpenTelemetry specification's
//! "Prometheus and OpenMetrics compatibility" has them.

use crate::store::SeriesKind;

/// Replaces every character outside `[a-zA-Z0-9_:]` with `_`, collapses runs of `_`,
/// and prefixes `_` to a leading digit.
fn sanitize(name: &str, allow_colon: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for c in name.chars() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':');
        let c = if ok { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A UCUM unit as a Prometheus suffix: `By` -> `bytes`, `s` -> `seconds`; units in
/// braces (`{error}`) are annotations and give none; `1` gives `ratio` on gauges.
fn unit_suffix(unit: &str, kind: SeriesKind) -> Option<String> {
    let word = |u: &str| -> Option<&'static str> {
        Some(match u {
            "By" => "bytes",
            "KBy" | "kBy" => "kilobytes",
            "MBy" => "megabytes",
            "GBy" => "gigabytes",
            "KiBy" => "kibibytes",
            "MiBy" => "mebibytes",
            "GiBy" => "gibibytes",
            "bit" => "bits",
            "s" => "seconds",
            "ms" => "milliseconds",
            "us" => "microseconds",
            "ns" => "nanoseconds",
            "min" => "minutes",
            "h" => "hours",
            "d" => "days",
            "W" => "watts",
            "mW" => "milliwatts",
            "J" => "joules",
            "Cel" => "celsius",
            "Hz" => "hertz",
            "MHz" => "megahertz",
            "V" => "volts",
            "A" => "amperes",
            "%" => "percent",
            _ => return None,
        })
    };
    let unit = unit.trim();
    if unit.is_empty() || unit.starts_with('{') {
        return None;
    }
    if unit == "1" {
        return (kind == SeriesKind::Gauge).then(|| "ratio".to_string());
    }
    if let Some((num, den)) = unit.split_once('/') {
        let per = match den {
            "s" => "second",
            "m" | "min" => "minute",
            "h" => "hour",
            "d" => "day",
            other => word(other)?,
        };
        return Some(format!("{}_per_{per}", word(num)?));
    }
    word(unit)
        .map(str::to_string)
        .or_else(|| Some(sanitize(unit, false)))
}

/// The Prometheus name of an OpenTelemetry metric: `hw.gpu.io` in `By`, a counter,
/// is `hw_gpu_io_bytes_total`.
pub fn metric_name(name: &str, unit: &str, kind: SeriesKind) -> String {
    let mut out = sanitize(name, true);
    if let Some(suffix) = unit_suffix(unit, kind) {
        if !out.ends_with(&format!("_{suffix}")) {
            out.push('_');
            out.push_str(&suffix);
        }
    }
    if kind == SeriesKind::Counter && !out.ends_with("_total") {
        out.push_str("_total");
    }
    out
}

/// A label name: `host.name` is `host_name`. Runs of `_` collapse, so a name never
/// starts with the reserved `__`.
pub fn label_name(key: &str) -> String {
    sanitize(key, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_names() {
        use SeriesKind::*;
        let cases = [
            ("hw.gpu.utilization", "1", Gauge, "hw_gpu_utilization_ratio"),
            (
                "hw.gpu.memory.usage",
                "By",
                Gauge,
                "hw_gpu_memory_usage_bytes",
            ),
            ("hw.gpu.io", "By", Counter, "hw_gpu_io_bytes_total"),
            ("hw.power", "W", Gauge, "hw_power_watts"),
            ("hw.energy", "J", Counter, "hw_energy_joules_total"),
            ("hw.errors", "{error}", Counter, "hw_errors_total"),
            (
                "gpuwatch.gpu.temperature",
                "Cel",
                Gauge,
                "gpuwatch_gpu_temperature_celsius",
            ),
            (
                "gpuwatch.gpu.clock.sm",
                "Hz",
                Gauge,
                "gpuwatch_gpu_clock_sm_hertz",
            ),
            (
                "system.disk.io",
                "By",
                Counter,
                "system_disk_io_bytes_total",
            ),
            (
                "system.disk.io_time",
                "s",
                Counter,
                "system_disk_io_time_seconds_total",
            ),
            (
                "gen_ai.server.request.duration",
                "s",
                Histogram,
                "gen_ai_server_request_duration_seconds",
            ),
            (
                "gpuwatch.train.step",
                "{step}",
                Counter,
                "gpuwatch_train_step_total",
            ),
            (
                "gpuwatch.model.prediction",
                "1",
                Histogram,
                "gpuwatch_model_prediction",
            ),
            ("requests.total", "", Counter, "requests_total"),
            ("rate", "By/s", Gauge, "rate_bytes_per_second"),
            ("latency_seconds", "s", Gauge, "latency_seconds"),
            ("9lives", "", Gauge, "_9lives"),
            ("a..b--c", "", Gauge, "a_b_c"),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(metric_name(name, unit, kind), want, "{name} {unit}");
        }
    }

    #[test]
    fn label_names() {
        assert_eq!(label_name("host.name"), "host_name");
        assert_eq!(label_name("gpuwatch.cluster"), "gpuwatch_cluster");
        assert_eq!(label_name("__reserved"), "_reserved");
        assert_eq!(label_name("1st"), "_1st");
        assert_eq!(label_name("a:b"), "a_b");
    }
}
