use std::process::ExitCode;

use clap::Parser;
use gpuwatch::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match gpuwatch::commands::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gpuwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}
