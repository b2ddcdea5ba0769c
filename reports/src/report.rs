//! `gpuwatch report cost|usage`: polars lazy queries over the history files.
//!
//! A window is `[from, to)` in minute starts: the minutes `(m, m + 1m]` that end in
//! `(from, to]`, the same steps the live ledger's `/api/v1/cost?window=` sums when
//! `to` is its newest step. A cost report reads the hourly sums (`cost_hours/`) of the
//! hours wholly inside the window and the minutes of the rest (the window's edges, the
//! hour being written, hours without sums); the figures are the same either way, up to
//! float rounding.

use std::path::{Path, PathBuf};

use gpuwatch_model::history::HOUR_NS;
use gpuwatch_model::names::{attr, metric, value};
use gpuwatch_model::Timestamp;
use polars::prelude::*;
use serde::Serialize;

use gpuwatch_history::layout::{self, Table};
pub use gpuwatch_history::{label, Window};

use crate::ReportError;

/// How cost rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostBy {
    Team,
    Job,
    Node,
    /// The GPU model (`hw.model`).
    Model,
}

impl CostBy {
    pub fn as_str(self) -> &'static str {
        match self {
            CostBy::Team => "team",
            CostBy::Job => "job",
            CostBy::Node => "node",
            CostBy::Model => "model",
        }
    }

    fn key(self) -> Expr {
        let none = || lit("(none)");
        match self {
            CostBy::Team => col("team").fill_null(none()),
            CostBy::Job => col("job").fill_null(none()),
            CostBy::Node => col("node"),
            CostBy::Model => col("gpu_model"),
        }
    }
}

/// How usage rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageBy {
    Node,
    /// One GPU (`hw.id`), keyed `node/hw.name` (`node-a/gpu3`).
    Gpu,
    Job,
}

impl UsageBy {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageBy::Node => "node",
            UsageBy::Gpu => "gpu",
            UsageBy::Job => "job",
        }
    }
}

/// Runs a query over many files on polars' streaming engine: on a month of minutes it
/// is about four times as fast as the in-memory one, in far less memory.
fn streaming(query: LazyFrame) -> Result<DataFrame, ReportError> {
    // A query without sinks gives one frame.
    Ok(query
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single())
}

fn scan(files: Vec<PathBuf>) -> Result<LazyFrame, ReportError> {
    let paths: Vec<PlRefPath> = files
        .iter()
        .map(|p| PlRefPath::try_from_path(p))
        .collect::<PolarsResult<_>>()?;
    Ok(LazyFrame::scan_parquet_files(
        paths.into_iter().collect(),
        ScanArgsParquet::default(),
    )?)
}

/// The rows of `table` in the window; `None` when no file covers it.
fn rows(root: &Path, table: Table, w: Window) -> Result<Option<LazyFrame>, ReportError> {
    let files = layout::files_between(&table.dir(root), w.from, w.to)?;
    if files.is_empty() {
        return Ok(None);
    }
    let in_window = col("minute")
        .gt_eq(lit(w.from))
        .and(col("minute").lt(lit(w.to)));
    Ok(Some(scan(files)?.filter(in_window)))
}

/// The columns of a cost row, minute or hourly sum.
const COST_COLUMNS: [&str; 10] = [
    "gpu",
    "job",
    "team",
    "node",
    "gpu_name",
    "gpu_model",
    "seconds",
    "idle_seconds",
    "usd",
    "idle_usd",
];

/// The spend of the window as `COST_COLUMNS` rows, in hour order: the hourly sums of
/// the hours wholly inside it that have them, else the hour's minutes in the window.
/// `None` when no file covers the window.
fn cost_rows(root: &Path, w: Window) -> Result<Option<LazyFrame>, ReportError> {
    let sums = layout::hours(&Table::CostHours.dir(root))?;
    // Consecutive hours read the same way make one scan: (sums?, files).
    let mut runs: Vec<(bool, Vec<PathBuf>)> = Vec::new();
    for (hour, h) in layout::hours(&Table::Cost.dir(root))? {
        if hour + HOUR_NS <= w.from || hour >= w.to {
            continue;
        }
        let whole = hour >= w.from && hour + HOUR_NS <= w.to;
        let (summed, files) = match sums.get(&hour).and_then(|s| s.file.clone()) {
            Some(sum) if whole => (true, vec![sum]),
            _ => (false, h.files()),
        };
        match runs.last_mut() {
            Some((s, run)) if *s == summed => run.extend(files),
            _ => runs.push((summed, files)),
        }
    }
    if runs.is_empty() {
        return Ok(None);
    }
    let columns: Vec<Expr> = COST_COLUMNS.iter().map(|c| col(*c)).collect();
    let in_window = col("minute")
        .gt_eq(lit(w.from))
        .and(col("minute").lt(lit(w.to)));
    let scans = runs
        .into_iter()
        .map(|(summed, files)| {
            let lf = scan(files)?;
            let lf = if summed {
                lf
            } else {
                lf.filter(in_window.clone())
            };
            Ok(lf.select(columns.clone()))
        })
        .collect::<Result<Vec<_>, ReportError>>()?;
    Ok(Some(concat(scans, UnionArgs::default())?))
}

