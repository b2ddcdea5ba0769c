//! The terminal loop: set up the terminal, then one `select!` over keys and fetched
//! data, feeding [`App::update`] and redrawing only when it says the screen changed
//! (new data, a key, a resize: no timer redraws); restore the terminal on every way out.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::app::{App, Event};
use crate::source::Source;
use crate::ui;

/// The refresh interval when the caller has no opinion.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(1);
/// Faster than this would only load the collector.
const MIN_REFRESH: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("cannot set up the terminal: {0}")]
    Init(#[source] io::Error),
    #[error("cannot draw on the terminal: {0}")]
    Draw(#[source] io::Error),
    #[error("cannot read the keyboard: {0}")]
    Input(#[source] io::Error),
}

/// Runs the dashboard on this terminal until the user quits (q, Esc, Ctrl-C) or the
/// process gets SIGTERM or SIGHUP. Fetches from `source` every `refresh`.
pub async fn run(source: Arc<dyn Source>, refresh: Duration) -> Result<(), TuiError> {
    // `try_init` installs a panic hook that restores the terminal before the panic
    // message is printed.
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(e) => {
            ratatui::restore();
            return Err(TuiError::Init(e));
        }
    };
    let result = match terminal.size() {
        Ok(size) => {
            let draw = |app: &App| {
                terminal
                    .draw(|frame| frame.render_widget(app, frame.area()))
                    .map(drop)
            };
            event_loop(
                source,
                refresh,
                (size.width, size.height),
                EventStream::new(),
                draw,
            )
            .await
        }
        Err(e) => Err(TuiError::Init(e)),
    };
    ratatui::restore();
    result
}

/// The loop itself, apart from the real terminal: `input` yields terminal events and
/// `draw` puts an app on screen, so tests can drive it.
pub(crate) async fn event_loop<I, D>(
    source: Arc<dyn Source>,
    refresh: Duration,
    (width, height): (u16, u16),
    mut input: I,
    mut draw: D,
) -> Result<(), TuiError>
where
    I: Stream<Item = io::Result<TermEvent>> + Unpin,
    D: FnMut(&App) -> io::Result<()>,
{
    let mut app = App::new(source.describe());
    app.update(Event::Resize { width, height });

    let (data_tx, mut data_rx) = mpsc::channel::<Event>(4);
    let mut fetcher = Fetcher {
        source,
        tx: data_tx,
        in_flight: None,
    };
    let mut fetch_timer = tokio::time::interval(refresh.max(MIN_REFRESH));
    fetch_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut termination = Termination::new();

    let mut dirty = true;
    let result = loop {
        if dirty {
            if let Err(e) = draw(&app) {
                break Err(TuiError::Draw(e));
            }
            dirty = false;
        }
        if app.should_quit() {
            break Ok(());
        }
        tokio::select! {
            biased;
            _ = termination.recv() => break Ok(()),
            maybe = input.next() => match maybe {
                Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
                    dirty |= app.update(Event::Key(key.into()));
                }
                Some(Ok(TermEvent::Resize(width, height))) => {
                    dirty |= app.update(Event::Resize { width, height });
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(TuiError::Input(e)),
                // No more input: the terminal is gone.
                None => break Ok(()),
            },
            Some(ev) = data_rx.recv() => {
                dirty |= app.update(ev);
                // The GPUs and the alerts of one fetch arrive together: one frame.
                while let Ok(ev) = data_rx.try_recv() {
                    dirty |= app.update(ev);
                }
            }
            _ = fetch_timer.tick() => fetcher.start(),
        }
    };
    fetcher.stop();
    result
}

/// Runs at most one fetch (GPUs and alerts) at a time, each in its own task, so a slow
/// collector delays data and never keys.
struct Fetcher {
    source: Arc<dyn Source>,
    tx: mpsc::Sender<Event>,
    in_flight: Option<JoinHandle<()>>,
}

impl Fetcher {
    fn start(&mut self) {
        if self.in_flight.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let source = Arc::clone(&self.source);
        let tx = self.tx.clone();
        self.in_flight = Some(tokio::spawn(async move {
            // Both at once; a failed alerts read leaves the GPUs alone.
            let (gpus, alerts, burn) =
                futures::join!(source.fetch(), source.fetch_alerts(), source.fetch_burn());
            let gpus = gpus.map_err(|e| {
                tracing::debug!(error = %e, "fetch failed");
                e.to_string()
            });
            let alerts = alerts.map_err(|e| {
                tracing::debug!(error = %e, "alerts fetch failed");
                e.to_string()
            });
            let at_unix_ms = ui::now_unix_ms();
            // The loop may have ended meanwhile; then nobody needs the data.
            let data = Event::Data {
                result: gpus,
                at_unix_ms,
            };
            let alerts = Event::Alerts {
                result: alerts,
                at_unix_ms,
            };
            // The burn is extra: a collector without a cost ledger simply shows none.
            let burn = Event::Burn(burn.ok().flatten());
            for ev in [data, alerts, burn] {
                if tx.send(ev).await.is_err() {
                    break;
                }
            }
        }));
    }

    fn stop(&mut self) {
        if let Some(handle) = self.in_flight.take() {
            handle.abort();
        }
    }
}

/// SIGTERM and SIGHUP end the dashboard like `q`, so the terminal is restored. (Ctrl-C
/// arrives as a key in raw mode.)
struct Termination {
    #[cfg(unix)]
    signals: Vec<tokio::signal::unix::Signal>,
}

impl Termination {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = [SignalKind::terminate(), SignalKind::hangup()]
                .into_iter()
                .filter_map(|kind| signal(kind).ok())
                .collect();
            Termination { signals }
        }
        #[cfg(not(unix))]
        {
            Termination {}
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            if self.signals.is_empty() {
                return std::future::pending().await;
            }
            let waits = self.signals.iter_mut().map(|s| Box::pin(s.recv()));
            futures::future::select_all(waits).await;
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{FnSource, SourceError};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use gpuwatch_model::api::{AlertsResponse, GpuView, GpusResponse};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn one_gpu() -> GpusResponse {
        GpusResponse {
            gpus: vec![GpuView {
                node: "node-42".into(),
                id: "GPU-42".into(),
                name: "gpu0".into(),
                utilization: Some(0.5),
                ..GpuView::default()
            }],
            newest_point_unix_ms: None,
            points_received: 7,
            nodes: 1,
        }
    }

    /// The GPU of [`one_gpu`] hangs.
    fn one_hang() -> AlertsResponse {
        use gpuwatch_model::{Alert, AlertKind, AlertState, Severity, Timestamp};
        let labels = [("host.name", "node-42"), ("hw.id", "GPU-42")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AlertsResponse {
            alerts: vec![Alert {
                id: "1".into(),
                kind: AlertKind::GpuHang,
                severity: Severity::Critical,
                state: AlertState::Firing,
                summary: "node-42 gpu0 hangs".into(),
                labels,
                value: 0.99,
                started_at: Timestamp::from_unix_millis(0),
                ended_at: None,
            }],
        }
    }

    fn press(code: KeyCode) -> io::Result<TermEvent> {
        Ok(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    #[tokio::test]
    async fn the_loop_shows_fetched_data_and_quits_on_q() {
        let (keys_tx, keys_rx) = mpsc::channel(4);
        let input = Box::pin(futures::stream::unfold(keys_rx, |mut rx| async move {
            rx.recv().await.map(|ev| (ev, rx))
        }));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let _ = keys_tx.send(press(KeyCode::Down)).await;
            let _ = keys_tx.send(press(KeyCode::Char('q'))).await;
        });
        let source = Arc::new(
            FnSource::new("test source", Arc::new(one_gpu)).with_alerts(Arc::new(one_hang)),
        );
        let mut terminal = Terminal::new(TestBackend::new(100, 12)).expect("terminal");
        let mut draws = 0;
        let draw = |app: &App| {
            draws += 1;
            terminal
                .draw(|frame| frame.render_widget(app, frame.area()))
                .map(drop)
                .map_err(|never| match never {})
        };
        let result = tokio::time::timeout(
            Duration::from_secs(5),
            event_loop(source, Duration::from_millis(100), (100, 12), input, draw),
        )
        .await
        .expect("the loop ends on q");
        assert!(result.is_ok(), "{result:?}");
        assert!(draws >= 2, "drew before and after data: {draws}");
        let screen = terminal.backend().to_string();
        assert!(screen.contains("node-42"), "{screen}");
        assert!(screen.contains("test source"), "{screen}");
        assert!(screen.contains("alerts 1 crit"), "{screen}");
        assert!(screen.contains("HANG"), "{screen}");
    }

    /// A collector that never answers.
    struct Silent;

    impl Source for Silent {
        fn describe(&self) -> String {
            "silent".into()
        }

        fn fetch(&self) -> futures::future::BoxFuture<'_, Result<GpusResponse, SourceError>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_redrawn_without_data_or_input() {
        let mut draws = 0;
        let draw = |_: &App| {
            draws += 1;
            Ok(())
        };
        let input = futures::stream::pending::<io::Result<TermEvent>>();
        let looping = event_loop(
            Arc::new(Silent),
            Duration::from_millis(100),
            (80, 24),
            input,
            draw,
        );
        // A minute of (paused, so instant) time: 600 fetch timer ticks, no answer.
        let result = tokio::time::timeout(Duration::from_secs(60), looping).await;
        assert!(
            result.is_err(),
            "the loop runs until input or a signal ends it"
        );
        assert_eq!(draws, 1, "the first frame only");
    }

    #[tokio::test]
    async fn the_loop_ends_when_input_ends() {
        let source = Arc::new(FnSource::new("test", Arc::new(GpusResponse::default)));
        let input = futures::stream::iter(Vec::<io::Result<TermEvent>>::new());
        let result = tokio::time::timeout(
            Duration::from_secs(5),
            event_loop(source, DEFAULT_REFRESH, (80, 24), input, |_| Ok(())),
        )
        .await
        .expect("ends");
        assert!(result.is_ok());
    }
}
