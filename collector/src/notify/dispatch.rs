//! The notifier task: transitions arrive over a bounded channel (a full channel drops
//! and counts, so evaluation never waits), are grouped per notifier, and each due group
//! becomes a notification that is spooled and handed to that notifier's sender.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::config::{NotifierKind, NotifySettings};
use super::delivery::Sender;
use super::group::Groups;
use super::notification::Notification;
use super::spool::{Pending, Spool};
use crate::alerts::Transition;
use crate::telemetry::{NotificationCounters, NotificationOutcome};

/// Transitions waiting for the notifier task.
const TRANSITION_QUEUE: usize = 4096;
/// Notifications waiting for one notifier's sender.
const SEND_QUEUE: usize = 1024;
/// How long one POST may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Transitions handed to the notifiers and not yet in a notification (which the spool
/// keeps): what a crash would lose. The collector saves them with its state
/// (`durable`) and hands them over again at the next start.
#[derive(Debug, Default)]
pub struct Outbox {
    entries: Mutex<Vec<(u64, Transition)>>,
    next: Mutex<u64>,
    /// Each group's last notification, wall time (Unix ns), by group key.
    told: Mutex<BTreeMap<String, i64>>,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Transition)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What is not yet in a notification, oldest first.
    pub fn unsent(&self) -> Vec<Transition> {
        self.lock().iter().map(|(_, t)| t.clone()).collect()
    }

    fn push(&self, t: &Transition) -> u64 {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        *next += 1;
        self.lock().push((*next, t.clone()));
        *next
    }

    fn remove(&self, seq: u64) {
        self.lock().retain(|(s, _)| *s != seq);
    }

    /// Forgets what the notifier task has taken (up to `received`) and no route still
    /// holds unsent, and notes when each group was last notified.
    fn settle(&self, received: u64, routes: &[Route]) {
        self.lock()
            .retain(|(seq, t)| *seq > received || routes.iter().any(|r| r.groups.holds_unsent(t)));
        let (now, wall_now) = (Instant::now(), gpuwatch_model::Timestamp::now().0);
        *self.told.lock().unwrap_or_else(PoisonError::into_inner) = routes
            .iter()
            .flat_map(|r| r.groups.told(now, wall_now))
            .collect();
    }
}

/// Hands transitions to the notifier task without waiting.
#[derive(Debug, Clone, Default)]
pub struct NotifySender {
    tx: Option<mpsc::Sender<(u64, Transition)>>,
    names: Arc<Vec<String>>,
    counters: Arc<NotificationCounters>,
    outbox: Arc<Outbox>,
}

impl NotifySender {
    /// Transitions not yet in any notification.
    pub fn unsent(&self) -> Vec<Transition> {
        self.outbox.unsent()
    }

    /// When each group was last notified (wall time, Unix ns), by group key, for
    /// `state.json`.
    pub fn told(&self) -> BTreeMap<String, i64> {
        self.outbox
            .told
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Queues `t`; when the queue is full it is dropped and counted for every
    /// notifier.
    pub fn submit(&self, t: Transition) {
        let Some(tx) = &self.tx else { return };
        let seq = self.outbox.push(&t);
        if let Err(e) = tx.try_send((seq, t)) {
            self.outbox.remove(seq);
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the transition queue is full",
                mpsc::error::TrySendError::Closed(_) => "the notifier task has stopped",
            };
            for name in self.names.iter() {
                self.counters
                    .record(name, NotificationOutcome::Dropped, why);
            }
        }
    }
}

