//! Alert evaluation: rules against the signals read each round, each alert pending until its
//! condition has held for the rule's `for`, then firing, then resolved when the condition no
//! longer holds. Pure: the caller reads the signals, keeps the evaluator and acts on its changes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::model::{Alert, AlertRule, AlertSignal, AlertState};

/// An alert `watch` journaled as firing and has not journaled resolved since.
#[derive(Debug, Clone, PartialEq)]
pub struct JournaledAlert {
    pub rule: String,
    pub model: String,
    pub severity: crate::model::Severity,
    pub since: DateTime<Utc>,
}

/// The alerts firing in `environment` as `watch` said them in the journal (the newest `alert
/// firing` or `alert resolved` row of each rule and model decides), for one-shot readers such
/// as `flightdeck status`, which cannot hold a rule's `for` themselves.
pub fn journaled_firing(
    registry: &crate::store::Registry,
    environment: &str,
) -> Result<Vec<JournaledAlert>, crate::error::EngineError> {
    /// How far back the journal is read: alerts older than this many rows are not shown.
    const ROWS: usize = 5000;
    let rows = registry.journal(&crate::store::journal::JournalQuery {
        model: None,
        limit: Some(ROWS),
    })?;
    let mut decided = std::collections::BTreeSet::new();
    let mut firing = Vec::new();
    for row in rows.iter().filter(|r| {
        r.environment == environment
            && (r.operation == "alert firing" || r.operation == "alert resolved")
    }) {
        let alert = &row.details["alert"];
        let (Some(rule), Some(model)) = (alert["rule"].as_str(), alert["model"].as_str()) else {
            continue;
        };
        if !decided.insert((rule.to_string(), model.to_string())) || row.operation != "alert firing"
        {
            continue;
        }
        let severity = serde_json::from_value(alert["severity"].clone())
            .unwrap_or(crate::model::Severity::Warning);
        firing.push(JournaledAlert {
            rule: rule.to_string(),
            model: model.to_string(),
            severity,
            since: row.time,
        });
    }
    Ok(firing)
}

/// One signal of one model as read this round; `None` when it was not measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub model: String,
    pub signal: AlertSignal,
    pub value: Option<f64>,
}

/// The alerts in force between rounds.
#[derive(Debug, Default, Clone)]
pub struct Evaluator {
    active: BTreeMap<(String, String), Alert>,
}

impl Evaluator {
    /// Pending and firing alerts now.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// One round: every rule against this round's observations. Returns the alerts that began
    /// to fire and those that resolved (pending ones are kept quietly). A firing alert whose
    /// signal goes unmeasured keeps firing with an unknown value: no evidence is not evidence
    /// that it is over; a pending one starts over, since its condition was not seen to hold.
    pub fn step(
        &mut self,
        rules: &[AlertRule],
        observations: &[Observation],
        now: DateTime<Utc>,
    ) -> Vec<Alert> {
        let mut changes = Vec::new();
        for rule in rules {
            for o in observations.iter().filter(|o| {
                o.signal == rule.signal && rule.model.as_ref().is_none_or(|m| *m == o.model)
            }) {
                let key = (rule.name.clone(), o.model.clone());
                let current = self.active.get(&key).map(|a| a.state);
                match (o.value, current) {
                    (Some(v), None) if rule.breached(v) => {
                        let alert = Alert {
                            rule: rule.name.clone(),
                            model: o.model.clone(),
                            signal: rule.signal,
                            severity: rule.severity,
                            threshold: rule.threshold,
                            state: AlertState::Pending,
                            since: now,
                            breached_since: now,
                            value: Some(v),
                            labels: rule.labels.clone(),
                        };
                        self.active.insert(key.clone(), alert);
                        self.promote_if_due(&key, rule, now, &mut changes);
                    }
                    (Some(v), Some(_)) if rule.breached(v) => {
                        if let Some(a) = self.active.get_mut(&key) {
                            a.value = Some(v);
                        }
                        self.promote_if_due(&key, rule, now, &mut changes);
                    }
                    (Some(v), Some(AlertState::Firing)) => {
                        if let Some(mut a) = self.active.remove(&key) {
                            a.state = AlertState::Resolved;
                            a.since = now;
                            a.value = Some(v);
                            changes.push(a);
                        }
                    }
                    (None, Some(AlertState::Firing)) => {
                        if let Some(a) = self.active.get_mut(&key) {
                            a.value = None;
                        }
                    }
                    (_, Some(_)) => {
                        self.active.remove(&key);
                    }
                    (_, None) => {}
                }
            }
        }
        changes
    }

    /// A pending alert whose condition has held for the rule's `for` fires.
    fn promote_if_due(
        &mut self,
        key: &(String, String),
        rule: &AlertRule,
        now: DateTime<Utc>,
        changes: &mut Vec<Alert>,
    ) {
        let Some(a) = self.active.get_mut(key) else {
            return;
        };
        let held = (now - a.since).num_milliseconds() as f64 / 1000.0;
        if a.state == AlertState::Pending && held >= rule.for_seconds {
            a.state = AlertState::Firing;
            a.since = now;
            changes.push(a.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    fn rule(for_seconds: f64) -> AlertRule {
        AlertRule {
            name: "claims-5xx".into(),
            signal: AlertSignal::ServerErrors,
            threshold: 0.05,
            for_seconds,
            severity: Severity::Critical,
            model: None,
            labels: BTreeMap::new(),
        }
    }

    fn seen(value: Option<f64>) -> Vec<Observation> {
        vec![Observation {
            model: "claims".into(),
            signal: AlertSignal::ServerErrors,
            value,
        }]
    }

    #[test]
    fn an_alert_is_pending_for_its_duration_then_fires_once_then_resolves() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let rules = [rule(60.0)];
        let mut e = Evaluator::default();
        assert!(e.step(&rules, &seen(Some(0.2)), at(0)).is_empty());
        assert_eq!(
            e.active().next().map(|a| a.state),
            Some(AlertState::Pending)
        );
        assert!(e.step(&rules, &seen(Some(0.3)), at(30)).is_empty());
        let fired = e.step(&rules, &seen(Some(0.3)), at(60));
        assert_eq!(fired.len(), 1);
        assert_eq!(
            (fired[0].state, fired[0].value),
            (AlertState::Firing, Some(0.3))
        );
        // Deduplicated: still firing, no second notification.
        assert!(e.step(&rules, &seen(Some(0.4)), at(70)).is_empty());
        // Unmeasured: it keeps firing, its value unknown.
        assert!(e.step(&rules, &seen(None), at(80)).is_empty());
        assert_eq!(e.active().next().and_then(|a| a.value), None);
        let resolved = e.step(&rules, &seen(Some(0.0)), at(90));
        assert_eq!(resolved[0].state, AlertState::Resolved);
        assert_eq!(resolved[0].since, at(90));
        assert_eq!(e.active().count(), 0);
    }

    #[test]
    fn a_blip_shorter_than_the_duration_never_fires() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let rules = [rule(60.0)];
        let mut e = Evaluator::default();
        e.step(&rules, &seen(Some(0.2)), at(0));
        assert!(e.step(&rules, &seen(Some(0.01)), at(30)).is_empty());
        assert_eq!(e.active().count(), 0, "pending is dropped quietly");
        // A rule for another model does not see this one.
        let mut other = rule(0.0);
        other.model = Some("churn".into());
        assert!(e.step(&[other], &seen(Some(0.9)), at(40)).is_empty());
    }
}
