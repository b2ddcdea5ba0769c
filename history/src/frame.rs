//! Rows to polars frames, in the column layout of the history files.

use gpuwatch_model::history::{GpuMinuteCost, SeriesMinute};
use polars::prelude::*;

fn text<'a>(name: &str, values: impl Iterator<Item = &'a str>) -> Column {
    Column::new(name.into(), values.collect::<Vec<&str>>())
}

fn maybe<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Column {
    Column::new(name.into(), values.collect::<Vec<Option<&str>>>())
}

fn num(name: &str, values: impl Iterator<Item = f64>) -> Column {
    Column::new(name.into(), values.collect::<Vec<f64>>())
}

fn int(name: &str, values: impl Iterator<Item = i64>) -> Column {
    Column::new(name.into(), values.collect::<Vec<i64>>())
}

fn list(name: &str, values: impl Iterator<Item = Vec<f64>>) -> Column {
    let series: Vec<Series> = values.map(|v| Series::new(PlSmallStr::EMPTY, v)).collect();
    Series::new(name.into(), series).into_column()
}

/// `cost/` files: one row per GPU, job and minute.
pub fn cost(rows: &[GpuMinuteCost]) -> PolarsResult<DataFrame> {
    let r = || rows.iter();
    DataFrame::new(
        rows.len(),
        vec![
            int("minute", r().map(|c| c.minute)),
            text("node", r().map(|c| c.node.as_str())),
            text("gpu", r().map(|c| c.gpu.as_str())),
            text("gpu_name", r().map(|c| c.gpu_name.as_str())),
            text("gpu_model", r().map(|c| c.gpu_model.as_str())),
            maybe("job", r().map(|c| c.job.as_deref())),
            maybe("team", r().map(|c| c.team.as_deref())),
            num("seconds", r().map(|c| c.seconds)),
            num("idle_seconds", r().map(|c| c.idle_seconds)),
            num("usd", r().map(|c| c.usd)),
            num("idle_usd", r().map(|c| c.idle_usd)),
        ],
    )
}

/// `cost_hours/` files: the `cost/` rows of the hour starting at `hour` summed per GPU,
/// job and team, in the order each first appears. `node`, `gpu_name` and `gpu_model`
/// are the first row's (they go with the GPU's UUID); `minutes` counts the rows summed.
pub fn cost_hour(hour: i64, cost: DataFrame) -> PolarsResult<DataFrame> {
    cost.lazy()
        .group_by_stable([col("gpu"), col("job"), col("team")])
        .agg([
            col("node").first(),
            col("gpu_name").first(),
            col("gpu_model").first(),
            len().cast(DataType::Int64).alias("minutes"),
            col("seconds").sum(),
            col("idle_seconds").sum(),
            col("usd").sum(),
            col("idle_usd").sum(),
        ])
        .select([
            lit(hour).alias("hour"),
            col("node"),
            col("gpu"),
            col("gpu_name"),
            col("gpu_model"),
            col("job"),
            col("team"),
            col("minutes"),
            col("seconds"),
            col("idle_seconds"),
            col("usd"),
            col("idle_usd"),
        ])
        .collect()
}

/// `series/` files: one row per series and minute.
pub fn series(rows: &[SeriesMinute]) -> PolarsResult<DataFrame> {
    let r = || rows.iter();
    DataFrame::new(
        rows.len(),
        vec![
            int("minute", r().map(|s| s.minute)),
            text("metric", r().map(|s| s.metric.as_str())),
            maybe("node", r().map(|s| s.node.as_deref())),
            maybe("gpu", r().map(|s| s.gpu.as_deref())),
            maybe("job", r().map(|s| s.job.as_deref())),
            maybe("team", r().map(|s| s.team.as_deref())),
            maybe("model", r().map(|s| s.model.as_deref())),
            maybe("task", r().map(|s| s.task.as_deref())),
            text("labels", r().map(|s| s.labels.as_str())),
            int(
                "count",
                r().map(|s| i64::try_from(s.count).unwrap_or(i64::MAX)),
            ),
            int(
                "zeros",
                r().map(|s| i64::try_from(s.zeros).unwrap_or(i64::MAX)),
            ),
            num("min", r().map(|s| s.min)),
            num("mean", r().map(|s| s.mean)),
            num("max", r().map(|s| s.max)),
            num("last", r().map(|s| s.last)),
            list("bounds", r().map(|s| s.bounds.clone())),
            list("buckets", r().map(|s| s.buckets.clone())),
        ],
    )
}
