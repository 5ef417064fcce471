//! `flightdeck demo --script`: the whole scenario unattended, at an accelerated pace, with a
//! timeline; it succeeds only if every expected observation was made.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::receiver::LocalReceiver;
use super::setup::{Demo, MODEL, operate, register_versions};
use super::traffic::{SHIFTED, TrafficControl, load_rows, spawn};
use crate::clients::model_server as server;
use crate::engine::ops::OpRequest;
use crate::model::{AliasName, Verdict};

/// One line of the timeline.
struct Timeline {
    started: Instant,
    failures: Vec<String>,
}

impl Timeline {
    fn say(&self, text: &str) {
        println!("{:>6.1}s  {text}", self.started.elapsed().as_secs_f64());
    }

    fn observe(&mut self, ok: bool, what: &str) {
        self.say(&format!("{} {what}", if ok { "ok  " } else { "FAIL" }));
        if !ok {
            self.failures.push(what.to_string());
        }
    }
}

/// How long one read of the server may take before the scenario asks again.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Requests a version has served, from the server's counters (0 while they cannot be read).
async fn served(client: &reqwest::Client, endpoint: &str, version: u32) -> f64 {
    server::scrape(client, endpoint, READ_TIMEOUT)
        .await
        .ok()
        .and_then(|s| {
            s.versions
                .get(&(MODEL.to_string(), version.to_string()))
                .map(|c| c.requests)
        })
        .unwrap_or(0.0)
}

