//! A progressive rollout: a canary handed to `flightdeck watch`, which moves it through its
//! traffic steps while the promote gates pass over each step's window, aborts it when one fails,
//! and waits (saying how long) while they lack data.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::gate::GateResult;

/// One version's counters in one scrape of its server (totals since it was loaded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionCounters {
    pub requests: f64,
    /// Responses with a 5xx status (server-side failures, including 503 overload).
    pub server_errors: f64,
    /// Responses with a 4xx status (bad requests).
    pub client_errors: f64,
    /// Cumulative latency buckets `(upper bound in seconds, count)`, ascending, ending at +Inf.
    #[serde(with = "buckets")]
    pub latency: Vec<(f64, f64)>,
    /// Cumulative seconds spent serving, for runtimes that count time but keep no histogram
    /// (Triton): the interval's mean latency comes from it.
    pub duration_seconds: f64,
}

impl VersionCounters {
    /// What was counted since `earlier`, a reading of the same version; the whole of `self`
    /// when a counter went down (the server restarted in between, and counts from zero again).
    pub fn since(&self, earlier: &VersionCounters) -> VersionCounters {
        let restarted = self.requests < earlier.requests
            || self.server_errors < earlier.server_errors
            || self.client_errors < earlier.client_errors
            || self.duration_seconds < earlier.duration_seconds
            || self.latency.len() != earlier.latency.len() && !earlier.latency.is_empty();
        if restarted {
            return self.clone();
        }
        let latency = self
            .latency
            .iter()
            .enumerate()
            .map(|(i, (bound, count))| {
                let before = earlier.latency.get(i).map_or(0.0, |b| b.1);
                (*bound, (count - before).max(0.0))
            })
            .collect();
        VersionCounters {
            requests: self.requests - earlier.requests,
            server_errors: self.server_errors - earlier.server_errors,
            client_errors: self.client_errors - earlier.client_errors,
            latency,
            duration_seconds: self.duration_seconds - earlier.duration_seconds,
        }
    }
}

/// Latency buckets as JSON keeps them: JSON has no infinity, so the +Inf bound is `null`.
mod buckets {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(buckets: &[(f64, f64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            buckets
                .iter()
                .map(|(bound, count)| (bound.is_finite().then_some(*bound), *count)),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(f64, f64)>, D::Error> {
        let kept: Vec<(Option<f64>, f64)> = Deserialize::deserialize(d)?;
        Ok(kept
            .into_iter()
            .map(|(bound, count)| (bound.unwrap_or(f64::INFINITY), count))
            .collect())
    }
}

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutPhase {
    /// In a step, its interval not yet over (or over, with the gates not yet judged).
    Running,
    /// The step's interval is over but a gate lacks data: the next step waits for it.
    Waiting,
    /// Held by hand: `watch` leaves it at its step until it is resumed.
    Paused,
    /// The canary was promoted: the rollout is over.
    Completed,
    /// The canary was removed (a gate failed, or by hand): the rollout is over.
    Aborted,
    /// Someone changed the deployment outside the rollout (promoted, aborted or replaced the
    /// canary by hand): the rollout stopped without touching it.
    Superseded,
}

impl RolloutPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutPhase::Running => "running",
            RolloutPhase::Waiting => "waiting",
            RolloutPhase::Paused => "paused",
            RolloutPhase::Completed => "completed",
            RolloutPhase::Aborted => "aborted",
            RolloutPhase::Superseded => "superseded",
        }
    }

    /// Whether `watch` still has work to do for it (paused ones count: they can be resumed).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RolloutPhase::Running | RolloutPhase::Waiting | RolloutPhase::Paused
        )
    }
}

/// A canary's way to 100 %, as the registry keeps it between rounds of `watch` (and across its
/// restarts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub model: String,
    pub environment: String,
    /// The canary being rolled out.
    pub version: u32,
    /// Production when the rollout started.
    pub production: u32,
    /// Traffic percentages, ascending; the last is 100 (the promote).
    pub steps: Vec<u8>,
    /// How long each step lasts at least before the gates may move it on.
    pub interval_seconds: f64,
    /// The index in `steps` of the step serving now.
    pub step: usize,
    /// When the step began: its window starts there.
    pub step_since: DateTime<Utc>,
    pub phase: RolloutPhase,
    /// Each version's counters when the step began; the step's window is what was counted
    /// since.
    #[serde(default)]
    pub baseline: BTreeMap<u32, VersionCounters>,
    /// The gates as last judged over the step's window.
    #[serde(default)]
    pub gates: Vec<GateResult>,
    /// What the rollout is doing or why it ended, in a sentence.
    pub note: String,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    /// When `watch` last judged it (`None`: never yet; is `watch` running?).
    #[serde(default)]
    pub checked_at: Option<DateTime<Utc>>,
    /// How often that `watch` judges (its `--every`): past a few of those without a word, it
    /// is taken to be gone.
    #[serde(default)]
    pub checked_every: Option<f64>,
}

