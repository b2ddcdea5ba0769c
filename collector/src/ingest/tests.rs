use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric, number_data_point, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, ResourceMetrics,
    ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::convert::exponential_histogram;
use super::*;
use crate::store::StoreSettings;

/// Two stores fed the same requests, one through prost (`ingest`), one through the
/// zero-copy reader (`ingest_protobuf`): every test checks that both agree.
struct Pair {
    prost: Store,
    wire: Store,
}

fn dump(store: &Store) -> Vec<String> {
    store
        .series()
        .iter()
        .map(|s| {
            let points: Vec<String> = match (s.scalars(), s.histograms()) {
                (Some(r), _) => r.iter().map(|(t, v)| format!("{t}={v}")).collect(),
                (None, Some(r)) => r.iter().map(|(t, h)| format!("{t}={h:?}")).collect(),
                (None, None) => Vec::new(),
            };
            format!("{} {:?} {} [{}]", s.key, s.kind, s.unit, points.join(" "))
        })
        .collect()
}

impl Pair {
    fn new(settings: StoreSettings) -> Self {
        Pair {
            prost: Store::new(settings.clone()),
            wire: Store::new(settings),
        }
    }

    fn ingest(&mut self, request: &ExportMetricsServiceRequest) -> IngestOutcome {
        let a = ingest(&mut self.prost, request);
        let b = ingest_protobuf(&mut self.wire, &request.encode_to_vec()).expect("parses");
        assert_eq!(a, b, "both doors report the same outcome");
        assert_eq!(
            dump(&self.prost),
            dump(&self.wire),
            "both doors store the same"
        );
        a
    }

    fn series(&self) -> &[crate::store::Series] {
        self.prost.series()
    }

