//! The cost ledger: every GPU-hour priced by model (and, optionally, its energy),
//! accrued in event time at each evaluation step, split into busy and idle, and
//! attributed to node, job, team and model. It keeps totals since start and the last
//! hour (or `idle_window`) minute by minute for `/api/v1/cost`, and finds jobs whose
//! idle spend passed `idle_alert_usd` (`idle_gpu_cost`).

mod budget;
pub mod config;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use gpuwatch_model::api::{CostResponse, CostRow};
use gpuwatch_model::names::{attr, metric};
use gpuwatch_model::{AlertKind, Finding, Severity};

pub use budget::MONTH_HOURS;
pub use config::{CostConfig, CostSettings};

use crate::detect::window::{current, gpu_series, mean, mig_parent, utilization, Window};
use crate::store::{GpuEntry, Series, Store};

const MINUTE: i64 = 60_000_000_000;

/// Who a GPU-step of spend is attributed to.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub node: String,
    pub gpu: String,
    pub name: String,
    pub model: String,
    pub job: Option<String>,
    pub team: Option<String>,
}

/// Spend over some time.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spend {
    pub seconds: f64,
    pub idle_seconds: f64,
    pub usd: f64,
    pub idle_usd: f64,
}

impl Spend {
    fn add(&mut self, o: &Spend) {
        self.seconds += o.seconds;
        self.idle_seconds += o.idle_seconds;
        self.usd += o.usd;
        self.idle_usd += o.idle_usd;
    }
}

/// One GPU's running account.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GpuAccount {
    pub owner: Owner,
    pub total: Spend,
    /// Burn at the last step, $/h, and the part of it spent idle.
    pub burn_usd_per_hour: f64,
    pub idle_burn_usd_per_hour: f64,
    /// Event time of the last step this GPU reported in.
    pub last_step: i64,
}

/// One GPU's spend over one step: an hour of these for every GPU is kept, so it
/// holds its owner shared with the GPU's other steps.
#[derive(Debug)]
struct Accrual {
    gpu: u32,
    /// The end of the step.
    t: i64,
    owner: Arc<Owner>,
    spend: Spend,
}

/// The accruals of one minute, kept together so history ages out a minute at a time.
#[derive(Debug, Default)]
struct Minute {
    index: i64,
    rows: Vec<Accrual>,
}

#[derive(Debug)]
pub struct Ledger {
    settings: CostSettings,
    accounts: Vec<GpuAccount>,
    by_gpu: BTreeMap<(String, String), usize>,
    /// Each account's latest owner, shared by its rows while it stays the same.
    owners: Vec<Arc<Owner>>,
    minutes: VecDeque<Minute>,
    /// The newest step accrued.
    last_step: Option<i64>,
}

/// How `/api/v1/cost` groups rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Job,
    Team,
    Node,
    Model,
}

impl By {
    pub fn parse(s: &str) -> Option<By> {
        Some(match s {
            "job" => By::Job,
            "team" => By::Team,
            "node" => By::Node,
            "model" => By::Model,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            By::Job => "job",
            By::Team => "team",
            By::Node => "node",
            By::Model => "model",
        }
    }

    fn key(self, o: &Owner) -> String {
        let none = || "(none)".to_string();
        match self {
            By::Job => o.job.clone().unwrap_or_else(none),
            By::Team => o.team.clone().unwrap_or_else(none),
            By::Node => o.node.clone(),
            By::Model => o.model.clone(),
        }
    }
}

/// The totals as `collector.data_dir` keeps them across restarts: every account and
/// the newest step. The per-step rows of the last hour are not kept; `Ledger::restore`
/// accrues the steps of the newest minute again from the store, so the minute history
/// gets next is whole; `/api/v1/cost?window=` and `idle_gpu_cost` see the rest of the
/// hour before the restart only through history.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedLedger {
    accounts: Vec<GpuAccount>,
    last_step: Option<i64>,
}

impl Ledger {
    pub(crate) fn saved(&self) -> SavedLedger {
        SavedLedger {
            accounts: self.accounts.clone(),
            last_step: self.last_step,
        }
    }

