//! `cargo bench -p gpuwatch-reports --bench report`: a cost report over 30 days of
//! minute rollups for 1,000 GPUs (43.2 million GPU-minutes, with their hourly sums as
//! the collector writes them). The history is written first, outside the timing, to
//! `GPUWATCH_BENCH_DIR` (kept and reused when it is set, else a temporary directory
//! that is removed afterwards; a kept one without hourly sums is written again).

use std::path::{Path, PathBuf};
use std::time::Instant;

use gpuwatch_history::layout::{self, Table};
use gpuwatch_history::ParquetSink;
use gpuwatch_model::history::{GpuMinuteCost, MinuteRollup, HOUR_NS, MINUTE_NS};
use gpuwatch_reports::report::{self, CostBy, Window};

const GPUS: usize = 1_000;
const DAYS: i64 = 30;
/// 2026-10-01T00:00:00Z.
const START: i64 = 1_790_812_800 * 1_000_000_000;

fn generate(dir: &Path) {
    let mut sink = ParquetSink::open(dir, 365 * 24 * HOUR_NS, u64::MAX).expect("open");
    let names: Vec<(String, String, String, String, String)> = (0..GPUS)
        .map(|g| {
            let node = format!("node-{:03}", g / 8);
            (
                node.clone(),
                format!("GPU-{node}-{}", g % 8),
                format!("gpu{}", g % 8),
                format!("job-{}", g / 25),
                format!("team-{}", g / 125),
            )
        })
        .collect();
    for hour in 0..DAYS * 24 {
        let minutes: Vec<MinuteRollup> = (0..60)
            .map(|m| {
                let minute = START + hour * HOUR_NS + m * MINUTE_NS;
                let cost = names
                    .iter()
                    .enumerate()
                    .map(|(g, (node, gpu, name, job, team))| {
                        // Every GPU idles a different share of its hours.
                        let idle = (g as i64 + hour * 7 + m) % 10 < (g % 5) as i64;
                        let usd = if g % 2 == 0 { 4.0 } else { 2.5 } / 60.0;
                        GpuMinuteCost {
                            minute,
                            node: node.clone(),
                            gpu: gpu.clone(),
                            gpu_name: name.clone(),
                            gpu_model: if g % 2 == 0 {
                                "NVIDIA H100"
                            } else {
                                "NVIDIA A100"
                            }
                            .into(),
                            job: (g % 10 != 9).then(|| job.clone()),
                            team: (g % 10 != 9).then(|| team.clone()),
                            seconds: 60.0,
                            idle_seconds: if idle { 60.0 } else { 0.0 },
                            usd,
                            idle_usd: if idle { usd } else { 0.0 },
                        }
                    })
                    .collect();
                MinuteRollup {
                    minute,
                    series: Vec::new(),
                    cost,
                }
            })
            .collect();
        sink.write_hour(&minutes).expect("write");
    }
}

fn main() {
    let keep = std::env::var_os("GPUWATCH_BENCH_DIR").map(PathBuf::from);
    let dir = keep
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("gw-bench-{}", std::process::id())));
    let newest = gpuwatch_history::newest_minute(&dir).ok().flatten();
    let last_sums = layout::hour_file(
        &Table::CostHours.dir(&dir),
        START + (DAYS * 24 - 1) * HOUR_NS,
    );
    if newest != Some(START + (DAYS * 24 * 60 - 1) * MINUTE_NS) || !last_sums.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let t = Instant::now();
        generate(&dir);
        println!(
            "wrote {DAYS} days x {GPUS} GPUs of minute rollups ({} GPU-minutes) and their hourly sums to {} in {:.1} s",
            DAYS * 24 * 60 * GPUS as i64,
            dir.display(),
            t.elapsed().as_secs_f64()
        );
    }
    let window = Window::ending(&dir, DAYS * 24 * HOUR_NS, None)
        .expect("window")
        .expect("history");
    // The same length ending 30 minutes earlier cuts an hour at each edge, as a live
    // collector's window does: those two hours come from their minutes.
    let cut = Window {
        from: window.from - 30 * MINUTE_NS,
        to: window.to - 30 * MINUTE_NS,
    };
    let runs = [
        (CostBy::Team, window, ""),
        (CostBy::Job, window, ""),
        (CostBy::Node, window, ""),
        (CostBy::Team, cut, ", window cut mid-hour"),
    ];
    for (by, window, note) in runs {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let r = report::cost(&dir, window, by, 5).expect("report");
            times.push(t.elapsed().as_secs_f64());
            rows = r.rows.len();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "report cost --since 30d --by {:<4} ({rows} rows{note}): median {:.3} s, best {:.3} s",
            by.as_str(),
            times[times.len() / 2],
            times[0]
        );
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
