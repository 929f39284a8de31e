//! 障害 (incidents) as the SLA monitor opens and closes them: an incident of a tenant's probe
//! opens after a run of failed probes and closes once probes succeed again. A single failure is
//! noise, not an outage; the outage starts with the first failure of the run that opened it.

use serde::{Deserialize, Serialize};

/// What a probe does, as an end user would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// The sign-in page loads.
    SignIn,
    /// 検索系: a person is looked up.
    Search,
    /// 更新系: a provision copy is stored.
    Update,
    /// A query through the hub is answered.
    RoundTrip,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 4] = [ProbeKind::SignIn, ProbeKind::Search, ProbeKind::Update, ProbeKind::RoundTrip];

    pub fn as_str(&self) -> &'static str {
        match self {
            ProbeKind::SignIn => "sign_in",
            ProbeKind::Search => "search",
            ProbeKind::Update => "update",
            ProbeKind::RoundTrip => "round_trip",
        }
    }

    pub fn parse(text: &str) -> Option<ProbeKind> {
        ProbeKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Its name in Japanese, for reports.
    pub fn label_ja(&self) -> &'static str {
        match self {
            ProbeKind::SignIn => "サインイン画面",
            ProbeKind::Search => "検索系",
            ProbeKind::Update => "更新系",
            ProbeKind::RoundTrip => "照会の往復",
        }
    }
}

/// When incidents open and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRule {
    /// Consecutive failures that open an incident.
    pub open_after: usize,
    /// Consecutive successes that close it.
    pub close_after: usize,
}

impl Default for IncidentRule {
    fn default() -> Self {
        IncidentRule { open_after: 3, close_after: 1 }
    }
}

/// One recorded probe, as the rule reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeResult {
    pub at: i64,
    pub ok: bool,
}

/// What the latest probe results mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Open an incident that started at the first failure of the run.
    Open {
        started_at: i64,
    },
    /// Close the open incident: service came back at the first success of the run.
    Close {
        recovered_at: i64,
    },
}

impl IncidentRule {
    /// What to do given the latest results (newest first) and whether an incident is open.
    pub fn step(&self, newest_first: &[ProbeResult], open: bool) -> Step {
        let want_ok = open;
        let need = if open { self.close_after } else { self.open_after }.max(1);
        let run: Vec<&ProbeResult> = newest_first.iter().take_while(|r| r.ok == want_ok).collect();
        match run.last() {
            Some(first) if run.len() >= need && open => Step::Close { recovered_at: first.at },
            Some(first) if run.len() >= need => Step::Open { started_at: first.at },
            _ => Step::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(oks: &[bool]) -> Vec<ProbeResult> {
        // Given oldest first, at 10, 20, …; returned newest first.
        let mut v: Vec<ProbeResult> = oks.iter().enumerate().map(|(i, ok)| ProbeResult { at: 10 * (i as i64 + 1), ok: *ok }).collect();
        v.reverse();
        v
    }

    #[test]
    fn an_incident_opens_after_a_run_of_failures_dated_from_its_first() {
        let rule = IncidentRule::default();
        assert_eq!(rule.step(&results(&[true, false, false]), false), Step::Nothing, "two failures are noise");
        assert_eq!(rule.step(&results(&[true, false, false, false]), false), Step::Open { started_at: 20 });
        assert_eq!(rule.step(&results(&[false, false, true]), false), Step::Nothing);
        assert_eq!(rule.step(&results(&[false, false, false, false]), true), Step::Nothing, "already open");
    }

    #[test]
    fn an_open_incident_closes_at_the_first_success_of_the_closing_run() {
        let rule = IncidentRule { open_after: 3, close_after: 2 };
        assert_eq!(rule.step(&results(&[false, false, true]), true), Step::Nothing);
        assert_eq!(rule.step(&results(&[false, true, true]), true), Step::Close { recovered_at: 20 });
        assert_eq!(rule.step(&[], true), Step::Nothing);
        for k in ProbeKind::ALL {
            assert_eq!(ProbeKind::parse(k.as_str()), Some(k));
        }
    }
}
