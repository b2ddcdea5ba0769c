use gpuwatch_model::history::{GpuMinuteCost, SeriesMinute};

use super::*;
use crate::table::CostHour;

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
        .map(|p| table::row_count(&p).expect("readable"))
        .sum()
}

/// The one row of an hour's cost sums.
fn sums(root: &Path, hour: i64) -> (f64, f64, i64) {
    let path = layout::hour_file(&Table::CostHours.dir(root), hour);
    let rows: Vec<CostHour> = table::read(&path, None).expect("sums");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].hour, hour);
    (rows[0].seconds, rows[0].usd, rows[0].minutes)
}

fn summed_hours(root: &Path) -> Vec<i64> {
    layout::hours(&Table::CostHours.dir(root))
        .expect("list")
        .into_keys()
        .collect()
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
    // The compacted hour's cost is summed; the hour being written is not.
    assert_eq!(summed_hours(&root), vec![H]);
    let (seconds, usd, minutes) = sums(&root, H);
    assert_eq!((seconds, minutes), (3600.0, 60));
    assert!((usd - 6.0).abs() < 1e-9, "{usd}");
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
fn a_crash_before_the_sums_is_finished_on_open() {
    let root = temp("sums-crash");
    let mut sink = ParquetSink::open(&root, 90 * 24 * HOUR_NS, u64::MAX).expect("open");
    for i in 0..3 {
        sink.write(&minute(H + i * MINUTE_NS)).expect("write");
    }
    sink.write(&minute(H + HOUR_NS)).expect("next hour");
    drop(sink);
    // As if the process died between the hour file's rename and the sums': the hour's
    // file and its minutes, no sums.
    let cost = Table::Cost.dir(&root);
    for i in 0..3 {
        let m = minute(H + i * MINUTE_NS);
        let path = layout::minute_file(&cost, m.minute);
        table::write(&path, &m.cost).expect("minute");
    }
    std::fs::remove_file(layout::hour_file(&Table::CostHours.dir(&root), H)).expect("rm");
    assert!(summed_hours(&root).is_empty());

    let sink = ParquetSink::open(&root, 90 * 24 * HOUR_NS, u64::MAX).expect("reopen");
    drop(sink);
    assert_eq!(summed_hours(&root), vec![H]);
    let (seconds, _, minutes) = sums(&root, H);
    assert_eq!((seconds, minutes), (180.0, 3));
    let hours = layout::hours(&cost).expect("list");
    assert!(hours[&H].minutes.is_empty(), "minutes removed");
    assert_eq!(rows(&cost), 4, "nothing counted twice");

    // A data directory from before the sums opens as it is: no sums are made for
    // hours already compacted (reports read their minutes).
    std::fs::remove_dir_all(Table::CostHours.dir(&root)).expect("rm");
    let sink = ParquetSink::open(&root, 90 * 24 * HOUR_NS, u64::MAX).expect("old dir");
    drop(sink);
    assert!(summed_hours(&root).is_empty());
    assert_eq!(rows(&cost), 4);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn whole_hours_come_with_their_sums() {
    let root = temp("write-hour");
    let mut sink = ParquetSink::open(&root, 90 * 24 * HOUR_NS, u64::MAX).expect("open");
    let minutes: Vec<MinuteRollup> = (0..60).map(|i| minute(H + i * MINUTE_NS)).collect();
    sink.write_hour(&minutes).expect("write");
    assert_eq!(summed_hours(&root), vec![H]);
    let (seconds, _, minutes) = sums(&root, H);
    assert_eq!((seconds, minutes), (3600.0, 60));
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
    // The sums go with their hours (the hour being written has none yet).
    assert_eq!(summed_hours(&root), vec![H + 2 * HOUR_NS, H + 3 * HOUR_NS]);
    drop(sink);

    // A limit below one hour's files keeps only the hour being written.
    let sink = ParquetSink::open(&root, 90 * 24 * HOUR_NS, 1).expect("reopen");
    drop(sink);
    let kept: Vec<i64> = layout::hours(&cost).expect("list").into_keys().collect();
    assert_eq!(kept, vec![H + 4 * HOUR_NS]);
    assert!(summed_hours(&root).is_empty());
    let _ = std::fs::remove_dir_all(&root);
}
