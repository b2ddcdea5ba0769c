//! The tab bar: ` 1 GPUs  2 Alerts  3 Nodes  4 Inference  5 Cost `, the one on screen
//! reversed; and which tab a click on it hits.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::app::Tab;

/// ` 1 GPUs `.
fn label(tab: Tab) -> String {
    format!(" {} {} ", tab.digit(), tab.label())
}

pub(crate) fn tab_bar(on_screen: Tab) -> Line<'static> {
    let spans: Vec<Span> = Tab::ALL
        .iter()
        .map(|&tab| {
            let style = if tab == on_screen {
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else {
                Style::new()
            };
            Span::styled(label(tab), style)
        })
        .collect();
    Line::from(spans)
}

/// The tab whose label covers `column` of the tab bar.
pub(crate) fn tab_at(column: u16) -> Option<Tab> {
    let mut start = 0usize;
    for tab in Tab::ALL {
        let end = start + label(tab).chars().count();
        if (start..end).contains(&usize::from(column)) {
            return Some(tab);
        }
        start = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clicks_land_on_the_label_under_them() {
        let bar: String = tab_bar(Tab::Gpus)
            .spans
            .iter()
            .map(|s| s.content.as_ref())
            .collect();
        assert_eq!(bar, " 1 GPUs  2 Alerts  3 Nodes  4 Inference  5 Cost ");
        assert_eq!(tab_at(0), Some(Tab::Gpus));
        assert_eq!(tab_at(7), Some(Tab::Gpus));
        assert_eq!(tab_at(8), Some(Tab::Alerts));
        assert_eq!(tab_at(39), Some(Tab::Inference));
        assert_eq!(tab_at(40), Some(Tab::Cost));
        assert_eq!(tab_at(47), Some(Tab::Cost));
        assert_eq!(tab_at(48), None);
    }
}
