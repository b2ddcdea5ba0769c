//! Several collectors watched as one: each fetch asks every collector at once and
//! merges what they answer (GPUs, nodes, alerts and models side by side; spend summed
//! by group). A collector that fails leaves the others' data on screen; only when all
//! fail does the fetch fail.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::{join_all, BoxFuture};
use gpuwatch_model::api::{
    AlertsResponse, CostResponse, CostRow, GpuDetailResponse, GpusResponse, InferenceResponse,
    NodesResponse,
};

use super::{CostBreakdown, GpuRef, Source, SourceError};

/// Every collector of `top --collector A --collector B ...`.
pub struct MultiSource {
    sources: Vec<Arc<dyn Source>>,
    /// Why each collector's last GPU fetch failed, by position; `None` when it answered.
    failures: Mutex<Vec<Option<String>>>,
}

impl std::fmt::Debug for MultiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.sources.iter().map(|s| s.describe()).collect();
        f.debug_struct("MultiSource")
            .field("sources", &names)
            .finish_non_exhaustive()
    }
}

impl MultiSource {
    pub fn new(sources: Vec<Arc<dyn Source>>) -> Self {
        let failures = Mutex::new(vec![None; sources.len()]);
        MultiSource { sources, failures }
    }

    /// Asks every collector with `ask`; the answers in order, or the first failure
    /// when every collector failed.
    async fn all<'a, T, F>(&'a self, ask: F) -> Result<Vec<T>, SourceError>
    where
        F: Fn(&'a dyn Source) -> BoxFuture<'a, Result<T, SourceError>>,
    {
        let results = join_all(self.sources.iter().map(|s| ask(s.as_ref()))).await;
        let mut ok = Vec::with_capacity(results.len());
        let mut first_error = None;
        for result in results {
            match result {
                Ok(v) => ok.push(v),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if ok.is_empty() => Err(e),
            _ => Ok(ok),
        }
    }

    async fn gpus(&self) -> Result<GpusResponse, SourceError> {
        let results = join_all(self.sources.iter().map(|s| s.fetch())).await;
        let mut failures = Vec::with_capacity(results.len());
        let mut merged: Option<GpusResponse> = None;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(r) => {
                    failures.push(None);
                    merged = Some(merge_gpus(merged.unwrap_or_default(), r));
                }
                Err(e) => {
                    failures.push(Some(e.to_string()));
                    first_error.get_or_insert(e);
                }
            }
        }
        *self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = failures;
        match (merged, first_error) {
            (Some(m), _) => Ok(m),
            (None, Some(e)) => Err(e),
            (None, None) => Ok(GpusResponse::default()),
        }
    }

    async fn alerts(&self) -> Result<AlertsResponse, SourceError> {
        let all = self.all(|s| s.fetch_alerts()).await?;
        Ok(AlertsResponse {
            alerts: all.into_iter().flat_map(|r| r.alerts).collect(),
        })
    }

    async fn burn(&self) -> Result<Option<CostRow>, SourceError> {
        let all = self.all(|s| s.fetch_burn()).await?;
        Ok(all.into_iter().flatten().reduce(|a, b| add_rows(&a, &b)))
    }

    async fn nodes(&self) -> Result<NodesResponse, SourceError> {
        let all = self.all(|s| s.fetch_nodes()).await?;
        let mut merged = NodesResponse::default();
        for r in all {
            merged.nodes.extend(r.nodes);
            merged.newest_point_unix_ms = merged.newest_point_unix_ms.max(r.newest_point_unix_ms);
        }
        merged.nodes.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(merged)
    }

    async fn inference(&self) -> Result<InferenceResponse, SourceError> {
        let all = self.all(|s| s.fetch_inference()).await?;
        let mut merged = InferenceResponse::default();
        for r in all {
            merged.window = r.window;
            merged.models.extend(r.models);
        }
        merged.models.sort_by(|a, b| a.model.cmp(&b.model));
        Ok(merged)
    }

    async fn cost(&self) -> Result<CostBreakdown, SourceError> {
        let all = self.all(|s| s.fetch_cost()).await?;
        let mut merged = CostBreakdown::default();
        for r in all {
            merged.by_team = merge_cost(merged.by_team, r.by_team);
            merged.by_job = merge_cost(merged.by_job, r.by_job);
            merged.by_node = merge_cost(merged.by_node, r.by_node);
        }
        Ok(merged)
    }

    /// The GPU lives on one collector: the first that knows it answers.
    async fn detail(&self, gpu: GpuRef) -> Result<GpuDetailResponse, SourceError> {
        let results = join_all(self.sources.iter().map(|s| s.fetch_detail(gpu.clone()))).await;
        let mut error = None;
        for result in results {
            match result {
                Ok(d) => return Ok(d),
                // "Not mine" says less than any other failure.
                Err(SourceError::Status(404)) if error.is_some() => {}
                Err(e) => error = Some(e),
            }
        }
        Err(error.unwrap_or(SourceError::Unsupported("GPU details")))
    }
}

