//! `gpuwatch drift REFERENCE CURRENT`: the offline drift report.

use std::process::ExitCode;

use crate::cli::DriftArgs;

#[cfg(not(feature = "reports"))]
pub fn run(_: &DriftArgs) -> anyhow::Result<ExitCode> {
    Err(crate::history::needs_reports("drift"))
}

#[cfg(feature = "reports")]
pub fn run(args: &DriftArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use gpuwatch_reports::drift;

    use crate::cli::DriftFormat;
    use crate::report::Table;

    let reference = drift::load(&args.reference)
        .with_context(|| format!("cannot read {}", args.reference.display()))?;
    let current = drift::load(&args.current)
        .with_context(|| format!("cannot read {}", args.current.display()))?;
    let report = drift::compare(&reference, &current, &args.columns)?;
    match args.format {
        DriftFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        DriftFormat::Table => {
            let mut t = Table::new(&["COLUMN", "TEST", "STATISTIC", "P-VALUE", "PSI", "DRIFT"]);
            for c in &report.columns {
                let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
                t.row(vec![
                    c.column.clone(),
                    c.test.to_string(),
                    format!("{:.4}", c.statistic),
                    opt(c.p_value),
                    opt(c.psi),
                    if c.drifted { "yes" } else { "no" }.to_string(),
                ]);
            }
            print!("{}", t.render());
            let drifted = report.columns.iter().filter(|c| c.drifted).count();
            println!(
                "\n{drifted} of {} columns drifted: dataset drift {}",
                report.columns.len(),
                if report.dataset_drift { "YES" } else { "no" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
