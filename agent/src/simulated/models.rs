//! The models a simulated inference node serves, as their servers and the models
//! themselves would report them: cumulative histograms of request latency
//! (`gen_ai.server.request.duration`), time to first token
//! (`gen_ai.server.time_to_first_token`), time per output token
//! (`gen_ai.server.time_per_output_token`), prompt length (`gpuwatch.model.feature`,
//! feature `prompt_tokens`) and the model's scores (`gpuwatch.model.prediction`).
//!
//! Each model takes about 6 requests a second per GPU serving it. Bucket counts follow
//! fixed distributions: the expected count of each bucket accumulates as a real number
//! and the histogram reports its integer part, so counts are deterministic and never
//! decrease. `PredictionDrift` moves prompt lengths and scores; `LatencyRegression`
//! makes requests and output tokens 1.8 times and first tokens 2 times slower.

use gpuwatch_model::names::{attr, metric, unit};
use gpuwatch_model::HistogramSample;

use super::noise::{hash, hash_str, signed};
use super::profile::Profile;

/// Requests a second per GPU serving a model.
const REQUESTS_PER_GPU_SECOND: f64 = 6.0;

/// vLLM's request-latency buckets, seconds.
const LATENCY_BOUNDS: [f64; 15] = [
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
];
/// vLLM's time-to-first-token buckets, seconds.
const TTFT_BOUNDS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
];
/// vLLM's time-per-output-token buckets, seconds.
const TPOT_BOUNDS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];
const PROMPT_BOUNDS: [f64; 8] = [32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0];
const SCORE_BOUNDS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// A log-normal distribution, by its median and the spread of its logarithm.
#[derive(Debug, Clone, Copy)]
struct LogNormal {
    median: f64,
    sigma: f64,
}

impl LogNormal {
    /// P(X <= x), with the logistic approximation of the normal CDF (error < 0.01).
    fn cdf(self, x: f64) -> f64 {
        let z = (x.ln() - self.median.ln()) / self.sigma;
        1.0 / (1.0 + (-1.702 * z).exp())
    }

    /// The mean, for the histogram's sum.
    fn mean(self) -> f64 {
        self.median * (self.sigma * self.sigma / 2.0).exp()
    }

    /// The share of each bucket of `bounds` (and `+Inf`).
    fn shares(self, bounds: &[f64]) -> Vec<f64> {
        let mut below = 0.0;
        let mut out: Vec<f64> = bounds
            .iter()
            .map(|&b| {
                let c = self.cdf(b);
                let share = c - below;
                below = c;
                share
            })
            .collect();
        out.push(1.0 - below);
        out
    }
}

/// Scores over the ten tenths of [0, 1]: a fraud-style model, mostly low scores.
const SCORES: [f64; 10] = [0.30, 0.22, 0.14, 0.09, 0.07, 0.05, 0.04, 0.04, 0.03, 0.02];
/// The same model once its inputs moved: more high scores.
const DRIFTED_SCORES: [f64; 10] = [0.10, 0.09, 0.08, 0.08, 0.09, 0.10, 0.11, 0.12, 0.12, 0.11];

/// One cumulative histogram: the expected count of each bucket so far.
#[derive(Debug, Clone)]
struct Accumulator {
    metric: &'static str,
    unit: &'static str,
    attributes: Vec<(String, String)>,
    bounds: &'static [f64],
    expected: Vec<f64>,
    sum: f64,
}