    /// Takes up an earlier run's totals, then accrues the rows (not the totals again)
    /// of every step, `step` apart up to `last_step`, that `store` still holds data of
    /// (it was replayed from the write-ahead log) and that the ledger keeps: the
    /// windows of `/api/v1/cost` and `idle_gpu_cost` within the store's retention are
    /// whole again after a restart. Returns how many steps it accrued.
    pub(crate) fn restore(&mut self, saved: SavedLedger, store: &Store, step: i64) -> usize {
        self.by_gpu = saved
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| ((a.owner.node.clone(), a.owner.gpu.clone()), i))
            .collect();
        self.accounts = saved.accounts;
        self.owners.clear();
        self.minutes.clear();
        self.last_step = saved.last_step;
        let (Some(last), Some(oldest)) = (saved.last_step, store.oldest_ts()) else {
            return 0;
        };
        // From the first step on the evaluation grid that the store holds data of (as
        // evaluation starts), not before the minutes the ledger keeps, nor after the
        // start of `last`'s minute, so the minute history is writing is whole.
        let minute = (last - 1).div_euclid(MINUTE) * MINUTE;
        let kept = minute - (self.keep_minutes() - 1) * MINUTE;
        let from = oldest.max(kept).min(minute);
        // The first instant on the grid at or after `from`, as evaluation starts.
        let mut t = (from + step - 1).div_euclid(step) * step;
        let mut steps = 0;
        while t <= last {
            self.add_step(store, t, step, false);
            steps += 1;
            t += step;
        }
        self.last_step = saved.last_step;
        steps
    }

    pub fn new(settings: CostSettings) -> Self {
        Ledger {
            settings,
            accounts: Vec::new(),
            by_gpu: BTreeMap::new(),
            owners: Vec::new(),
            minutes: VecDeque::new(),
            last_step: None,
        }
    }

    /// Minutes of history kept: the alert's window, and at least an hour.
    fn keep_minutes(&self) -> i64 {
        (self.settings.idle_window / MINUTE).max(60) + 1
    }

    /// Accrues the step `(t - step, t]` for every GPU that reported in it.
    pub fn accrue(&mut self, store: &Store, t: i64, step: i64) {
        self.add_step(store, t, step, true);
    }

    /// `accrue`; only the step's rows, not the accounts' totals, unless `totals`.
    fn add_step(&mut self, store: &Store, t: i64, step: i64, totals: bool) {
        let hours = step as f64 / 3.6e12;
        let minute = t.div_euclid(MINUTE);
        if self.minutes.back().is_none_or(|m| m.index != minute) {
            self.minutes.push_back(Minute {
                index: minute,
                rows: Vec::new(),
            });
        }
        while self
            .minutes
            .front()
            .is_some_and(|m| m.index <= minute - self.keep_minutes())
        {
            self.minutes.pop_front();
        }
        // The step is priced in the fleet's time; each GPU is read on its node's clock.
        let fleet_t = t;
        let instances = mig_instances(store);
        for ((node, id), gpu) in store.gpus() {
            if mig_parent(store, gpu).is_some() {
                // A MIG instance is a slice of a GPU that is priced whole.
                continue;
            }
            let t = store.gpu_time(gpu, fleet_t);
            let w = Window::ending_at(t, step);
            let slices = instances.get(&(node.as_str(), id.as_str()));
            let Some((idle, util_series)) =
                self.idleness(store, gpu, slices.map(Vec::as_slice), t, w)
            else {
                continue;
            };
            let get = |k: &str| util_series.key.get(k).map(str::to_string);
            let owner = Owner {
                node: node.clone(),
                gpu: id.clone(),
                name: get(attr::HW_NAME).unwrap_or_default(),
                model: get(attr::HW_MODEL).unwrap_or_else(|| "unknown".into()),
                job: get(attr::JOB_ID),
                team: get(attr::TEAM),
            };
            let power = current(store, gpu, metric::POWER, &[], t).and_then(|p| mean(p, w));
            let energy_per_hour = power.map_or(0.0, |watts| {
                watts / 1000.0 * self.settings.energy_usd_per_kwh
            });
            let burn = self.settings.price(&owner.model) + energy_per_hour;
            let spend = Spend {
                seconds: step as f64 / 1e9,
                idle_seconds: if idle { step as f64 / 1e9 } else { 0.0 },
                usd: burn * hours,
                idle_usd: if idle { burn * hours } else { 0.0 },
            };
            let index = match self.by_gpu.get(&(node.clone(), id.clone())) {
                Some(&i) => i,
                None => {
                    self.accounts.push(GpuAccount::default());
                    self.by_gpu
                        .insert((node.clone(), id.clone()), self.accounts.len() - 1);
                    self.accounts.len() - 1
                }
            };
            while self.owners.len() <= index {
                self.owners.push(Arc::new(Owner::default()));
            }
            if *self.owners[index] != owner {
                self.owners[index] = Arc::new(owner);
            }
            let owner = &self.owners[index];
            let account = &mut self.accounts[index];
            if totals {
                account.total.add(&spend);
                account.burn_usd_per_hour = burn;
                account.idle_burn_usd_per_hour = if idle { burn } else { 0.0 };
                account.last_step = fleet_t;
                if account.owner != **owner {
                    account.owner = Owner::clone(owner);
                }
            }
            if let Some(m) = self.minutes.back_mut() {
                m.rows.push(Accrual {
                    gpu: index as u32,
                    t: fleet_t,
                    owner: owner.clone(),
                    spend,
                });
            }
        }
        self.last_step = Some(fleet_t);
    }

    /// Whether `gpu` was idle in `w`, and the series its labels are read from; `None`
    /// when it did not report in `w`. Its mean utilization decides; a GPU in MIG mode,
    /// for which NVML has none, is idle when every one of its `slices` is: under
    /// `idle_below` where the instance has a utilization, else running no process.
    fn idleness<'a>(
        &self,
        store: &'a Store,
        gpu: &'a GpuEntry,
        slices: Option<&[&'a GpuEntry]>,
        t: i64,
        w: Window,
    ) -> Option<(bool, &'a Series)> {
        let below = self.settings.idle_below;
        if let Some(s) = utilization(store, gpu, t) {
            return Some((mean(s, w)? < below, s));
        }
        let slices = slices?;
        let s = current(store, gpu, metric::GPU_MEMORY_LIMIT, &[], t)?;
        mean(s, w)?;
        let slice_idle = |slice: &&GpuEntry| match utilization(store, slice, t) {
            Some(u) => mean(u, w).is_none_or(|u| u < below),
            None => gpu_series(store, slice, metric::GPU_PROCESS_MEMORY, &[])
                .all(|p| mean(p, w).is_none()),
        };
        Some((slices.iter().all(slice_idle), s))
    }

    /// Accruals of the steps that end after `from`.
    fn since(&self, from: i64) -> impl Iterator<Item = &Accrual> + '_ {
        let from_minute = from.div_euclid(MINUTE);
        self.minutes
            .iter()
            .filter(move |m| m.index >= from_minute)
            .flat_map(|m| m.rows.iter())
            .filter(move |a| a.t > from)
    }

    /// Each GPU's spend over the steps that end in `(from, to]` (only what is kept):
    /// `(step end, owner, spend)`, for history rollups.
    pub fn accruals(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, &Owner, &Spend)> {
        self.since(from)
            .take_while(move |a| a.t <= to)
            .map(|a| (a.t, &*a.owner, &a.spend))
    }

    /// Event time of the newest step accrued.
    pub fn last_step(&self) -> Option<i64> {
        self.last_step
    }

    /// Every GPU's account, for `/metrics`.
    pub fn accounts(&self) -> &[GpuAccount] {
        &self.accounts
    }

    /// Whether an account reported in the newest step (its burn is current).
    pub fn is_current(&self, a: &GpuAccount) -> bool {
        self.last_step == Some(a.last_step)
    }

    /// `idle_gpu_cost` for every job whose idle spend in `(t - idle_window, t]` passed
    /// `idle_alert_usd`.
    pub fn findings(&self, t: i64) -> Vec<Finding> {
        let mut idle: BTreeMap<&str, (f64, Vec<&str>)> = BTreeMap::new();
        for a in self.since(t - self.settings.idle_window) {
            let Some(job) = a.owner.job.as_deref() else {
                continue;
            };
            let entry = idle.entry(job).or_default();
            entry.0 += a.spend.idle_usd;
            if a.spend.idle_usd > 0.0 && !entry.1.contains(&a.owner.gpu.as_str()) {
                entry.1.push(&a.owner.gpu);
            }
        }
        let window = gpuwatch_model::duration::format(std::time::Duration::from_nanos(
            self.settings.idle_window.max(0) as u64,
        ));
        idle.into_iter()
            .filter(|(_, (usd, _))| *usd >= self.settings.idle_alert_usd)
            .map(|(job, (usd, gpus))| Finding {
                kind: AlertKind::IdleGpuCost,
                severity: Severity::Warning,
                labels: BTreeMap::from([(attr::JOB_ID.to_string(), job.to_string())]),
                value: usd,
                summary: format!(
                    "job {job}: ${usd:.2} spent on idle GPUs in the last {window} ({} GPUs idle)",
                    gpus.len()
                ),
            })
            .collect()
    }

    /// Spend in `(t - window, t]` grouped `by`, most expensive first, with the burn of
    /// the GPUs reporting now. `None` when the window is longer than what is kept.
    pub fn breakdown(&self, window: i64, by: By) -> Option<CostResponse> {
        let t = self.last_step.unwrap_or(0);
        if window > (self.keep_minutes() - 1) * MINUTE {
            return None;
        }
        let mut rows: BTreeMap<String, (Spend, BTreeSet<usize>)> = BTreeMap::new();
        for a in self.since(t - window) {
            let row = rows.entry(by.key(&a.owner)).or_default();
            row.0.add(&a.spend);
            row.1.insert(a.gpu as usize);
        }
        Some(self.response(
            gpuwatch_model::duration::format(std::time::Duration::from_nanos(window.max(0) as u64)),
            by,
            rows,
        ))
    }

    /// Every GPU's spend since the collector started, grouped `by` its latest owner.
    pub fn totals(&self, by: By) -> CostResponse {
        let mut rows: BTreeMap<String, (Spend, BTreeSet<usize>)> = BTreeMap::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let row = rows.entry(by.key(&a.owner)).or_default();
            row.0.add(&a.total);
            row.1.insert(i);
        }
        self.response("all".to_string(), by, rows)
    }

    /// Rows of spend and the GPUs behind each, most expensive first, with a total.
    fn response(
        &self,
        window: String,
        by: By,
        rows: BTreeMap<String, (Spend, BTreeSet<usize>)>,
    ) -> CostResponse {
        let mut total = CostRow {
            key: "total".into(),
            ..CostRow::default()
        };
        let mut out: Vec<CostRow> = rows
            .into_iter()
            .map(|(key, (spend, gpus))| {
                let current = gpus
                    .iter()
                    .map(|&g| &self.accounts[g])
                    .filter(|a| self.is_current(a));
                let (burn, idle_burn) = current.fold((0.0, 0.0), |(b, i), a| {
                    (b + a.burn_usd_per_hour, i + a.idle_burn_usd_per_hour)
                });
                let row = CostRow {
                    key,
                    gpus: gpus.len(),
                    gpu_hours: spend.seconds / 3600.0,
                    idle_gpu_hours: spend.idle_seconds / 3600.0,
                    cost_usd: spend.usd,
                    idle_cost_usd: spend.idle_usd,
                    waste_share: if spend.usd > 0.0 {
                        spend.idle_usd / spend.usd
                    } else {
                        0.0
                    },
                    burn_usd_per_hour: burn,
                    idle_burn_usd_per_hour: idle_burn,
                };
                total.gpus += row.gpus;
                total.gpu_hours += row.gpu_hours;
                total.idle_gpu_hours += row.idle_gpu_hours;
                total.cost_usd += row.cost_usd;
                total.idle_cost_usd += row.idle_cost_usd;
                total.burn_usd_per_hour += row.burn_usd_per_hour;
                total.idle_burn_usd_per_hour += row.idle_burn_usd_per_hour;
                row
            })
            .collect();
        total.waste_share = if total.cost_usd > 0.0 {
            total.idle_cost_usd / total.cost_usd
        } else {
            0.0
        };
        out.sort_by(|a, b| b.cost_usd.total_cmp(&a.cost_usd).then(a.key.cmp(&b.key)));
        CostResponse {
            window,
            by: by.as_str().to_string(),
            total,
            rows: out,
        }
    }
}

/// The MIG instances of each GPU in MIG mode, by (node, parent `hw.id`).
fn mig_instances(store: &Store) -> BTreeMap<(&str, &str), Vec<&GpuEntry>> {
    let mut instances: BTreeMap<(&str, &str), Vec<&GpuEntry>> = BTreeMap::new();
    for ((node, _), gpu) in store.gpus() {
        if let Some(parent) = mig_parent(store, gpu) {
            instances
                .entry((node.as_str(), parent))
                .or_default()
                .push(gpu);
        }
    }
    instances
}

#[cfg(test)]
mod tests;