    fn rejected(&self, reason: RejectReason) -> u64 {
        assert_eq!(self.prost.rejected(reason), self.wire.rejected(reason));
        self.prost.rejected(reason)
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn gauge_point(attrs: Vec<KeyValue>, t: u64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metric(name: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        unit: "1".into(),
        data: Some(data),
        ..Default::default()
    }
}

fn store() -> Pair {
    Pair::new(StoreSettings {
        max_series: 100,
        max_future_ns: 600 * 1_000_000_000,
        max_bytes: u64::MAX,
        max_points_per_series: 100,
        retention_ns: 900_000_000_000,
        max_attributes: crate::store::DEFAULT_MAX_ATTRIBUTES,
        max_attribute_length: crate::store::DEFAULT_MAX_ATTRIBUTE_LENGTH,
    })
}

#[test]
fn resource_and_point_attributes_make_one_key_with_point_winning() {
    let mut st = store();
    let req = request(
        vec![kv("host.name", s("node-0")), kv("hw.vendor", s("resource"))],
        vec![metric(
            "hw.power",
            metric::Data::Gauge(Gauge {
                data_points: vec![
                    gauge_point(
                        vec![kv("hw.id", s("GPU-0")), kv("hw.vendor", s("nvidia"))],
                        1_000,
                        300.0,
                    ),
                    gauge_point(
                        vec![
                            kv("hw.id", s("GPU-1")),
                            kv("process.pid", Value::IntValue(42)),
                        ],
                        1_000,
                        80.0,
                    ),
                ],
            }),
        )],
    );
    let out = st.ingest(&req);
    assert_eq!(out.accepted, 2);
    assert_eq!(out.rejected_total(), 0);
    let keys: Vec<String> = st.series().iter().map(|s| s.key.to_string()).collect();
    assert_eq!(
        keys,
        vec![
            r#"hw.power{host.name="node-0",hw.id="GPU-0",hw.vendor="nvidia"}"#,
            r#"hw.power{host.name="node-0",hw.id="GPU-1",hw.vendor="resource",process.pid="42"}"#,
        ]
    );
    // The second request finds the same series: no new ones.
    let again = st.ingest(&req);
    assert_eq!(again.accepted, 2);
    assert_eq!(st.series().len(), 2);
}

#[test]
fn duplicate_point_keys_do_not_split_a_series() {
    let mut st = store();
    let point = gauge_point(vec![kv("a", s("1")), kv("a", s("2"))], 5, 1.0);
    let req = request(
        vec![],
        vec![metric(
            "m",
            metric::Data::Gauge(Gauge {
                data_points: vec![point],
            }),
        )],
    );
    st.ingest(&req);
    st.ingest(&req);
    assert_eq!(st.series().len(), 1);
    assert_eq!(st.series()[0].key.get("a"), Some("2"));
}

#[test]
fn refused_points_are_counted_by_reason_and_reported() {
    let mut st = store();
    let mut no_value = gauge_point(vec![], 10, 0.0);
    no_value.value = None;
    let no_time = gauge_point(vec![kv("x", s("y"))], 0, 1.0);
    let mut gap = gauge_point(vec![], 11, 0.0);
    gap.flags = FLAG_NO_RECORDED_VALUE;
    let good = gauge_point(vec![], 12, 2.0);
    let req = request(
        vec![],
        vec![
            metric(
                "m",
                metric::Data::Gauge(Gauge {
                    data_points: vec![no_value, no_time, gap, good],
                }),
            ),
            metric(
                "",
                metric::Data::Gauge(Gauge {
                    data_points: vec![gauge_point(vec![], 1, 1.0)],
                }),
            ),
        ],
    );
    let out = st.ingest(&req);
    assert_eq!(out.accepted, 1);
    assert_eq!(out.rejected_total(), 3);
    assert_eq!(st.rejected(RejectReason::NoValue), 1);
    assert_eq!(st.rejected(RejectReason::MissingTimestamp), 1);
    assert_eq!(st.rejected(RejectReason::MissingName), 1);
    let partial = out.response().partial_success.expect("partial success");
    assert_eq!(partial.rejected_data_points, 3);
    assert!(
        partial.error_message.contains("missing_timestamp 1"),
        "{}",
        partial.error_message
    );
    assert_eq!(
        st.ingest(&request(vec![], vec![]))
            .response()
            .partial_success,
        None
    );
}

#[test]
fn cardinality_limit_is_a_partial_success() {
    let mut st = Pair::new(StoreSettings {
        max_series: 2,
        max_future_ns: 600 * 1_000_000_000,
        max_bytes: u64::MAX,
        max_points_per_series: 10,
        retention_ns: 1_000_000_000_000,
        max_attributes: crate::store::DEFAULT_MAX_ATTRIBUTES,
        max_attribute_length: crate::store::DEFAULT_MAX_ATTRIBUTE_LENGTH,
    });
    let points = (0..5)
        .map(|i| gauge_point(vec![kv("i", Value::IntValue(i))], 1, i as f64))
        .collect();
    let out = st.ingest(&request(
        vec![],
        vec![metric(
            "m",
            metric::Data::Gauge(Gauge {
                data_points: points,
            }),
        )],
    ));
    assert_eq!(out.accepted, 2);
    assert_eq!(out.rejected.get(&RejectReason::CardinalityLimit), Some(&3));
    assert_eq!(st.rejected(RejectReason::CardinalityLimit), 3);
}

#[test]
fn points_too_far_ahead_of_the_collectors_clock_are_refused() {
    // The default max_future is 10 minutes: 9 ahead is a clock a little wrong, 11 is
    // refused; a point from last year is fine (a replay, or a backlog).
    let mut st = store();
    let now = u64::try_from(gpuwatch_model::Timestamp::now().0).expect("after 1970");
    let minute = 60_000_000_000u64;
    let points = [
        now + 9 * minute,
        now + 11 * minute,
        now - 365 * 24 * 60 * minute,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, t)| gauge_point(vec![kv("i", Value::IntValue(i as i64))], t, 1.0))
    .collect();
    let out = st.ingest(&request(
        vec![kv("host.name", s("n0"))],
        vec![metric(
            "m",
            metric::Data::Gauge(Gauge {
                data_points: points,
            }),
        )],
    ));
    assert_eq!(out.accepted, 2);
    assert_eq!(out.rejected.get(&RejectReason::Future), Some(&1));
    assert_eq!(st.rejected(RejectReason::Future), 1);
    let message = out
        .response()
        .partial_success
        .expect("partial")
        .error_message;
    assert!(message.contains("future 1"), "{message}");
    // The refused point did not move the fleet's "now".
    assert_eq!(
        st.prost.newest_ts(),
        Some(i64::try_from(now + 9 * minute).expect("fits"))
    );
}

#[test]
fn delta_sums_accumulate() {
    let mut st = store();
    for (t, v) in [(1_000_000_000u64, 10.0), (2_000_000_000, 5.0)] {
        let req = request(
            vec![],
            vec![metric(
                "c",
                metric::Data::Sum(Sum {
                    data_points: vec![gauge_point(vec![], t, v)],
                    aggregation_temporality: AggregationTemporality::Delta as i32,
                    is_monotonic: true,
                }),
            )],
        );
        st.ingest(&req);
    }
    assert_eq!(st.series()[0].last_scalar(), Some((2_000_000_000, 15.0)));
    assert_eq!(st.series()[0].kind, SeriesKind::Counter);
}

#[test]
fn histograms_keep_buckets() {
    let mut st = store();
    let req = request(
        vec![],
        vec![metric(
            "gen_ai.server.request.duration",
            metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: 7,
                    count: 6,
                    sum: Some(3.5),
                    bucket_counts: vec![1, 2, 3],
                    explicit_bounds: vec![0.1, 1.0],
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        )],
    );
    assert_eq!(st.ingest(&req).accepted, 1);
    let (_, h) = st.series()[0]
        .histograms()
        .and_then(|r| r.last())
        .expect("a histogram point");
    assert_eq!(&h.bounds[..], &[0.1, 1.0]);
    assert_eq!(h.counts, vec![1, 2, 3]);
    assert_eq!((h.count, h.sum), (6, 3.5));
}

#[test]
fn exponential_histograms_become_explicit_buckets() {
    // scale 0: base 2; offset 1 puts the first positive bucket at (2, 4].
    let p = ExponentialHistogramDataPoint {
        time_unix_nano: 1,
        count: 6,
        sum: Some(20.0),
        scale: 0,
        zero_count: 1,
        positive: Some(Buckets {
            offset: 1,
            bucket_counts: vec![3, 2],
        }),
        ..Default::default()
    };
    let h = exponential_histogram(&p);
    assert_eq!(&h.bounds[..], &[0.0, 2.0, 4.0, 8.0]);
    assert_eq!(h.counts, vec![1, 0, 3, 2, 0]);
    assert_eq!(h.counts.iter().sum::<u64>(), h.count);

    let mut st = store();
    let req = request(
        vec![],
        vec![metric(
            "lat",
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![p],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        )],
    );
    assert_eq!(st.ingest(&req).accepted, 1);
}

#[test]
fn exponential_histograms_at_the_limits_of_their_fields_do_not_overflow() {
    // Values a sender may put in the request: an offset and scale at the ends of i32,
    // counts that overflow u64 when summed.
    for (scale, offset) in [(i32::MIN, i32::MAX), (i32::MAX, i32::MIN), (-10, i32::MAX)] {
        let p = ExponentialHistogramDataPoint {
            time_unix_nano: 1,
            count: u64::MAX,
            scale,
            zero_count: u64::MAX,
            positive: Some(Buckets {
                offset,
                bucket_counts: vec![u64::MAX, 1, 2],
            }),
            negative: Some(Buckets {
                offset: 0,
                bucket_counts: vec![u64::MAX, u64::MAX],
            }),
            ..Default::default()
        };
        let h = exponential_histogram(&p);
        assert_eq!(
            h.counts,
            vec![u64::MAX, 0, u64::MAX, 1, 2, 0],
            "{scale} {offset}"
        );
        assert_eq!(h.bounds.len(), 5);
    }
}

#[test]
fn histograms_of_every_kind_pass_through_the_zero_copy_reader() {
    let mut st = store();
    let hist = metric(
        "h",
        metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: 3,
                count: 2,
                sum: Some(1.0),
                bucket_counts: vec![1, 1],
                explicit_bounds: vec![0.5],
                attributes: vec![kv("gpuwatch.model", s("m"))],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
        }),
    );
    let gauge = metric(
        "g",
        metric::Data::Gauge(Gauge {
            data_points: vec![gauge_point(
                vec![
                    kv("b", Value::BoolValue(true)),
                    kv("d", Value::DoubleValue(0.25)),
                    kv("x", Value::BytesValue(vec![0xab, 0x01])),
                    kv("i", Value::IntValue(-3)),
                ],
                4,
                7.0,
            )],
        }),
    );
    let out = st.ingest(&request(vec![kv("host.name", s("n"))], vec![hist, gauge]));
    assert_eq!(out.accepted, 2);
    assert_eq!(
        st.series()[1].key.to_string(),
        r#"g{b="true",d="0.25",host.name="n",i="-3",x="ab01"}"#
    );
}

