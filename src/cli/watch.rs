//! `flightdeck watch`: a headless process that reads the fleet as the console does, every few
//! seconds, judges the alert rules on it, and says (and journals) each alert that fires or
//! resolves. It outlives its backends: a round that cannot read them is said and the next one
//! tries again.

use super::say;
use std::time::Duration;

use clap::Args;

use super::{Failure, failure, program, runtime};
use crate::engine::alerts::Evaluator;
use crate::model::{Alert, AlertState, NewJournalEntry, Outcome};
use crate::settings::Settings;
use crate::store::Actor;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Time between rounds (each reads the fleet and judges every rule).
    #[arg(long, default_value = "10s", value_parser = parse_every)]
    pub every: f64,
    /// Stop after this many rounds (default: until interrupted).
    #[arg(long)]
    pub rounds: Option<u64>,
    /// One JSON object a line, for a log collector.
    #[arg(long)]
    pub json: bool,
}

fn parse_every(text: &str) -> Result<f64, String> {
    let seconds = crate::settings::duration_seconds(text)?;
    if seconds < 1.0 {
        return Err("--every is at least 1s".into());
    }
    Ok(seconds)
}

pub fn run(settings: &Settings, actor: &Actor, args: WatchArgs) -> Result<(), Failure> {
    let program = program()?;
    let rules = &settings.alerts;
    if rules.is_empty() {
        return Err(failure("no alert rules: nothing to watch"));
    }
    // A webhook that must be signed and cannot be: refused now, not at the first alert.
    for receiver in &settings.receivers {
        if let crate::model::Receiver::Webhook {
            secret_env: Some(var),
            ..
        } = receiver
        {
            crate::clients::notify::webhook_secret(var).map_err(failure)?;
        }
    }
    log(
        &args,
        "started",
        &format!(
            "watching {} with {} rules every {}s",
            settings.environment.name,
            rules.len(),
            args.every
        ),
    )?;
    let mut evaluator = Evaluator::default();
    let client = crate::clients::http::client().map_err(failure)?;
    let mut said = Said::new();
    let mut round = 0u64;
    runtime()?.block_on(async {
        loop {
            round += 1;
            let collected = crate::console::headless::collect(
                settings,
                program.clone(),
                Duration::from_secs(1),
            )
            .await;
            match collected {
                Ok(state) => {
                    let observations = crate::app::alerts::observations(&state);
                    let now = chrono::Utc::now();
                    let changes = evaluator.step(rules, &observations, now);
                    for alert in &changes {
                        announce(settings, actor, &args, alert)?;
                    }
                    // Alertmanager expects firing alerts again every round (it ends those it
                    // stops hearing of); the others at their repeat, if any.
                    let firing: Vec<Alert> = evaluator
                        .active()
                        .filter(|a| a.state == AlertState::Firing)
                        .cloned()
                        .collect();
                    deliver(settings, &args, &client, &changes, &firing, &mut said).await?;
                }
                // The sources are down: said, and tried again next round.
                Err(e) => log(&args, "unreadable", &format!("cannot read the fleet: {e}"))?,
            }
            if args.rounds.is_some_and(|n| round >= n) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(args.every)) => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        Ok::<(), Failure>(())
    })?;
    log(&args, "stopped", &format!("after {round} rounds"))
}

