//! Sending one notifier's notifications, in order: 2xx is done; 429, 5xx and network
//! errors are tried again after `Retry-After` or an exponential backoff; any other
//! 4xx is dropped with the receiver's reason logged. Every outcome is counted.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::{mpsc, watch};

use super::config::{NotifierKind, NotifierSettings, Secret};
use super::spool::{Pending, Spool};
use super::{pagerduty, slack, webhook};
use crate::telemetry::{NotificationCounters, NotificationOutcome};

/// The first wait before a retry; doubled each time up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// How much of a refusal's body is logged.
const REASON_MAX_CHARS: usize = 300;

/// What one POST came to.
#[derive(Debug, PartialEq)]
pub enum Attempt {
    Sent,
    /// Try again, after the receiver's `Retry-After` if it gave one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    Refused {
        reason: String,
    },
}

/// Replaces every secret in `text` with `[secret]`: a receiver may echo what it got.
fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.expose().is_empty() {
            out = out.replace(s.expose(), "[secret]");
        }
    }
    out
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
}

pub async fn post(
    client: &reqwest::Client,
    url: &Secret,
    body: &serde_json::Value,
    secrets: &[&Secret],
) -> Attempt {
    classify(client.post(url.expose()).json(body).send().await, secrets).await
}

/// What a POST's outcome comes to: 2xx sent; 429, 5xx and errors reaching the
/// receiver to retry; any other status refused, with the receiver's reason.
pub(crate) async fn classify(
    result: Result<reqwest::Response, reqwest::Error>,
    secrets: &[&Secret],
) -> Attempt {
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            return Attempt::Retry {
                after: None,
                reason: redact(&e.without_url().to_string(), secrets),
            }
        }
    };
    let status = response.status();
    if status.is_success() {
        return Attempt::Sent;
    }
    let after = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    let text: String = text.chars().take(REASON_MAX_CHARS).collect();
    let reason = redact(&format!("HTTP {status}: {}", text.trim()), secrets);
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Attempt::Retry { after, reason }
    } else {
        Attempt::Refused { reason }
    }
}

/// One notifier's sending task.
#[derive(Debug)]
pub struct Sender {
    pub settings: NotifierSettings,
    pub client: reqwest::Client,
    pub counters: Arc<NotificationCounters>,
    pub spool: Arc<Spool>,
    pub external_url: String,
}

impl Sender {
    fn body(&self, p: &Pending) -> serde_json::Value {
        let n = &p.notification;
        match self.settings.kind {
            NotifierKind::Webhook => webhook::render(n, &self.external_url),
            NotifierKind::Slack => slack::render(n, &self.external_url),
            NotifierKind::Pagerduty => match (n.alerts.first(), &self.settings.routing_key) {
                (Some(a), Some(key)) => pagerduty::render(a, key),
                _ => serde_json::Value::Null,
            },
        }
    }

    /// Sends until the channel closes; at `stop`, a notification that fails is left
    /// in the spool for the next start.
    pub async fn run(self, mut rx: mpsc::Receiver<Pending>, mut stop: watch::Receiver<bool>) {
        while let Some(p) = rx.recv().await {
            if !self.deliver(&p, &mut stop).await {
                let left = 1 + rx.len();
                let kept = if self.spool.is_on_disk() {
                    "kept in the spool for the next start"
                } else {
                    "lost (no notify_spool_dir)"
                };
                tracing::warn!(
                    notifier = %self.settings.name,
                    "stopping with {left} notifications undelivered: {kept}"
                );
                return;
            }
        }
    }

    /// False when stopped before the notification could be delivered.
    async fn deliver(&self, p: &Pending, stop: &mut watch::Receiver<bool>) -> bool {
        let body = self.body(p);
        let mut secrets = vec![&self.settings.url];
        secrets.extend(self.settings.routing_key.as_ref());
        let name = &self.settings.name;
        let what = format!("{} ({})", p.notification.group_key, p.notification.status());
        let mut backoff = FIRST_BACKOFF;
        loop {
            match post(&self.client, &self.settings.url, &body, &secrets).await {
                Attempt::Sent => {
                    self.counters.record(name, NotificationOutcome::Sent, &what);
                    self.spool.done(p);
                    return true;
                }
                Attempt::Refused { reason } => {
                    let detail = format!("{what}: {reason}");
                    self.counters
                        .record(name, NotificationOutcome::Rejected, &detail);
                    self.spool.done(p);
                    return true;
                }
                Attempt::Retry { after, reason } => {
                    let wait = after.unwrap_or(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    let detail = format!("{what}: {reason}; next try in {wait:?}");
                    self.counters
                        .record(name, NotificationOutcome::Retried, &detail);
                    if *stop.borrow() {
                        return false;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => return false,
                    }
                }
            }
        }
    }
}
