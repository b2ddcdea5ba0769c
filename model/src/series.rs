//! Series identity: a metric name and its full, sorted attribute set (resource attributes
//! and data-point attributes together, the data point's winning on a clash).

use std::sync::Arc;

/// The strings are shared: a store interns them, so the many series of one node or one
/// GPU hold one copy of `host.name`, `hw.id` and the rest between them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub metric: Arc<str>,
    /// Sorted by key, keys unique. Shared too: a GPU's series of different metrics
    /// often have the same attributes.
    pub attrs: Arc<[Attr]>,
}

/// One attribute of a series: key and value.
pub type Attr = (Arc<str>, Arc<str>);

/// Where `SeriesKey::interned` takes its shared copies from.
pub trait Interner {
    fn string(&mut self, s: &str) -> Arc<str>;
    /// The attribute set, shared where an equal one is held already.
    fn attrs(&mut self, attrs: Vec<Attr>) -> Arc<[Attr]>;
}

/// Copies nothing shared: each key its own strings.
struct Unshared;

impl Interner for Unshared {
    fn string(&mut self, s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn attrs(&mut self, attrs: Vec<Attr>) -> Arc<[Attr]> {
        attrs.into()
    }
}

impl SeriesKey {
    /// Builds a key, sorting the attributes; a later duplicate key replaces an earlier one.
    pub fn new<K, V>(metric: &str, attrs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::interned(metric, attrs, &mut Unshared)
    }

    /// As `new`, each string taken from `intern`, which hands out shared copies.
    pub fn interned<K, V>(
        metric: &str,
        attrs: impl IntoIterator<Item = (K, V)>,
        intern: &mut impl Interner,
    ) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut out: Vec<Attr> = Vec::new();
        for (k, v) in attrs {
            let (k, v) = (k.as_ref(), v.as_ref());
            match out.binary_search_by(|(have, _)| (**have).cmp(k)) {
                Ok(i) => out[i].1 = intern.string(v),
                Err(i) => out.insert(i, (intern.string(k), intern.string(v))),
            }
        }
        SeriesKey {
            metric: intern.string(metric),
            attrs: intern.attrs(out),
        }
    }

    pub fn metric(&self) -> &str {
        &self.metric
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.attrs
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.attrs[i].1)
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
        let attrs: Vec<(&str, &str)> = key.attrs.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(attrs, vec![("host.name", "a"), ("hw.id", "GPU-2")]);
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
