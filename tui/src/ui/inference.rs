//! The Inference tab: one row per served model, request rate, latency p50/p95/p99,
//! time to first token, and its drift scores against the reference window, the worst
//! first (PSI of 0.1 and up yellow, 0.2 and up red: the usual rule of thumb).

use gpuwatch_model::api::{DriftScore, ModelSummary};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::columns::{HIGHLIGHT_SYMBOL, HIGHLIGHT_WIDTH};
use crate::app::App;
use crate::format;

const MODEL_MIN: usize = 8;
const MODEL_MAX: usize = 28;
/// `1234ms`, `12.3s`, `9999/s`.
const NUMBER: usize = 7;
const PSI_WARN: f64 = 0.1;
const PSI_ALARM: f64 = 0.2;

/// Seconds as `850µs`, `42ms`, `1.25s`, `75s`.
pub(crate) fn seconds(s: Option<f64>) -> String {
    match s.filter(|v| v.is_finite() && *v >= 0.0) {
        None => format::MISSING.to_string(),
        Some(v) if v < 0.001 => format!("{:.0}µs", v * 1e6),
        Some(v) if v < 1.0 => format!("{:.0}ms", v * 1e3),
        Some(v) if v < 10.0 => format!("{v:.2}s"),
        Some(v) => format!("{v:.0}s"),
    }
}

fn rate(r: Option<f64>) -> String {
    match r.filter(|v| v.is_finite()) {
        None => format::MISSING.to_string(),
        Some(v) if v < 10.0 => format!("{v:.1}/s"),
        Some(v) => format!("{v:.0}/s"),
    }
}

/// How alarming a score is, by PSI thresholds (other methods are shown plain).
fn drift_style(score: &DriftScore) -> Style {
    if score.method != "psi" {
        return Style::new();
    }
    if score.value >= PSI_ALARM {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else if score.value >= PSI_WARN {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new()
    }
}

/// `psi 0.31 prediction · psi 0.04 age`: PSI scores, worst first; without PSI, any;
/// then what the detectors could not judge.
fn drift_spans(model: &ModelSummary) -> Vec<Span<'static>> {
    let mut scores: Vec<&DriftScore> = model.drift.iter().filter(|s| s.method == "psi").collect();
    if scores.is_empty() {
        scores = model.drift.iter().collect();
    }
    scores.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.feature.cmp(&b.feature)));
    let mut spans = Vec::new();
    for (i, s) in scores.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" · "));
        }
        spans.push(Span::styled(
            format!("{} {:.2} {}", s.method, s.value, s.feature),
            drift_style(s),
        ));
    }
    // What could not be judged reads as such, never as a calm score.
    for n in &model.not_judged {
        if !spans.is_empty() {
            spans.push(Span::raw(" · "));
        }
        spans.push(Span::styled(
            format!("{}: not judged, {}", n.what, n.missing),
            Style::new().fg(Color::DarkGray),
        ));
    }
    if spans.is_empty() {
        spans.push(Span::raw(format::MISSING));
    }
    spans
}

/// Titles and cells of the fixed columns, the TTFT ones only when `ttft`.
fn numbers(model: &ModelSummary, ttft: bool) -> Vec<String> {
    let mut cells = vec![
        rate(model.requests_per_second),
        seconds(model.latency.p50),
        seconds(model.latency.p95),
        seconds(model.latency.p99),
    ];
    if ttft {
        cells.push(seconds(model.time_to_first_token.p50));
        cells.push(seconds(model.time_to_first_token.p95));
    }
    cells
}

pub(crate) fn render_inference(app: &App, area: Rect, buf: &mut Buffer) {
    if area.is_empty() {
        return;
    }
    let Some(data) = app.models.data.as_ref() else {
        let text = super::fetched_message(app, "models", &app.models);
        super::render_message(&text, area, buf);
        return;
    };
    if data.models.is_empty() {
        super::render_message(
            "no model has sent latency or drift data yet (gen_ai.server.*, gpuwatch.inference.*, gpuwatch.model.*)",
            area,
            buf,
        );
        return;
    }
    let width = usize::from(area.width.saturating_sub(HIGHLIGHT_WIDTH));
    let model_width = data
        .models
        .iter()
        .map(|m| m.model.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(MODEL_MIN, MODEL_MAX);
    // The TTFT columns go first when the drift scores would get too little room.
    let ttft = width >= model_width + 1 + 6 * (NUMBER + 1) + 20;
    let mut titles = vec!["REQ", "P50", "P95", "P99"];
    if ttft {
        titles.extend(["TTFT50", "TTFT95"]);
    }
    let header = {
        let mut text = format!("{:<model_width$}", "MODEL");
        for t in &titles {
            text.push_str(&format!(" {t:>NUMBER$}"));
        }
        text.push_str(&format!(" DRIFT vs reference (window {})", data.window));
        text
    };
    let title = Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    buf.set_style(Rect::new(area.x, area.y, area.width, 1), title);
    buf.set_stringn(
        area.x + HIGHLIGHT_WIDTH,
        area.y,
        header,
        width,
        Style::new(),
    );

    let scroll = app.models_scroll;
    let body = usize::from(area.height - 1);
    for (i, model) in data
        .models
        .iter()
        .enumerate()
        .skip(scroll.offset)
        .take(body)
    {
        let y = area.y + 1 + u16::try_from(i - scroll.offset).unwrap_or(0);
        let mut style = Style::new();
        if i == scroll.selected {
            style = style.add_modifier(Modifier::REVERSED);
            buf.set_stringn(area.x, y, HIGHLIGHT_SYMBOL, usize::from(area.width), style);
        }
        buf.set_style(Rect::new(area.x, y, area.width, 1), style);
        let mut spans = vec![Span::raw(format!(
            "{:<model_width$}",
            format::truncate(&model.model, model_width)
        ))];
        for cell in numbers(model, ttft) {
            spans.push(Span::raw(format!(" {cell:>NUMBER$}")));
        }
        spans.push(Span::raw(" "));
        spans.extend(drift_spans(model));
        let cells = Rect::new(
            area.x + HIGHLIGHT_WIDTH,
            y,
            area.width.saturating_sub(HIGHLIGHT_WIDTH),
            1,
        );
        Line::from(spans).render(cells, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_in_their_unit() {
        assert_eq!(seconds(Some(0.000_85)), "850µs");
        assert_eq!(seconds(Some(0.042)), "42ms");
        assert_eq!(seconds(Some(1.25)), "1.25s");
        assert_eq!(seconds(Some(75.0)), "75s");
        assert_eq!(seconds(None), "-");
        assert_eq!(rate(Some(3.04)), "3.0/s");
        assert_eq!(rate(Some(420.0)), "420/s");
    }
}
