//! The agent as it runs: configuration (`AgentConfig` parsed, then validated into
//! `AgentSettings`), the sample-export loop (`Agent`) and what it reports about itself
//! (`AgentStatus`).

mod agent;
mod config;
mod status;

pub use agent::Agent;
pub use config::{AgentConfig, AgentSettings, ConfigError};
pub use status::AgentStatus;
