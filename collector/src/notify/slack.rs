//! `slack`: an incoming-webhook message with blocks: a header, then one section per
//! alert, each inside Slack's limits (3,000 characters a section, 150 a header, 50
//! blocks a message).

use serde_json::{json, Value};

use super::notification::{severity_str, state_str, truncate, Notification};

/// Slack's limit on a section block's text.
pub const SECTION_MAX_CHARS: usize = 3000;
/// Slack's limit on a header block's text.
pub const HEADER_MAX_CHARS: usize = 150;
/// Slack's limit is 50 blocks; one is the header and one may say how many were left.
const MAX_ALERT_SECTIONS: usize = 48;

pub fn render(n: &Notification, external_url: &str) -> Value {
    let firing = n.alerts.iter().filter(|a| state_str(a) == "firing").count();
    let resolved = n.alerts.len() - firing;
    let group: Vec<String> = n.group_labels.values().cloned().collect();
    let title = format!(
        "[{}] gpuwatch: {} firing, {} resolved ({})",
        n.status().to_uppercase(),
        firing,
        resolved,
        group.join(", ")
    );
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&title, HEADER_MAX_CHARS)},
    })];
    for a in n.alerts.iter().take(MAX_ALERT_SECTIONS) {
        let icon = if state_str(a) == "firing" {
            ":rotating_light:"
        } else {
            ":white_check_mark:"
        };
        let labels: Vec<String> = a
            .labels
            .iter()
            .map(|(k, v)| format!("`{}={}`", untrusted(k), untrusted(v)))
            .collect();
        let text = format!(
            "{icon} *{}* ({}, {}) since {}\n`{}`\n{}",
            a.kind,
            severity_str(a.severity),
            state_str(a),
            a.started_at.to_rfc3339(),
            untrusted(&a.summary),
            labels.join(" "),
        );
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&text, SECTION_MAX_CHARS)},
        }));
    }
    if n.alerts.len() > MAX_ALERT_SECTIONS {
        let more = format!(
            "…and {} more alerts: {external_url}/api/v1/alerts",
            n.alerts.len() - MAX_ALERT_SECTIONS
        );
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&more, SECTION_MAX_CHARS)},
        }));
    }
    json!({"text": untrusted(&title), "blocks": blocks})
}

/// Text from senders (summaries name hosts, labels are theirs) made inert in mrkdwn:
/// `&`, `<` and `>` escaped as Slack asks, so no link, mention or `<!channel>` is
/// made; a backtick becomes `ˋ`, so the code span it is shown in cannot be closed,
/// and inside one `*`, `_` and `~` format nothing; control characters go.
pub(crate) fn untrusted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\u{2cb}'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