#[test]
fn malformed_bytes_store_nothing() {
    let req = request(
        vec![kv("host.name", s("n"))],
        vec![metric(
            "m",
            metric::Data::Gauge(Gauge {
                data_points: (0..10).map(|i| gauge_point(vec![], i + 1, 1.0)).collect(),
            }),
        )],
    );
    let bytes = req.encode_to_vec();
    let mut st = Store::new(StoreSettings {
        max_series: 10,
        max_future_ns: 600 * 1_000_000_000,
        max_bytes: u64::MAX,
        max_points_per_series: 100,
        retention_ns: 1_000_000_000,
        max_attributes: crate::store::DEFAULT_MAX_ATTRIBUTES,
        max_attribute_length: crate::store::DEFAULT_MAX_ATTRIBUTE_LENGTH,
    });
    for cut in [1, 7, bytes.len() / 2, bytes.len() - 1] {
        let err = ingest_protobuf(&mut st, &bytes[..cut]).expect_err("truncated");
        assert!(!err.to_string().is_empty());
    }
    let mut bad_utf8 = bytes.clone();
    let at = bad_utf8
        .windows(9)
        .position(|w| w == b"host.name")
        .expect("the key is in the bytes");
    bad_utf8[at] = 0xff;
    assert!(ingest_protobuf(&mut st, &bad_utf8)
        .expect_err("invalid UTF-8")
        .to_string()
        .contains("UTF-8"));
    assert_eq!(st.points_accepted(), 0);
    assert_eq!(st.series().len(), 0);
    assert_eq!(ingest_protobuf(&mut st, &bytes).map(|o| o.accepted), Ok(10));
}

