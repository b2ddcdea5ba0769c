//! What each simulated GPU is doing, and the demo cluster's layout.

use gpuwatch_model::JobInfo;

/// The workload one simulated GPU follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// A distributed training job: pinned utilization, high power, NVLink all-reduce.
    Training { job_id: String, team: String },
    /// A model server (`vllm`): utilization follows a slow sine, PCIe traffic, no NVLink.
    Inference { team: String, model: String },
    /// Allocated to a job that runs nothing on it: the money the cost report looks for.
    ReservedIdle { job_id: String, team: String },
    /// Not allocated, nothing running.
    FreeIdle,
}

impl Profile {
    /// The job the GPU is attributed to; inference jobs are named `infer-<model>`.
    pub fn job(&self) -> Option<JobInfo> {
        let (job_id, team) = match self {
            Profile::Training { job_id, team } | Profile::ReservedIdle { job_id, team } => {
                (job_id.clone(), team.clone())
            }
            Profile::Inference { team, model } => (format!("infer-{model}"), team.clone()),
            Profile::FreeIdle => return None,
        };
        Some(JobInfo {
            job_id: Some(job_id),
            team: Some(team),
            k8s_namespace: None,
            k8s_pod: None,
            k8s_pod_uid: None,
        })
    }

    /// A short name for logs: `training`, `inference`, `reserved-idle`, `free`.
    pub fn kind(&self) -> &'static str {
        match self {
            Profile::Training { .. } => "training",
            Profile::Inference { .. } => "inference",
            Profile::ReservedIdle { .. } => "reserved-idle",
            Profile::FreeIdle => "free",
        }
    }
}

/// Models the demo's inference nodes serve, one per repetition of the layout.
const DEMO_MODELS: [&str; 3] = ["llama-3.1-8b", "mistral-7b-instruct", "qwen2.5-14b"];

/// The demo cluster, in groups of four nodes: nodes 0 and 1 share one training job
/// (`4411`, team `llm-pretrain`), node 2 serves inference (team `search`), node 3 has
/// its first half of GPUs reserved by job `4502` (team `vision`) but idle and the rest
/// free. Each further group repeats the pattern with job ids 200 higher.
pub fn demo_profiles(node_index: usize, gpus_per_node: usize) -> Vec<Profile> {
    let group = node_index / 4;
    let offset = 200 * group as u64;
    match node_index % 4 {
        0 | 1 => vec![
            Profile::Training {
                job_id: (4411 + offset).to_string(),
                team: "llm-pretrain".to_string(),
            };
            gpus_per_node
        ],
        2 => vec![
            Profile::Inference {
                team: "search".to_string(),
                model: DEMO_MODELS[group % DEMO_MODELS.len()].to_string(),
            };
            gpus_per_node
        ],
        _ => {
            let reserved = gpus_per_node.div_ceil(2);
            (0..gpus_per_node)
                .map(|i| {
                    if i < reserved {
                        Profile::ReservedIdle {
                            job_id: (4502 + offset).to_string(),
                            team: "vision".to_string(),
                        }
                    } else {
                        Profile::FreeIdle
                    }
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_ids(profiles: &[Profile]) -> Vec<Option<String>> {
        profiles
            .iter()
            .map(|p| p.job().and_then(|j| j.job_id))
            .collect()
    }

    #[test]
    fn first_group_matches_the_demo_story() {
        let train = Some("4411".to_string());
        assert_eq!(
            job_ids(&demo_profiles(0, 2)),
            vec![train.clone(), train.clone()]
        );
        assert_eq!(job_ids(&demo_profiles(1, 2)), vec![train.clone(), train]);
        let infer = demo_profiles(2, 2);
        assert_eq!(
            infer[0].job().and_then(|j| j.team),
            Some("search".to_string())
        );
        assert_eq!(job_ids(&infer)[0].as_deref(), Some("infer-llama-3.1-8b"));
        let mixed = demo_profiles(3, 4);
        assert_eq!(
            job_ids(&mixed),
            vec![
                Some("4502".to_string()),
                Some("4502".to_string()),
                None,
                None
            ]
        );
        assert_eq!(mixed[3], Profile::FreeIdle);
    }

    #[test]
    fn later_groups_use_other_job_ids() {
        assert_eq!(
            job_ids(&demo_profiles(4, 1)),
            vec![Some("4611".to_string())]
        );
        assert_eq!(
            job_ids(&demo_profiles(7, 1)),
            vec![Some("4702".to_string())]
        );
        assert_eq!(demo_profiles(5, 8).len(), 8);
    }
}
