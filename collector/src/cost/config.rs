//! `[collector.cost]`: what a GPU-hour costs, and when idle spend becomes an alert.

use std::collections::BTreeMap;
use std::time::Duration;

use gpuwatch_model::duration;
use serde::{Deserialize, Serialize};

use gpuwatch_model::config::{duration_at_least, ratio, ConfigError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostConfig {
    /// Dollars per GPU-hour by GPU model: a key matches when `hw.model` contains it
    /// (ignoring case; the longest matching key wins).
    pub prices: BTreeMap<String, f64>,
    /// Dollars per GPU-hour for a model no key matches.
    pub fallback_price: f64,
    /// Dollars per kWh of GPU energy, added on top; 0 leaves energy out.
    pub energy_usd_per_kwh: f64,
    /// A GPU under this mean utilization (0..1) over an evaluation step is idle then.
    pub idle_below: f64,
    /// `idle_gpu_cost` fires when one job's idle spend over this window...
    pub idle_window: String,
    /// ...passes this many dollars.
    pub idle_alert_usd: f64,
    /// Monthly budget in dollars by team (`gpuwatch.team`); none by default.
    pub budgets: BTreeMap<String, f64>,
    /// `budget_burn` compares a team's spend over this window, as a 30-day rate...
    pub budget_window: String,
    /// ...with its monthly budget, and fires when it is this many times the budget
    /// (1 = on course to spend exactly the budget in 30 days).
    pub budget_burn_rate: f64,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            prices: [
                ("A100", 2.5),
                ("H100", 4.0),
                ("H200", 5.0),
                ("L4", 0.8),
                ("L40S", 1.9),
                ("T4", 0.4),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            fallback_price: 2.0,
            energy_usd_per_kwh: 0.0,
            idle_below: 0.05,
            idle_window: "1h".into(),
            idle_alert_usd: 10.0,
            budgets: BTreeMap::new(),
            budget_window: "1h".into(),
            budget_burn_rate: 1.0,
        }
    }
}

/// Validated `[collector.cost]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CostSettings {
    /// `(KEY in upper case, $/h)`, longest key first.
    pub prices: Vec<(String, f64)>,
    pub fallback_price: f64,
    pub energy_usd_per_kwh: f64,
    pub idle_below: f64,
    /// Nanoseconds.
    pub idle_window: i64,
    pub idle_alert_usd: f64,
    /// `(team, $ per month)`.
    pub budgets: Vec<(String, f64)>,
    /// Nanoseconds.
    pub budget_window: i64,
    pub budget_burn_rate: f64,
}

impl CostSettings {
    /// $/GPU-hour of a GPU model.
    pub fn price(&self, model: &str) -> f64 {
        let model = model.to_ascii_uppercase();
        self.prices
            .iter()
            .find(|(k, _)| model.contains(k.as_str()))
            .map_or(self.fallback_price, |(_, p)| *p)
    }
}

impl CostConfig {
    pub fn validate(&self) -> Result<CostSettings, ConfigError> {
        let money = |key: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(ConfigError::new(
                    format!("collector.cost.{key}"),
                    format!("must be a number of dollars, 0 or more, got {v}"),
                ))
            }
        };
        let mut prices = Vec::with_capacity(self.prices.len());
        for (model, price) in &self.prices {
            if model.trim().is_empty() {
                return Err(ConfigError::new(
                    "collector.cost.prices",
                    "model keys must not be empty",
                ));
            }
            prices.push((
                model.to_ascii_uppercase(),
                money(&format!("prices.{model}"), *price)?,
            ));
        }
        prices.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        ratio("collector.cost.idle_below", self.idle_below)?;
        let window = duration_at_least(
            "collector.cost.idle_window",
            &self.idle_window,
            Duration::from_secs(60),
        )?;
        let budget_window = duration::parse(&self.budget_window)
            .map_err(|e| ConfigError::new("collector.cost.budget_window", e.to_string()))?;
        if budget_window < Duration::from_secs(60)
            || window.max(Duration::from_secs(3600)) < budget_window
        {
            return Err(ConfigError::new(
                "collector.cost.budget_window",
                format!(
                    "must be between 1m and the ledger's window (idle_window, at least 1h), got {}",
                    self.budget_window
                ),
            ));
        }
        let mut budgets = Vec::with_capacity(self.budgets.len());
        for (team, usd) in &self.budgets {
            let usd = money(&format!("budgets.{team}"), *usd)?;
            if usd <= 0.0 {
                return Err(ConfigError::new(
                    format!("collector.cost.budgets.{team}"),
                    "must be above 0 dollars a month; remove the team to have no budget",
                ));
            }
            budgets.push((team.clone(), usd));
        }
        if !(self.budget_burn_rate.is_finite() && self.budget_burn_rate > 0.0) {
            return Err(ConfigError::new(
                "collector.cost.budget_burn_rate",
                format!("must be above 0, got {}", self.budget_burn_rate),
            ));
        }
        Ok(CostSettings {
            budgets,
            budget_window: i64::try_from(budget_window.as_nanos()).unwrap_or(i64::MAX),
            budget_burn_rate: self.budget_burn_rate,
            prices,
            fallback_price: money("fallback_price", self.fallback_price)?,
            energy_usd_per_kwh: money("energy_usd_per_kwh", self.energy_usd_per_kwh)?,
            idle_below: self.idle_below,
            idle_window: i64::try_from(window.as_nanos()).unwrap_or(i64::MAX),
            idle_alert_usd: money("idle_alert_usd", self.idle_alert_usd)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_match_the_model_name() {
        let s = CostConfig::default().validate().expect("defaults");
        assert_eq!(s.price("NVIDIA H100 80GB HBM3"), 4.0);
        assert_eq!(s.price("NVIDIA H200"), 5.0);
        assert_eq!(s.price("NVIDIA A100-SXM4-40GB"), 2.5);
        assert_eq!(s.price("Tesla T4"), 0.4);
        assert_eq!(s.price("NVIDIA L40S"), 1.9, "the longest key wins over L4");
        assert_eq!(s.price("NVIDIA L4"), 0.8);
        assert_eq!(s.price("AMD MI300X"), 2.0);
    }

    #[test]
    fn prices_can_be_added() {
        let mut c = CostConfig::default();
        c.prices.insert("H100 NVL".into(), 4.5);
        let s = c.validate().expect("valid");
        assert_eq!(s.price("NVIDIA H100 NVL"), 4.5);
        assert_eq!(s.price("NVIDIA H100 80GB HBM3"), 4.0);
    }

    #[test]
    fn errors_name_key_and_rule() {
        let mut c = CostConfig::default();
        c.prices.insert("H100".into(), -1.0);
        assert_eq!(
            c.validate().map_err(|e| e.to_string()),
            Err("collector.cost.prices.H100 must be a number of dollars, 0 or more, got -1".into())
        );
        let c = CostConfig {
            idle_window: "10s".into(),
            ..CostConfig::default()
        };
        assert_eq!(
            c.validate().map_err(|e| e.to_string()),
            Err("collector.cost.idle_window must be at least 1m, got 10s".into())
        );
    }
}
