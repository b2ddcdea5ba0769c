//! What the receivers, the API and the binary share.

use std::sync::{Mutex, MutexGuard};

use gpuwatch_model::Alert;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use crate::alerts::{AlertManager, StateFilter, Transition};
use crate::cost::{By, CostSettings, Ledger};
use crate::detect::drift::DriftReferences;
use crate::detect::{self, AlertSettings};
use crate::ingest::{ingest, ingest_parsed, parse_protobuf, IngestOutcome, WireError};
use crate::store::{Store, StoreSettings};
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
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CollectorState {
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
            }),
        }
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
            let mut findings = detect::evaluate(&store, &eval.settings, &mut eval.references, t);
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
        crate::exposition::render(&store, &firing, &eval.ledger, &models, &self.telemetry)
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

    /// Reads OTLP/protobuf bytes (outside the store's lock) and stores them.
    pub fn ingest_protobuf(&self, body: &[u8]) -> Result<IngestOutcome, WireError> {
        let parsed = parse_protobuf(body)?;
        Ok(ingest_parsed(&mut self.store(), &parsed))
    }

    /// Stores a decoded request.
    pub fn ingest(&self, request: &ExportMetricsServiceRequest) -> IngestOutcome {
        ingest(&mut self.store(), request)
    }
}
