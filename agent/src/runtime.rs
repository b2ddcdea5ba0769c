//! The agent as it runs: configuration (`AgentConfig` parsed, then validated into
//! `AgentSettings`), the sample-export loop (`Agent`) with its delivery task, and what
//! it reports about itself (`AgentStatus`).

mod agent;
mod config;
mod delivery;
mod schedule;
mod status;
mod warn;

pub use agent::Agent;
pub use config::{AgentConfig, AgentSettings, ConfigError, InferenceConfig};
pub use status::AgentStatus;