/// One line of a cost report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CostLine {
    pub key: String,
    pub gpus: u64,
    pub gpu_hours: f64,
    pub busy_hours: f64,
    pub idle_hours: f64,
    pub cost_usd: f64,
    pub idle_cost_usd: f64,
    /// Idle cost over cost, in percent.
    pub waste_pct: f64,
}

/// A GPU (in one job) that spent the most on idle time.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Waster {
    pub node: String,
    pub gpu: String,
    pub job: Option<String>,
    pub team: Option<String>,
    pub idle_hours: f64,
    pub idle_cost_usd: f64,
    pub waste_pct: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CostReport {
    pub from: String,
    pub to: String,
    pub by: String,
    pub total: CostLine,
    pub rows: Vec<CostLine>,
    pub top_wasters: Vec<Waster>,
}

fn strings(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>, ReportError> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn floats(df: &DataFrame, name: &str) -> Result<Vec<f64>, ReportError> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(0.0)).collect())
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

fn spend() -> [Expr; 4] {
    [
        col("seconds").sum(),
        col("idle_seconds").sum(),
        col("usd").sum(),
        col("idle_usd").sum(),
    ]
}

/// GPU-hours, busy and idle hours, cost, idle cost and waste by `by`, most expensive
/// first, with the `top` GPUs that wasted the most.
pub fn cost(root: &Path, w: Window, by: CostBy, top: usize) -> Result<CostReport, ReportError> {
    let mut report = CostReport {
        from: Timestamp(w.from).to_rfc3339(),
        to: Timestamp(w.to).to_rfc3339(),
        by: by.as_str().to_string(),
        total: CostLine {
            key: "total".into(),
            ..CostLine::default()
        },
        ..CostReport::default()
    };
    let Some(lf) = cost_rows(root, w)? else {
        return Ok(report);
    };
    // One pass over the hourly sums and minutes: each GPU's spend per job and team (a
    // GPU's node, name and model go with its UUID). The rest works on these few rows.
    let mut sums = spend().to_vec();
    sums.extend([
        col("node").first(),
        col("gpu_name").first(),
        col("gpu_model").first(),
    ]);
    let per_gpu = streaming(lf.group_by([col("gpu"), col("job"), col("team")]).agg(sums))?.lazy();
    // One GPU's spend per key, so `gpus` counts GPUs, as the ledger does.
    let mut sums = spend().to_vec();
    sums.push(len().alias("gpus"));
    let df = per_gpu
        .clone()
        .group_by([by.key().alias("key"), col("node"), col("gpu")])
        .agg(spend())
        .group_by([col("key")])
        .agg(sums)
        .sort(
            ["usd", "key"],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .collect()?;
    let keys = strings(&df, "key")?;
    let (s, idle, usd, idle_usd, gpus) = (
        floats(&df, "seconds")?,
        floats(&df, "idle_seconds")?,
        floats(&df, "usd")?,
        floats(&df, "idle_usd")?,
        floats(&df, "gpus")?,
    );
    for i in 0..df.height() {
        let line = CostLine {
            key: keys[i].clone().unwrap_or_default(),
            gpus: gpus[i] as u64,
            gpu_hours: s[i] / 3600.0,
            busy_hours: (s[i] - idle[i]) / 3600.0,
            idle_hours: idle[i] / 3600.0,
            cost_usd: usd[i],
            idle_cost_usd: idle_usd[i],
            waste_pct: pct(idle_usd[i], usd[i]),
        };
        let t = &mut report.total;
        t.gpus += line.gpus;
        t.gpu_hours += line.gpu_hours;
        t.busy_hours += line.busy_hours;
        t.idle_hours += line.idle_hours;
        t.cost_usd += line.cost_usd;
        t.idle_cost_usd += line.idle_cost_usd;
        report.rows.push(line);
    }
    report.total.waste_pct = pct(report.total.idle_cost_usd, report.total.cost_usd);
    report.top_wasters = wasters(per_gpu, top)?;
    Ok(report)
}

fn wasters(lf: LazyFrame, top: usize) -> Result<Vec<Waster>, ReportError> {
    let df = lf
        .group_by([col("node"), col("gpu_name"), col("job"), col("team")])
        .agg(spend())
        .filter(col("idle_usd").gt(lit(0.0)))
        .sort(
            ["idle_usd", "node", "gpu_name"],
            SortMultipleOptions::default().with_order_descending_multi([true, false, false]),
        )
        .limit(IdxSize::try_from(top).unwrap_or(IdxSize::MAX))
        .collect()?;
    let (node, gpu, job, team) = (
        strings(&df, "node")?,
        strings(&df, "gpu_name")?,
        strings(&df, "job")?,
        strings(&df, "team")?,
    );
    let (idle, usd, idle_usd) = (
        floats(&df, "idle_seconds")?,
        floats(&df, "usd")?,
        floats(&df, "idle_usd")?,
    );
    Ok((0..df.height())
        .map(|i| Waster {
            node: node[i].clone().unwrap_or_default(),
            gpu: gpu[i].clone().unwrap_or_default(),
            job: job[i].clone(),
            team: team[i].clone(),
            idle_hours: idle[i] / 3600.0,
            idle_cost_usd: idle_usd[i],
            waste_pct: pct(idle_usd[i], usd[i]),
        })
        .collect())
}

/// One line of a usage report: the distribution of GPU utilization (0..1) over the
/// minutes of the window (each minute's mean).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageLine {
    pub key: String,
    pub gpus: u64,
    /// GPU-minutes with data.
    pub gpu_minutes: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    /// Share of samples at exactly 0% (0..1).
    pub zero_share: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageReport {
    pub from: String,
    pub to: String,
    pub by: String,
    pub rows: Vec<UsageLine>,
}

/// Utilization distribution by node, GPU or job, lowest mean first.
pub fn usage(root: &Path, w: Window, by: UsageBy) -> Result<UsageReport, ReportError> {
    let mut report = UsageReport {
        from: Timestamp(w.from).to_rfc3339(),
        to: Timestamp(w.to).to_rfc3339(),
        by: by.as_str().to_string(),
        rows: Vec::new(),
    };
    let Some(lf) = rows(root, Table::Series, w)? else {
        return Ok(report);
    };
    let general = col("task")
        .is_null()
        .or(col("task").eq(lit(value::TASK_GENERAL)));
    let key = match by {
        UsageBy::Node => col("node"),
        UsageBy::Gpu => col("gpu"),
        UsageBy::Job => col("job").fill_null(lit("(none)")),
    };
    let mut aggs = vec![
        col("gpu").n_unique().alias("gpus"),
        len().alias("gpu_minutes"),
        (col("mean") * col("count").cast(DataType::Float64))
            .sum()
            .alias("weighted"),
        col("count").sum(),
        col("zeros").sum(),
        col("mean")
            .quantile(lit(0.5), QuantileMethod::Linear)
            .alias("p50"),
        col("mean")
            .quantile(lit(0.9), QuantileMethod::Linear)
            .alias("p90"),
    ];
    if by == UsageBy::Gpu {
        // A GPU's node and name go with its UUID.
        aggs.extend([col("node").first(), col("labels").first()]);
    }
    let query = lf
        .filter(col("metric").eq(lit(metric::GPU_UTILIZATION)).and(general))
        .group_by([key.alias("key")])
        .agg(aggs)
        .sort(["key"], SortMultipleOptions::default());
    let df = streaming(query)?;
    let keys = match by {
        UsageBy::Gpu => gpu_keys(
            &strings(&df, "key")?,
            &strings(&df, "node")?,
            &strings(&df, "labels")?,
        ),
        _ => strings(&df, "key")?
            .into_iter()
            .map(|k| k.unwrap_or_else(|| "(none)".into()))
            .collect(),
    };
    let (gpus, minutes, weighted, count, zeros, p50, p90) = (
        floats(&df, "gpus")?,
        floats(&df, "gpu_minutes")?,
        floats(&df, "weighted")?,
        floats(&df, "count")?,
        floats(&df, "zeros")?,
        floats(&df, "p50")?,
        floats(&df, "p90")?,
    );
    report.rows = (0..df.height())
        .map(|i| UsageLine {
            key: keys[i].clone(),
            gpus: gpus[i] as u64,
            gpu_minutes: minutes[i] as u64,
            mean: if count[i] > 0.0 {
                weighted[i] / count[i]
            } else {
                0.0
            },
            p50: p50[i],
            p90: p90[i],
            zero_share: if count[i] > 0.0 {
                zeros[i] / count[i]
            } else {
                0.0
            },
        })
        .collect();
    report
        .rows
        .sort_by(|a, b| a.mean.total_cmp(&b.mean).then(a.key.cmp(&b.key)));
    Ok(report)
}

/// Usage keys of GPUs by UUID: `node/hw.name` (`node-a/gpu3`), the UUID where the name
/// is missing, `(none)` for series without a GPU. Two UUIDs with one name (a GPU
/// swapped within the window) keep the UUID in parentheses, so no two lines share a key.
fn gpu_keys(
    uuids: &[Option<String>],
    nodes: &[Option<String>],
    labels: &[Option<String>],
) -> Vec<String> {
    let names: Vec<String> = uuids
        .iter()
        .zip(nodes)
        .zip(labels)
        .map(|((uuid, node), labels)| {
            let Some(uuid) = uuid else {
                return "(none)".to_string();
            };
            let name = labels
                .as_deref()
                .and_then(|l| label(l, attr::HW_NAME))
                .unwrap_or(uuid);
            match node {
                Some(node) => format!("{node}/{name}"),
                None => name.to_string(),
            }
        })
        .collect();
    let mut count: std::collections::HashMap<&str, usize> = Default::default();
    for n in &names {
        *count.entry(n.as_str()).or_default() += 1;
    }
    names
        .iter()
        .zip(uuids)
        .map(|(name, uuid)| match uuid {
            Some(uuid) if count.get(name.as_str()).is_some_and(|c| *c > 1) => {
                format!("{name} ({uuid})")
            }
            _ => name.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
