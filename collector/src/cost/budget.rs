//! `budget_burn`: a team spending faster than its monthly budget allows. The team's
//! spend over `budget_window` (or as much of it as the ledger holds, at least five
//! minutes), as a rate over a 30-day month, against its budget: a
//! burn rate of 1 spends the budget in exactly 30 days, 2 in 15. It fires at
//! `budget_burn_rate` and names how long the budget lasts at this rate.

use std::collections::BTreeMap;

use gpuwatch_model::names::attr;
use gpuwatch_model::{AlertKind, Finding, Severity};

use super::Ledger;
use gpuwatch_model::format::thousands;

/// Hours in the month a budget covers.
pub const MONTH_HOURS: f64 = 30.0 * 24.0;

impl Ledger {
    /// `budget_burn` for every team with a budget whose burn rate over
    /// `(t - budget_window, t]` reached `budget_burn_rate`.
    pub fn budget_findings(&self, t: i64) -> Vec<Finding> {
        let s = &self.settings;
        if s.budgets.is_empty() {
            return Vec::new();
        }
        let mut spend: BTreeMap<&str, f64> = BTreeMap::new();
        for a in self.since(t - s.budget_window) {
            if let Some(team) = a.owner.team.as_deref() {
                *spend.entry(team).or_default() += a.spend.usd;
            }
        }
        // The rate is over the part of the window the ledger covers; under five minutes
        // of it is not enough to say.
        let Some(oldest) = self.minutes.front().map(|m| m.index * super::MINUTE) else {
            return Vec::new();
        };
        let covered = s.budget_window.min(t - oldest);
        if covered < 5 * super::MINUTE {
            return Vec::new();
        }
        let window_hours = covered as f64 / 3.6e12;
        let mut out = Vec::new();
        for (team, budget) in &s.budgets {
            let usd = spend.get(team.as_str()).copied().unwrap_or(0.0);
            let per_hour = usd / window_hours;
            let burn_rate = per_hour * MONTH_HOURS / budget;
            if burn_rate < s.budget_burn_rate {
                continue;
            }
            let days = budget / per_hour / 24.0;
            out.push(Finding {
                kind: AlertKind::BudgetBurn,
                severity: Severity::Warning,
                labels: BTreeMap::from([(attr::TEAM.to_string(), team.clone())]),
                value: burn_rate,
                summary: format!(
                    "team {team}: spending ${per_hour:.2}/h, {burn_rate:.1}x its ${} monthly budget: at this rate it lasts {days:.1} days",
                    thousands(budget.round() as u64),
                ),
            });
        }
        out
    }
}
