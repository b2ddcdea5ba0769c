//! What can change the dashboard: keys, mouse input, fetched data, resizes.

use gpuwatch_model::api::{
    AlertsResponse, CostRow, GpuDetailResponse, GpusResponse, InferenceResponse, NodesResponse,
};

use crate::source::{CostBreakdown, GpuRef};

/// A key press, reduced to what the dashboard reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Backspace,
    Esc,
    Tab,
    BackTab,
    /// A character typed without Ctrl.
    Char(char),
    /// A character typed with Ctrl held.
    Ctrl(char),
    Other,
}

impl From<crossterm::event::KeyEvent> for Key {
    fn from(ev: crossterm::event::KeyEvent) -> Self {
        use crossterm::event::{KeyCode, KeyModifiers};
        match ev.code {
            KeyCode::Up => Key::Up,
            KeyCode::Down => Key::Down,
            KeyCode::Left => Key::Left,
            KeyCode::Right => Key::Right,
            KeyCode::PageUp => Key::PageUp,
            KeyCode::PageDown => Key::PageDown,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            KeyCode::Enter => Key::Enter,
            KeyCode::Backspace => Key::Backspace,
            KeyCode::Esc => Key::Esc,
            KeyCode::Tab => Key::Tab,
            KeyCode::BackTab => Key::BackTab,
            KeyCode::Char(c) if ev.modifiers.contains(KeyModifiers::CONTROL) => Key::Ctrl(c),
            KeyCode::Char(c) => Key::Char(c),
            _ => Key::Other,
        }
    }
}

/// A mouse action, reduced to what the dashboard reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mouse {
    pub kind: MouseKind,
    pub column: u16,
    pub row: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseKind {
    /// The left button went down.
    Click,
    ScrollUp,
    ScrollDown,
}

impl Mouse {
    /// The mouse events the dashboard reacts to; `None` for the rest (moves, drags,
    /// other buttons).
    pub fn from_crossterm(ev: crossterm::event::MouseEvent) -> Option<Self> {
        use crossterm::event::{MouseButton, MouseEventKind};
        let kind = match ev.kind {
            MouseEventKind::Down(MouseButton::Left) => MouseKind::Click,
            MouseEventKind::ScrollUp => MouseKind::ScrollUp,
            MouseEventKind::ScrollDown => MouseKind::ScrollDown,
            _ => return None,
        };
        Some(Mouse {
            kind,
            column: ev.column,
            row: ev.row,
        })
    }
}

/// Everything that can change the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Key(Key),
    /// The outcome of one fetch, and when (wall clock, Unix ms) it completed.
    Data {
        result: Result<GpusResponse, String>,
        at_unix_ms: i64,
    },
    /// The outcome of one alerts fetch (made alongside the GPUs'), and when it
    /// completed. A failure leaves the GPUs as they are.
    Alerts {
        result: Result<AlertsResponse, String>,
        at_unix_ms: i64,
    },
    /// The cluster's burn rate from the newest fetch, when the source prices GPUs.
    Burn(Option<CostRow>),
    /// The terminal's new size.
    Resize {
        width: u16,
        height: u16,
    },
    /// A click or a turn of the wheel, when the mouse is on.
    Mouse(Mouse),
    /// The nodes' hosts, when the Nodes tab is on screen.
    Nodes {
        result: Result<NodesResponse, String>,
        at_unix_ms: i64,
    },
    /// The served models, when the Inference tab is on screen.
    Inference {
        result: Result<InferenceResponse, String>,
        at_unix_ms: i64,
    },
    /// Spend by team, job and node, when the Cost tab is on screen.
    Cost {
        result: Result<CostBreakdown, String>,
        at_unix_ms: i64,
    },
    /// One GPU's charts and processes, while its detail view is open.
    Detail {
        gpu: GpuRef,
        result: Result<GpuDetailResponse, String>,
        at_unix_ms: i64,
    },
    /// Collectors that failed while others answered (several collectors only).
    Partial(Vec<String>),
    /// The fetch failed `attempt` times in a row; the next try is `retry_in_ms` away.
    Reconnecting {
        attempt: u32,
        retry_in_ms: u64,
    },
}
