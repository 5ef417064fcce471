//! The demo's traffic generator: realistic requests (rows of the reference data) over HTTP to
//! the local server, at a steady rate; on request, two features drift.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Features the drift step shifts (by column): `amount` tripled, `tenure_months` cut to a fifth.
pub const SHIFTED: [&str; 2] = ["amount", "tenure_months"];

#[derive(Debug, Default)]
pub struct TrafficControl {
    pub stop: AtomicBool,
    pub shift: AtomicBool,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
}

/// Reads the reference rows (numeric, with `channel` as its code: app 0, branch 1, web 2).
pub fn load_rows(csv: &std::path::Path) -> Result<Vec<[f32; 5]>, String> {
    let mut reader = csv::Reader::from_path(csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let r = record.map_err(|e| e.to_string())?;
        let num = |i: usize| r.get(i).and_then(|v| v.parse::<f32>().ok()).unwrap_or(0.0);
        let channel = match r.get(4) {
            Some("app") => 0.0,
            Some("branch") => 1.0,
            _ => 2.0,
        };
        rows.push([num(0), num(1), num(2), num(3), channel]);
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

/// Sends about `rate` requests per second to `url` until stopped.
pub fn spawn(
    url: String,
    rows: Vec<[f32; 5]>,
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
        let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        while !control.stop.load(Ordering::Relaxed) {
            tick.tick().await;
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mut row = rows[(state >> 33) as usize % rows.len()];
            if control.shift.load(Ordering::Relaxed) {
                shift(&mut row);
            }
            let body = serde_json::json!({ "inputs": [{ "name": "X", "shape": [1, 5], "datatype": "FP32", "data": [row] }] });
            let client = client.clone();
            let url = url.clone();
            let control = control.clone();
            tokio::spawn(async move {
                let ok = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                let counter = if ok { &control.sent } else { &control.failed };
                counter.fetch_add(1, Ordering::Relaxed);
            });
        }
    })
}
