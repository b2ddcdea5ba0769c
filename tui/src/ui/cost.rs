//! The Cost tab: the last hour's spend and the burn now, then four tables: by team,
//! by job, by node, and the top wasters (the jobs that spent most on idle GPUs).

use gpuwatch_model::api::{CostResponse, CostRow};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::app::App;
use crate::format;

/// `$/h` and `$` columns: `$1234.56`.
const MONEY: usize = 9;
/// `100%`.
const SHARE: usize = 4;
/// Longer names are cut: the numbers stay near them.
const KEY_MAX: usize = 32;
/// An idle share at or above this is shown as waste.
const WASTE_WARN: f64 = 0.25;

fn money(usd: f64) -> String {
    if usd.is_finite() {
        format!("${usd:.2}")
    } else {
        format::MISSING.to_string()
    }
}

fn waste_style(share: f64) -> Style {
    if share >= WASTE_WARN {
        Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    }
}

/// `last 1h: $123.45 spent, $40.12 idle (32%) · burn now $52.00/h (idle $16.00/h)`.
fn summary(total: &CostRow, window: &str) -> Line<'static> {
    Line::from(vec![
        Span::styled(
            format!("last {window}: "),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("{} spent, ", money(total.cost_usd))),
        Span::styled(
            format!(
                "{} idle ({})",
                money(total.idle_cost_usd),
                format::percent(Some(total.waste_share)).trim_start()
            ),
            waste_style(total.waste_share),
        ),
        Span::raw(format!(
            " · burn now {}/h (idle {}/h) on {} GPUs",
            money(total.burn_usd_per_hour),
            money(total.idle_burn_usd_per_hour),
            total.gpus
        )),
    ])
}

/// One table: a title row, then a row per group, columns key, $/h now, idle share,
/// spent in the window (or, for wasters, spent idle).
fn render_rows(title: &str, rows: &[&CostRow], wasters: bool, area: Rect, buf: &mut Buffer) {
    if area.height == 0 || area.width < 10 {
        return;
    }
    let width = usize::from(area.width);
    let key_width = width
        .saturating_sub(2 * MONEY + SHARE + 3)
        .clamp(4, KEY_MAX);
    let last = if wasters { "IDLE $" } else { "SPENT" };
    let header = format!(
        "{:<key_width$} {:>MONEY$} {:>SHARE$} {:>MONEY$}",
        format::truncate(title, key_width),
        "$/H",
        "IDLE",
        last
    );
    let bold = Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    buf.set_stringn(area.x, area.y, header, width, bold);
    if rows.is_empty() {
        let text = if wasters {
            "no idle spend"
        } else {
            "no spend yet"
        };
        buf.set_stringn(
            area.x,
            area.y + 1,
            text,
            width,
            Style::new().fg(Color::DarkGray),
        );
        return;
    }
    for (i, row) in rows.iter().take(usize::from(area.height - 1)).enumerate() {
        let y = area.y + 1 + u16::try_from(i).unwrap_or(0);
        let last = if wasters {
            row.idle_cost_usd
        } else {
            row.cost_usd
        };
        let key = if row.key.is_empty() {
            "(none)"
        } else {
            &row.key
        };
        Line::from(vec![
            Span::raw(format!(
                "{:<key_width$} {:>MONEY$} ",
                format::truncate(key, key_width),
                money(row.burn_usd_per_hour)
            )),
            Span::styled(
                format!("{:>SHARE$}", format::percent(Some(row.waste_share))),
                waste_style(row.waste_share),
            ),
            Span::raw(format!(" {:>MONEY$}", money(last))),
        ])
        .render(Rect::new(area.x, y, area.width, 1), buf);
    }
}

fn rows(response: &CostResponse) -> Vec<&CostRow> {
    response.rows.iter().collect()
}

pub(crate) fn render_cost(app: &App, area: Rect, buf: &mut Buffer) {
    if area.is_empty() {
        return;
    }
    let Some(cost) = app.cost.data.as_ref() else {
        super::render_message(&super::fetched_message(app, "cost", &app.cost), area, buf);
        return;
    };
    let [top, _, grid] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(area);
    let window = if cost.by_team.window.is_empty() {
        gpuwatch_model::views::COST.window
    } else {
        cost.by_team.window.as_str()
    };
    summary(&cost.by_team.total, window).render(top, buf);
    let [upper, lower] = Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(grid);
    let halves = |r: Rect| -> [Rect; 2] {
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)])
            .spacing(2)
            .areas(r)
    };
    let [team, job] = halves(upper);
    let [node, waste] = halves(lower);
    render_rows("BY TEAM", &rows(&cost.by_team), false, team, buf);
    render_rows("BY JOB", &rows(&cost.by_job), false, job, buf);
    render_rows("BY NODE", &rows(&cost.by_node), false, node, buf);
    let mut wasters: Vec<&CostRow> = cost
        .by_job
        .rows
        .iter()
        .filter(|r| r.idle_cost_usd > 0.0)
        .collect();
    wasters.sort_by(|a, b| {
        b.idle_cost_usd
            .total_cmp(&a.idle_cost_usd)
            .then(a.key.cmp(&b.key))
    });
    render_rows("WASTERS (JOBS)", &wasters, true, waste, buf);
}
