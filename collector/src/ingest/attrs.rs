//! Attribute sets of points: the resource's attributes, then the point's, keyed to a
//! string form and hashed in an order-independent way, without allocating for strings.

use std::borrow::Cow;
use std::fmt::Write as _;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};

use crate::store::attr_hash;

/// `text` without control characters (terminal escapes among them) or bidirectional
/// overrides, which could rewrite a terminal or hide text in a notification; borrowed
/// when there are none (the common case, found by a byte scan).
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    // Every such character starts with one of these bytes in UTF-8.
    let suspect = |b: &u8| *b < 0x20 || *b == 0x7f || *b == 0xc2 || *b == 0xe2;
    if !text.as_bytes().iter().any(suspect) {
        return Cow::Borrowed(text);
    }
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|c| !hidden(*c)).collect())
}

/// The string form of an attribute value, as the store keys it.
pub(crate) fn value_str(v: Option<&AnyValue>) -> Cow<'_, str> {
    let Some(value) = v.and_then(|v| v.value.as_ref()) else {
        return Cow::Borrowed("");
    };
    match value {
        any_value::Value::StringValue(s) => printable(s),
        any_value::Value::BoolValue(true) => Cow::Borrowed("true"),
        any_value::Value::BoolValue(false) => Cow::Borrowed("false"),
        any_value::Value::IntValue(i) => Cow::Owned(i.to_string()),
        any_value::Value::DoubleValue(d) => Cow::Owned(d.to_string()),
        any_value::Value::BytesValue(b) => {
            let mut s = String::with_capacity(b.len() * 2);
            for byte in b {
                let _ = write!(s, "{byte:02x}");
            }
            Cow::Owned(s)
        }
        any_value::Value::ArrayValue(a) => {
            let parts: Vec<Cow<str>> = a.values.iter().map(|v| value_str(Some(v))).collect();
            Cow::Owned(format!("[{}]", parts.join(",")))
        }
        any_value::Value::KvlistValue(kv) => {
            let parts: Vec<String> = kv
                .values
                .iter()
                .map(|p| format!("{}={}", p.key, value_str(p.value.as_ref())))
                .collect();
            Cow::Owned(format!("{{{}}}", parts.join(",")))
        }
        any_value::Value::StringValueStrindex(i) => Cow::Owned(format!("#{i}")),
    }
}

/// The attributes of one point: the resource's, then the point's (a point attribute
/// replaces a resource attribute or an earlier one of the same key), with the
/// order-independent hash sum of the set.
#[derive(Debug, Default)]
pub(crate) struct AttrSet<'a> {
    resource: Vec<(&'a str, Cow<'a, str>, u128)>,
    pub(crate) pairs: Vec<(&'a str, Cow<'a, str>)>,
    hashes: Vec<u128>,
}

impl<'a> AttrSet<'a> {
    pub(crate) fn set_resource(
        &mut self,
        attrs: impl IntoIterator<Item = (&'a str, Cow<'a, str>)>,
    ) {
        self.resource.clear();
        self.pairs.clear();
        self.hashes.clear();
        for (k, v) in attrs {
            self.push(k, v);
        }
        self.resource.extend(
            self.pairs
                .drain(..)
                .zip(self.hashes.drain(..))
                .map(|((k, v), h)| (k, v, h)),
        );
    }

    fn push(&mut self, key: &'a str, value: Cow<'a, str>) {
        let h = attr_hash(key, &value);
        match self.pairs.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                self.pairs[i].1 = value;
                self.hashes[i] = h;
            }
            None => {
                self.pairs.push((key, value));
                self.hashes.push(h);
            }
        }
    }

    /// The resource attributes plus the point's; returns the set's hash sum.
    pub(crate) fn with_point(
        &mut self,
        point: impl IntoIterator<Item = (&'a str, Cow<'a, str>)>,
    ) -> u128 {
        self.pairs.clear();
        self.hashes.clear();
        for (k, v, h) in &self.resource {
            self.pairs.push((k, v.clone()));
            self.hashes.push(*h);
        }
        for (k, v) in point {
            self.push(k, v);
        }
        self.hashes.iter().fold(0, |a, h| a.wrapping_add(*h))
    }
}
