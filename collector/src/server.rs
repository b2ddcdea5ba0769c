//! Starting and stopping the collector's listeners.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::alerts::Transition;
use crate::config::CollectorSettings;
use crate::notify::{Notifier, NotifySender};
use crate::remote_write::{RemoteWriteStats, RemoteWriter};
use crate::rollup::{HistoryWriter, Rollup};
use crate::state::CollectorState;
use crate::tls::{Alpn, Incoming, Tls};
use crate::{api, receiver};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot listen on {addr} for {what} (collector.{key}): {source}; \
         is another gpuwatch or OpenTelemetry Collector running? set collector.{key} \
         in the config or pass a different port"
    )]
    Bind {
        what: &'static str,
        key: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    DataDir(String),
    #[error("collector.auth: {0}")]
    Auth(String),
    #[error("collector.tls: {0}")]
    Tls(String),
}

/// A running collector: its bound addresses and shared state.
#[derive(Debug)]
pub struct RunningCollector {
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    pub api: SocketAddr,
    state: Arc<CollectorState>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    notifier: Notifier,
    history: Option<HistoryWriter>,
    remote_write: Option<RemoteWriter>,
    tls: Option<Arc<Tls>>,
}

async fn bind(
    addr: SocketAddr,
    what: &'static str,
    key: &'static str,
) -> Result<(TcpListener, SocketAddr), StartError> {
    let err = |source| StartError::Bind {
        what,
        key,
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

/// How often, in wall time, the evaluator catches up with event time.
const EVALUATE_EVERY: Duration = Duration::from_millis(250);

fn log_transition(change: &Transition) {
    match change {
        Transition::Firing(a) => tracing::warn!(
            kind = %a.kind,
            severity = ?a.severity,
            id = %a.id,
            "alert firing: {}",
            a.summary
        ),
        Transition::Resolved(a) => {
            tracing::info!(kind = %a.kind, id = %a.id, "alert resolved: {}", a.summary);
        }
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Serves `router` on `listener`, inside TLS when `tls` is set, until `rx` says stop.
async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<Tls>>,
    rx: watch::Receiver<bool>,
    what: &'static str,
) {
    let served = match tls {
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(stopped(rx))
                .await
        }
        Some(tls) => match Incoming::start(listener, tls, Alpn::Http11, rx.clone()) {
            Ok(incoming) => {
                axum::serve(incoming, router)
                    .with_graceful_shutdown(stopped(rx))
                    .await
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = served {
        tracing::error!("{what} server stopped: {e}");
    }
}

/// Binds every listener (so a port in use fails here, not later) and serves.
pub async fn start(settings: &CollectorSettings) -> Result<RunningCollector, StartError> {
    start_with_history(settings, None).await
}

/// `start`, with minute rollups handed to `sink` (history) as evaluation finishes them.
pub async fn start_with_history(
    settings: &CollectorSettings,
    sink: Option<Box<dyn gpuwatch_model::history::RollupSink>>,
) -> Result<RunningCollector, StartError> {
    let (grpc_listener, otlp_grpc) =
        bind(settings.otlp_grpc_listen, "OTLP/gRPC", "otlp_grpc_listen").await?;
    let (http_listener, otlp_http) =
        bind(settings.otlp_http_listen, "OTLP/HTTP", "otlp_http_listen").await?;
    let (api_listener, api) = bind(settings.api_listen, "the API", "api_listen").await?;
    // The log is replayed before anything is served; senders wait in the listeners'
    // backlogs (or time out and retry) meanwhile.
    let mut state = match &settings.data_dir {
        None => CollectorState::new(
            settings.store.clone(),
            settings.alerts.clone(),
            settings.cost.clone(),
        ),
        Some(dir) => {
            let (store, alerts, cost, dir) = (
                settings.store.clone(),
                settings.alerts.clone(),
                settings.cost.clone(),
                dir.clone(),
            );
            tokio::task::spawn_blocking(move || CollectorState::open(store, alerts, cost, &dir))
                .await
                .map_err(|e| StartError::DataDir(e.to_string()))?
                .map_err(|e| StartError::DataDir(e.to_string()))?
        }
    };
    state.set_limits(settings.limits.clone());
    state.set_auth(crate::auth::Auth::load(&settings.auth).map_err(StartError::Auth)?);
    let tls = match &settings.tls {
        None => None,
        Some(s) => Some(Arc::new(Tls::load(s).map_err(StartError::Tls)?)),
    };
    let state = Arc::new(state);
    let (stop, stop_rx) = watch::channel(false);
    let stop_rx_for_eval = stop_rx.clone();
    let remote_write = settings
        .remote_write
        .clone()
        .map(|rw| RemoteWriter::start(rw, state.clone(), stop_rx.clone()));
    let mut tasks = JoinSet::new();

    let grpc = receiver::grpc::service(state.clone(), settings.max_request_bytes);
    let request_timeout = settings.limits.request_timeout;
    if settings.limits.soft_limit.is_some() {
        let (limited, mut rx) = (state.clone(), stop_rx.clone());
        let every = settings.limits.check_interval;
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = rx.wait_for(|stop| *stop) => return,
                    _ = tick.tick() => {}
                }
                if let Some(rss) = crate::limiter::resident_bytes() {
                    limited.limiter().observe(rss);
                }
            }
        });
    }
    let rx = stop_rx.clone();
    let grpc_tls = tls.clone();
    tasks.spawn(async move {
        let server = tonic::transport::Server::builder()
            .timeout(request_timeout)
            .add_service(grpc);
        let served = match grpc_tls {
            None => {
                let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
                server
                    .serve_with_incoming_shutdown(incoming, stopped(rx))
                    .await
            }
            Some(tls) => match Incoming::start(grpc_listener, tls, Alpn::H2, rx.clone()) {
                Ok(incoming) => {
                    server
                        .serve_with_incoming_shutdown(incoming.into_stream(), stopped(rx))
                        .await
                }
                Err(e) => {
                    tracing::error!("OTLP/gRPC server stopped: {e}");
                    return;
                }
            },
        };
        if let Err(e) = served {
            tracing::error!("OTLP/gRPC server stopped: {e}");
        }
    });

    let http = receiver::http::router(state.clone(), settings.max_request_bytes);
    tasks.spawn(serve_http(
        http_listener,
        http,
        tls.clone(),
        stop_rx.clone(),
        "OTLP/HTTP",
    ));
    let api_router = api::router(state.clone());
    tasks.spawn(serve_http(
        api_listener,
        api_router,
        tls.clone(),
        stop_rx,
        "API",
    ));

    // What the last run's notifiers had not yet put in a notification, and the
    // alerts still firing they had.
    let outbox = state.take_outbox();
    let told_at = state.take_told();
    let told: Vec<gpuwatch_model::Alert> = state
        .alerts(crate::alerts::StateFilter::Firing)
        .into_iter()
        .filter(|a| {
            !outbox
                .iter()
                .any(|t| matches!(t, crate::alerts::Transition::Firing(f) if f.id == a.id))
        })
        .collect();
    let notifier = Notifier::start(
        &settings.notify,
        state.telemetry.notifications.clone(),
        &format!("{}://{api}", if tls.is_some() { "https" } else { "http" }),
        &told,
        &told_at,
    );
    let notify: NotifySender = notifier.sender();
    for t in outbox {
        notify.submit(t);
    }
    let (history, resume) = sink.map(HistoryWriter::start).unzip();
    let history_tx = history.as_ref().and_then(HistoryWriter::sender);
    let mut rollup = Rollup::new(resume.flatten());
    let evaluator = state.clone();
    let snapshot_interval = settings.snapshot_interval;
    let mut rx = stop_rx_for_eval;
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(EVALUATE_EVERY);
        let mut synced = tokio::time::Instant::now();
        let mut saved = tokio::time::Instant::now();
        let mut saved_unsent = 0;
        let mut snapshot = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = rx.wait_for(|stop| *stop) => return,
                _ = tick.tick() => {}
            }
            if synced.elapsed() >= crate::durable::SYNC_EVERY {
                synced = tokio::time::Instant::now();
                let state = evaluator.clone();
                let _ = tokio::task::spawn_blocking(move || state.sync_wal()).await;
            }
            if snapshot.elapsed() >= snapshot_interval {
                snapshot = tokio::time::Instant::now();
                let state = evaluator.clone();
                let _ = tokio::task::spawn_blocking(move || state.snapshot_store()).await;
            }
            // The first step waits until the senders of the first second have all
            // spoken, so every clock is compared before "now" is trusted (`clock`).
            if !evaluator.warmed_up() {
                continue;
            }
            loop {
                let (changes, caught_up) = evaluator.evaluate();
                let changed = !changes.is_empty();
                for change in changes {
                    log_transition(&change);
                    notify.submit(change);
                }
                // Saved with what the notifiers have not yet put in a notification (the
                // spool keeps those), after every change and whenever that shrank: a
                // crash loses no notification, and repeats one only if it was sent
                // since the last save.
                let unsent = notify.unsent();
                if changed
                    || unsent.len() != saved_unsent
                    || saved.elapsed() >= crate::durable::SAVE_EVERY
                {
                    saved = tokio::time::Instant::now();
                    saved_unsent = unsent.len();
                    let state = evaluator.clone();
                    let told = notify.told();
                    let _ =
                        tokio::task::spawn_blocking(move || state.save_state(unsent, told)).await;
                }
                if let Some(tx) = &history_tx {
                    // Read under the locks, labelled outside them.
                    for minute in evaluator.with_ledger(|l, s| rollup.catch_up(l, s)) {
                        let _ = tx.send(minute.finish());
                    }
                }
                if caught_up {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
    });

    tracing::info!(%otlp_grpc, %otlp_http, %api, "collector listening");
    Ok(RunningCollector {
        otlp_grpc,
        otlp_http,
        api,
        state,
        stop,
        tasks,
        notifier,
        history,
        remote_write,
        tls,
    })
}

