//! The `gpuwatch` binary's library: the command line, the configuration file, and the
//! wiring of agent, collector and dashboard into `up`, `demo` and the other commands.
//! The crates it wires never import each other; only this one knows them all.

pub mod bench;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod drift_cmd;
pub mod fleet_bench;
pub mod headless;
pub mod history;
pub mod logging;
#[cfg(test)]
mod module_graph;
pub mod replay;
pub mod report;
pub mod shutdown;
