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

/// One attribute of a series: its key and value. Shared, like the strings: a store
/// interns each pair, so an attribute set holds one pointer per attribute (8 bytes)
/// instead of two strings (32), and the many series of one GPU point at the same
/// `host.name` and `hw.id` pairs.
#[derive(Debug, Clone)]
pub struct Attr(Arc<(Arc<str>, Arc<str>)>);

impl Attr {
    pub fn new(key: Arc<str>, value: Arc<str>) -> Self {
        Attr(Arc::new((key, value)))
    }

    pub fn key(&self) -> &str {
        &self.0 .0
    }

    pub fn value(&self) -> &str {
        &self.0 .1
    }

    pub fn pair(&self) -> (&str, &str) {
        (self.key(), self.value())
    }

    /// Whether both are the one shared copy (not merely equal).
    pub fn is_shared_with(&self, other: &Attr) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for Attr {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.pair() == other.pair()
    }
}

impl Eq for Attr {}

impl std::hash::Hash for Attr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.pair().hash(state);
    }
}

impl PartialOrd for Attr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Attr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.pair().cmp(&other.pair())
    }
}

/// Where `SeriesKey::interned` takes its shared copies from.
pub trait Interner {
    fn string(&mut self, s: &str) -> Arc<str>;
    /// The attribute `key=value`, shared where an equal one is held already.
    fn attr(&mut self, key: &str, value: &str) -> Attr;
    /// The attribute set, shared where an equal one is held already.
    fn attrs(&mut self, attrs: Vec<Attr>) -> Arc<[Attr]>;
}

/// Copies nothing shared: each key its own strings.
struct Unshared;

impl Interner for Unshared {
    fn string(&mut self, s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn attr(&mut self, key: &str, value: &str) -> Attr {
        Attr::new(Arc::from(key), Arc::from(value))
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
        let given: Vec<(K, V)> = attrs.into_iter().collect();
        // Stable, so of equal keys the one given last comes last in its run.
        let mut order: Vec<usize> = (0..given.len()).collect();
        order.sort_by(|&a, &b| given[a].0.as_ref().cmp(given[b].0.as_ref()));
        let key_of = |i: usize| given[i].0.as_ref();
        let mut out: Vec<Attr> = Vec::with_capacity(order.len());
        for (n, &i) in order.iter().enumerate() {
            if order.get(n + 1).is_some_and(|&j| key_of(j) == key_of(i)) {
                continue;
            }
            out.push(intern.attr(key_of(i), given[i].1.as_ref()));
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
            .binary_search_by(|a| a.key().cmp(key))
            .ok()
            .map(|i| self.attrs[i].value())
    }

    /// The attributes as `(key, value)`, sorted by key.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.attrs.iter().map(Attr::pair)
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
        for (i, (k, v)) in self.pairs().enumerate() {
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
        let attrs: Vec<(&str, &str)> = key.pairs().collect();
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