impl Rollout {
    /// The traffic share of the step serving now.
    pub fn percent(&self) -> u8 {
        self.steps.get(self.step).copied().unwrap_or(100)
    }

    /// How long `watch` has been silent about a rollout under way, when longer than three of
    /// its rounds and a margin (a minute when it never spoke): nothing protects the canary then.
    pub fn watch_silent_seconds(&self, now: DateTime<Utc>) -> Option<i64> {
        if !self.phase.is_active() {
            return None;
        }
        let (since, allowed) = match self.checked_at {
            Some(at) => (at, 3.0 * self.checked_every.unwrap_or(10.0) + 10.0),
            None => (self.started_at, 60.0),
        };
        let silent = (now - since).num_seconds();
        (silent as f64 > allowed).then_some(silent)
    }

    /// "step 2 of 4 (25%)".
    pub fn step_text(&self) -> String {
        format!(
            "step {} of {} ({}%)",
            self.step + 1,
            self.steps.len(),
            self.percent()
        )
    }
}

/// Checks a rollout's steps: ascending percentages from 1 to 100, ending at 100.
pub fn check_steps(steps: &[u8]) -> Result<(), String> {
    if steps.is_empty() {
        return Err("--steps needs at least one percentage, e.g. 10,25,50,100".into());
    }
    if let Some(bad) = steps.iter().find(|p| **p == 0 || **p > 100) {
        return Err(format!(
            "--steps: {bad} is not a traffic share between 1 and 100"
        ));
    }
    if steps.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "--steps must go up: {}",
            steps
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    if steps.last() != Some(&100) {
        return Err(
            "--steps must end at 100 (the last step promotes the canary), e.g. 10,25,50,100".into(),
        );
    }
    if steps.len() < 2 {
        return Err(
            "--steps needs a canary step below 100 before the promote, e.g. 10,100 (straight to production is `flightdeck deploy --direct`)"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_since_an_earlier_reading_are_the_difference_or_all_after_a_restart() {
        let earlier = VersionCounters {
            requests: 100.0,
            server_errors: 2.0,
            client_errors: 1.0,
            latency: vec![(0.01, 90.0), (f64::INFINITY, 100.0)],
            duration_seconds: 1.0,
        };
        let now = VersionCounters {
            requests: 150.0,
            server_errors: 12.0,
            client_errors: 1.0,
            latency: vec![(0.01, 120.0), (f64::INFINITY, 150.0)],
            duration_seconds: 1.5,
        };
        let step = now.since(&earlier);
        assert_eq!(step.requests, 50.0);
        assert_eq!(step.server_errors, 10.0);
        assert_eq!(step.latency, vec![(0.01, 30.0), (f64::INFINITY, 50.0)]);
        // A restart: counting from zero again, so the newer reading is all of the window.
        let restarted = VersionCounters {
            requests: 20.0,
            ..now.clone()
        };
        assert_eq!(restarted.since(&earlier), restarted);
        assert_eq!(now.since(&VersionCounters::default()), now);
        // Kept as JSON between rounds, the +Inf bucket included.
        let kept: VersionCounters =
            serde_json::from_str(&serde_json::to_string(&now).unwrap()).unwrap();
        assert_eq!(kept, now);
    }

    #[test]
    fn steps_go_up_and_end_at_100() {
        assert!(check_steps(&[10, 25, 50, 100]).is_ok());
        assert!(check_steps(&[100]).unwrap_err().contains("below 100"));
        assert!(check_steps(&[10, 50]).unwrap_err().contains("end at 100"));
        assert!(check_steps(&[50, 25, 100]).unwrap_err().contains("go up"));
        assert!(
            check_steps(&[0, 100])
                .unwrap_err()
                .contains("between 1 and 100")
        );
        assert!(check_steps(&[]).is_err());
    }
}
