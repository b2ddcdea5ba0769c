//! Charts in text: a one-line sparkline for a table cell, and a block chart several
//! rows tall for the detail view. Points are resampled to the columns there are (the
//! mean of each column's points), newest on the right; a column without data is blank.

use gpuwatch_model::api::Chart;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const EIGHTHS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The chart's values in `width` columns, newest on the right: with fewer points than
/// columns, one point a column and blanks on the left; with more, the mean of each
/// column's share.
pub(crate) fn resample(chart: &Chart, width: usize) -> Vec<Option<f64>> {
    let values: Vec<f64> = chart
        .points
        .iter()
        .map(|p| p.value)
        .filter(|v| v.is_finite())
        .collect();
    let n = values.len();
    if width == 0 {
        return Vec::new();
    }
    if n <= width {
        let mut out = vec![None; width - n];
        out.extend(values.into_iter().map(Some));
        return out;
    }
    (0..width)
        .map(|i| {
            let (from, to) = (i * n / width, ((i + 1) * n / width).max(i * n / width + 1));
            let slice = &values[from..to.min(n)];
            (!slice.is_empty()).then(|| slice.iter().sum::<f64>() / slice.len() as f64)
        })
        .collect()
}

/// Room above the largest value when a chart scales to its own: a flat line reads as
/// a line, not as a wall.
const HEADROOM: f64 = 1.25;

/// The scale top: `max` when given (a share's 1.0, a limit), else a little above the
/// chart's largest value.
fn top(chart: &Chart, max: Option<f64>) -> f64 {
    max.unwrap_or_else(|| chart.max() * HEADROOM)
        .max(f64::MIN_POSITIVE)
}

/// `▁▂▅█▇` in `width` columns; values scaled to `max` (or the chart's own largest).
pub(crate) fn sparkline(chart: &Chart, width: usize, max: Option<f64>) -> String {
    let top = top(chart, max);
    resample(chart, width)
        .into_iter()
        .map(|v| match v {
            None => ' ',
            Some(v) => {
                let level = ((v / top).clamp(0.0, 1.0) * 7.0).round() as usize;
                LEVELS[level.min(7)]
            }
        })
        .collect()
}

/// Draws the chart as columns of blocks filling `area` from the bottom, scaled to
/// `max` (or the chart's own largest value), in `style`.
pub(crate) fn render_blocks(
    chart: &Chart,
    max: Option<f64>,
    style: Style,
    area: Rect,
    buf: &mut Buffer,
) {
    if area.is_empty() {
        return;
    }
    let top = top(chart, max);
    let rows = usize::from(area.height);
    for (x, v) in resample(chart, usize::from(area.width))
        .into_iter()
        .enumerate()
    {
        let Some(v) = v else { continue };
        // Eighths of a row; anything above zero shows at least one.
        let mut eighths = ((v / top).clamp(0.0, 1.0) * (rows * 8) as f64).round() as usize;
        if v > 0.0 {
            eighths = eighths.max(1);
        }
        for row in 0..rows {
            let here = eighths.saturating_sub(row * 8).min(8);
            if here == 0 {
                break;
            }
            let cx = area.x + u16::try_from(x).unwrap_or(u16::MAX);
            let cy = area.bottom() - 1 - u16::try_from(row).unwrap_or(0);
            if let Some(cell) = buf.cell_mut((cx, cy)) {
                cell.set_char(EIGHTHS[here]).set_style(style);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpuwatch_model::api::ChartPoint;

    fn chart(values: &[f64]) -> Chart {
        Chart {
            name: "x".into(),
            unit: "1".into(),
            points: values
                .iter()
                .enumerate()
                .map(|(i, &value)| ChartPoint {
                    unix_ms: i64::try_from(i).unwrap_or(0),
                    value,
                })
                .collect(),
        }
    }

    #[test]
    fn sparklines_right_align_and_average() {
        assert_eq!(sparkline(&chart(&[0.0, 0.5, 1.0]), 5, Some(1.0)), "  ▁▅█");
        assert_eq!(sparkline(&chart(&[0.0, 0.0, 1.0, 1.0]), 2, None), "▁▇");
        assert_eq!(sparkline(&chart(&[]), 3, None), "   ");
        assert_eq!(sparkline(&chart(&[1.0]), 0, None), "");
    }

    #[test]
    fn blocks_fill_from_the_bottom() {
        let area = Rect::new(0, 0, 3, 2);
        let mut buf = Buffer::empty(area);
        render_blocks(
            &chart(&[0.25, 0.5, 1.0]),
            Some(1.0),
            Style::new(),
            area,
            &mut buf,
        );
        assert_eq!(buf, Buffer::with_lines(["  █", "▄██"]));
    }
}