impl Accumulator {
    fn new(
        metric: &'static str,
        unit: &'static str,
        attributes: Vec<(String, String)>,
        bounds: &'static [f64],
    ) -> Accumulator {
        Accumulator {
            metric,
            unit,
            attributes,
            bounds,
            expected: vec![0.0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Adds `n` observations spread by `shares`, with mean `mean`.
    fn observe(&mut self, n: f64, shares: &[f64], mean: f64) {
        for (e, s) in self.expected.iter_mut().zip(shares) {
            *e += n * s;
        }
        self.sum += n * mean;
    }

    fn sample(&self, start: u64) -> HistogramSample {
        HistogramSample {
            metric: self.metric.to_string(),
            unit: self.unit.to_string(),
            attributes: self.attributes.clone(),
            start_time_unix_nano: gpuwatch_model::Timestamp::from_unix_nanos_u64(start),
            bounds: self.bounds.to_vec(),
            bucket_counts: self.expected.iter().map(|e| e.floor() as u64).collect(),
            sum: self.sum,
        }
    }
}

/// What the active faults do to a node's models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ModelFault {
    pub drift: bool,
    pub latency_regression: bool,
}

/// One served model.
#[derive(Debug, Clone)]
struct Served {
    model: String,
    gpus: usize,
    latency: Accumulator,
    ttft: Accumulator,
    tpot: Accumulator,
    prompt: Accumulator,
    score: Accumulator,
}

/// The histograms of every model a node serves, counted from the first sample.
#[derive(Debug, Clone)]
pub(crate) struct ModelCounters {
    start: u64,
    last: u64,
    seed: u64,
    node: u64,
    models: Vec<Served>,
}

impl ModelCounters {
    /// The models the inference GPUs among `profiles` serve; `None` when there are
    /// none.
    pub(crate) fn start(profiles: &[Profile], seed: u64, node: u64, t: u64) -> Option<Self> {
        let mut models: Vec<Served> = Vec::new();
        for p in profiles {
            let Profile::Inference { model, .. } = p else {
                continue;
            };
            if let Some(m) = models.iter_mut().find(|m| &m.model == model) {
                m.gpus += 1;
                continue;
            }
            let by = |key: &str| vec![(key.to_string(), model.clone())];
            let mut feature = by(attr::MODEL);
            feature.push((attr::FEATURE.to_string(), "prompt_tokens".to_string()));
            models.push(Served {
                model: model.clone(),
                gpus: 1,
                latency: Accumulator::new(
                    metric::GENAI_REQUEST_DURATION,
                    unit::SECONDS,
                    by(attr::GENAI_MODEL),
                    &LATENCY_BOUNDS,
                ),
                ttft: Accumulator::new(
                    metric::GENAI_TIME_TO_FIRST_TOKEN,
                    unit::SECONDS,
                    by(attr::GENAI_MODEL),
                    &TTFT_BOUNDS,
                ),
                tpot: Accumulator::new(
                    metric::GENAI_TIME_PER_OUTPUT_TOKEN,
                    unit::SECONDS,
                    by(attr::GENAI_MODEL),
                    &TPOT_BOUNDS,
                ),
                prompt: Accumulator::new(metric::MODEL_FEATURE, "{token}", feature, &PROMPT_BOUNDS),
                score: Accumulator::new(
                    metric::MODEL_PREDICTION,
                    "1",
                    by(attr::MODEL),
                    &SCORE_BOUNDS,
                ),
            });
        }
        (!models.is_empty()).then_some(ModelCounters {
            start: t,
            last: t,
            seed,
            node,
            models,
        })
    }

    /// Counts the requests of `(last sample, t]` and returns every histogram.
    pub(crate) fn advance(&mut self, t: u64, fault: ModelFault) -> Vec<HistogramSample> {
        let seconds = t.saturating_sub(self.last) as f64 / 1e9;
        self.last = self.last.max(t);
        let (slow, first_token_slow) = if fault.latency_regression {
            (1.8, 2.0)
        } else {
            (1.0, 1.0)
        };
        let latency = LogNormal {
            median: 1.2 * slow,
            sigma: 0.5,
        };
        let ttft = LogNormal {
            median: 0.08 * first_token_slow,
            sigma: 0.6,
        };
        let tpot = LogNormal {
            median: 0.03 * slow,
            sigma: 0.4,
        };
        let prompt = LogNormal {
            median: if fault.drift { 1100.0 } else { 350.0 },
            sigma: 0.7,
        };
        let scores: &[f64] = if fault.drift {
            &DRIFTED_SCORES
        } else {
            &SCORES
        };
        let score_mean: f64 = scores
            .iter()
            .enumerate()
            .map(|(i, s)| s * (i as f64 + 0.5) / 10.0)
            .sum();
        let mut out = Vec::with_capacity(self.models.len() * 5);
        for m in &mut self.models {
            // ±20% on the rate, changing every second.
            let jitter = signed(hash(&[
                self.seed,
                self.node,
                hash_str(&m.model),
                t / 1_000_000_000,
            ]));
            let n = REQUESTS_PER_GPU_SECOND * m.gpus as f64 * seconds * (1.0 + 0.2 * jitter);
            m.latency
                .observe(n, &latency.shares(&LATENCY_BOUNDS), latency.mean());
            m.ttft.observe(n, &ttft.shares(&TTFT_BOUNDS), ttft.mean());
            m.tpot.observe(n, &tpot.shares(&TPOT_BOUNDS), tpot.mean());
            m.prompt
                .observe(n, &prompt.shares(&PROMPT_BOUNDS), prompt.mean());
            m.score.observe(n, scores, score_mean);
            for acc in [&m.latency, &m.ttft, &m.tpot, &m.prompt, &m.score] {
                out.push(acc.sample(self.start));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(gpus: usize) -> Vec<Profile> {
        vec![
            Profile::Inference {
                team: "search".into(),
                model: "llama".into(),
            };
            gpus
        ]
    }

    #[test]
    fn shares_sum_to_one_and_follow_the_median() {
        let d = LogNormal {
            median: 1.2,
            sigma: 0.5,
        };
        let shares = d.shares(&LATENCY_BOUNDS);
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((d.cdf(1.2) - 0.5).abs() < 1e-12);
        assert!(shares.iter().all(|s| *s >= 0.0));
        assert!((SCORES.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!((DRIFTED_SCORES.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn no_inference_gpus_no_models() {
        assert!(ModelCounters::start(&[Profile::FreeIdle], 1, 0, 0).is_none());
    }

    #[test]
    fn counts_grow_with_the_gpus_and_never_decrease() {
        let mut m = ModelCounters::start(&served(4), 1, 2, 0).expect("a model");
        let mut last: Vec<u64> = Vec::new();
        for s in 1..=60u64 {
            let h = m.advance(s * 1_000_000_000, ModelFault::default());
            assert_eq!(h.len(), 5);
            let counts: Vec<u64> = h.iter().map(HistogramSample::count).collect();
            assert!(counts.iter().zip(&last).all(|(c, l)| c >= l));
            last = counts;
        }
        // 4 GPUs × 6 requests/s × 60 s, ±20%.
        assert!((1100..=1800).contains(&last[0]), "{last:?}");
        let latency = &m.advance(61_000_000_000, ModelFault::default())[0];
        let mean = latency.sum / latency.count() as f64;
        assert!((1.2..1.5).contains(&mean), "mean latency {mean}");
    }

    #[test]
    fn faults_move_the_distributions() {
        let mean_after = |fault: ModelFault, which: usize| {
            let mut m = ModelCounters::start(&served(1), 1, 2, 0).expect("a model");
            let h = m.advance(600_000_000_000, fault).swap_remove(which);
            h.sum / h.count() as f64
        };
        let healthy = ModelFault::default();
        let regression = ModelFault {
            latency_regression: true,
            ..healthy
        };
        let drift = ModelFault {
            drift: true,
            ..healthy
        };
        assert!(mean_after(regression, 0) > 1.7 * mean_after(healthy, 0));
        assert!(mean_after(regression, 1) > 1.9 * mean_after(healthy, 1));
        assert!(mean_after(regression, 2) > 1.7 * mean_after(healthy, 2));
        assert!(mean_after(drift, 3) > 2.5 * mean_after(healthy, 3));
        assert!(mean_after(drift, 4) > mean_after(healthy, 4) + 0.15);
        assert_eq!(mean_after(drift, 0), mean_after(healthy, 0));
    }
}
