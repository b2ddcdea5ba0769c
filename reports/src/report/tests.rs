use gpuwatch_model::history::{GpuMinuteCost, MinuteRollup, RollupSink, SeriesMinute, MINUTE_NS};

use super::*;
use gpuwatch_history::{table, ParquetSink};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// 2026-11-30T00:00:00Z.
const H: i64 = 1_795_996_800 * 1_000_000_000;
const M: i64 = MINUTE_NS;
/// Three hours compacted (with sums) and 25 minutes of the hour being written.
const MINUTES: i64 = 3 * 60 + 25;

/// Four GPUs' spend in minute `i`: one busy with idle spells, one that changes job
/// and team after 90 minutes, one reserved and idle, one with uneven seconds and prices.
fn spend(i: i64) -> Vec<GpuMinuteCost> {
    let minute = H + i * M;
    let gpu = |node: &str, uuid: &str, name: &str, model: &str| GpuMinuteCost {
        minute,
        node: node.into(),
        gpu: uuid.into(),
        gpu_name: name.into(),
        gpu_model: model.into(),
        seconds: 60.0,
        ..GpuMinuteCost::default()
    };
    let job = |j: &str, t: &str| (Some(j.to_string()), Some(t.to_string()));
    let mut out = Vec::new();

    let mut g = gpu("n0", "GPU-0", "gpu0", "H100");
    (g.job, g.team) = job("j1", "t1");
    g.usd = 4.0 / 60.0;
    if i % 3 == 0 {
        (g.idle_seconds, g.idle_usd) = (60.0, g.usd);
    }
    out.push(g);

    let mut g = gpu("n0", "GPU-1", "gpu1", "H100");
    (g.job, g.team) = if i < 90 {
        job("j1", "t1")
    } else {
        job("j2", "t2")
    };
    g.usd = 4.0 / 60.0;
    if i % 7 < 2 {
        (g.idle_seconds, g.idle_usd) = (30.0, g.usd / 2.0);
    }
    out.push(g);

    let mut g = gpu("n1", "GPU-2", "gpu0", "A100");
    g.usd = 2.5 / 60.0;
    (g.idle_seconds, g.idle_usd) = (60.0, g.usd);
    out.push(g);

    let mut g = gpu("n1", "GPU-3", "gpu1", "A100");
    (g.job, g.team) = job("j3", "t2");
    g.seconds = 37.5 + (i % 5) as f64;
    g.usd = 0.0123 * ((i % 7) + 1) as f64;
    if i % 4 == 1 {
        (g.idle_seconds, g.idle_usd) = (g.seconds / 3.0, g.usd / 3.0);
    }
    out.push(g);
    out
}

/// Utilization of two GPUs on `node-a` and one series without a GPU.
fn utilization(i: i64) -> Vec<SeriesMinute> {
    let series = |gpu: Option<&str>, labels: &str, mean: f64| SeriesMinute {
        minute: H + i * M,
        metric: metric::GPU_UTILIZATION.into(),
        node: Some("node-a".into()),
        gpu: gpu.map(str::to_string),
        task: Some(value::TASK_GENERAL.into()),
        labels: labels.into(),
        count: 12,
        mean,
        ..SeriesMinute::default()
    };
    vec![
        series(
            Some("GPU-aaaa"),
            "hw.gpu.task=general,hw.id=GPU-aaaa,hw.model=H100,hw.name=gpu0",
            0.9,
        ),
        series(
            Some("GPU-bbbb"),
            "hw.gpu.task=general,hw.id=GPU-bbbb,hw.model=H100,hw.name=gpu3",
            0.5,
        ),
        series(None, "hw.gpu.task=general", 0.1),
    ]
}

/// The history above, written minute by minute as the collector does.
fn history(name: &str) -> PathBuf {
    let root = temp(name);
    let mut sink = ParquetSink::open(&root, 90 * 24 * HOUR_NS, u64::MAX).expect("open");
    for i in 0..MINUTES {
        sink.write(&MinuteRollup {
            minute: H + i * M,
            series: utilization(i),
            cost: spend(i),
        })
        .expect("write");
    }
    root
}

const ALL_BY: [CostBy; 4] = [CostBy::Team, CostBy::Job, CostBy::Node, CostBy::Model];