/// `a` and `b` side by side.
fn merge_gpus(mut a: GpusResponse, b: GpusResponse) -> GpusResponse {
    a.gpus.extend(b.gpus);
    a.newest_point_unix_ms = a.newest_point_unix_ms.max(b.newest_point_unix_ms);
    a.points_received += b.points_received;
    a.nodes += b.nodes;
    a
}

/// The spend of one group on two collectors.
fn add_rows(a: &CostRow, b: &CostRow) -> CostRow {
    let cost_usd = a.cost_usd + b.cost_usd;
    let idle_cost_usd = a.idle_cost_usd + b.idle_cost_usd;
    CostRow {
        key: a.key.clone(),
        gpus: a.gpus + b.gpus,
        gpu_hours: a.gpu_hours + b.gpu_hours,
        idle_gpu_hours: a.idle_gpu_hours + b.idle_gpu_hours,
        cost_usd,
        idle_cost_usd,
        waste_share: if cost_usd > 0.0 {
            idle_cost_usd / cost_usd
        } else {
            0.0
        },
        burn_usd_per_hour: a.burn_usd_per_hour + b.burn_usd_per_hour,
        idle_burn_usd_per_hour: a.idle_burn_usd_per_hour + b.idle_burn_usd_per_hour,
    }
}

/// Rows of the same key summed, most expensive first.
fn merge_cost(a: CostResponse, b: CostResponse) -> CostResponse {
    if a.rows.is_empty() && a.total == CostRow::default() {
        return b;
    }
    let mut rows: BTreeMap<String, CostRow> = BTreeMap::new();
    for row in a.rows.into_iter().chain(b.rows) {
        let merged = match rows.get(&row.key) {
            Some(seen) => add_rows(seen, &row),
            None => row,
        };
        rows.insert(merged.key.clone(), merged);
    }
    let mut rows: Vec<CostRow> = rows.into_values().collect();
    rows.sort_by(|x, y| y.cost_usd.total_cmp(&x.cost_usd).then(x.key.cmp(&y.key)));
    CostResponse {
        window: a.window,
        by: a.by,
        total: add_rows(&a.total, &b.total),
        rows,
    }
}

impl Source for MultiSource {
    fn describe(&self) -> String {
        let bases: Vec<String> = self
            .sources
            .iter()
            .map(|s| {
                let d = s.describe();
                d.strip_prefix("collector ")
                    .map(str::to_string)
                    .unwrap_or(d)
            })
            .collect();
        format!("{} collectors {}", self.sources.len(), bases.join(" "))
    }

