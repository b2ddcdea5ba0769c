//! The tab bar: ` 1 GPUs  2 Alerts  3 Nodes  4 Inference  5 Cost `, the one on screen
//! reversed (`Tab::at_column` says which tab a click on it hits).

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::app::Tab;

pub(crate) fn tab_bar(on_screen: Tab) -> Line<'static> {
    let spans: Vec<Span> = Tab::ALL
        .iter()
        .map(|&tab| {
            let style = if tab == on_screen {
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else {
                Style::new()
            };
            Span::styled(tab.caption(), style)
        })
        .collect();
    Line::from(spans)
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
        assert_eq!(Tab::at_column(0), Some(Tab::Gpus));
        assert_eq!(Tab::at_column(7), Some(Tab::Gpus));
        assert_eq!(Tab::at_column(8), Some(Tab::Alerts));
        assert_eq!(Tab::at_column(39), Some(Tab::Inference));
        assert_eq!(Tab::at_column(40), Some(Tab::Cost));
        assert_eq!(Tab::at_column(47), Some(Tab::Cost));
        assert_eq!(Tab::at_column(48), None);
    }
}