/// Windows that cut hours at both edges, take whole hours only, stay inside one hour,
/// reach into the hour being written, or pass the ends of history.
fn windows() -> Vec<Window> {
    [
        (17, 3 * 60 + 25),
        (17, 2 * 60 + 41),
        (0, 3 * 60),
        (60, 2 * 60),
        (5, 50),
        (61, 3 * 60 + 2),
        (-120, 5 * 60),
    ]
    .into_iter()
    .map(|(from, to)| Window {
        from: H + from * M,
        to: H + to * M,
    })
    .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

fn same_line(a: &CostLine, b: &CostLine) -> bool {
    a.key == b.key
        && a.gpus == b.gpus
        && close(a.gpu_hours, b.gpu_hours)
        && close(a.busy_hours, b.busy_hours)
        && close(a.idle_hours, b.idle_hours)
        && close(a.cost_usd, b.cost_usd)
        && close(a.idle_cost_usd, b.idle_cost_usd)
        && close(a.waste_pct, b.waste_pct)
}

/// Same figures, line by line (matched by key: rounding may swap equal spends).
fn assert_same(got: &CostReport, want: &CostReport, what: &str) {
    assert_eq!(
        (&got.from, &got.to, &got.by),
        (&want.from, &want.to, &want.by)
    );
    assert!(
        same_line(&got.total, &want.total),
        "{what} total: {got:?} {want:?}"
    );
    assert_eq!(got.rows.len(), want.rows.len(), "{what}: {got:?} {want:?}");
    for w in &want.rows {
        let g = got.rows.iter().find(|g| g.key == w.key);
        assert!(
            g.is_some_and(|g| same_line(g, w)),
            "{what} {}: {g:?} {w:?}",
            w.key
        );
    }
    assert_eq!(got.top_wasters.len(), want.top_wasters.len(), "{what}");
    for w in &want.top_wasters {
        let g = got
            .top_wasters
            .iter()
            .find(|g| (&g.node, &g.gpu, &g.job, &g.team) == (&w.node, &w.gpu, &w.job, &w.team));
        assert!(
            g.is_some_and(|g| close(g.idle_hours, w.idle_hours)
                && close(g.idle_cost_usd, w.idle_cost_usd)
                && close(g.waste_pct, w.waste_pct)),
            "{what} waster: {g:?} {w:?}"
        );
    }
}

fn reports(root: &Path) -> Vec<CostReport> {
    let mut out = Vec::new();
    for w in windows() {
        for by in ALL_BY {
            out.push(cost(root, w, by, 10).expect("report"));
        }
    }
    out
}

#[test]
fn hourly_sums_give_the_reports_of_the_minutes() {
    let root = history("sums");
    let sums = Table::CostHours.dir(&root);
    let summed: Vec<i64> = layout::hours(&sums).expect("list").into_keys().collect();
    assert_eq!(summed, vec![H, H + HOUR_NS, H + 2 * HOUR_NS]);
    let with_sums = reports(&root);

    // The same history with the middle hour's sums gone, then with none (a data
    // directory from before `cost_hours/`).
    std::fs::remove_file(layout::hour_file(&sums, H + HOUR_NS)).expect("remove");
    let mixed = reports(&root);
    std::fs::remove_dir_all(&sums).expect("remove");
    let minutes = reports(&root);

    let names = windows()
        .into_iter()
        .flat_map(|w| ALL_BY.map(move |by| format!("{w:?} by {}", by.as_str())));
    for (((a, b), want), name) in with_sums.iter().zip(&mixed).zip(&minutes).zip(names) {
        assert!(!want.rows.is_empty(), "{name}");
        assert_same(a, want, &format!("{name} with sums"));
        assert_same(b, want, &format!("{name} with some sums"));
    }
    // A window before history has nothing.
    let before = Window {
        from: H - 2 * HOUR_NS,
        to: H,
    };
    assert!(cost(&root, before, CostBy::Team, 5)
        .expect("report")
        .rows
        .is_empty());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn whole_hours_come_from_the_sums_cut_hours_from_the_minutes() {
    let root = history("split");
    let total = |w: Window| {
        cost(&root, w, CostBy::Team, 5)
            .expect("report")
            .total
            .cost_usd
    };
    let (whole, cut) = (
        Window {
            from: H + 17 * M,
            to: H + 3 * HOUR_NS + 25 * M,
        },
        Window {
            from: H + HOUR_NS + M,
            to: H + 3 * HOUR_NS,
        },
    );
    let (whole_before, cut_before) = (total(whole), total(cut));
    // Double the spend in the sums of the second hour: only a window that holds the
    // whole hour sees it.
    let path = layout::hour_file(&Table::CostHours.dir(&root), H + HOUR_NS);
    let file = std::fs::File::open(&path).expect("sums");
    let mut df = ParquetReader::new(file)
        .finish()
        .expect("read")
        .lazy()
        .with_column(col("usd") * lit(2.0))
        .collect()
        .expect("doubled");
    let hour_usd: f64 = (0..60).flat_map(|i| spend(60 + i)).map(|c| c.usd).sum();
    let file = std::fs::File::create(&path).expect("sums");
    ParquetWriter::new(file).finish(&mut df).expect("write");
    assert!(close(total(whole), whole_before + hour_usd));
    assert!(close(total(cut), cut_before));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn usage_by_gpu_reads_node_and_name() {
    let root = history("usage");
    let w = Window {
        from: H,
        to: H + MINUTES * M,
    };
    let r = usage(&root, w, UsageBy::Gpu).expect("report");
    let keys: Vec<&str> = r.rows.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(keys, vec!["(none)", "node-a/gpu3", "node-a/gpu0"]);
    assert_eq!(r.rows[2].gpus, 1);
    assert_eq!(r.rows[2].gpu_minutes, MINUTES as u64);
    assert!(close(r.rows[2].mean, 0.9));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn gpu_keys_fall_back_and_stay_apart() {
    let s = |v: &str| Some(v.to_string());
    let keys = gpu_keys(
        &[s("GPU-1"), s("GPU-2"), s("GPU-3"), s("GPU-4"), None],
        &[s("n0"), s("n0"), s("n0"), None, None],
        &[
            s("hw.id=GPU-1,hw.name=gpu0"),
            s("hw.id=GPU-2,hw.name=gpu0"),
            s("hw.id=GPU-3"),
            s("hw.name=gpu7"),
            None,
        ],
    );
    assert_eq!(
        keys,
        vec![
            "n0/gpu0 (GPU-1)",
            "n0/gpu0 (GPU-2)",
            "n0/GPU-3",
            "gpu7",
            "(none)"
        ]
    );
    assert_eq!(
        label("a=1,hw.name=gpu2,hw.named=x", "hw.name"),
        Some("gpu2")
    );
    assert_eq!(label("hw.named=x", "hw.name"), None);
}

/// Minute `i` with a histogram series too (list columns), for the upgrade test.
fn rollup(i: i64) -> MinuteRollup {
    let mut series = utilization(i);
    series.push(SeriesMinute {
        minute: H + i * M,
        metric: "vllm:e2e_request_latency_seconds".into(),
        node: Some("node-b".into()),
        model: Some("llama".into()),
        labels: "model_name=llama".into(),
        count: 40 + i as u64 % 3,
        bounds: vec![0.1, 0.5, 1.0],
        buckets: vec![10.0, 20.0 + (i % 4) as f64, 9.0, 1.0],
        ..SeriesMinute::default()
    });
    MinuteRollup {
        minute: H + i * M,
        series,
        cost: spend(i),
    }
}

/// Every Parquet file under `root` read and written again by polars: a data directory
/// as gpuwatch left it when polars wrote history (the same columns, polars' encoding,
/// Snappy as that writer chose).
fn rewrite_with_polars(root: &Path) -> usize {
    let mut rewritten = 0;
    for table in [Table::Cost, Table::CostHours, Table::Series] {
        for hour in layout::hours(&table.dir(root)).expect("list").into_values() {
            let files = hour
                .file
                .into_iter()
                .chain(hour.minutes.into_iter().map(|(_, f)| f));
            for path in files {
                let file = std::fs::File::open(&path).expect("open");
                let mut df = ParquetReader::new(file).finish().expect("polars reads it");
                let file = std::fs::File::create(&path).expect("create");
                // As the polars writer of earlier versions did.
                ParquetWriter::new(file)
                    .with_compression(ParquetCompression::Snappy)
                    .finish(&mut df)
                    .expect("polars writes it");
                rewritten += 1;
            }
        }
    }
    rewritten
}

#[test]
fn history_polars_wrote_is_compacted_and_reported_after_an_upgrade() {
    // Three hours compacted and 25 minutes of the fourth, written by polars; then the
    // parquet writer goes on to the fifth hour, compacting the fourth from both.
    let (old, new) = (temp("upgrade-old"), temp("upgrade-new"));
    let mut sink = ParquetSink::open(&old, 90 * 24 * HOUR_NS, u64::MAX).expect("open");
    for i in 0..MINUTES {
        sink.write(&rollup(i)).expect("write");
    }
    drop(sink);
    assert!(rewrite_with_polars(&old) > 3 * 3 + 25);
    let mut upgraded = ParquetSink::open(&old, 90 * 24 * HOUR_NS, u64::MAX).expect("reopen");
    let mut fresh = ParquetSink::open(&new, 90 * 24 * HOUR_NS, u64::MAX).expect("open");
    for i in 0..5 * 60 {
        if i >= MINUTES {
            upgraded.write(&rollup(i)).expect("write");
        }
        fresh.write(&rollup(i)).expect("write");
    }
    drop((upgraded, fresh));

    for table in [Table::Cost, Table::CostHours, Table::Series] {
        let hours = |root: &Path| layout::hours(&table.dir(root)).expect("list");
        let (got, want) = (hours(&old), hours(&new));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        assert!(
            got[&(H + 3 * HOUR_NS)].file.is_some(),
            "the fourth hour is compacted"
        );
    }
    let read_series = |root: &Path| -> Vec<SeriesMinute> {
        let hours = layout::hours(&Table::Series.dir(root)).expect("list");
        let files = hours.into_values().flat_map(|h| h.file);
        files
            .flat_map(|f| table::read::<SeriesMinute>(&f, None).expect("read"))
            .collect()
    };
    let series = read_series(&old);
    assert_eq!(series.len(), 4 * 60 * 4, "four hours compacted");
    assert_eq!(
        series,
        read_series(&new),
        "histograms and labels come through"
    );
    for (a, b) in reports(&old).iter().zip(&reports(&new)) {
        assert_same(a, b, "upgraded history");
    }
    let _ = std::fs::remove_dir_all(&old);
    let _ = std::fs::remove_dir_all(&new);
}
