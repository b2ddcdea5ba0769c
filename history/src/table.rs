//! The history tables as Parquet, with the `parquet` crate alone (no Arrow, no polars):
//! their schemas, rows written a row group at a time, and rows read back.
//!
//! The schemas are the ones polars wrote before this writer existed (every column
//! optional, lists as `LIST` groups of `element`s), so files of either writer sit side
//! by side in one folder and read the same way with polars (`gpuwatch report`) or here.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use gpuwatch_model::history::{GpuMinuteCost, SeriesMinute};
use parquet::basic::Compression;
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::Type;

use crate::{layout, HistoryError};

/// `series/` files: one row per series and minute.
const SERIES: &str = "message series {
    optional int64 minute;
    optional binary metric (STRING);
    optional binary node (STRING);
    optional binary gpu (STRING);
    optional binary job (STRING);
    optional binary team (STRING);
    optional binary model (STRING);
    optional binary task (STRING);
    optional binary labels (STRING);
    optional int64 count;
    optional int64 zeros;
    optional double min;
    optional double mean;
    optional double max;
    optional double last;
    optional group bounds (LIST) { repeated group list { optional double element; } }
    optional group buckets (LIST) { repeated group list { optional double element; } }
}";

/// `cost/` files: one row per GPU, job and minute.
const COST: &str = "message cost {
    optional int64 minute;
    optional binary node (STRING);
    optional binary gpu (STRING);
    optional binary gpu_name (STRING);
    optional binary gpu_model (STRING);
    optional binary job (STRING);
    optional binary team (STRING);
    optional double seconds;
    optional double idle_seconds;
    optional double usd;
    optional double idle_usd;
}";

/// `cost_hours/` files: an hour of `cost/` summed per GPU, job and team.
const COST_HOURS: &str = "message cost_hours {
    optional int64 hour;
    optional binary node (STRING);
    optional binary gpu (STRING);
    optional binary gpu_name (STRING);
    optional binary gpu_model (STRING);
    optional binary job (STRING);
    optional binary team (STRING);
    optional int64 minutes;
    optional double seconds;
    optional double idle_seconds;
    optional double usd;
    optional double idle_usd;
}";

/// One row of `cost_hours/`: the `cost/` rows of the hour starting at `hour` for one
/// GPU, job and team. `node`, `gpu_name` and `gpu_model` are the first row's (they go
/// with the GPU's UUID); `minutes` counts the rows summed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostHour {
    pub hour: i64,
    pub node: String,
    pub gpu: String,
    pub gpu_name: String,
    pub gpu_model: String,
    pub job: Option<String>,
    pub team: Option<String>,
    pub minutes: i64,
    pub seconds: f64,
    pub idle_seconds: f64,
    pub usd: f64,
    pub idle_usd: f64,
}

/// The rows of a table, written as one Parquet file.
pub trait Rows: Sized {
    /// The table's Parquet schema.
    const SCHEMA: &'static str;
    /// The rows as columns, in the schema's order.
    fn columns(rows: &[Self]) -> Vec<Column>;
    /// A row from the file's columns, by name.
    fn row(c: &mut Columns) -> Self;
}

/// One column of a row group: values (nulls left out) with their definition levels,
/// and for lists their repetition levels. The schemas above have every column
/// optional, so a present value is defined at level 1, and a list element at level 3
/// (list, `list` group, element).
#[derive(Debug)]
pub enum Column {
    Int(Vec<i64>, Vec<i16>),
    Float(Vec<f64>, Vec<i16>),
    Text(Vec<ByteArray>, Vec<i16>),
    List(Vec<f64>, Vec<i16>, Vec<i16>),
}

fn int(values: impl Iterator<Item = i64>) -> Column {
    let v: Vec<i64> = values.collect();
    let d = vec![1; v.len()];
    Column::Int(v, d)
}

fn count(values: impl Iterator<Item = u64>) -> Column {
    int(values.map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
}

fn float(values: impl Iterator<Item = f64>) -> Column {
    let v: Vec<f64> = values.collect();
    let d = vec![1; v.len()];
    Column::Float(v, d)
}

fn text<'a>(values: impl Iterator<Item = &'a str>) -> Column {
    maybe(values.map(Some))
}

