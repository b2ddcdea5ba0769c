//! A small parser for the Prometheus text exposition format (version 0.0.4), enough for
//! what inference servers print: `# HELP` / `# TYPE` comments, samples with labels
//! (escapes `\\`, `\"`, `\n`), optional timestamps, `+Inf`/`-Inf`/`NaN`. Families keep
//! their samples whatever order they come in (SGLang prints `_sum` before `_bucket`),
//! a family whose `# TYPE` is repeated (two scrapes joined) gets both blocks, and a
//! sample without a `# TYPE` forms an untyped family of its own. Blank lines and other
//! comments are skipped. An error names the line (1-based) and what is wrong.

use std::collections::HashMap;

/// A family's type from `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl MetricType {
    fn parse(text: &str) -> Option<MetricType> {
        Some(match text {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" | "unknown" => MetricType::Untyped,
            _ => return None,
        })
    }

    /// The suffixes a sample of this type may add to the family name.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
            MetricType::Summary => &["_sum", "_count", "_created"],
            MetricType::Counter => &["_total", "_created"],
            MetricType::Gauge | MetricType::Untyped => &[],
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The name as written, suffix included (`x_bucket`).
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A metric family: its name, type, help and samples in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: MetricType,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

/// One histogram series of a family: the labels other than `le`, the finite bounds in
/// increasing order with their cumulative (`le`) counts, the `+Inf` count, `_count`
/// and `_sum` when present.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSeries {
    pub labels: Vec<(String, String)>,
    /// `(le, cumulative count)` for each finite bound, sorted by bound.
    pub buckets: Vec<(f64, f64)>,
    pub inf: Option<f64>,
    pub count: Option<f64>,
    pub sum: Option<f64>,
}

impl HistogramSeries {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The number of observations: `_count`, else the `+Inf` bucket.
    pub fn total(&self) -> Option<f64> {
        self.count.or(self.inf)
    }
}

impl Family {
    /// The family's samples grouped into histogram series (for a histogram; empty for
    /// anything else), in order of first appearance.
    pub fn histograms(&self) -> Vec<HistogramSeries> {
        if self.kind != MetricType::Histogram {
            return Vec::new();
        }
        let mut series: Vec<HistogramSeries> = Vec::new();
        for sample in &self.samples {
            let Some(suffix) = sample.name.strip_prefix(self.name.as_str()) else {
                continue;
            };
            let labels: Vec<(String, String)> = sample
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            let index = match series.iter().position(|s| same_labels(&s.labels, &labels)) {
                Some(i) => i,
                None => {
                    series.push(HistogramSeries {
                        labels,
                        buckets: Vec::new(),
                        inf: None,
                        count: None,
                        sum: None,
                    });
                    series.len() - 1
                }
            };
            let s = &mut series[index];
            match suffix {
                "_bucket" => match sample.label("le").and_then(parse_float) {
                    Some(le) if le.is_infinite() && le > 0.0 => s.inf = Some(sample.value),
                    Some(le) if le.is_finite() => s.buckets.push((le, sample.value)),
                    _ => {}
                },
                "_sum" => s.sum = Some(sample.value),
                "_count" => s.count = Some(sample.value),
                _ => {}
            }
        }
        for s in &mut series {
            s.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            s.buckets.dedup_by(|a, b| a.0 == b.0);
        }
        series
    }
}

fn same_labels(a: &[(String, String)], b: &[(String, String)]) -> bool {
    a.len() == b.len() && a.iter().all(|pair| b.contains(pair))
}

/// A parsed `/metrics` page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub families: Vec<Family>,
    index: HashMap<String, usize>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.index.get(name).map(|&i| &self.families[i])
    }

    /// Number of sample lines read.
    pub fn sample_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }

    fn family_mut(&mut self, name: &str, kind: MetricType) -> &mut Family {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.families.push(Family {
                    name: name.to_string(),
                    kind,
                    help: None,
                    samples: Vec::new(),
                });
                self.index.insert(name.to_string(), self.families.len() - 1);
                self.families.len() - 1
            }
        };
        &mut self.families[i]
    }

    /// The declared family a sample named `name` belongs to.
    fn owner(&self, name: &str) -> Option<usize> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        for suffix in ["_bucket", "_sum", "_count", "_created", "_total"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(&i) = self.index.get(base) {
                    if self.families[i].kind.suffixes().contains(&suffix) {
                        return Some(i);
                    }
                }
            }
        }
        None
    }
}

/// A line that is not Prometheus text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}: `{text}`")]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    pub message: String,
    /// The line, cut to 80 characters.
    pub text: String,
}

/// Parses a whole page.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let fail = |message: &str| ParseError {
            line: n + 1,
            message: message.to_string(),
            text: line.chars().take(80).collect(),
        };
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, char::is_whitespace);
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    let kind = MetricType::parse(kind.trim())
                        .ok_or_else(|| fail("unknown metric type"))?;
                    if !valid_name(name) {
                        return Err(fail("invalid metric name"));
                    }
                    let family = out.family_mut(name, kind);
                    if family.samples.is_empty() {
                        family.kind = kind;
                    } else if family.kind != kind {
                        return Err(fail("metric type differs from the earlier # TYPE"));
                    }
                }
                (Some("HELP"), Some(name), help) => {
                    if !valid_name(name) {
                        return Err(fail("invalid metric name"));
                    }
                    let help = help.map(|h| unescape_help(h.trim()));
                    let kind = out.family(name).map_or(MetricType::Untyped, |f| f.kind);
                    out.family_mut(name, kind).help = help;
                }
                _ => {}
            }
            continue;
        }
        let sample = parse_sample(line).map_err(fail)?;
        match out.owner(&sample.name) {
            Some(i) => out.families[i].samples.push(sample),
            None => {
                let name = sample.name.clone();
                out.family_mut(&name, MetricType::Untyped)
                    .samples
                    .push(sample);
            }
        }
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A sample value or `le`: decimal, `+Inf`, `-Inf`, `Inf`, `NaN`.
pub(crate) fn parse_float(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ if text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE_".contains(&b)) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}

fn parse_sample(line: &str) -> Result<Sample, &'static str> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err("invalid metric name");
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let mut words = rest.split_whitespace();
    let value = words.next().ok_or("missing value")?;
    let value = parse_float(value).ok_or("value is not a number")?;
    let timestamp_ms = match words.next() {
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| "timestamp is not an integer")?,
        ),
        None => None,
    };
    if words.next().is_some() {
        return Err("unexpected text after the timestamp");
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Reads `name="value",...}` and returns the text after the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut Vec<(String, String)>,
) -> Result<&'a str, &'static str> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let eq = rest.find('=').ok_or("label without `=`")?;
        let key = rest[..eq].trim();
        if !valid_label_name(key) {
            return Err("invalid label name");
        }
        rest = rest[eq + 1..].trim_start();
        rest = rest.strip_prefix('"').ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value"),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return Err("unterminated label value"),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.iter().any(|(k, _)| k == key) {
            return Err("duplicate label");
        }
        labels.push((key.to_string(), value));
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("expected `,` or `}` after a label");
        }
    }
}