#[test]
fn untrusted_text_is_kept_printable_and_labels_bounded() {
    let mut st = store();
    let t = 1_795_860_000_000_000_000;
    let gauge = |attrs: Vec<KeyValue>| {
        metric(
            "hw.power",
            metric::Data::Gauge(Gauge {
                data_points: vec![gauge_point(attrs, t, 1.0)],
            }),
        )
    };
    // Terminal escapes, a bell and a right-to-left override are taken out of values.
    let out = st.ingest(&request(
        vec![kv("host.name", s("node-01\u{1b}[2J\u{7}"))],
        vec![gauge(vec![kv("hw.id", s("GPU-\u{202e}1cba"))])],
    ));
    assert_eq!(out.accepted, 1);
    let key = st.series()[0].key.to_string();
    assert!(
        key.contains("node-01[2J") && key.contains("GPU-1cba"),
        "{key}"
    );
    assert!(
        !key.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{key}"
    );

    // Too many attributes, or one too long: refused as label_limit.
    let many: Vec<KeyValue> = (0..crate::store::DEFAULT_MAX_ATTRIBUTES)
        .map(|i| kv(&format!("a{i}"), s("x")))
        .collect();
    let long = vec![kv(
        "hw.id",
        s(&"x".repeat(crate::store::DEFAULT_MAX_ATTRIBUTE_LENGTH + 1)),
    )];
    for attrs in [many, long] {
        let out = st.ingest(&request(
            vec![kv("host.name", s("node-01"))],
            vec![gauge(attrs)],
        ));
        assert_eq!(out.rejected.get(&RejectReason::LabelLimit), Some(&1));
    }
    assert_eq!(st.series().len(), 1);
}
