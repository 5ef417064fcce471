//! The demo's traffic generator: realistic requests (labelled claims) over HTTP to the local
//! server, at a steady rate, each named by its id; each claim's label follows a few seconds
//! later, as a claims team would confirm fraud; on request, two features drift.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Features the drift step shifts (by column): `amount` tripled, `tenure_months` cut to a fifth.
pub const SHIFTED: [&str; 2] = ["amount", "tenure_months"];

/// How long after its answer a claim's label is sent.
pub const LABEL_LAG: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
pub struct TrafficControl {
    pub stop: AtomicBool,
    pub shift: AtomicBool,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    /// Labels the server joined with their answers.
    pub labelled: AtomicU64,
}

/// A claim as the model takes it, and whether it was fraud (when the table says).
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub row: [f32; 5],
    pub fraud: Option<u8>,
}

/// Reads claims (numeric, with `channel` as its code: app 0, branch 1, web 2, and the `fraud`
/// label when the table has one).
pub fn load_rows(csv: &std::path::Path) -> Result<Vec<Claim>, String> {
    let mut reader = csv::Reader::from_path(csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let label = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .position(|h| h == "fraud");
    let mut rows = Vec::new();
    for record in reader.records() {
        let r = record.map_err(|e| e.to_string())?;
        let num = |i: usize| r.get(i).and_then(|v| v.parse::<f32>().ok()).unwrap_or(0.0);
        let channel = match r.get(4) {
            Some("app") => 0.0,
            Some("branch") => 1.0,
            _ => 2.0,
        };
        rows.push(Claim {
            row: [num(0), num(1), num(2), num(3), channel],
            fraud: label.and_then(|i| r.get(i)?.parse().ok()),
        });
    }
    if rows.is_empty() {
        return Err(format!("{} has no rows", csv.display()));
    }
    Ok(rows)
}

/// The drift the demo injects: claim amounts tripled, tenures cut to a fifth.
pub fn shift(row: &mut [f32; 5]) {
    row[0] *= 3.0;
    row[2] *= 0.2;
}

/// Sends about `rate` requests per second to `url` (a model's V2 infer route) until stopped,
/// and each answered claim's label to the model's feedback route [`LABEL_LAG`] later.
pub fn spawn(
    url: String,
    rows: Vec<Claim>,
    rate: u32,
    control: Arc<TrafficControl>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
        {
            Ok(c) => c,
            Err(_) => return,
        };
        let feedback = url.replace("/v2/models/", "/flightdeck/feedback/");
        let feedback = feedback.trim_end_matches("/infer").to_string();
        let due: Arc<Mutex<VecDeque<Due>>> = Arc::default();
        let labeller = tokio::spawn(send_labels(
            client.clone(),
            feedback,
            due.clone(),
            control.clone(),
        ));
        let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut n: u64 = 0;
        while !control.stop.load(Ordering::Relaxed) {
            tick.tick().await;
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let claim = rows[(state >> 33) as usize % rows.len()];
            let mut row = claim.row;
            if control.shift.load(Ordering::Relaxed) {
                shift(&mut row);
            }
            n += 1;
            let id = format!("claim-{n}");
            let body = serde_json::json!({ "id": id, "inputs": [{ "name": "X", "shape": [1, 5], "datatype": "FP32", "data": [row] }] });
            let client = client.clone();
            let url = url.clone();
            let control = control.clone();
            let due = due.clone();
            tokio::spawn(async move {
                let ok = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                let counter = if ok { &control.sent } else { &control.failed };
                counter.fetch_add(1, Ordering::Relaxed);
                if let (true, Some(fraud), Ok(mut due)) = (ok, claim.fraud, due.lock()) {
                    due.push_back(Due {
                        at: tokio::time::Instant::now() + LABEL_LAG,
                        id,
                        fraud,
                    });
                }
            });
        }
        labeller.abort();
    })
}

/// A label waiting for its time.
struct Due {
    at: tokio::time::Instant,
    id: String,
    fraud: u8,
}

/// Every half second, sends the labels whose time has come, in one request.
async fn send_labels(
    client: reqwest::Client,
    url: String,
    due: Arc<Mutex<VecDeque<Due>>>,
    control: Arc<TrafficControl>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let now = tokio::time::Instant::now();
        let ready: Vec<serde_json::Value> = match due.lock() {
            Ok(mut due) => {
                let count = due.iter().take_while(|d| d.at <= now).count();
                due.drain(..count)
                    .map(|d| serde_json::json!({ "id": d.id, "label": d.fraud }))
                    .collect()
            }
            Err(_) => return,
        };
        if ready.is_empty() {
            continue;
        }
        let joined = match client.post(&url).json(&ready).send().await {
            Ok(r) => r.json::<serde_json::Value>().await.ok(),
            Err(_) => None,
        };
        if let Some(matched) = joined.as_ref().and_then(|j| j["matched"].as_u64()) {
            control.labelled.fetch_add(matched, Ordering::Relaxed);
        }
    }
}