    fn fetch(&self) -> BoxFuture<'_, Result<GpusResponse, SourceError>> {
        Box::pin(self.gpus())
    }

    fn fetch_alerts(&self) -> BoxFuture<'_, Result<AlertsResponse, SourceError>> {
        Box::pin(self.alerts())
    }

    fn fetch_burn(&self) -> BoxFuture<'_, Result<Option<CostRow>, SourceError>> {
        Box::pin(self.burn())
    }

    fn fetch_nodes(&self) -> BoxFuture<'_, Result<NodesResponse, SourceError>> {
        Box::pin(self.nodes())
    }

    fn fetch_inference(&self) -> BoxFuture<'_, Result<InferenceResponse, SourceError>> {
        Box::pin(self.inference())
    }

    fn fetch_cost(&self) -> BoxFuture<'_, Result<CostBreakdown, SourceError>> {
        Box::pin(self.cost())
    }

    fn fetch_detail(&self, gpu: GpuRef) -> BoxFuture<'_, Result<GpuDetailResponse, SourceError>> {
        Box::pin(self.detail(gpu))
    }

    fn partial_failures(&self) -> Vec<String> {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.iter().all(Option::is_some) {
            // All down: the fetch itself failed and says why.
            return Vec::new();
        }
        failures
            .iter()
            .zip(&self.sources)
            .filter_map(|(f, s)| Some(format!("{}: {}", s.describe(), f.as_ref()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FnSource;
    use gpuwatch_model::api::GpuView;

    fn on(node: &'static str) -> Arc<dyn Source> {
        let produce = move || GpusResponse {
            gpus: vec![GpuView {
                node: node.into(),
                id: format!("GPU-{node}"),
                name: "gpu0".into(),
                ..GpuView::default()
            }],
            newest_point_unix_ms: Some(1_000),
            points_received: 10,
            nodes: 1,
        };
        Arc::new(FnSource::new(
            format!("collector {node}"),
            Arc::new(produce),
        ))
    }

    /// A collector that is down.
    struct Down;

    impl Source for Down {
        fn describe(&self) -> String {
            "collector down".into()
        }

        fn fetch(&self) -> BoxFuture<'_, Result<GpusResponse, SourceError>> {
            Box::pin(std::future::ready(Err(SourceError::Status(503))))
        }
    }

    #[tokio::test]
    async fn views_of_several_collectors_merge() {
        let multi = MultiSource::new(vec![on("a"), on("b")]);
        assert_eq!(multi.describe(), "2 collectors a b");
        let gpus = multi.fetch().await.expect("both answer");
        assert_eq!(gpus.gpus.len(), 2);
        assert_eq!((gpus.points_received, gpus.nodes), (20, 2));
        assert!(multi.partial_failures().is_empty());
    }

    #[tokio::test]
    async fn one_collector_down_leaves_the_others_and_says_so() {
        let multi = MultiSource::new(vec![on("a"), Arc::new(Down)]);
        let gpus = multi.fetch().await.expect("a answers");
        assert_eq!(gpus.gpus.len(), 1);
        assert_eq!(
            multi.partial_failures(),
            ["collector down: collector answered HTTP 503"]
        );
        let all_down = MultiSource::new(vec![Arc::new(Down), Arc::new(Down)]);
        assert!(matches!(
            all_down.fetch().await,
            Err(SourceError::Status(503))
        ));
        assert!(all_down.partial_failures().is_empty());
    }

    #[test]
    fn spend_of_the_same_group_adds_up() {
        let row = |key: &str, cost: f64, idle: f64| CostRow {
            key: key.into(),
            gpus: 1,
            cost_usd: cost,
            idle_cost_usd: idle,
            burn_usd_per_hour: cost,
            ..CostRow::default()
        };
        let a = CostResponse {
            window: "1h".into(),
            by: "team".into(),
            total: row("", 10.0, 2.0),
            rows: vec![row("x", 6.0, 2.0), row("y", 4.0, 0.0)],
        };
        let b = CostResponse {
            total: row("", 5.0, 5.0),
            rows: vec![row("y", 5.0, 5.0)],
            ..a.clone()
        };
        let merged = merge_cost(merge_cost(CostResponse::default(), a), b);
        let keys: Vec<(&str, f64)> = merged
            .rows
            .iter()
            .map(|r| (r.key.as_str(), r.cost_usd))
            .collect();
        assert_eq!(keys, [("y", 9.0), ("x", 6.0)]);
        assert!((merged.rows[0].waste_share - 5.0 / 9.0).abs() < 1e-9);
        assert!((merged.total.cost_usd - 15.0).abs() < 1e-9);
        assert_eq!(merged.window, "1h");
    }
}