fn maybe<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Column {
    let (mut v, mut d) = (Vec::new(), Vec::new());
    for s in values {
        match s {
            Some(s) => {
                v.push(ByteArray::from(s));
                d.push(1);
            }
            None => d.push(0),
        }
    }
    Column::Text(v, d)
}

fn list<'a>(values: impl Iterator<Item = &'a [f64]>) -> Column {
    let (mut v, mut d, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for l in values {
        if l.is_empty() {
            // A list that is there and empty.
            d.push(1);
            r.push(0);
        }
        for (i, x) in l.iter().enumerate() {
            v.push(*x);
            d.push(3);
            r.push(i16::from(i > 0));
        }
    }
    Column::List(v, d, r)
}

/// A file's columns of one row, taken by name (a column the file lacks reads as null).
#[derive(Debug)]
pub struct Columns {
    names: Vec<String>,
    fields: Vec<Field>,
}

impl Columns {
    fn take(&mut self, name: &str) -> Field {
        match self.names.iter().position(|n| n == name) {
            Some(i) => std::mem::replace(&mut self.fields[i], Field::Null),
            None => Field::Null,
        }
    }

    fn int(&mut self, name: &str) -> i64 {
        match self.take(name) {
            Field::Long(v) => v,
            Field::Int(v) => i64::from(v),
            Field::ULong(v) => i64::try_from(v).unwrap_or(i64::MAX),
            Field::UInt(v) => i64::from(v),
            _ => 0,
        }
    }

    fn count(&mut self, name: &str) -> u64 {
        u64::try_from(self.int(name)).unwrap_or(0)
    }

    fn float(&mut self, name: &str) -> f64 {
        match self.take(name) {
            Field::Double(v) => v,
            Field::Float(v) => f64::from(v),
            _ => f64::NAN,
        }
    }

    fn maybe(&mut self, name: &str) -> Option<String> {
        match self.take(name) {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    fn text(&mut self, name: &str) -> String {
        self.maybe(name).unwrap_or_default()
    }

    fn list(&mut self, name: &str) -> Vec<f64> {
        match self.take(name) {
            Field::ListInternal(l) => l
                .elements()
                .iter()
                .map(|f| match f {
                    Field::Double(v) => *v,
                    Field::Float(v) => f64::from(*v),
                    _ => 0.0,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl Rows for SeriesMinute {
    const SCHEMA: &'static str = SERIES;

    fn columns(rows: &[Self]) -> Vec<Column> {
        let r = || rows.iter();
        vec![
            int(r().map(|s| s.minute)),
            text(r().map(|s| s.metric.as_str())),
            maybe(r().map(|s| s.node.as_deref())),
            maybe(r().map(|s| s.gpu.as_deref())),
            maybe(r().map(|s| s.job.as_deref())),
            maybe(r().map(|s| s.team.as_deref())),
            maybe(r().map(|s| s.model.as_deref())),
            maybe(r().map(|s| s.task.as_deref())),
            text(r().map(|s| s.labels.as_str())),
            count(r().map(|s| s.count)),
            count(r().map(|s| s.zeros)),
            float(r().map(|s| s.min)),
            float(r().map(|s| s.mean)),
            float(r().map(|s| s.max)),
            float(r().map(|s| s.last)),
            list(r().map(|s| s.bounds.as_slice())),
            list(r().map(|s| s.buckets.as_slice())),
        ]
    }

    fn row(c: &mut Columns) -> Self {
        SeriesMinute {
            minute: c.int("minute"),
            metric: c.text("metric"),
            node: c.maybe("node"),
            gpu: c.maybe("gpu"),
            job: c.maybe("job"),
            team: c.maybe("team"),
            model: c.maybe("model"),
            task: c.maybe("task"),
            labels: c.text("labels"),
            count: c.count("count"),
            zeros: c.count("zeros"),
            min: c.float("min"),
            mean: c.float("mean"),
            max: c.float("max"),
            last: c.float("last"),
            bounds: c.list("bounds"),
            buckets: c.list("buckets"),
        }
    }
}

impl Rows for GpuMinuteCost {
    const SCHEMA: &'static str = COST;

    fn columns(rows: &[Self]) -> Vec<Column> {
        let r = || rows.iter();
        vec![
            int(r().map(|c| c.minute)),
            text(r().map(|c| c.node.as_str())),
            text(r().map(|c| c.gpu.as_str())),
            text(r().map(|c| c.gpu_name.as_str())),
            text(r().map(|c| c.gpu_model.as_str())),
            maybe(r().map(|c| c.job.as_deref())),
            maybe(r().map(|c| c.team.as_deref())),
            float(r().map(|c| c.seconds)),
            float(r().map(|c| c.idle_seconds)),
            float(r().map(|c| c.usd)),
            float(r().map(|c| c.idle_usd)),
        ]
    }

    fn row(c: &mut Columns) -> Self {
        GpuMinuteCost {
            minute: c.int("minute"),
            node: c.text("node"),
            gpu: c.text("gpu"),
            gpu_name: c.text("gpu_name"),
            gpu_model: c.text("gpu_model"),
            job: c.maybe("job"),
            team: c.maybe("team"),
            seconds: c.float("seconds"),
            idle_seconds: c.float("idle_seconds"),
            usd: c.float("usd"),
            idle_usd: c.float("idle_usd"),
        }
    }
}

impl Rows for CostHour {
    const SCHEMA: &'static str = COST_HOURS;

    fn columns(rows: &[Self]) -> Vec<Column> {
        let r = || rows.iter();
        vec![
            int(r().map(|c| c.hour)),
            text(r().map(|c| c.node.as_str())),
            text(r().map(|c| c.gpu.as_str())),
            text(r().map(|c| c.gpu_name.as_str())),
            text(r().map(|c| c.gpu_model.as_str())),
            maybe(r().map(|c| c.job.as_deref())),
            maybe(r().map(|c| c.team.as_deref())),
            int(r().map(|c| c.minutes)),
            float(r().map(|c| c.seconds)),
            float(r().map(|c| c.idle_seconds)),
            float(r().map(|c| c.usd)),
            float(r().map(|c| c.idle_usd)),
        ]
    }

    fn row(c: &mut Columns) -> Self {
        CostHour {
            hour: c.int("hour"),
            node: c.text("node"),
            gpu: c.text("gpu"),
            gpu_name: c.text("gpu_name"),
            gpu_model: c.text("gpu_model"),
            job: c.maybe("job"),
            team: c.maybe("team"),
            minutes: c.int("minutes"),
            seconds: c.float("seconds"),
            idle_seconds: c.float("idle_seconds"),
            usd: c.float("usd"),
            idle_usd: c.float("idle_usd"),
        }
    }
}

/// The sums of `cost/` rows per GPU, job and team, in the order each first appears.
#[derive(Debug, Default)]
pub struct HourSums {
    hour: i64,
    index: std::collections::HashMap<(String, Option<String>, Option<String>), usize>,
    rows: Vec<CostHour>,
}

impl HourSums {
    pub fn new(hour: i64) -> Self {
        HourSums {
            hour,
            ..HourSums::default()
        }
    }

    pub fn add(&mut self, c: &GpuMinuteCost) {
        let key = (c.gpu.clone(), c.job.clone(), c.team.clone());
        let i = match self.index.get(&key) {
            Some(i) => *i,
            None => {
                self.rows.push(CostHour {
                    hour: self.hour,
                    node: c.node.clone(),
                    gpu: c.gpu.clone(),
                    gpu_name: c.gpu_name.clone(),
                    gpu_model: c.gpu_model.clone(),
                    job: c.job.clone(),
                    team: c.team.clone(),
                    ..CostHour::default()
                });
                self.index.insert(key, self.rows.len() - 1);
                self.rows.len() - 1
            }
        };
        let s = &mut self.rows[i];
        s.minutes += 1;
        s.seconds += c.seconds;
        s.idle_seconds += c.idle_seconds;
        s.usd += c.usd;
        s.idle_usd += c.idle_usd;
    }

    pub fn rows(self) -> Vec<CostHour> {
        self.rows
    }
}

/// Rows a row group holds, at most (polars reads a few large groups faster than many
/// small ones; a minute of 10,000 GPUs' cost is one group).
const GROUP_ROWS: usize = 1 << 16;

/// A Parquet file being written, `GROUP_ROWS` rows to a row group.
pub struct Writer<'a, R: Rows> {
    inner: SerializedFileWriter<&'a mut File>,
    /// Rows not yet written, fewer than `GROUP_ROWS`.
    rows: Vec<R>,
}

impl<R: Rows> std::fmt::Debug for Writer<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("schema", &R::SCHEMA)
            .finish()
    }
}

fn schema(message: &str) -> Result<Arc<Type>, HistoryError> {
    Ok(Arc::new(parse_message_type(message)?))
}

impl<'a, R: Rows> Writer<'a, R> {
    fn new(file: &'a mut File) -> Result<Self, HistoryError> {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("gpuwatch {}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Writer {
            inner: SerializedFileWriter::new(file, schema(R::SCHEMA)?, Arc::new(props))?,
            rows: Vec::new(),
        })
    }

    /// Adds rows, writing a row group each time `GROUP_ROWS` are waiting.
    pub fn append(&mut self, rows: impl IntoIterator<Item = R>) -> Result<(), HistoryError> {
        for r in rows {
            self.rows.push(r);
            if self.rows.len() >= GROUP_ROWS {
                let full = std::mem::take(&mut self.rows);
                self.group(&full)?;
            }
        }
        Ok(())
    }

    /// Writes `rows` as one row group (none when there are no rows).
    fn group(&mut self, rows: &[R]) -> Result<(), HistoryError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut group = self.inner.next_row_group()?;
        for column in R::columns(rows) {
            let Some(mut out) = group.next_column()? else {
                return Err(HistoryError::Invalid("more columns than the schema".into()));
            };
            match (&column, out.untyped()) {
                (Column::Int(v, d), ColumnWriter::Int64ColumnWriter(w)) => {
                    w.write_batch(v, Some(d), None)?;
                }
                (Column::Float(v, d), ColumnWriter::DoubleColumnWriter(w)) => {
                    w.write_batch(v, Some(d), None)?;
                }
                (Column::Text(v, d), ColumnWriter::ByteArrayColumnWriter(w)) => {
                    w.write_batch(v, Some(d), None)?;
                }
                (Column::List(v, d, r), ColumnWriter::DoubleColumnWriter(w)) => {
                    w.write_batch(v, Some(d), Some(r))?;
                }
                (c, _) => {
                    return Err(HistoryError::Invalid(format!(
                        "column {c:?} does not match the schema"
                    )))
                }
            }
            out.close()?;
        }
        group.close()?;
        Ok(())
    }

    fn finish(mut self) -> Result<(), HistoryError> {
        let rest = std::mem::take(&mut self.rows);
        self.group(&rest)?;
        self.inner.close()?;
        Ok(())
    }
}

/// Writes `path` (through a `.tmp` file renamed into place), its row groups from
/// `fill`.
pub fn write_with<R: Rows>(
    path: &Path,
    fill: impl FnOnce(&mut Writer<'_, R>) -> Result<(), HistoryError>,
) -> Result<(), HistoryError> {
    layout::write_atomically(path, |file| {
        let mut w = Writer::<R>::new(file)?;
        fill(&mut w)?;
        w.finish()
    })
}

/// Writes `rows` to `path`, `GROUP_ROWS` to a row group, straight from the slice.
pub fn write<R: Rows>(path: &Path, rows: &[R]) -> Result<(), HistoryError> {
    write_with(path, |w| {
        rows.chunks(GROUP_ROWS).try_for_each(|group| w.group(group))
    })
}

/// The rows a file holds, from its footer.
pub fn row_count(path: &Path) -> Result<usize, HistoryError> {
    let file = File::open(path).map_err(|e| HistoryError::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| HistoryError::file(path, e))?;
    Ok(usize::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0))
}

/// Every row of a file (any of the history's writers), or of the `columns` named
/// (the rest of each row left at its default).
pub fn read<R: Rows>(path: &Path, columns: Option<&[&str]>) -> Result<Vec<R>, HistoryError> {
    let file = File::open(path).map_err(|e| HistoryError::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| HistoryError::file(path, e))?;
    let projection = match columns {
        None => None,
        Some(names) => {
            let file_schema = reader.metadata().file_metadata().schema();
            let fields: Vec<Arc<Type>> = file_schema
                .get_fields()
                .iter()
                .filter(|f| names.contains(&f.name()))
                .cloned()
                .collect();
            Some(
                Type::group_type_builder(file_schema.name())
                    .with_fields(fields)
                    .build()?,
            )
        }
    };
    let mut out = Vec::new();
    for row in reader.get_row_iter(projection)? {
        let (names, fields) = row
            .map_err(|e| HistoryError::file(path, e))?
            .into_columns()
            .into_iter()
            .unzip();
        out.push(R::row(&mut Columns { names, fields }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("gw-table-{name}-{}.parquet", std::process::id()))
    }

    #[test]
    fn rows_come_back_as_written() {
        let rows = vec![
            SeriesMinute {
                minute: 60,
                metric: "gpuwatch.model.feature".into(),
                model: Some("fraud".into()),
                labels: "gpuwatch.feature=age".into(),
                count: 7,
                min: f64::NAN,
                bounds: vec![0.5, 1.0],
                buckets: vec![1.0, 2.0, 3.0],
                ..SeriesMinute::default()
            },
            SeriesMinute {
                minute: 60,
                metric: "hw.gpu.utilization".into(),
                node: Some("n0".into()),
                gpu: Some("GPU-0".into()),
                count: u64::MAX,
                mean: 0.5,
                ..SeriesMinute::default()
            },
        ];
        let path = temp("series");
        write_with(&path, |w| {
            w.append(rows.clone())?;
            w.append(rows[1..].to_vec())
        })
        .expect("write");
        let back: Vec<SeriesMinute> = read(&path, None).expect("read");
        assert_eq!(back.len(), 3);
        assert!(back[0].min.is_nan());
        assert_eq!(back[0].bounds, rows[0].bounds);
        assert_eq!(back[0].buckets, rows[0].buckets);
        assert_eq!(back[0].model.as_deref(), Some("fraud"));
        assert_eq!(back[0].node, None);
        assert_eq!(back[1].count, i64::MAX as u64, "counts past i64 saturate");
        assert!(back[1].bounds.is_empty());
        assert_eq!(back[2].gpu.as_deref(), Some("GPU-0"));

        let some: Vec<SeriesMinute> = read(&path, Some(&["model", "buckets"])).expect("read");
        assert_eq!(some[0].buckets, rows[0].buckets);
        assert_eq!(some[0].model.as_deref(), Some("fraud"));
        assert_eq!(some[0].metric, "", "a column left out reads as its default");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn both_ways_of_writing_make_groups_of_group_rows() {
        let rows: Vec<GpuMinuteCost> = (0..2 * GROUP_ROWS + 5)
            .map(|i| GpuMinuteCost {
                minute: i as i64,
                ..GpuMinuteCost::default()
            })
            .collect();
        let groups = |path: &Path| {
            let file = File::open(path).expect("open");
            let reader = SerializedFileReader::new(file).expect("parquet");
            reader.metadata().num_row_groups()
        };
        let (sliced, appended) = (temp("sliced"), temp("appended"));
        write(&sliced, &rows).expect("write");
        write_with(&appended, |w| w.append(rows.iter().cloned())).expect("write");
        for path in [&sliced, &appended] {
            assert_eq!(groups(path), 3, "{}", path.display());
            assert_eq!(row_count(path).expect("count"), rows.len());
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn hour_sums_keep_the_first_rows_names_and_order() {
        let row = |gpu: &str, job: Option<&str>, node: &str, usd: f64| GpuMinuteCost {
            gpu: gpu.into(),
            job: job.map(str::to_string),
            node: node.into(),
            seconds: 60.0,
            usd,
            ..GpuMinuteCost::default()
        };
        let rows = [
            row("B", None, "n1", 1.0),
            row("A", Some("j"), "n0", 2.0),
            row("B", None, "n9", 3.0),
        ];
        let mut sums = HourSums::new(3600);
        rows.iter().for_each(|r| sums.add(r));
        let sums = sums.rows();
        assert_eq!(sums.len(), 2);
        assert_eq!((sums[0].gpu.as_str(), sums[0].node.as_str()), ("B", "n1"));
        assert_eq!((sums[0].minutes, sums[0].usd), (2, 4.0));
        assert_eq!(sums[1].job.as_deref(), Some("j"));
        let path = temp("sums");
        write(&path, &sums).expect("write");
        let back: Vec<CostHour> = read(&path, None).expect("read");
        assert_eq!(back, sums);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_file_that_is_not_parquet_names_itself() {
        let path = temp("junk");
        std::fs::write(&path, b"not parquet").expect("write");
        let e = read::<GpuMinuteCost>(&path, None).expect_err("junk");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        let _ = std::fs::remove_file(&path);
    }
}
