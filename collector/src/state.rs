//! What the receivers, the API and the binary share.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use gpuwatch_model::Alert;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use crate::alerts::{AlertManager, StateFilter, Transition};
use crate::auth::Permit;
use crate::cost::{By, CostSettings, Ledger};
use crate::detect::drift::DriftReferences;
use crate::detect::{self, AlertSettings};
use crate::durable::wal::{Record, Wal};
use crate::durable::{DataDir, DataDirError, Saved};
use crate::ingest::{ingest_at, ingest_parsed_at, parse_protobuf, IngestOutcome, WireError};
use crate::store::{RejectReason, Store, StoreSettings};
use crate::telemetry::Telemetry;

mod queries;

/// How long one `evaluate` call may hold the store's lock (it always runs at least one
/// step), so catching up with a long replay never stalls ingest for long; the next
/// call goes on from there.
const STEP_BUDGET: std::time::Duration = std::time::Duration::from_millis(50);

/// Wall time from the first point before the evaluator's first step.
const WARM_UP: i64 = 2_000_000_000;

#[derive(Debug)]
pub struct CollectorState {
    store: Mutex<Store>,
    pub telemetry: Telemetry,
    alerts: Mutex<Evaluation>,
    /// `collector.data_dir`, when set.
    durable: Option<Durable>,
    /// `[collector.limits]`: which OTLP requests are taken.
    limiter: crate::limiter::Limiter,
    /// `[collector.auth]`: who may send and read.
    auth: crate::auth::Auth,
    /// Transitions an earlier run had not yet put in a notification, until the
    /// notifiers are started and take them (`take_outbox`).
    outbox: Mutex<Vec<Transition>>,
    /// When each notifier group was last notified by an earlier run (`take_told`).
    told: Mutex<std::collections::BTreeMap<String, i64>>,
}

#[derive(Debug)]
struct Durable {
    dir: DataDir,
    wal: Mutex<Wal>,
    /// The last WAL append failed (warned once until one succeeds again).
    wal_failing: AtomicBool,
    save_failing: AtomicBool,
    snapshot_failing: AtomicBool,
}

