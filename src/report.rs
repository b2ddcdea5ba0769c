//! `gpuwatch report cost|usage`: reports over the collector's history, as aligned
//! tables, CSV or JSON.

use std::process::ExitCode;

use crate::cli::ReportCommand;

/// A table for the terminal: columns padded to their widest cell, text left and
/// numbers right.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "reports"), allow(dead_code))]
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

#[cfg_attr(not(feature = "reports"), allow(dead_code))]
impl Table {
    pub fn new(head: &[&str]) -> Self {
        Table {
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let numeric = |c: &str| {
            let c = c.trim_start_matches('$').trim_end_matches('%');
            c.parse::<f64>().is_ok() || c == "-"
        };
        // A column is right-aligned, heading included, when its cells are numbers.
        let right: Vec<bool> = (0..widths.len())
            .map(|i| {
                i > 0
                    && !self.rows.is_empty()
                    && self
                        .rows
                        .iter()
                        .all(|r| r.get(i).is_none_or(|c| numeric(c)))
            })
            .collect();
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                let pad = " ".repeat(w - c.chars().count());
                if right[i] {
                    out.push_str(&pad);
                    out.push_str(c);
                } else {
                    out.push_str(c);
                    out.push_str(&pad);
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = line(&self.head);
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    /// The same cells as CSV (RFC 4180 quoting).
    pub fn csv(&self) -> String {
        let field = |c: &String| {
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        };
        std::iter::once(&self.head)
            .chain(&self.rows)
            .map(|r| r.iter().map(field).collect::<Vec<_>>().join(",") + "\n")
            .collect()
    }
}

#[cfg(not(feature = "reports"))]
pub fn run(_: ReportCommand) -> anyhow::Result<ExitCode> {
    Err(crate::history::needs_reports("report"))
}

#[cfg(feature = "reports")]
pub fn run(cmd: ReportCommand) -> anyhow::Result<ExitCode> {
    feature::run(cmd)
}

#[cfg(feature = "reports")]
mod feature {
    use std::path::PathBuf;
    use std::process::ExitCode;

    use anyhow::{bail, Context};
    use gpuwatch_model::{duration, Timestamp};
    use gpuwatch_reports::report::{self, CostBy, CostReport, UsageBy, UsageReport, Window};

    use super::Table;
    use crate::cli::{CostGroup, ReportCommand, ReportFormat, ReportWindow, UsageGroup};
    use crate::config::Config;

    /// The data directory and the window of a report; `None` when history is empty.
    fn window(w: &ReportWindow) -> anyhow::Result<(PathBuf, Option<Window>)> {
        let dir = match &w.data_dir {
            Some(d) => d.clone(),
            None => {
                let config = Config::load_or_default(w.config.config.as_deref())?;
                PathBuf::from(config.collector.history.dir)
            }
        };
        if !dir.is_dir() {
            bail!(
                "no history in {} (the collector writes it there; see [collector.history] \
                 or pass --data-dir)",
                dir.display()
            );
        }
        let length = duration::parse(&w.since).context("--since")?;
        let length = i64::try_from(length.as_nanos()).unwrap_or(i64::MAX);
        let until = w
            .until
            .as_deref()
            .map(|u| {
                Timestamp::parse_rfc3339(u)
                    .map(|t| t.0)
                    .with_context(|| format!("--until {u:?} is not an RFC 3339 UTC time"))
            })
            .transpose()?;
        let window = Window::ending(&dir, length, until)?;
        Ok((dir, window))
    }

    pub fn run(cmd: ReportCommand) -> anyhow::Result<ExitCode> {
        match cmd {
            ReportCommand::Cost { window: w, by, top } => {
                let by = match by {
                    CostGroup::Team => CostBy::Team,
                    CostGroup::Job => CostBy::Job,
                    CostGroup::Node => CostBy::Node,
                    CostGroup::Model => CostBy::Model,
                };
                let (dir, Some(win)) = window(&w)? else {
                    bail!("no history yet: nothing to report");
                };
                let r = report::cost(&dir, win, by, top)?;
                print_cost(&r, w.format)?;
            }
            ReportCommand::Usage { window: w, by } => {
                let by = match by {
                    UsageGroup::Node => UsageBy::Node,
                    UsageGroup::Gpu => UsageBy::Gpu,
                    UsageGroup::Job => UsageBy::Job,
                };
                let (dir, Some(win)) = window(&w)? else {
                    bail!("no history yet: nothing to report");
                };
                let r = report::usage(&dir, win, by)?;
                print_usage(&r, w.format)?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    fn print_cost(r: &CostReport, format: ReportFormat) -> anyhow::Result<()> {
        let mut t = Table::new(&[
            &r.by.to_uppercase(),
            "GPUS",
            "GPU-H",
            "BUSY-H",
            "IDLE-H",
            "COST",
            "IDLE COST",
            "WASTE",
        ]);
        let money = |v: f64| format!("${v:.2}");
        for line in r.rows.iter().chain(std::iter::once(&r.total)) {
            t.row(vec![
                line.key.clone(),
                line.gpus.to_string(),
                format!("{:.2}", line.gpu_hours),
                format!("{:.2}", line.busy_hours),
                format!("{:.2}", line.idle_hours),
                money(line.cost_usd),
                money(line.idle_cost_usd),
                format!("{:.1}%", line.waste_pct),
            ]);
        }
        match format {
            ReportFormat::Json => println!("{}", serde_json::to_string_pretty(r)?),
            ReportFormat::Csv => print!("{}", t.csv()),
            ReportFormat::Table => {
                println!("Cost by {}, {} to {}\n", r.by, r.from, r.to);
                print!("{}", t.render());
                if !r.top_wasters.is_empty() {
                    let mut w =
                        Table::new(&["NODE", "GPU", "JOB", "TEAM", "IDLE-H", "IDLE COST", "WASTE"]);
                    for g in &r.top_wasters {
                        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                        w.row(vec![
                            g.node.clone(),
                            g.gpu.clone(),
                            or_dash(&g.job),
                            or_dash(&g.team),
                            format!("{:.2}", g.idle_hours),
                            money(g.idle_cost_usd),
                            format!("{:.1}%", g.waste_pct),
                        ]);
                    }
                    println!("\nTop wasters (idle spend):\n");
                    print!("{}", w.render());
                }
            }
        }
        Ok(())
    }

    fn print_usage(r: &UsageReport, format: ReportFormat) -> anyhow::Result<()> {
        let mut t = Table::new(&[
            &r.by.to_uppercase(),
            "GPUS",
            "GPU-MIN",
            "MEAN",
            "P50",
            "P90",
            "AT 0%",
        ]);
        let pct = |v: f64| format!("{:.1}%", v * 100.0);
        for line in &r.rows {
            t.row(vec![
                line.key.clone(),
                line.gpus.to_string(),
                line.gpu_minutes.to_string(),
                pct(line.mean),
                pct(line.p50),
                pct(line.p90),
                pct(line.zero_share),
            ]);
        }
        match format {
            ReportFormat::Json => println!("{}", serde_json::to_string_pretty(r)?),
            ReportFormat::Csv => print!("{}", t.csv()),
            ReportFormat::Table => {
                println!(
                    "GPU utilization by {}, {} to {} (quantiles of minute means)\n",
                    r.by, r.from, r.to
                );
                if r.rows.is_empty() {
                    println!("no GPU utilization in history for this window");
                } else {
                    print!("{}", t.render());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_quote() {
        let mut t = Table::new(&["TEAM", "COST"]);
        t.row(vec!["vision".into(), "$12.50".into()]);
        t.row(vec!["nlp, big".into(), "$3.00".into()]);
        assert_eq!(
            t.render(),
            "TEAM        COST\nvision    $12.50\nnlp, big   $3.00\n"
        );
        assert_eq!(t.csv(), "TEAM,COST\nvision,$12.50\n\"nlp, big\",$3.00\n");
    }
}
