//! The terminal loop: set up the terminal, then one `select!` over keys, the mouse and
//! fetched data, feeding [`App::update`] and redrawing only when it says the screen
//! changed (new data, a key, a resize: no timer redraws); restore the terminal on every
//! way out. A failing source is retried with a growing wait (`backoff`).

mod backoff;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::app::{App, Event, Mouse, Wants};
use crate::source::Source;
use crate::ui;
use backoff::Backoff;

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

/// How the dashboard runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Fetch this often.
    pub refresh: Duration,
    /// Capture the mouse: click a tab or a row, scroll with the wheel. Off, the
    /// terminal keeps its own selection and scrollback.
    pub mouse: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            refresh: DEFAULT_REFRESH,
            mouse: false,
        }
    }
}

/// Runs the dashboard on this terminal until the user quits (q, Esc, Ctrl-C) or the
/// process gets SIGTERM or SIGHUP. Fetches from `source` every `refresh`.
pub async fn run(source: Arc<dyn Source>, refresh: Duration) -> Result<(), TuiError> {
    run_with(
        source,
        Options {
            refresh,
            mouse: false,
        },
    )
    .await
}

/// [`run`] with every option.
pub async fn run_with(source: Arc<dyn Source>, options: Options) -> Result<(), TuiError> {
    let refresh = options.refresh;
    // `try_init` installs a panic hook that restores the terminal before the panic
    // message is printed.
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(e) => {
            ratatui::restore();
            return Err(TuiError::Init(e));
        }
    };
    if options.mouse {
        if let Err(e) = crossterm::execute!(io::stdout(), crossterm::event::EnableMouseCapture) {
            ratatui::restore();
            return Err(TuiError::Init(e));
        }
    }
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
    if options.mouse {
        // Best effort: the terminal is being restored anyway.
        let _ = crossterm::execute!(io::stdout(), crossterm::event::DisableMouseCapture);
    }
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
        wants: None,
    };
    let mut backoff = Backoff::new(refresh.max(MIN_REFRESH));
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
                    fetcher.start_if_new(app.wants());
                }
                Some(Ok(TermEvent::Mouse(mouse))) => {
                    if let Some(mouse) = Mouse::from_crossterm(mouse) {
                        dirty |= app.update(Event::Mouse(mouse));
                        fetcher.start_if_new(app.wants());
                    }
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
                dirty |= on_fetched(&mut app, &mut backoff, ev);
                // The GPUs and the alerts of one fetch arrive together: one frame.
                while let Ok(ev) = data_rx.try_recv() {
                    dirty |= on_fetched(&mut app, &mut backoff, ev);
                }
            }
            _ = fetch_timer.tick() => {
                if backoff.ready(tokio::time::Instant::now()) {
                    fetcher.start(app.wants());
                }
            }
        }
    };
    fetcher.stop();
    result
}

/// Feeds one fetched event to the app, and the GPUs' outcome to the backoff: a failure
/// delays the next try and says so.
fn on_fetched(app: &mut App, backoff: &mut Backoff, ev: Event) -> bool {
    let failed = match &ev {
        Event::Data { result, .. } => Some(result.is_err()),
        _ => None,
    };
    let mut dirty = app.update(ev);
    match failed {
        Some(true) => {
            let (attempt, wait) = backoff.failed(tokio::time::Instant::now());
            let retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            dirty |= app.update(Event::Reconnecting {
                attempt,
                retry_in_ms,
            });
        }
        Some(false) => backoff.succeeded(),
        None => {}
    }
    dirty
}

/// Runs at most one fetch (GPUs, alerts, burn, and what the view on screen wants) at
/// a time, each in its own task, so a slow collector delays data and never keys.
struct Fetcher {
    source: Arc<dyn Source>,
    tx: mpsc::Sender<Event>,
    in_flight: Option<JoinHandle<()>>,
    /// What the latest fetch was for.
    wants: Option<Wants>,
}

impl Fetcher {
    /// Fetches at once when the view now wants something the last fetch did not
    /// bring (another tab, a GPU's detail), rather than at the next tick.
    fn start_if_new(&mut self, wants: Wants) {
        let new = |w: &Wants| {
            (w.nodes && !self.wants.as_ref().is_some_and(|x| x.nodes))
                || (w.inference && !self.wants.as_ref().is_some_and(|x| x.inference))
                || (w.cost && !self.wants.as_ref().is_some_and(|x| x.cost))
                || (w.detail.is_some() && self.wants.as_ref().map(|x| &x.detail) != Some(&w.detail))
        };
        if new(&wants) {
            self.start(wants);
        }
    }

    fn start(&mut self, wants: Wants) {
        if self.in_flight.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        self.wants = Some(wants.clone());
        let source = Arc::clone(&self.source);
        let tx = self.tx.clone();
        self.in_flight = Some(tokio::spawn(async move {
            // All at once; a failed alerts read leaves the GPUs alone.
            let (gpus, alerts, burn, extra) = futures::join!(
                source.fetch(),
                source.fetch_alerts(),
                source.fetch_burn(),
                fetch_wanted(source.as_ref(), wants)
            );
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
            let partial = Event::Partial(source.partial_failures());
            let extra = extra.into_iter().map(|make| make(at_unix_ms));
            for ev in [data, alerts, burn, partial].into_iter().chain(extra) {
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

/// An event waiting for the time its fetch completed.
type Pending = Box<dyn FnOnce(i64) -> Event + Send>;

/// The fetches of `wants`, made together; their events.
async fn fetch_wanted(source: &dyn Source, wants: Wants) -> Vec<Pending> {
    let text = |e: crate::source::SourceError| e.to_string();
    let nodes = async {
        match wants.nodes {
            true => Some(source.fetch_nodes().await.map_err(text)),
            false => None,
        }
    };
    let inference = async {
        match wants.inference {
            true => Some(source.fetch_inference().await.map_err(text)),
            false => None,
        }
    };
    let cost = async {
        match wants.cost {
            true => Some(source.fetch_cost().await.map_err(text)),
            false => None,
        }
    };
    let detail = async {
        match wants.detail {
            Some(gpu) => Some((gpu.clone(), source.fetch_detail(gpu).await.map_err(text))),
            None => None,
        }
    };
    let (nodes, inference, cost, detail) = futures::join!(nodes, inference, cost, detail);
    let mut out: Vec<Pending> = Vec::new();
    if let Some(result) = nodes {
        out.push(Box::new(move |at_unix_ms| Event::Nodes {
            result,
            at_unix_ms,
        }));
    }
    if let Some(result) = inference {
        out.push(Box::new(move |at_unix_ms| Event::Inference {
            result,
            at_unix_ms,
        }));
    }
    if let Some(result) = cost {
        out.push(Box::new(move |at_unix_ms| Event::Cost {
            result,
            at_unix_ms,
        }));
    }
    if let Some((gpu, result)) = detail {
        out.push(Box::new(move |at_unix_ms| Event::Detail {
            gpu,
            result,
            at_unix_ms,
        }));
    }
    out
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
mod tests;
