use gpuwatch_model::history::{GpuMinuteCost, SeriesMinute};

use super::*;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-writer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A minute with one GPU's spend and one series.
fn minute(m: i64) -> MinuteRollup {
    MinuteRollup {
        minute: m,
        series: vec![SeriesMinute {
            minute: m,
            metric: "hw.gpu.utilization".into(),
            node: Some("n0".into()),
            gpu: Some("GPU-0".into()),
            count: 12,
            mean: 0.5,
            bounds: vec![1.0],
            buckets: vec![2.0, 3.0],
            ..SeriesMinute::default()
        }],
        cost: vec![GpuMinuteCost {
            minute: m,
            node: "n0".into(),
            gpu: "GPU-0".into(),
            seconds: 60.0,
            usd: 0.1,
            ..GpuMinuteCost::default()
        }],
    }
}

fn rows(dir: &Path) -> usize {
    layout::hours(dir)
        .expect("list")
        .values()
        .flat_map(|h| h.files())
        .map(|p| read_frame(&p).expect("readable").height())
        .sum()
}

const H: i64 = 490_000 * HOUR_NS;

#[test]
fn minutes_then_hours_and_a_restart_goes_on() {
    let root = temp("hours");
    let mut sink = ParquetSink::open(&root, 90 * 24 * HOUR_NS, u64::MAX).expect("open");
    assert_eq!(sink.resume_after(), None);
    for i in 0..62 {
        sink.write(&minute(H + i * MINUTE_NS)).expect("write");
    }
    let cost = Table::Cost.dir(&root);
    let hours = layout::hours(&cost).expect("list");
    assert!(
        hours[&H].file.is_some() && hours[&H].minutes.is_empty(),
        "hour compacted"
    );
    assert_eq!(
        hours[&(H + HOUR_NS)].minutes.len(),
        2,
        "the new hour in minutes"
    );
    assert_eq!(rows(&cost), 62);
    assert_eq!(rows(&Table::Series.dir(&root)), 62);
    drop(sink);

    let mut again = ParquetSink::open(&root, 90 * 24 * HOUR_NS, u64::MAX).expect("reopen");
    assert_eq!(again.resume_after(), Some(H + 61 * MINUTE_NS));
    again
        .write(&minute(H + 61 * MINUTE_NS))
        .expect("a minute again is ignored");
    again.write(&minute(H + 62 * MINUTE_NS)).expect("write");
    assert_eq!(rows(&cost), 63);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_crash_leaves_no_broken_file() {
    let root = temp("crash");
    let mut sink = ParquetSink::open(&root, 90 * 24 * HOUR_NS, u64::MAX).expect("open");
    for i in 0..3 {
        sink.write(&minute(H + i * MINUTE_NS)).expect("write");
    }
    drop(sink);
    let cost = Table::Cost.dir(&root);
    // A write cut short leaves only its .tmp file, which readers never take; the hour
    // is over by the next minute written, so its minutes are compacted then.
    std::fs::write(cost.join("2025-01-01T00.parquet.tmp"), b"PAR1 half").expect("tmp");
    let mut sink = ParquetSink::open(&root, 90 * 24 * HOUR_NS, u64::MAX).expect("reopen");
    sink.write(&minute(H + HOUR_NS)).expect("next hour");
    let hours = layout::hours(&cost).expect("list");
    assert!(hours[&H].file.is_some());
    assert_eq!(rows(&cost), 4);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn retention_by_age_and_size() {
    let root = temp("retention");
    let mut sink = ParquetSink::open(&root, 2 * HOUR_NS, u64::MAX).expect("open");
    for h in 0..5 {
        sink.write(&minute(H + h * HOUR_NS)).expect("write");
    }
    let cost = Table::Cost.dir(&root);
    let kept: Vec<i64> = layout::hours(&cost).expect("list").into_keys().collect();
    assert_eq!(
        kept,
        vec![H + 2 * HOUR_NS, H + 3 * HOUR_NS, H + 4 * HOUR_NS]
    );
    drop(sink);

    // A limit below one hour's files keeps only the hour being written.
    let sink = ParquetSink::open(&root, 90 * 24 * HOUR_NS, 1).expect("reopen");
    drop(sink);
    let kept: Vec<i64> = layout::hours(&cost).expect("list").into_keys().collect();
    assert_eq!(kept, vec![H + 4 * HOUR_NS]);
    let _ = std::fs::remove_dir_all(&root);
}