impl RunningCollector {
    pub fn state(&self) -> Arc<CollectorState> {
        self.state.clone()
    }

    /// Reads the token files (and the TLS certificates) again, as SIGHUP asks; on an
    /// error what was in force stays, and the error says what to fix.
    pub fn reload(&self) -> Result<(), String> {
        self.state.auth().reload()?;
        match &self.tls {
            Some(tls) => tls.reload(),
            None => Ok(()),
        }
    }

    /// `https` when the listeners speak TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// What remote write has sent, when it is on.
    pub fn remote_write_stats(&self) -> Option<Arc<RemoteWriteStats>> {
        self.remote_write
            .as_ref()
            .map(|_| self.state.telemetry.remote_write.clone())
    }

    /// Hands transitions to the notifiers, as the evaluator does.
    pub fn notifications(&self) -> NotifySender {
        self.notifier.sender()
    }

    /// Stops accepting, lets requests in flight finish, then flushes notifications,
    /// all within `deadline`, then cancels what is left (undelivered notifications
    /// stay in the spool).
    pub async fn shutdown(mut self, deadline: Duration) {
        let started = tokio::time::Instant::now();
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(deadline, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("collector did not drain within {deadline:?}; cancelling");
            self.tasks.abort_all();
        }
        // Everything accepted is in the log; sync it, and write the store whole so the
        // next start replays nothing (a snapshot cut short by the deadline leaves the
        // last one and the log, which hold everything too).
        let state = self.state.clone();
        let _ = tokio::task::spawn_blocking(move || state.sync_wal()).await;
        let state = self.state.clone();
        let left = deadline.saturating_sub(started.elapsed());
        let snapshot = tokio::task::spawn_blocking(move || state.snapshot_store());
        if tokio::time::timeout(left, snapshot).await.is_err() {
            tracing::warn!("the store's snapshot did not finish within the shutdown deadline");
        }
        let left = deadline.saturating_sub(started.elapsed());
        let notify = self.notifier.sender();
        self.notifier.shutdown(left).await;
        // Then where evaluation got to, with what the notifiers could not spool.
        let (state, unsent) = (self.state.clone(), notify.unsent());
        let told = notify.told();
        let _ = tokio::task::spawn_blocking(move || state.save_state(unsent, told)).await;
        if let Some(rw) = self.remote_write.take() {
            let left = deadline.saturating_sub(started.elapsed());
            rw.finish(left.max(Duration::from_secs(1))).await;
        }
        if let Some(history) = self.history.take() {
            let left = deadline.saturating_sub(started.elapsed());
            history.shutdown(left.max(Duration::from_secs(1))).await;
        }
    }
}
