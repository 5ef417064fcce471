//! `flightdeck watch`: a headless process that reads the fleet as the console does, every few
//! seconds, judges the alert rules on it, says (and journals) each alert that fires or
//! resolves, and moves the rollouts handed to it. It outlives its backends and its receivers: a
//! round that cannot read them is said and the next one tries again; what a receiver missed is
//! sent when it is back.

mod outbox;
mod retrain;

use super::say;
use std::time::Duration;

use clap::Args;

use super::{Failure, failure, program, runtime};
use crate::engine::alerts::Evaluator;
use crate::engine::ops::Operator;
use crate::model::{Alert, AlertState, NewJournalEntry, Notice, Outcome};
use crate::settings::Settings;
use crate::store::Actor;
use outbox::Outbox;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Time between rounds (each reads the fleet and judges every rule).
    #[arg(long, default_value = "10s", value_parser = super::a_second_or_more)]
    pub every: f64,
    /// Stop after this many rounds (default: until interrupted).
    #[arg(long)]
    pub rounds: Option<u64>,
    /// One JSON object a line, for a log collector.
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, actor: &Actor, args: WatchArgs) -> Result<(), Failure> {
    let program = program()?;
    let _only_one = only_watch_of(settings, actor, &args)?;
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
            "watching {} with {} rules every {}s; receivers: {}; retrain: {}",
            settings.environment.name,
            rules.len(),
            args.every,
            if settings.receivers.is_empty() {
                "none".to_string()
            } else {
                settings
                    .receivers
                    .iter()
                    .map(super::listing::receiver_text)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            super::listing::retrain_text(settings.retrain.as_ref())
        ),
    )?;
    let mut evaluator = Evaluator::default();
    let client = crate::clients::http::client().map_err(failure)?;
    let operator = super::ops::operator(settings, actor)?;
    let mut outbox = Outbox::new(settings.receivers.clone());
    let mut retrainer = match &settings.retrain {
        Some(_) => {
            let sources = crate::sources::factory::for_environment(
                &settings.environment,
                &settings.data_dir,
                program.clone(),
                Duration::from_millis(settings.refresh.source_timeout_ms),
                settings.thresholds.drift(),
            )
            .map_err(failure)?;
            retrain::Retrainer::new(settings, sources)
        }
        None => None,
    };
    let mut round = 0u64;
    // Since when the sources have been unreadable (the `stale` signal), if they are.
    let mut blind_since: Option<chrono::DateTime<chrono::Utc>> = None;
    runtime()?.block_on(async {
        loop {
            round += 1;
            let collected = crate::console::headless::collect(
                settings,
                program.clone(),
                Duration::from_secs(1),
            )
            .await;
            let now = chrono::Utc::now();
            let (mut observations, blind) = match &collected {
                Ok(state) => (
                    crate::app::alerts::observations(state),
                    crate::app::alerts::blind(state),
                ),
                Err(e) => (Vec::new(), Some(format!("the fleet: {e}"))),
            };
            if let Some(why) = &blind {
                // Said every round, tried again the next; the `stale` rule alerts on it.
                log(&args, "unreadable", &format!("cannot read {why}"))?;
            }
            blind_since = blind.as_ref().map(|_| blind_since.unwrap_or(now));
            observations.push(crate::engine::alerts::Observation {
                model: ENVIRONMENT.into(),
                signal: crate::model::AlertSignal::Stale,
                value: Some(
                    blind_since.map_or(0.0, |since| (now - since).num_milliseconds() as f64 / 1e3),
                ),
            });
            let changes = evaluator.step(rules, &observations, now);
            for alert in &changes {
                announce(settings, actor, &args, alert)?;
            }
            if let (Some(retrainer), Ok(state)) = (&mut retrainer, &collected) {
                let served: retrain::Served = state
                    .servers
                    .iter()
                    .map(|(m, s)| (m.clone(), (s.serving.map(|p| p.stable), s.endpoint())))
                    .collect();
                let said = retrainer
                    .round(settings, actor, &client, &observations, &served, now)
                    .await;
                for (event, message) in said {
                    log(&args, event, &message)?;
                }
            }
            let notices = rollouts(&operator, &args).await?;
            // Alertmanager expects firing alerts again every round (it ends those it stops
            // hearing of); the others at their repeat, if any.
            let firing: Vec<Alert> = evaluator
                .active()
                .filter(|a| a.state == AlertState::Firing)
                .cloned()
                .collect();
            if !settings.receivers.is_empty() {
                let now = chrono::Utc::now();
                let silences = crate::store::Registry::open(&settings.data_dir)
                    .and_then(|r| crate::engine::silences::active(&r, now))
                    .unwrap_or_else(|e| {
                        // Unread silences silence nothing: better a page too many than a
                        // missed one.
                        let _ = log(&args, "unreadable", &format!("silences: {e}"));
                        Vec::new()
                    });
                let delivery = outbox
                    .deliver(&client, &changes, &firing, &notices, &silences, now)
                    .await;
                said(&args, &delivery)?;
            }
            if args.rounds.is_some_and(|n| round >= n) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(args.every)) => {}
                _ = tokio::signal::ctrl_c() => break,
                _ = terminated() => break,
            }
        }
        Ok::<(), Failure>(())
    })?;
    log(&args, "stopped", &format!("after {round} rounds"))
}

