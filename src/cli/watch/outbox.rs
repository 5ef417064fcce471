//! What `watch` owes each receiver: this round's alerts and notices, and what earlier rounds
//! could not deliver (a receiver that is down hears of it when it is back). Bounded: past
//! [`KEPT`] undelivered items per receiver, the oldest are dropped and said.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{Alert, AlertState, Notice, Receiver, Silence};

/// Undelivered resolutions and notices kept per receiver.
pub const KEPT: usize = 1000;

/// How long one delivery may take before the receiver counts as down for this round.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What one round delivered, for the log.
#[derive(Debug, Default)]
pub struct Delivery {
    /// (receiver URL, why) for each receiver that could not be reached.
    pub undelivered: Vec<(String, String)>,
    /// (alert or notice, silence) kept from the receivers on purpose.
    pub silenced: Vec<(String, Silence)>,
    /// Items dropped from a full backlog.
    pub dropped: usize,
}

#[derive(Debug, Default)]
struct Backlog {
    resolved: VecDeque<Alert>,
    notices: VecDeque<Notice>,
}

/// The receivers' state across rounds.
#[derive(Debug)]
pub struct Outbox {
    receivers: Vec<Receiver>,
    /// When each firing alert was last said to each receiver: (receiver, rule, model) -> time.
    said: HashMap<(usize, String, String), DateTime<Utc>>,
    backlog: Vec<Backlog>,
}

impl Outbox {
    pub fn new(receivers: Vec<Receiver>) -> Self {
        let backlog = receivers.iter().map(|_| Backlog::default()).collect();
        Outbox {
            receivers,
            said: HashMap::new(),
            backlog,
        }
    }

    /// Sends this round's changes, the alerts still firing that are due again (Alertmanager:
    /// every round, as it expects), the notices, and whatever an earlier round could not.
    /// Silenced alerts are kept from every receiver and said; the resolution of one a receiver
    /// heard fire before the silence still reaches it (else its page stays open).
    pub async fn deliver(
        &mut self,
        client: &reqwest::Client,
        changes: &[Alert],
        firing: &[Alert],
        notices: &[Notice],
        silences: &[Silence],
        now: DateTime<Utc>,
    ) -> Delivery {
        let mut delivery = Delivery::default();
        let silenced = |a: &Alert| silences.iter().find(|s| s.covers(a, now)).cloned();
        let heard_fire = |index: usize, a: &Alert| {
            self.said
                .contains_key(&(index, a.rule.clone(), a.model.clone()))
        };
        for alert in changes {
            let ends_a_page = alert.state == AlertState::Resolved
                && (0..self.receivers.len()).any(|i| heard_fire(i, alert));
            if let Some(s) = silenced(alert)
                && !ends_a_page
            {
                delivery
                    .silenced
                    .push((format!("{} {}", alert.rule, alert.model), s));
            }
        }
        let firing: Vec<&Alert> = firing.iter().filter(|a| silenced(a).is_none()).collect();
        let resolved_for: Vec<Vec<Alert>> = (0..self.receivers.len())
            .map(|index| {
                changes
                    .iter()
                    .filter(|a| a.state == AlertState::Resolved)
                    .filter(|a| silenced(a).is_none() || heard_fire(index, a))
                    .cloned()
                    .collect()
            })
            .collect();
        for (index, resolved) in resolved_for.into_iter().enumerate() {
            let backlog = &mut self.backlog[index];
            backlog.resolved.extend(resolved);
            backlog.notices.extend(notices.iter().cloned());
            delivery.dropped += trim(&mut backlog.resolved) + trim(&mut backlog.notices);
            let receiver = self.receivers[index].clone();
            let due: Vec<Alert> = firing
                .iter()
                .filter(|a| self.due(index, &receiver, a, now))
                .map(|a| (*a).clone())
                .collect();
            let backlog = &mut self.backlog[index];
            let alerts: Vec<Alert> = backlog.resolved.iter().cloned().chain(due).collect();
            let sent = crate::clients::notify::send(client, &receiver, &alerts, TIMEOUT).await;
            if let Err(e) = sent {
                // Firing alerts stay due and resolutions stay queued: tried again next round.
                delivery.undelivered.push((receiver.url().to_string(), e));
                continue;
            }
            backlog.resolved.clear();
            for a in &alerts {
                let key = (index, a.rule.clone(), a.model.clone());
                match a.state {
                    AlertState::Resolved => self.said.remove(&key),
                    _ => self.said.insert(key, now),
                };
            }
            let backlog = &mut self.backlog[index];
            while let Some(notice) = backlog.notices.front() {
                match crate::clients::notify::tell(client, &receiver, notice, TIMEOUT).await {
                    Ok(()) => {
                        backlog.notices.pop_front();
                    }
                    Err(e) => {
                        delivery.undelivered.push((receiver.url().to_string(), e));
                        break;
                    }
                }
            }
        }
        delivery
    }

    /// Whether a firing alert is due at a receiver: never said there, or said longer ago than
    /// the receiver's repeat.
    fn due(&self, index: usize, receiver: &Receiver, a: &Alert, now: DateTime<Utc>) -> bool {
        let key = (index, a.rule.clone(), a.model.clone());
        match (receiver.repeat_seconds(), self.said.get(&key)) {
            (_, None) => true,
            (Some(repeat), Some(last)) => (now - *last).num_milliseconds() as f64 / 1e3 >= repeat,
            (None, Some(_)) => false,
        }
    }
}

/// Drops the oldest items past [`KEPT`]; returns how many.
fn trim<T>(queue: &mut VecDeque<T>) -> usize {
    let over = queue.len().saturating_sub(KEPT);
    queue.drain(..over);
    over
}
