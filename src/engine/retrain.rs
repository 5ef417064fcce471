//! The retraining trigger: the rules it is judged by (each of its signals' alert rules, held
//! for the trigger's duration), the evidence it hands over, and the call itself (a command with
//! the evidence on standard input, a signed JSON POST, or both), journaled either way.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::EngineError;
use crate::model::{Alert, AlertRule, DriftReport, NewJournalEntry, Outcome, RetrainTrigger};
use crate::store::{Actor, Registry};

/// The journal's word for a call of the trigger.
pub const RETRAIN: &str = "retrain requested";

/// How long the command may run, or the webhook take, before the call counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The last bytes of the command's output kept in the journal.
const OUTPUT_KEPT: usize = 2000;

/// The rules the trigger is judged by: each alert rule on one of its signals, under the name
/// `retrain RULE`, held for the trigger's `for` (and only on the trigger's model, if it names
/// one).
pub fn rules(trigger: &RetrainTrigger, alerts: &[AlertRule]) -> Vec<AlertRule> {
    alerts
        .iter()
        .filter(|r| trigger.signals.contains(&r.signal))
        .filter(|r| match (&trigger.model, &r.model) {
            (Some(t), Some(m)) => t == m,
            _ => true,
        })
        .map(|r| AlertRule {
            name: format!("retrain {}", r.name),
            for_seconds: trigger.for_seconds,
            model: trigger.model.clone().or(r.model.clone()),
            ..r.clone()
        })
        .collect()
}

/// What the pipeline is told: which model and version, which signal, how far past its
/// threshold since when, and the statistics behind it.
#[derive(Debug, Clone, Serialize)]
pub struct RetrainEvidence {
    pub model: String,
    /// The production version the signal was read on, when one is known.
    pub version: Option<u32>,
    pub rule: String,
    pub signal: &'static str,
    pub value: Option<f64>,
    pub threshold: f64,
    /// Past the threshold since then (at least the trigger's `for`).
    pub since: DateTime<Utc>,
    pub at: DateTime<Utc>,
    /// The version's drift report (per feature and per output: statistics, verdicts, the
    /// window's size), when it could be read.
    pub drift: Option<DriftReport>,
    /// Why there is no drift report, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_unread: Option<String>,
}

impl RetrainEvidence {
    /// The evidence of an alert of the trigger's rules, with what the drift source said.
    pub fn of(
        alert: &Alert,
        version: Option<u32>,
        drift: Result<Vec<DriftReport>, String>,
        at: DateTime<Utc>,
    ) -> Self {
        let rule = alert
            .rule
            .strip_prefix("retrain ")
            .unwrap_or(&alert.rule)
            .to_string();
        let (drift, drift_unread) = match drift {
            Ok(reports) => match reports.into_iter().find(|r| Some(r.version) == version) {
                Some(report) => (Some(report), None),
                None => (None, Some("no drift report for this version".to_string())),
            },
            Err(e) => (None, Some(e)),
        };
        RetrainEvidence {
            model: alert.model.clone(),
            version,
            rule,
            signal: alert.signal.name(),
            value: alert.value,
            threshold: alert.threshold,
            since: alert.breached_since,
            at,
            drift,
            drift_unread,
        }
    }
}

/// Calls the trigger's command and webhook with `evidence` and journals the call with what
/// each answered. Returns a sentence for the log; `Err` when any of them failed.
pub async fn call(
    trigger: &RetrainTrigger,
    evidence: &RetrainEvidence,
    client: &reqwest::Client,
    registry: &mut Registry,
    actor: &Actor,
) -> Result<String, String> {
    let body = serde_json::to_vec(evidence).map_err(|e| e.to_string())?;
    let mut said = Vec::new();
    let mut failed = false;
    if let Some(command) = &trigger.command {
        match run(command, evidence, &body).await {
            Ok(out) => said.push(out),
            Err(e) => {
                failed = true;
                said.push(e)
            }
        }
    }
    if let Some(url) = &trigger.url {
        match post(client, url, trigger.secret_env.as_deref(), body).await {
            Ok(()) => said.push(format!("{url} accepted it")),
            Err(e) => {
                failed = true;
                said.push(format!("{url}: {e}"))
            }
        }
    }
    let sentence = said.join("; ");
    let journaled = journal(registry, actor, evidence, &sentence, failed);
    let sentence = match journaled {
        Ok(()) => sentence,
        Err(e) => format!("{sentence}; not journaled: {e}"),
    };
    if failed { Err(sentence) } else { Ok(sentence) }
}

/// Runs the command with the evidence on standard input and the essentials in its environment;
/// its exit status and the end of its output are the answer.
async fn run(
    command: &[String],
    evidence: &RetrainEvidence,
    body: &[u8],
) -> Result<String, String> {
    use tokio::io::AsyncWriteExt;
    let (program, args) = command.split_first().ok_or("the command is empty")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("FLIGHTDECK_RETRAIN_MODEL", &evidence.model)
        .env(
            "FLIGHTDECK_RETRAIN_VERSION",
            evidence.version.map(|v| v.to_string()).unwrap_or_default(),
        )
        .env("FLIGHTDECK_RETRAIN_SIGNAL", evidence.signal)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is not an error.
        let _ = stdin.write_all(body).await;
    }
    let finished = tokio::time::timeout(CALL_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "{program} did not finish within {}s",
                CALL_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("{program}: {e}"))?;
    let mut output = String::from_utf8_lossy(&finished.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&finished.stderr));
    let tail: String = {
        let trimmed = output.trim();
        let start = trimmed
            .char_indices()
            .rev()
            .nth(OUTPUT_KEPT)
            .map_or(0, |(i, _)| i);
        trimmed[start..].to_string()
    };
    if finished.status.success() {
        Ok(format!("{program} exited 0: {tail}"))
    } else {
        Err(format!("{program} failed ({}): {tail}", finished.status))
    }
}

/// POSTs the evidence, signed with the secret in `secret_env` when one is named.
async fn post(
    client: &reqwest::Client,
    url: &str,
    secret_env: Option<&str>,
    body: Vec<u8>,
) -> Result<(), String> {
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(var) = secret_env {
        let secret = crate::clients::notify::webhook_secret(var)?;
        request = request.header(
            crate::clients::notify::SIGNATURE_HEADER,
            crate::clients::notify::signature(&secret, &body),
        );
    }
    let response = tokio::time::timeout(CALL_TIMEOUT, request.body(body).send())
        .await
        .map_err(|_| format!("no answer within {}s", CALL_TIMEOUT.as_secs()))?
        .map_err(|e| crate::clients::http::describe(&e))?;
    match response.status() {
        s if s.is_success() => Ok(()),
        s => Err(format!("HTTP {s}")),
    }
}

fn journal(
    registry: &mut Registry,
    actor: &Actor,
    evidence: &RetrainEvidence,
    answered: &str,
    failed: bool,
) -> Result<(), EngineError> {
    actor.ensure_writable("journal a retraining request")?;
    registry.append_journal(&NewJournalEntry {
        user: actor.user.clone(),
        environment: actor.environment.clone(),
        operation: RETRAIN.into(),
        model: Some(evidence.model.clone()),
        from: evidence.version.map(|v| format!("v{v}")),
        to: Some(evidence.rule.clone()),
        outcome: if failed {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        },
        details: serde_json::json!({ "evidence": evidence, "answered": answered }),
    })?;
    Ok(())
}
