//! `[[agent.jobs]]` rules, validated: which processes (by user, executable, namespace)
//! belong to which team and job.

pub use gpuwatch_model::glob::Glob as Pattern;

/// One validated `[[agent.jobs]]` rule: every matcher that is set must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRule {
    /// Matches the process's user (`SLURM_JOB_USER`, else its uid's name or number).
    pub user: Option<Pattern>,
    /// Matches `/proc/PID/comm` or the file name of `/proc/PID/exe`.
    pub executable: Option<Pattern>,
    /// Matches the Kubernetes namespace of the process's (or the GPU's) pod.
    pub namespace: Option<Pattern>,
    /// `gpuwatch.team` for what matches.
    pub team: Option<String>,
    /// `gpuwatch.job.id` for what matches, unless Slurm names the job.
    pub job: Option<String>,
}

/// What a rule is matched against; `None` never matches a set matcher.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Subject<'a> {
    pub(crate) user: Option<&'a str>,
    pub(crate) executables: [Option<&'a str>; 2],
    pub(crate) namespace: Option<&'a str>,
}

impl JobRule {
    pub(crate) fn matches(&self, subject: &Subject<'_>) -> bool {
        let one = |pattern: &Option<Pattern>, value: Option<&str>| match pattern {
            None => true,
            Some(pattern) => value.is_some_and(|v| pattern.matches(v)),
        };
        let executable = match &self.executable {
            None => true,
            Some(pattern) => subject
                .executables
                .iter()
                .flatten()
                .any(|name| pattern.matches(name)),
        };
        one(&self.user, subject.user) && executable && one(&self.namespace, subject.namespace)
    }
}

/// The first rule that matches.
pub(crate) fn first_match<'r>(rules: &'r [JobRule], subject: &Subject<'_>) -> Option<&'r JobRule> {
    rules.iter().find(|rule| rule.matches(subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_set_matcher_must_match() {
        let rule = JobRule {
            user: Some(Pattern::new("alice")),
            executable: Some(Pattern::new("python*")),
            namespace: None,
            team: Some("nlp".into()),
            job: None,
        };
        let subject = |user, comm, exe| Subject {
            user,
            executables: [comm, exe],
            namespace: Some("anything"),
        };
        assert!(rule.matches(&subject(Some("alice"), Some("python3"), None)));
        assert!(rule.matches(&subject(
            Some("alice"),
            Some("pt_main_thread"),
            Some("python3.11")
        )));
        assert!(!rule.matches(&subject(Some("bob"), Some("python3"), None)));
        assert!(!rule.matches(&subject(None, Some("python3"), None)));
        assert!(!rule.matches(&subject(Some("alice"), None, None)));
        let by_namespace = JobRule {
            user: None,
            executable: None,
            namespace: Some(Pattern::new("team-*")),
            team: Some("t".into()),
            job: None,
        };
        assert!(by_namespace.matches(&Subject {
            namespace: Some("team-a"),
            ..Subject::default()
        }));
        assert!(!by_namespace.matches(&Subject::default()));
    }
}
