//! Alert notifications: `[[collector.notifiers]]` of kind `webhook` (Alertmanager's
//! v4 payload), `slack` (incoming webhook with blocks) or `pagerduty` (Events API v2).
//!
//! Transitions from the alert manager go over a bounded channel to `dispatch`, which
//! filters and groups them per notifier (`group`, Alertmanager's group_wait,
//! group_interval and repeat_interval), keeps each notification in the `spool` until
//! it is delivered, and hands it to that notifier's `delivery` task, which renders it
//! for its kind and retries 429 and 5xx.

pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod group;
pub mod notification;
pub mod pagerduty;
pub mod slack;
pub mod spool;
pub mod webhook;

pub use config::{NotifierConfig, NotifierKind, NotifierSettings, NotifySettings, Secret};
pub use dispatch::{Notifier, NotifySender};
pub use notification::Notification;

#[cfg(test)]
mod tests;