#[derive(Debug)]
struct Evaluation {
    settings: AlertSettings,
    manager: AlertManager,
    ledger: Ledger,
    /// The frozen references of the drift detectors.
    references: DriftReferences,
    /// The last event time evaluated.
    done_to: Option<i64>,
    /// What the detectors could not judge at `done_to`.
    not_judged: Vec<detect::NotEnoughData>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CollectorState {
    /// A state that keeps nothing on disk.
    pub fn new(store: StoreSettings, alerts: AlertSettings, cost: CostSettings) -> Self {
        CollectorState {
            store: Mutex::new(Store::new(store)),
            telemetry: Telemetry::default(),
            alerts: Mutex::new(Evaluation {
                manager: AlertManager::new(alerts.clone()),
                ledger: Ledger::new(cost),
                references: DriftReferences::new(),
                settings: alerts,
                done_to: None,
                not_judged: Vec::new(),
            }),
            durable: None,
            auth: crate::auth::Auth::default(),
            outbox: Mutex::new(Vec::new()),
            told: Mutex::new(Default::default()),
            limiter: crate::limiter::Limiter::new(
                crate::limiter::LimitsConfig::default()
                    .validate()
                    .unwrap_or_else(|e| unreachable!("the default limits are valid: {e}")),
            ),
        }
    }

    /// Sets the limits on ingest (before the receivers start).
    pub fn set_limits(&mut self, limits: crate::limiter::LimitsSettings) {
        self.limiter = crate::limiter::Limiter::new(limits);
    }

    pub fn limiter(&self) -> &crate::limiter::Limiter {
        &self.limiter
    }

    /// Sets the tokens the listeners ask for (before the receivers start).
    pub fn set_auth(&mut self, auth: crate::auth::Auth) {
        self.auth = auth;
    }

    pub fn auth(&self) -> &crate::auth::Auth {
        &self.auth
    }

    /// A state kept in `data_dir` (`durable`): locks it, reads its store snapshot,
    /// replays the write-ahead log written since into the store and takes up the
    /// evaluator's saved state.
    pub fn open(
        store: StoreSettings,
        alerts: AlertSettings,
        cost: CostSettings,
        data_dir: &Path,
    ) -> Result<Self, DataDirError> {
        let mut state = CollectorState::new(store, alerts, cost);
        let dir = DataDir::open(data_dir)?;
        let io = |source| DataDirError::Io {
            dir: data_dir.to_path_buf(),
            source,
        };
        let keep_for = state.store().settings().retention_ns;
        let started = std::time::Instant::now();
        let wal_from = state.load_snapshot(&dir);
        let mut progress = started;
        let (mut requests, mut points) = (0u64, 0u64);
        let (wal, replayed) = {
            let mut store = state.store();
            Wal::open(
                &dir.wal_dir(),
                keep_for,
                gpuwatch_model::Timestamp::now().0,
                wal_from,
                |arrival, body| {
                    // What was accepted once parses again; a request that no longer does
                    // (a bug, or a log from another version) is skipped.
                    if let Ok(parsed) = parse_protobuf(body) {
                        points += ingest_parsed_at(&mut store, &parsed, arrival).accepted;
                        requests += 1;
                    }
                    if progress.elapsed() >= std::time::Duration::from_secs(5) {
                        progress = std::time::Instant::now();
                        tracing::info!(requests, points, "replaying the write-ahead log");
                    }
                },
            )
            .map_err(io)?
        };
        for cut in &replayed.cut {
            tracing::warn!(
                "write-ahead log: {cut}; what follows it in that segment is lost (a crash \
                 while writing leaves exactly this), the rest is replayed"
            );
        }
        let stats = &state.telemetry.durable;
        stats.replayed_requests.store(requests, Ordering::Relaxed);
        stats.replayed_points.store(points, Ordering::Relaxed);
        if requests > 0 || wal_from > 0 {
            state.store().resume(gpuwatch_model::Timestamp::now().0);
            tracing::info!(
                requests,
                points,
                segments = replayed.segments,
                seconds = started.elapsed().as_secs_f64(),
                "replayed the write-ahead log in {}",
                dir.wal_dir().display()
            );
        }
        match dir.load() {
            Ok(Some(saved)) => state.restore(saved),
            Ok(None) => {}
            Err(e) => tracing::warn!("{e}"),
        }
        state.durable = Some(Durable {
            dir,
            wal: Mutex::new(wal),
            wal_failing: AtomicBool::new(false),
            save_failing: AtomicBool::new(false),
            snapshot_failing: AtomicBool::new(false),
        });
        state.note_wal_usage();
        Ok(state)
    }

    fn restore(&self, saved: Saved) {
        let mut eval = lock(&self.alerts);
        let store = self.store();
        let firing = saved.alerts.firing();
        *lock(&self.outbox) = saved.outbox;
        *lock(&self.told) = saved.told;
        eval.manager.restore(saved.alerts);
        eval.references.restore(saved.references);
        let step = eval.settings.evaluation_interval;
        let started = std::time::Instant::now();
        let steps = eval.ledger.restore(saved.ledger, &store, step);
        tracing::info!(
            steps,
            seconds = started.elapsed().as_secs_f64(),
            "accrued the cost ledger's steps again from the replayed store"
        );
        eval.done_to = saved.done_to;
        tracing::info!(
            firing,
            evaluated_to = ?saved.done_to.map(gpuwatch_model::Timestamp),
            "took up the alerts and cost totals saved by the last run"
        );
    }

    /// Transitions an earlier run had not yet put in a notification, to hand to the
    /// notifiers again (once).
    pub fn take_outbox(&self) -> Vec<Transition> {
        std::mem::take(&mut *lock(&self.outbox))
    }

    /// When each notifier group was last notified by an earlier run (wall time, Unix
    /// ns), by group key, to hand to the notifiers (once).
    pub fn take_told(&self) -> std::collections::BTreeMap<String, i64> {
        std::mem::take(&mut *lock(&self.told))
    }

    /// Saves the evaluator's state, with the transitions not yet in a notification
    /// (`outbox`), to the data directory, if there is one. A failure is counted and
    /// said once until a save succeeds again; the collector goes on.
    pub fn save_state(
        &self,
        outbox: Vec<Transition>,
        told: std::collections::BTreeMap<String, i64>,
    ) {
        let Some(durable) = &self.durable else { return };
        let saved = {
            let eval = lock(&self.alerts);
            Saved::new(
                eval.done_to,
                eval.manager.saved(),
                eval.ledger.saved(),
                eval.references.saved(),
                outbox,
                told,
            )
        };
        let stats = &self.telemetry.durable;
        match durable.dir.save(&saved) {
            Ok(()) => {
                stats
                    .state_saved_at
                    .store(saved.saved_at, Ordering::Relaxed);
                if durable.save_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the collector's state is saved again");
                }
            }
            Err(e) => {
                stats.state_save_errors.fetch_add(1, Ordering::Relaxed);
                if !durable.save_failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        "cannot save the collector's state in {}: {e}; alerts would start \
                         over after a restart until this is fixed (is the disk full?)",
                        durable.dir.path().display()
                    );
                }
            }
        }
    }

    /// Reads the store snapshot in `dir` into the store, if there is one it can use;
    /// returns the first log segment it does not hold (0: replay the whole log).
    fn load_snapshot(&self, dir: &DataDir) -> u64 {
        let started = std::time::Instant::now();
        let (from, mut reader) = match dir.open_snapshot() {
            Ok(Some(found)) => found,
            Ok(None) => return 0,
            Err(e) => {
                tracing::warn!("{e}");
                return 0;
            }
        };
        let settings = self.store().settings().clone();
        let now = gpuwatch_model::Timestamp::now().0;
        let read = Store::read_snapshot(settings, &mut reader, now);
        drop(reader);
        let store = match read {
            Ok(Some(store)) => store,
            Ok(None) => {
                tracing::info!(
                    "the store snapshot is older than collector.store.retention; not read"
                );
                return 0;
            }
            Err(e) => {
                tracing::warn!("{}", dir.set_aside_snapshot(&e));
                return 0;
            }
        };
        let (series, points) = (store.series().len(), store.usage().points);
        *self.store() = store;
        let stats = &self.telemetry.durable;
        stats
            .snapshot_loaded_series
            .store(series as u64, Ordering::Relaxed);
        stats
            .snapshot_loaded_points
            .store(points, Ordering::Relaxed);
        tracing::info!(
            series,
            points,
            seconds = started.elapsed().as_secs_f64(),
            "read the store snapshot; the write-ahead log is replayed from segment {from}"
        );
        from
    }

    /// Writes a snapshot of the live store to the data directory, if there is one,
    /// then removes the log segments it holds. The store is written compressed to the
    /// snapshot's temporary file under its lock (with the log's next segment begun
    /// there, so the snapshot and the log neither miss nor repeat a request), with no
    /// copy of it in memory; the sync to the disk runs outside the lock. A failure is
    /// counted and said once until a snapshot succeeds again; the log still holds
    /// everything.
    pub fn snapshot_store(&self) {
        let Some(durable) = &self.durable else { return };
        let stats = &self.telemetry.durable;
        let taken = {
            let store = self.store();
            let from = lock(&durable.wal).start_segment();
            from.and_then(|from| {
                let written = durable
                    .dir
                    .write_snapshot(from, |w| store.write_snapshot(w))?;
                Ok((from, written))
            })
            .map_err(|e| e.to_string())
        };
        let written = taken.and_then(|(from, written)| {
            let size = durable
                .dir
                .commit_snapshot(written)
                .map_err(|e| e.to_string())?;
            Ok((from, size))
        });
        match written {
            Ok((from, size)) => {
                lock(&durable.wal).drop_before(from);
                self.note_wal_usage();
                stats.snapshot_bytes.store(size, Ordering::Relaxed);
                stats
                    .snapshot_saved_at
                    .store(gpuwatch_model::Timestamp::now().0, Ordering::Relaxed);
                if durable.snapshot_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the store's snapshot is written again");
                }
            }
            Err(e) => {
                stats.snapshot_errors.fetch_add(1, Ordering::Relaxed);
                if !durable.snapshot_failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        "cannot write the store's snapshot in {}: {e}; the write-ahead log \
                         still holds every point, but it grows and a restart replays all of \
                         it until this is fixed (is the disk full?)",
                        durable.dir.path().display()
                    );
                }
            }
        }
    }

    /// Syncs the open WAL segment to the disk (outside the log's lock).
    pub fn sync_wal(&self) {
        let Some(durable) = &self.durable else { return };
        let handle = lock(&durable.wal).sync_handle();
        if let Err(e) = handle.and_then(|f| f.sync_data()) {
            self.wal_failed(durable, &e);
        }
        self.note_wal_usage();
    }

    fn note_wal_usage(&self) {
        let Some(durable) = &self.durable else { return };
        let (bytes, segments) = lock(&durable.wal).usage();
        let stats = &self.telemetry.durable;
        stats.wal_bytes.store(bytes, Ordering::Relaxed);
        stats.wal_segments.store(segments as u64, Ordering::Relaxed);
    }

    fn wal_failed(&self, durable: &Durable, e: &std::io::Error) {
        self.telemetry
            .durable
            .wal_write_errors
            .fetch_add(1, Ordering::Relaxed);
        if !durable.wal_failing.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "cannot write the write-ahead log in {}: {e}; points are still stored and \
                 served, but a restart would lose them until this is fixed (is the disk \
                 full?)",
                durable.dir.wal_dir().display()
            );
        }
    }

    /// Logs an accepted request (before it is answered).
    fn log(&self, record: Option<Record>, outcome: &IngestOutcome) {
        let (Some(durable), Some(record)) = (&self.durable, record) else {
            return;
        };
        if outcome.accepted == 0 {
            return;
        }
        match lock(&durable.wal).append(&record) {
            Ok(()) => {
                if durable.wal_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the write-ahead log is written again");
                }
            }
            Err(e) => self.wal_failed(durable, &e),
        }
    }

    /// The record of `body` for the log, when there is one.
    fn record(&self, arrival: i64, body: &[u8]) -> Option<Record> {
        self.durable.as_ref().map(|_| Record::new(arrival, body))
    }

    /// Runs every detector at each evaluation instant (multiples of
    /// `evaluation_interval` in event time) up to `evaluation_delay` behind the newest
    /// point, for about `STEP_BUDGET` of wall time. Returns the alerts that started
    /// firing or resolved, and whether it caught up.
    pub fn evaluate(&self) -> (Vec<Transition>, bool) {
        let mut eval = lock(&self.alerts);
        let store = self.store();
        let (Some(oldest), Some(newest)) = (store.oldest_ts(), store.newest_ts()) else {
            return (Vec::new(), true);
        };
        let step = eval.settings.evaluation_interval;
        let target = newest.saturating_sub(eval.settings.evaluation_delay);
        let mut t = match eval.done_to {
            Some(done) => done + step,
            // Start at the first instant on the grid that holds data.
            None => (oldest + step - 1).div_euclid(step) * step,
        };
        let mut changes = Vec::new();
        let started = std::time::Instant::now();
        let mut steps = 0usize;
        loop {
            if t > target {
                return (changes, true);
            }
            if steps > 0 && started.elapsed() >= STEP_BUDGET {
                return (changes, false);
            }
            steps += 1;
            let eval = &mut *eval;
            let judged = detect::evaluate_all(&store, &eval.settings, &mut eval.references, t);
            eval.not_judged = judged.not_enough_data;
            let mut findings = judged.findings;
            eval.ledger.accrue(&store, t, step);
            findings.extend(eval.ledger.findings(t));
            findings.extend(eval.ledger.budget_findings(t));
            changes.extend(eval.manager.update(findings, t));
            eval.done_to = Some(t);
            t += step;
        }
    }

    /// Whether the first point arrived at least `WARM_UP` of wall time ago: until
    /// then a sender whose clock runs ahead may be the only one heard, and evaluating
    /// on its clock would skip the fleet's first minutes.
    pub fn warmed_up(&self) -> bool {
        let first = self.store().clocks().first_arrival();
        first.is_some_and(|a| gpuwatch_model::Timestamp::now().0.saturating_sub(a) >= WARM_UP)
    }

    /// Sets a drift reference from outside the store (history); false when the buckets
    /// do not fit their bounds.
    pub fn seed_drift_reference(
        &self,
        kind: gpuwatch_model::AlertKind,
        model: &str,
        what: &str,
        from: i64,
        bounds: Vec<f64>,
        counts: Vec<f64>,
    ) -> bool {
        lock(&self.alerts)
            .references
            .seed(kind, model, what, from, bounds, counts)
    }

    /// Spend since the collector started, grouped `by`.
    pub fn cost_totals(&self, by: By) -> gpuwatch_model::api::CostResponse {
        lock(&self.alerts).ledger.totals(by)
    }

    /// Spend over `window` (nanoseconds) grouped `by`; `None` past what is kept.
    pub fn cost(&self, window: i64, by: By) -> Option<gpuwatch_model::api::CostResponse> {
        lock(&self.alerts).ledger.breakdown(window, by)
    }

    /// Reads the cost ledger and the store together (history rollups).
    pub fn with_ledger<R>(&self, f: impl FnOnce(&Ledger, &Store) -> R) -> R {
        let eval = lock(&self.alerts);
        f(&eval.ledger, &self.store())
    }

    /// The Prometheus exposition of everything: series, alerts, cost, health.
    pub fn render_metrics(&self) -> String {
        let eval = lock(&self.alerts);
        let firing = eval.manager.alerts(StateFilter::Firing);
        let store = self.store();
        let models = match store.newest_ts() {
            Some(t) => {
                let (drift, latency) = (
                    &eval.settings.model_drift,
                    &eval.settings.latency_regression,
                );
                crate::exposition::ModelView {
                    scores: crate::detect::drift::scores(
                        &store,
                        drift,
                        latency,
                        &eval.references,
                        t,
                    ),
                    latency: crate::detect::drift::latency_quantiles(&store, latency.window, t),
                }
            }
            None => crate::exposition::ModelView::default(),
        };
        let mut out =
            crate::exposition::render(&store, &firing, &eval.ledger, &models, &self.telemetry);
        crate::exposition::render_limits(&mut out, &self.limiter);
        out
    }

    /// Alerts in `state`, as `/api/v1/alerts` lists them.
    pub fn alerts(&self, state: StateFilter) -> Vec<Alert> {
        lock(&self.alerts).manager.alerts(state)
    }

    /// The store, for reading or writing. A panic while it was held does not make it
    /// unusable: the store's invariants hold between single inserts.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads OTLP/protobuf bytes (outside the store's lock) and stores them; with a
    /// data directory, logs them before returning.
    pub fn ingest_protobuf(&self, body: &[u8]) -> Result<IngestOutcome, WireError> {
        self.ingest_protobuf_as(body, &Permit::Any)
    }

    /// `ingest_protobuf` from a sender whose token `permit`s only some hosts: the
    /// resources of other hosts are refused as `forbidden_host`, and only what was kept
    /// is logged.
    pub fn ingest_protobuf_as(
        &self,
        body: &[u8],
        permit: &Permit,
    ) -> Result<IngestOutcome, WireError> {
        let parsed = parse_protobuf(body)?;
        if !parsed.hosts().all(|h| permit.allows(h)) {
            // The rare path: decoded again whole, to keep and log only what is allowed.
            let request = <ExportMetricsServiceRequest as prost::Message>::decode(body)
                .map_err(|e| WireError::new(e.to_string()))?;
            return Ok(self.ingest_as(&request, permit));
        }
        let arrival = gpuwatch_model::Timestamp::now().0;
        let record = self.record(arrival, body);
        let mut store = self.store();
        let outcome = ingest_parsed_at(&mut store, &parsed, arrival);
        self.log(record, &outcome);
        Ok(outcome)
    }

    /// `ingest` from a sender whose token `permit`s only some hosts (`ingest_protobuf_as`).
    pub fn ingest_as(
        &self,
        request: &ExportMetricsServiceRequest,
        permit: &Permit,
    ) -> IngestOutcome {
        let Some((allowed, forbidden)) =
            crate::ingest::without_forbidden(request, |h| permit.allows(h))
        else {
            return self.ingest(request);
        };
        let mut outcome = self.ingest(&allowed);
        outcome.reject(&mut self.store(), RejectReason::ForbiddenHost, forbidden);
        outcome
    }

    /// Stores a decoded request; with a data directory, logs it before returning.
    pub fn ingest(&self, request: &ExportMetricsServiceRequest) -> IngestOutcome {
        let arrival = gpuwatch_model::Timestamp::now().0;
        let record = self
            .durable
            .as_ref()
            .map(|_| Record::new(arrival, &prost::Message::encode_to_vec(request)));
        let mut store = self.store();
        let outcome = ingest_at(&mut store, request, arrival);
        self.log(record, &outcome);
        outcome
    }
}
