//! Series identity: a metric name and its full, sorted attribute set (resource attributes
//! and data-point attributes together, the data point's winning on a clash).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesKey {
    pub metric: String,
    /// Sorted by key, keys unique.
    pub attrs: Vec<(String, String)>,
}

impl SeriesKey {
    /// Builds a key, sorting the attributes; a later duplicate key replaces an earlier one.
    pub fn new<K, V>(metric: impl Into<String>, attrs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in attrs {
            let k = k.into();
            let v = v.into();
            match out.binary_search_by(|(have, _)| have.as_str().cmp(&k)) {
                Ok(i) => out[i].1 = v,
                Err(i) => out.insert(i, (k, v)),
            }
        }
        SeriesKey {
            metric: metric.into(),
            attrs: out,
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.attrs
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.attrs[i].1.as_str())
    }

    /// The model a series belongs to: `gen_ai.request.model` where present, else
    /// `gpuwatch.model` (CONTRACT.md).
    pub fn model(&self) -> Option<&str> {
        self.get(crate::names::attr::GENAI_MODEL)
            .or_else(|| self.get(crate::names::attr::MODEL))
    }
}

impl std::fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{{", self.metric)?;
        for (i, (k, v)) in self.attrs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_sorted_and_last_duplicate_wins() {
        let key = SeriesKey::new(
            "hw.power",
            [("hw.id", "GPU-1"), ("host.name", "a"), ("hw.id", "GPU-2")],
        );
        assert_eq!(
            key.attrs,
            vec![
                ("host.name".to_string(), "a".to_string()),
                ("hw.id".to_string(), "GPU-2".to_string())
            ]
        );
        assert_eq!(key.get("hw.id"), Some("GPU-2"));
        assert_eq!(key.get("nope"), None);
        assert_eq!(key.to_string(), "hw.power{host.name=\"a\",hw.id=\"GPU-2\"}");
    }

    #[test]
    fn model_prefers_gen_ai_name() {
        let both = SeriesKey::new(
            "x",
            [
                ("gpuwatch.model", "ranker"),
                ("gen_ai.request.model", "llama"),
            ],
        );
        assert_eq!(both.model(), Some("llama"));
        let one = SeriesKey::new("x", [("gpuwatch.model", "ranker")]);
        assert_eq!(one.model(), Some("ranker"));
        assert_eq!(
            SeriesKey::new("x", Vec::<(String, String)>::new()).model(),
            None
        );
    }
}