/// The running notifiers.
#[derive(Debug)]
pub struct Notifier {
    sender: NotifySender,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

struct Route {
    groups: Groups,
    tx: mpsc::Sender<Pending>,
}

impl Notifier {
    /// Starts one sender per notifier and the grouping task, after queueing what an
    /// earlier run left in the spool. `external_url` is where receivers link back to
    /// (the collector's API). `told` are the alerts still firing that an earlier run
    /// already told the notifiers about, `told_at` when each group was last notified
    /// (wall time, Unix ns): back in their groups (`Groups::resume`). Must run inside a
    /// tokio runtime.
    pub fn start(
        settings: &NotifySettings,
        counters: Arc<NotificationCounters>,
        external_url: &str,
        told: &[gpuwatch_model::Alert],
        told_at: &BTreeMap<String, i64>,
    ) -> Notifier {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let idle = Notifier {
            sender: NotifySender::default(),
            stop: stop.clone(),
            tasks: JoinSet::new(),
        };
        if settings.notifiers.is_empty() {
            return idle;
        }
        let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("cannot build the HTTP client; notifications are off: {e}");
                return idle;
            }
        };
        let spool = Arc::new(Spool::new(settings.spool_dir.clone()));
        // How long ago each group was last notified, once for every notifier.
        let now = tokio::time::Instant::now();
        let wall_now = gpuwatch_model::Timestamp::now().0;
        let told_ago: BTreeMap<String, Duration> = told_at
            .iter()
            .map(|(key, at)| {
                let ago = u64::try_from(wall_now.saturating_sub(*at)).unwrap_or(0);
                (key.clone(), Duration::from_nanos(ago))
            })
            .collect();
        let mut routes = Vec::new();
        for n in &settings.notifiers {
            counters.register(&n.name);
            let (tx, rx) = mpsc::channel(SEND_QUEUE);
            let sender = Sender {
                settings: n.clone(),
                client: client.clone(),
                counters: counters.clone(),
                spool: spool.clone(),
                external_url: external_url.to_string(),
            };
            tasks.spawn(sender.run(rx, stop_rx.clone()));
            let mut groups = Groups::new(n.clone());
            for alert in told {
                groups.resume(alert.clone(), now, &told_ago);
            }
            routes.push(Route { groups, tx });
        }
        for p in spool.load() {
            match routes
                .iter()
                .find(|r| r.groups.settings().name == p.notification.notifier)
            {
                Some(r) => enqueue(r, p, &counters, &spool),
                None => {
                    tracing::warn!(
                        notifier = %p.notification.notifier,
                        "dropping a spooled notification for a notifier no longer configured"
                    );
                    spool.done(&p);
                }
            }
        }
        let (tx, rx) = mpsc::channel(TRANSITION_QUEUE);
        let names = routes
            .iter()
            .map(|r| r.groups.settings().name.clone())
            .collect();
        let outbox = Arc::new(Outbox::default());
        tasks.spawn(dispatch(
            routes,
            rx,
            stop_rx,
            counters.clone(),
            spool,
            outbox.clone(),
        ));
        Notifier {
            sender: NotifySender {
                tx: Some(tx),
                names: Arc::new(names),
                counters,
                outbox,
            },
            stop,
            tasks,
        }
    }

    pub fn sender(&self) -> NotifySender {
        self.sender.clone()
    }

    /// Sends every group with something to say now, without waiting for its timers,
    /// and what is queued, until `deadline`; what is left stays in the spool.
    pub async fn shutdown(mut self, deadline: Duration) {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(deadline, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("notifications did not drain within {deadline:?}; cancelling");
            self.tasks.abort_all();
        }
    }
}

fn enqueue(route: &Route, p: Pending, counters: &NotificationCounters, spool: &Spool) {
    if let Err(e) = route.tx.try_send(p) {
        let (why, p) = match e {
            mpsc::error::TrySendError::Full(p) => ("the send queue is full", p),
            mpsc::error::TrySendError::Closed(p) => ("the sender has stopped", p),
        };
        counters.record(&p.notification.notifier, NotificationOutcome::Dropped, why);
        spool.done(&p);
    }
}

/// Spools and queues one flushed group (PagerDuty: one event per alert).
fn send(route: &Route, n: Notification, counters: &NotificationCounters, spool: &Spool) {
    let parts = if route.groups.settings().kind == NotifierKind::Pagerduty {
        n.alerts
            .iter()
            .map(|a| Notification {
                alerts: vec![a.clone()],
                ..n.clone()
            })
            .collect()
    } else {
        vec![n]
    };
    for n in parts {
        match spool.keep(n.clone()) {
            Ok(p) => enqueue(route, p, counters, spool),
            Err(e) => {
                tracing::warn!("{e}; sending from memory only");
                enqueue(
                    route,
                    Pending {
                        notification: n,
                        file: None,
                    },
                    counters,
                    spool,
                );
            }
        }
    }
}

async fn dispatch(
    mut routes: Vec<Route>,
    mut rx: mpsc::Receiver<(u64, Transition)>,
    mut stop: watch::Receiver<bool>,
    counters: Arc<NotificationCounters>,
    spool: Arc<Spool>,
    outbox: Arc<Outbox>,
) {
    let mut received = 0;
    loop {
        let next = routes.iter().filter_map(|r| r.groups.next_due()).min();
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            t = rx.recv() => match t {
                Some((seq, Transition::Firing(a) | Transition::Resolved(a))) => {
                    received = seq;
                    let now = Instant::now();
                    for r in &mut routes {
                        r.groups.add(a.clone(), now);
                    }
                }
                None => break,
            },
            () = sleep_until(next) => {}
        }
        let now = Instant::now();
        for r in &mut routes {
            for n in r.groups.flush(now, false) {
                send(r, n, &counters, &spool);
            }
        }
        outbox.settle(received, &routes);
    }
    // Shutting down: take what is still queued and say it now.
    let now = Instant::now();
    while let Ok((seq, Transition::Firing(a) | Transition::Resolved(a))) = rx.try_recv() {
        received = seq;
        for r in &mut routes {
            r.groups.add(a.clone(), now);
        }
    }
    for r in &mut routes {
        for n in r.groups.flush(now, true) {
            send(r, n, &counters, &spool);
        }
    }
    outbox.settle(received, &routes);
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