/// Sends this round's changes to every receiver, and the alerts still firing again to
/// Alertmanager; a receiver that cannot be reached is said, and the watch goes on.
async fn deliver(
    settings: &Settings,
    args: &WatchArgs,
    client: &reqwest::Client,
    changes: &[Alert],
    firing: &[Alert],
    said: &mut Said,
) -> Result<(), Failure> {
    if settings.receivers.is_empty() || (changes.is_empty() && firing.is_empty()) {
        return Ok(());
    }
    // Silenced alerts are said and journaled, never sent.
    let now = chrono::Utc::now();
    let silences = crate::store::Registry::open(&settings.data_dir)
        .and_then(|r| crate::engine::silences::active(&r, now))
        .unwrap_or_else(|e| {
            // Unread silences silence nothing: better a page too many than a missed one.
            let _ = log(args, "unreadable", &format!("silences: {e}"));
            Vec::new()
        });
    let silenced = |a: &Alert| silences.iter().find(|s| s.covers(a, now));
    for alert in changes {
        if let Some(s) = silenced(alert) {
            log(
                args,
                "silenced",
                &format!(
                    "{} {}: not sent (silenced by {} until {}: {})",
                    alert.rule,
                    alert.model,
                    s.by,
                    s.until.format("%Y-%m-%d %H:%M UTC"),
                    s.reason
                ),
            )?;
        }
    }
    let changes: Vec<Alert> = changes
        .iter()
        .filter(|a| silenced(a).is_none())
        .cloned()
        .collect();
    let firing: Vec<Alert> = firing
        .iter()
        .filter(|a| silenced(a).is_none())
        .cloned()
        .collect();
    for (index, receiver) in settings.receivers.iter().enumerate() {
        // Each change once; a firing alert again once the receiver's repeat has passed since
        // it was last said there (Alertmanager: every round).
        let key = |a: &Alert| (index, a.rule.clone(), a.model.clone());
        let due = |a: &Alert| match (receiver.repeat_seconds(), said.get(&key(a))) {
            (Some(repeat), Some(last)) => (now - *last).num_milliseconds() as f64 / 1e3 >= repeat,
            (_, None) => true,
            (None, Some(_)) => false,
        };
        let alerts: Vec<Alert> = changes
            .iter()
            .filter(|c| c.state == AlertState::Resolved)
            .chain(firing.iter().filter(|a| due(a)))
            .cloned()
            .collect();
        for a in &alerts {
            match a.state {
                AlertState::Resolved => said.remove(&key(a)),
                _ => said.insert(key(a), now),
            };
        }
        let sent =
            crate::clients::notify::send(client, receiver, &alerts, Duration::from_secs(5)).await;
        if let Err(e) = sent {
            log(args, "undelivered", &format!("{}: {e}", receiver.url()))?;
        }
    }
    Ok(())
}

/// When each firing alert was last said to each receiver: (receiver, rule, model) -> time.
type Said = std::collections::HashMap<(usize, String, String), chrono::DateTime<chrono::Utc>>;

/// One line on stdout: text for a person, or a JSON object.
fn log(args: &WatchArgs, event: &str, message: &str) -> Result<(), Failure> {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    if args.json {
        say!(
            "{}",
            serde_json::json!({ "time": now.to_string(), "event": event, "message": message })
        );
    } else {
        say!("{now} {event:<10} {message}");
    }
    Ok(())
}

/// Says an alert that fired or resolved, and journals it (a read-only environment keeps no
/// journal: said once per alert, the watch goes on).
fn announce(
    settings: &Settings,
    actor: &Actor,
    args: &WatchArgs,
    alert: &Alert,
) -> Result<(), Failure> {
    let event = match alert.state {
        AlertState::Firing => "firing",
        AlertState::Resolved => "resolved",
        AlertState::Pending => "pending",
    };
    let value = alert
        .value
        .map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "unknown".into());
    if args.json {
        say!(
            "{}",
            serde_json::json!({ "time": alert.since, "event": event, "alert": alert })
        );
    } else {
        say!(
            "{} {event:<10} {} {}: {} {value} (threshold {}, {})",
            alert.since.format("%Y-%m-%dT%H:%M:%SZ"),
            alert.rule,
            alert.model,
            alert.signal.name(),
            alert.threshold,
            <&str>::from(alert.severity)
        );
    }
    let entry = NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: format!("alert {event}"),
        model: Some(alert.model.clone()),
        from: None,
        to: Some(alert.rule.clone()),
        outcome: Outcome::Succeeded,
        details: serde_json::json!({ "alert": alert }),
    };
    let journaled = actor
        .ensure_writable("journal an alert")
        .map_err(|e| e.to_string())
        .and_then(|()| {
            let mut registry =
                crate::store::Registry::open(&settings.data_dir).map_err(|e| e.to_string())?;
            registry.append_journal(&entry).map_err(|e| e.to_string())
        });
    if let Err(e) = journaled {
        log(args, "unjournaled", &format!("{}: {e}", alert.rule))?;
    }
    Ok(())
}
