//! `watch`'s side of the retraining trigger: the trigger's rules judged each round on the same
//! observations as the alerts, and the pipeline called (with the version's drift report) when
//! one has held for the trigger's duration; again after `again_after` while it holds, and a
//! failed call again after a few minutes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::engine::alerts::{Evaluator, Observation};
use crate::engine::retrain::{RetrainEvidence, call, rules};
use crate::model::{AlertRule, AlertState, RetrainTrigger};
use crate::settings::Settings;
use crate::sources::Sources;
use crate::store::Actor;

/// How long after a failed call the pipeline is called again.
const RETRY_SECONDS: i64 = 300;

/// Where a model serves now: its production version and its endpoint, from the round's fleet.
pub type Served = HashMap<String, (Option<u32>, Option<String>)>;

pub struct Retrainer {
    trigger: RetrainTrigger,
    rules: Vec<AlertRule>,
    evaluator: Evaluator,
    /// (rule, model) -> when it was last called, and whether that call succeeded.
    called: HashMap<(String, String), (DateTime<Utc>, bool)>,
    sources: Sources,
}

impl Retrainer {
    pub fn new(settings: &Settings, sources: Sources) -> Option<Self> {
        let trigger = settings.retrain.clone()?;
        let rules = rules(&trigger, &settings.alerts);
        Some(Retrainer {
            trigger,
            rules,
            evaluator: Evaluator::default(),
            called: HashMap::new(),
            sources,
        })
    }

    /// One round: judges the trigger's rules and calls the pipeline for each that is due.
    /// Returns a line per call for the log: (event, message).
    pub async fn round(
        &mut self,
        settings: &Settings,
        actor: &Actor,
        client: &reqwest::Client,
        observations: &[Observation],
        served: &Served,
        now: DateTime<Utc>,
    ) -> Vec<(&'static str, String)> {
        for change in self.evaluator.step(&self.rules, observations, now) {
            if change.state == AlertState::Resolved {
                self.called.remove(&(change.rule, change.model));
            }
        }
        let due: Vec<crate::model::Alert> = self
            .evaluator
            .active()
            .filter(|a| a.state == AlertState::Firing)
            .filter(|a| self.due(&a.rule, &a.model, now))
            .cloned()
            .collect();
        let mut said = Vec::new();
        for alert in due {
            let (version, endpoint) = served.get(&alert.model).cloned().unwrap_or_default();
            let drift = self
                .sources
                .drift
                .drift(alert.model.clone(), endpoint.unwrap_or_default())
                .await;
            let evidence = RetrainEvidence::of(&alert, version, drift, now);
            let result = match crate::store::Registry::open(&settings.data_dir) {
                Ok(mut registry) => {
                    call(&self.trigger, &evidence, client, &mut registry, actor).await
                }
                Err(e) => Err(format!("the registry cannot be opened to journal it: {e}")),
            };
            let ok = result.is_ok();
            self.called
                .insert((alert.rule.clone(), alert.model.clone()), (now, ok));
            let (event, text) = match result {
                Ok(text) => ("retrain", text),
                Err(text) => (
                    "retrain-failed",
                    format!("{text}; tried again in {RETRY_SECONDS}s"),
                ),
            };
            let value = alert
                .value
                .map(|v| format!("{v:.4}"))
                .unwrap_or_else(|| "unknown".into());
            said.push((
                event,
                format!(
                    "{} v{}: {} {value} past {} since {}: {text}",
                    alert.model,
                    version.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
                    alert.signal.name(),
                    alert.threshold,
                    alert.breached_since.format("%Y-%m-%d %H:%M:%S UTC"),
                ),
            ));
        }
        said
    }

    fn due(&self, rule: &str, model: &str, now: DateTime<Utc>) -> bool {
        match self.called.get(&(rule.to_string(), model.to_string())) {
            None => true,
            Some((at, false)) => (now - *at).num_seconds() >= RETRY_SECONDS,
            Some((at, true)) => self
                .trigger
                .again_after_seconds
                .is_some_and(|again| (now - *at).num_milliseconds() as f64 / 1e3 >= again),
        }
    }
}
