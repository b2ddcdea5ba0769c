//! The job attribution part of `[agent]`: `proc_root`, `kubelet_socket` and the
//! `[[agent.jobs]]` rules, as written and as validated.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rules::{JobRule, Pattern};

/// Where kubelet serves its pod-resources API.
pub const DEFAULT_KUBELET_SOCKET: &str = "/var/lib/kubelet/pod-resources/kubelet.sock";

/// One `[[agent.jobs]]` table: processes that match every matcher set here (`user`,
/// `executable`, `namespace`; at least one) belong to `team` and `job` (at least one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobRuleConfig {
    /// The process's user (`SLURM_JOB_USER`, else the name of its uid, else the uid),
    /// exact or a glob (`*`, `?`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// The process's executable name (`/proc/PID/comm`, or the file name of
    /// `/proc/PID/exe`), exact or a glob.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub executable: String,
    /// The Kubernetes namespace of the process's pod, exact or a glob.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `gpuwatch.team` of what matches.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub team: String,
    /// `gpuwatch.job.id` of what matches, unless Slurm names the job.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub job: String,
}

/// Validated job attribution settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    /// The host's `/proc`; user names come from `etc/passwd` beside it.
    pub proc_root: PathBuf,
    /// The kubelet pod-resources socket; `None`: Kubernetes names are off.
    pub kubelet_socket: Option<PathBuf>,
    /// `[[agent.jobs]]`, in order: the first that matches wins.
    pub rules: Vec<JobRule>,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            proc_root: PathBuf::from("/proc"),
            kubelet_socket: Some(PathBuf::from(DEFAULT_KUBELET_SOCKET)),
            rules: Vec::new(),
        }
    }
}

impl JobSettings {
    /// `etc/passwd` beside the proc root: `/etc/passwd` for `/proc`,
    /// `/host/etc/passwd` for `/host/proc`.
    pub fn passwd(&self) -> PathBuf {
        self.proc_root
            .parent()
            .unwrap_or(Path::new("/"))
            .join("etc/passwd")
    }

    /// Checks `proc_root`, `kubelet_socket` and `jobs` as written. Errors are
    /// `(key without "agent.", rule)`.
    pub(crate) fn validate(
        proc_root: &str,
        kubelet_socket: &str,
        rules: &[JobRuleConfig],
    ) -> Result<JobSettings, (String, String)> {
        let proc_root = proc_root.trim();
        if !proc_root.starts_with('/') {
            return Err((
                "proc_root".into(),
                format!("must be an absolute path such as /proc, got \"{proc_root}\""),
            ));
        }
        let kubelet_socket = kubelet_socket.trim();
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, rule)| rule.validate().map_err(|rule| (format!("jobs[{i}]"), rule)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(JobSettings {
            proc_root: PathBuf::from(proc_root),
            kubelet_socket: (!kubelet_socket.is_empty()).then(|| PathBuf::from(kubelet_socket)),
            rules,
        })
    }
}

impl JobRuleConfig {
    fn validate(&self) -> Result<JobRule, String> {
        let text = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        };
        let pattern = |s: &str| text(s).map(Pattern::new);
        let rule = JobRule {
            user: pattern(&self.user),
            executable: pattern(&self.executable),
            namespace: pattern(&self.namespace),
            team: text(&self.team),
            job: text(&self.job),
        };
        if rule.user.is_none() && rule.executable.is_none() && rule.namespace.is_none() {
            return Err("must match on at least one of user, executable or namespace".into());
        }
        if rule.team.is_none() && rule.job.is_none() {
            return Err("must set team or job (or both)".into());
        }
        Ok(rule)
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::AgentConfig;

    use super::*;

    fn agent(toml_text: &str) -> Result<JobSettings, String> {
        let mut config: AgentConfig = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        config.host_name = "node-01".into();
        config
            .validate()
            .map(|settings| settings.jobs)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rules_parse_in_order_with_globs() {
        let settings = agent(
            "proc_root = \"/host/proc\"\nkubelet_socket = \"\"\n\
             [[jobs]]\nuser = \"alice\"\nexecutable = \"python*\"\nteam = \"nlp\"\njob = \"notebooks\"\n\
             [[jobs]]\nnamespace = \"serve-*\"\nteam = \"inference\"\n",
        )
        .expect("valid");
        assert_eq!(settings.proc_root, PathBuf::from("/host/proc"));
        assert_eq!(settings.passwd(), PathBuf::from("/host/etc/passwd"));
        assert_eq!(settings.kubelet_socket, None, "empty turns it off");
        assert_eq!(
            settings.rules,
            vec![
                JobRule {
                    user: Some(Pattern::new("alice")),
                    executable: Some(Pattern::new("python*")),
                    namespace: None,
                    team: Some("nlp".into()),
                    job: Some("notebooks".into()),
                },
                JobRule {
                    user: None,
                    executable: None,
                    namespace: Some(Pattern::new("serve-*")),
                    team: Some("inference".into()),
                    job: None,
                },
            ]
        );
        let defaults = agent("").expect("valid");
        assert_eq!(defaults, JobSettings::default());
    }

    #[test]
    fn errors_name_the_rule_and_what_it_lacks() {
        let cases = [
            (
                "[[jobs]]\nuser = \"a\"\nteam = \"t\"\n[[jobs]]\nteam = \"t\"\n",
                "agent.jobs[1] must match on at least one of user, executable or namespace",
            ),
            (
                "[[jobs]]\nexecutable = \"python\"\n",
                "agent.jobs[0] must set team or job (or both)",
            ),
            (
                "[[jobs]]\nuser = \" \"\njob = \"x\"\n",
                "agent.jobs[0] must match on at least one of user, executable or namespace",
            ),
            (
                "proc_root = \"proc\"\n",
                "agent.proc_root must be an absolute path such as /proc, got \"proc\"",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(agent(text).expect_err(want), want);
        }
        let unknown =
            agent("[[jobs]]\nuser = \"a\"\nteam = \"t\"\ngroup = \"g\"\n").expect_err("unknown");
        assert!(unknown.contains("unknown field `group`"), "{unknown}");
    }
}
