//! `gpuwatch top`: the live terminal dashboard of a GPU fleet.
//!
//! One row per GPU (utilization, memory, power, temperature, NVLink and PCIe traffic, a
//! state badge from the firing alerts, job, team) under a row per node that folds,
//! sorted by any column and filtered with a small language (`util<5 node=node-0*
//! state=idle`), with cluster totals and firing alerts above and the data's age and
//! source below; Enter shows one GPU in detail (charts, processes, alerts). Other tabs
//! list the alerts, the nodes' hosts (CPU, iowait, disks, network), the served models
//! (latency, drift) and the cost. The data comes from a [`Source`]: a collector's JSON
//! API ([`HttpSource`], `GET /api/v1/...`), several merged ([`MultiSource`]), or
//! functions in the same process ([`FnSource`], for `gpuwatch up` and `demo`). This
//! crate knows the collector only through `gpuwatch_model`.
//!
//! - `source`: where data comes from;
//! - `app`: the state and its one way to change, [`App::update`] with an [`Event`];
//! - `gpuwatch_model::gpu_state`: the badge of each GPU, from the alerts that touch it
//!   (in the model, so the API's `?state=` filter agrees with the badge);
//! - `filter`, `sort`, `column`: the `/` filter language, the table's order, its columns;
//! - `ui`: drawing a `&App`, never changing it;
//! - `run`: the terminal loop, [`run`];
//! - `format`: numbers as text.

mod app;
mod column;
mod filter;
mod format;
mod layout;
mod run;
mod sort;
mod source;
mod ui;

use gpuwatch_model::gpu_state;

pub use app::{App, Event, Key, Mouse, MouseKind, Wants};
pub use run::{run, run_with, Options, TuiError, DEFAULT_REFRESH};
pub use source::{
    AlertsFn, BurnFn, CostBreakdown, DetailFn, FnSource, GpuRef, HttpSource, MultiSource, Source,
    SourceError, ViewFn, HTTP_TIMEOUT,
};
pub use ui::{render, MIN_HEIGHT, MIN_WIDTH};