async fn wait_for_requests(
    client: &reqwest::Client,
    endpoint: &str,
    version: u32,
    count: f64,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if served(client, endpoint, version).await >= count {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Waits until `version` has `count` labelled answers; its live quality then (or the last read).
async fn wait_for_labels(
    client: &reqwest::Client,
    endpoint: &str,
    version: u32,
    count: u64,
    limit: Duration,
) -> Option<crate::model::LiveQuality> {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(report) = server::feedback(client, endpoint, MODEL, Duration::from_secs(5)).await
        {
            last = report.versions.into_iter().find(|q| q.version == version);
            if last.as_ref().is_some_and(|q| q.labelled >= count) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    last
}

/// Observes `version`'s live accuracy once `count` of its answers are labelled: close to what
/// it scored on the same claims offline (`expected`, the registered metric).
async fn observe_live_accuracy(
    t: &mut Timeline,
    client: &reqwest::Client,
    endpoint: &str,
    version: u32,
    expected: f64,
) {
    let count = 300;
    let live = wait_for_labels(client, endpoint, version, count, Duration::from_secs(30)).await;
    let accuracy = live
        .as_ref()
        .and_then(|q| q.metrics.get("accuracy").copied());
    // 300 labels of a sample: within 0.08 of the offline figure holds for 99.9 % of samples.
    let close = live.as_ref().is_some_and(|q| q.labelled >= count)
        && accuracy.is_some_and(|a| (a - expected).abs() < 0.08);
    t.observe(
        close,
        &format!(
            "v{version}'s live accuracy from labels arriving {}s late: {} on {} labelled answers (offline: {:.1}%)",
            super::traffic::LABEL_LAG.as_secs(),
            accuracy.map_or("none".into(), |a| format!("{:.1}%", a * 100.0)),
            live.map_or(0, |q| q.labelled),
            expected * 100.0
        ),
    );
}

/// Sends malformed requests (4 columns where the model takes 5) for a few seconds while the
/// fleet is read as `flightdeck status` reads it: how many were refused, and the fleet read.
async fn client_error_incident(
    demo: &Demo,
    endpoint: &str,
) -> Result<(u64, crate::app::state::State), String> {
    let client = crate::clients::http::client()?;
    let url = format!("{endpoint}/v2/models/{MODEL}/infer");
    let body = serde_json::json!({ "inputs": [{ "name": "X", "shape": [1, 4], "datatype": "FP32", "data": [[100.0, 3.0, 12.0, 0.4]] }] });
    let sending = async {
        let mut refused = 0;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            let status = client
                .post(&url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status());
            if status.is_ok_and(|s| s.is_client_error()) {
                refused += 1;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        refused
    };
    let reading = async {
        // Into the burst, two reads a second apart, as `flightdeck status` makes them.
        tokio::time::sleep(Duration::from_millis(500)).await;
        crate::console::headless::collect(
            &demo.settings,
            demo.program.clone(),
            Duration::from_secs(1),
        )
        .await
    };
    let (refused, state) = tokio::join!(sending, reading);
    Ok((refused, state?))
}

/// The features the server flags as drifted on v2, once exactly the shifted ones are (or
/// what it flags after 45 s).
async fn wait_for_drift(client: &reqwest::Client, endpoint: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut flagged = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(report) = server::drift(client, endpoint, MODEL, READ_TIMEOUT)
            .await
            .ok()
            .and_then(|r| r.into_iter().find(|r| r.version == 2))
        {
            flagged = report
                .features
                .iter()
                .filter(|f| f.verdict == Verdict::Drift)
                .map(|f| f.name.clone())
                .collect();
            if flagged.len() == SHIFTED.len() {
                break;
            }
        }
    }
    flagged
}

/// Whether the journal records 3 registrations, 2 deploys, 1 promote and the blocked deploy.
fn journal_is_complete(registry: &crate::store::Registry) -> Result<bool, String> {
    let journal = registry
        .journal(&crate::store::journal::JournalQuery {
            model: Some(MODEL.into()),
            limit: None,
        })
        .map_err(|e| e.to_string())?;
    let count = |op: &str, outcome: &str| {
        journal
            .iter()
            .filter(|e| e.operation == op && e.outcome.as_str() == outcome)
            .count()
    };
    Ok(count("register", "succeeded") == 3
        && count("deploy", "succeeded") == 3
        && count("promote", "succeeded") == 1
        && count("deploy", "failed") == 1
        && count("rollout started", "succeeded") == 1
        && count("abort", "succeeded") == 1
        && count("rollout aborted", "succeeded") == 1)
}

/// v2 as a 20% canary, judged on its traffic, then promoted.
async fn canary_then_promote(
    t: &mut Timeline,
    demo: &Demo,
    client: &reqwest::Client,
    endpoint: &str,
) {
    let summary = operate(
        demo,
        OpRequest::Deploy {
            version: 2,
            canary_percent: Some(20),
        },
    )
    .await;
    t.observe(
        summary.is_ok(),
        &format!(
            "v2 passed its smoke test and runs as a 20% canary ({})",
            summary.unwrap_or_else(|e| e)
        ),
    );
    let canary = wait_for_requests(client, endpoint, 2, 120.0, Duration::from_secs(30)).await;
    t.observe(canary, "the canary served enough traffic to judge it");
    // Its labels arrive a few seconds after its answers: the labelled quality gate judges the
    // canary once 200 of them are in.
    let labelled = wait_for_labels(client, endpoint, 2, 200, Duration::from_secs(30)).await;
    t.observe(
        labelled.is_some_and(|q| q.labelled >= 200),
        "the canary's first 200 labels arrived",
    );
    let promoted = operate(demo, OpRequest::Promote).await;
    t.observe(
        promoted.is_ok(),
        &format!("promote gates passed: {}", promoted.unwrap_or_else(|e| e)),
    );
}

/// v3 (retrained, failing its sentinel cases) is stopped by the smoke gate; production is still
/// v2, healthy, alone. The registry is returned for the checks that follow.
async fn blocked_then_healthy(
    t: &mut Timeline,
    demo: &Demo,
    receiver: &LocalReceiver,
) -> Result<crate::store::Registry, String> {
    let blocked = operate(
        demo,
        OpRequest::Deploy {
            version: 3,
            canary_percent: Some(10),
        },
    )
    .await;
    let gate = blocked
        .as_ref()
        .err()
        .is_some_and(|e| e.contains("smoke gate failed") && e.contains("sentinels"));
    t.observe(
        gate,
        &format!(
            "v3 stopped by the smoke gate: {}",
            blocked.err().unwrap_or_else(|| "it was deployed".into())
        ),
    );

    shadow_first(t, demo).await;
    rollout_aborts_itself(t, demo, receiver).await;

    let status = demo.serving.status(MODEL).await;
    let registry = demo.registry()?;
    let aliases = registry.aliases(&demo.model).map_err(|e| e.to_string())?;
    let production = crate::model::version_of(&aliases, AliasName::PRODUCTION);
    let healthy = status.healthy
        && production == Some(2)
        && status
            .serving
            .is_some_and(|p| p.stable == 2 && p.canary.is_none());
    t.observe(healthy, "production is v2, healthy, with no canary");
    Ok(registry)
}

/// v3 in shadow first: it answers a copy of a fifth of production's requests for a few seconds,
/// no client sees its answers, and how often it agrees with v2 is measured.
async fn shadow_first(t: &mut Timeline, demo: &Demo) {
    let started = match demo.registry() {
        Ok(mut registry) => crate::engine::shadow::start(
            &demo.serving,
            &mut registry,
            &demo.actor,
            &demo.model,
            3,
            20,
        )
        .await
        .map(|started| started.report)
        .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(e) = started {
        t.observe(false, &format!("v3 could not run in shadow: {e}"));
        return;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = match demo.registry() {
        Ok(mut registry) => {
            crate::engine::shadow::stop(&demo.serving, &mut registry, &demo.actor, &demo.model)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e),
    };
    match report {
        Ok(r) => t.observe(
            r.rows > 0 && r.errors == 0,
            &format!(
                "v3 in shadow on 20% of v2's requests for 3 s, its answers seen by no client: {}",
                crate::engine::shadow::sentence(&r)
            ),
        ),
        Err(e) => t.observe(false, &format!("v3's shadow could not be read: {e}")),
    }
}

/// Someone hands v3 to a rollout anyway, its smoke test skipped (consented, journaled): the
/// rounds `flightdeck watch` runs judge the gates over its first step, its answers on the same
/// traffic differ from production's, and the rollout aborts the canary by itself, with no label
/// and no sentinel needed. The local receiver hears of it.
async fn rollout_aborts_itself(t: &mut Timeline, demo: &Demo, receiver: &LocalReceiver) {
    use crate::engine::rollout::{self, RolloutEventKind};
    let options = crate::engine::ops::PlanOptions { skip_smoke: true };
    let consent = crate::engine::ops::Consent {
        skip_smoke: true,
        ..Default::default()
    };
    let steps = vec![20, 50, 100];
    let started = match rollout::plan_start(
        &demo.operator,
        &demo.model,
        3,
        steps,
        60.0,
        options,
        &|_| {},
    )
    .await
    {
        Ok(planned) => rollout::start(&demo.operator, planned, consent)
            .await
            .map(|(_, e)| e.sentence)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    t.observe(
        started.is_ok(),
        &format!(
            "v3 handed to a rollout anyway, its smoke test skipped (journaled): {}",
            started.unwrap_or_else(|e| e)
        ),
    );
    // watch's rounds, once a second, as `flightdeck watch` runs them.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut aborted = None;
    while aborted.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let events = rollout::advance_all(&demo.operator, chrono::Utc::now(), 1.0)
            .await
            .unwrap_or_default();
        aborted = events
            .into_iter()
            .find(|e| e.kind == RolloutEventKind::Aborted);
    }
    // Which gate sees it first depends on what arrived first (the answers compared, or the
    // labels); either way the rollout stops it by itself, saying which and why.
    let by_itself = aborted
        .as_ref()
        .is_some_and(|e| e.sentence.contains("aborted automatically"));
    t.observe(
        by_itself,
        &format!(
            "v3's rollout aborted by itself at its first step: {}",
            aborted
                .as_ref()
                .map_or("it was not aborted".into(), |e| e.sentence.clone())
        ),
    );
    let Some(event) = aborted else { return };
    let notice = event.notice();
    let client = crate::clients::http::client();
    let told = match &client {
        Ok(client) => {
            crate::clients::notify::tell(client, &receiver.receiver(), &notice, READ_TIMEOUT).await
        }
        Err(e) => Err(e.clone()),
    };
    let heard = receiver
        .received()
        .iter()
        .any(|b| b["notice"]["event"] == "rollout aborted");
    t.observe(
        told.is_ok() && heard,
        &format!(
            "the local receiver got the notice: {} ({})",
            notice.event,
            <&str>::from(notice.severity)
        ),
    );
}

/// An incident: a client starts sending rows of four columns (the model takes five). Every one
/// of its requests is refused with 400; the fleet must say so, not "0.00%", and an alert rule
/// on the 4xx ratio fires and reaches the local receiver.
async fn client_error_shows(
    t: &mut Timeline,
    demo: &Demo,
    endpoint: &str,
    receiver: &LocalReceiver,
) -> Result<(), String> {
    let (refused, state) = client_error_incident(demo, endpoint).await?;
    let row = crate::app::fleet::rows(&state)
        .into_iter()
        .find(|r| r.model == MODEL);
    let flagged = row.as_ref().is_some_and(|r| {
        r.alerts.contains(&"!err")
            && r.stats.and_then(|s| s.client_error_ratio).unwrap_or(0.0) > 0.0
    });
    t.observe(
        flagged,
        &format!(
            "a client sending 4 columns instead of 5: {refused} answers were 400 and the fleet shows {} with !err",
            row.and_then(|r| r.stats)
                .and_then(|s| s.error_ratio)
                .map(|e| format!("{:.1}% errors", e * 100.0))
                .unwrap_or_else(|| "no error ratio".into())
        ),
    );
    // The same read judged by an alert rule, as `flightdeck watch` judges it, and delivered.
    let rule = crate::model::AlertRule {
        name: "claims-4xx".into(),
        signal: crate::model::AlertSignal::ClientErrors,
        // A fifth of the traffic is refused; a tenth is far past anything healthy, and leaves
        // room for a loaded machine sending less of the bad traffic.
        threshold: 0.1,
        for_seconds: 0.0,
        severity: crate::model::Severity::Critical,
        model: Some(MODEL.into()),
        labels: Default::default(),
    };
    let observations = crate::app::alerts::observations(&state);
    let fired = crate::engine::alerts::Evaluator::default().step(
        std::slice::from_ref(&rule),
        &observations,
        chrono::Utc::now(),
    );
    let client = crate::clients::http::client()?;
    let sent =
        crate::clients::notify::send(&client, &receiver.receiver(), &fired, READ_TIMEOUT).await;
    let heard = receiver
        .received()
        .iter()
        .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
        .find(|a| a["rule"] == "claims-4xx" && a["state"] == "firing");
    t.observe(
        sent.is_ok() && heard.is_some(),
        &format!(
            "alert claims-4xx (client_errors > 0.1) fired and reached the local receiver: {}",
            fired
                .first()
                .map(crate::clients::notify::sentence)
                .unwrap_or_else(|| "it did not fire".into())
        ),
    );
    Ok(())
}

/// The accuracy a version was registered with (its offline figure on the held-out claims).
fn version_accuracy(demo: &Demo, version: u32) -> Result<f64, String> {
    let registry = demo.registry()?;
    let record = registry
        .version(&demo.model, version)
        .map_err(|e| e.to_string())?;
    record
        .metrics
        .get("accuracy")
        .copied()
        .ok_or_else(|| format!("v{version} was registered without an accuracy"))
}

/// Runs the scenario; `Ok(())` only when every observation held.
pub async fn run(demo: &Demo, rate: u32) -> Result<(), String> {
    let mut t = Timeline {
        started: Instant::now(),
        failures: Vec::new(),
    };
    t.say(&format!("demo home {}", demo.settings.data_dir.display()));
    register_versions(demo)?;
    let receiver = LocalReceiver::start().await?;
    t.say(&format!(
        "alerts and notices go to a local receiver at {} (where Slack or a pager would be)",
        receiver.url
    ));
    t.say("registered claims v1 (logistic regression), v2 (gradient boosting), v3 (retrained)");
    let summary = operate(
        demo,
        OpRequest::Deploy {
            version: 1,
            canary_percent: None,
        },
    )
    .await?;
    t.say(&format!("deploy v1: {summary}"));
    let endpoint = demo
        .serving
        .status(MODEL)
        .await
        .endpoint()
        .ok_or("the server has no endpoint")?;
    let rows = load_rows(&demo.assets.join("holdout.csv"))?;
    let client = crate::clients::http::client()?;
    let control = Arc::new(TrafficControl::default());
    let traffic = spawn(
        format!("{endpoint}/v2/models/{MODEL}/infer"),
        rows,
        rate,
        control.clone(),
    );
    t.say(&format!(
        "traffic: {rate} requests/s of held-out claims, each one's label sent {}s after its answer",
        super::traffic::LABEL_LAG.as_secs()
    ));
    let steady = wait_for_requests(&client, &endpoint, 1, 200.0, Duration::from_secs(20)).await;
    t.observe(steady, "steady traffic served by v1");
    observe_live_accuracy(&mut t, &client, &endpoint, 1, version_accuracy(demo, 1)?).await;

    canary_then_promote(&mut t, demo, &client, &endpoint).await;
    observe_live_accuracy(&mut t, &client, &endpoint, 2, version_accuracy(demo, 2)?).await;

    control.shift.store(true, Ordering::Relaxed);
    t.say(&format!(
        "input drift begins: {} shift",
        SHIFTED.join(" and ")
    ));
    let flagged = wait_for_drift(&client, &endpoint).await;
    let exact = flagged.iter().map(String::as_str).collect::<Vec<_>>() == SHIFTED;
    t.observe(
        exact,
        &format!(
            "drift flagged on exactly {} (flagged: {})",
            SHIFTED.join(", "),
            flagged.join(", ")
        ),
    );

    let registry = blocked_then_healthy(&mut t, demo, &receiver).await?;
    client_error_shows(&mut t, demo, &endpoint, &receiver).await?;

    let failed = control.failed.load(Ordering::Relaxed);
    let sent = control.sent.load(Ordering::Relaxed);
    t.observe(
        failed == 0,
        &format!("{sent} requests answered, {failed} failed, across every change"),
    );

    let complete = journal_is_complete(&registry)?;
    t.observe(
        complete,
        "the journal records 3 registrations, 3 deploys, 1 promote, the blocked deploy, the rollout and its automatic abort",
    );

    control.stop.store(true, Ordering::Relaxed);
    let _ = traffic.await;
    let _ = demo.serving.stop(&demo.model).await;
    if t.failures.is_empty() {
        t.say("every expected observation was made");
        Ok(())
    } else {
        Err(format!(
            "{} observation(s) failed: {}",
            t.failures.len(),
            t.failures.join("; ")
        ))
    }
}