/// One `watch` per environment and data dir: a second would say every alert twice and try to
/// move every rollout twice. The lock goes with the process, however it ends. A data dir where
/// no lock can be taken (a read-only disk) is said, and the watch goes on without one: its
/// alerts matter more than the guard.
fn only_watch_of(
    settings: &Settings,
    actor: &Actor,
    args: &WatchArgs,
) -> Result<Option<crate::store::lock::HolderLock>, Failure> {
    let env = &settings.environment.name;
    let path = settings.data_dir.join(format!("watch-{env}.lock"));
    let holder = format!(
        "flightdeck watch of {env} by {} (pid {}) since {}",
        actor.user,
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    );
    match crate::store::lock::take(&path, Duration::ZERO, &holder) {
        Ok(lock) => Ok(Some(lock)),
        Err(crate::store::lock::Refusal::Held { holder, .. }) => Err(failure(format!(
            "another watch runs for {env} here: {holder}; two would say every alert twice and move every rollout twice (stop it first)"
        ))),
        Err(crate::store::lock::Refusal::Io(e)) => {
            log(
                args,
                "unguarded",
                &format!(
                    "cannot take {} ({e}): a second watch of {env} would not be refused",
                    path.display()
                ),
            )?;
            Ok(None)
        }
    }
}

/// SIGTERM (systemd's and Kubernetes' stop): the watch says it stopped, as for Ctrl-C.
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        term.recv().await;
        return;
    }
    std::future::pending::<()>().await
}

/// The "model" of an alert about the whole environment (its sources unreadable).
const ENVIRONMENT: &str = "*";

/// Moves every rollout under way one round on, says what happened, and returns it as notices
/// for the receivers. A registry that cannot be read is said; the next round tries again.
async fn rollouts(operator: &Operator, args: &WatchArgs) -> Result<Vec<Notice>, Failure> {
    let events =
        match crate::engine::rollout::advance_all(operator, chrono::Utc::now(), args.every).await {
            Ok(events) => events,
            Err(e) => {
                log(args, "unreadable", &format!("rollouts: {e}"))?;
                return Ok(Vec::new());
            }
        };
    let mut notices = Vec::new();
    for e in events {
        let event = e.kind.journal_name();
        if args.json {
            say!(
                "{}",
                serde_json::json!({ "time": e.at, "event": event, "rollout": crate::engine::rollout::summary(&e.rollout), "message": e.sentence })
            );
        } else {
            say!(
                "{} {event:<10} {} v{}: {}",
                e.at.format("%Y-%m-%dT%H:%M:%SZ"),
                e.rollout.model,
                e.rollout.version,
                e.sentence
            );
        }
        notices.push(e.notice());
    }
    Ok(notices)
}

/// Says what the receivers did not hear this round, and why.
fn said(args: &WatchArgs, delivery: &outbox::Delivery) -> Result<(), Failure> {
    for (what, s) in &delivery.silenced {
        log(
            args,
            "silenced",
            &format!(
                "{what}: not sent (silenced by {} until {}: {})",
                s.by,
                s.until.format("%Y-%m-%d %H:%M UTC"),
                s.reason
            ),
        )?;
    }
    for (url, why) in &delivery.undelivered {
        log(
            args,
            "undelivered",
            &format!("{url}: {why}; kept, and sent again next round"),
        )?;
    }
    if delivery.dropped > 0 {
        log(
            args,
            "dropped",
            &format!(
                "{} undelivered items: a receiver keeps at most {} waiting",
                delivery.dropped,
                outbox::KEPT
            ),
        )?;
    }
    Ok(())
}

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
