//! The console's state as tests build it: a fleet with traffic, drift and an operation plan,
//! at fixed times, and frames drawn on ratatui's TestBackend read back as text.

use chrono::{TimeZone, Utc};
use flightdeck::app::msg::FleetData;
use flightdeck::app::{Effect, Msg, State, update};
use flightdeck::clients::metrics::parse;
use flightdeck::keymap::{Key, Keymap};
use flightdeck::model::{
    Alias, AliasName, ModelName, ModelSummary, ServerRecord, ServingPlan, ServingStatus,
};
use flightdeck::theme::Theme;
use flightdeck::ui::DrawnList;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

pub fn state() -> State {
    State::new("local", false, "dark", Keymap::default(), 1.0)
}

pub fn tick(s: &mut State, second: f64) -> Vec<Effect> {
    let now = Utc.timestamp_opt(1_800_000_000 + second as i64, 0).unwrap();
    update(
        s,
        Msg::Tick {
            now,
            monotonic: second,
        },
    )
}

pub fn t0() -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

pub fn key(s: &mut State, c: char) -> Vec<Effect> {
    update(s, Msg::Key(Key::char(c)))
}

/// Types `:text` and Enter, as a person runs a command.
pub fn command(s: &mut State, text: &str) -> Vec<Effect> {
    key(s, ':');
    for c in text.chars() {
        key(s, c);
    }
    update(s, Msg::Key(Key::plain(flightdeck::keymap::KeyCode::Enter)))
}

pub fn summary(name: &str, production: Option<u32>) -> ModelSummary {
    let model = ModelName::new(name).unwrap();
    ModelSummary {
        name: model.clone(),
        versions: 2,
        latest_version: Some(2),
        aliases: production
            .map(|v| Alias {
                model: model.clone(),
                alias: AliasName::production(),
                version: Some(v),
                revision: 1,
                updated_at: t0(),
                updated_by: "t".into(),
            })
            .into_iter()
            .collect(),
        updated_at: t0(),
        // Production's latest smoke test passed.
        smoke: production.map(|v| (v, true)).into_iter().collect(),
    }
}

pub fn server(name: &str, plan: ServingPlan) -> ServingStatus {
    ServingStatus {
        model: name.into(),
        plan,
        serving: Some(plan),
        record: Some(ServerRecord {
            model: name.into(),
            supervisor_pid: 1,
            server_pid: Some(2),
            port: Some(9000),
            started_plan: plan,
            started_at: t0(),
            restarts: 0,
            last_exit: None,
            state: "running".into(),
        }),
        supervisor_alive: true,
        healthy: true,
        problem: None,
        kube: None,
    }
}

pub fn exposition(requests_v1: u64, errors_v1: u64, fast: u64) -> String {
    format!(
        "# TYPE flightdeck_requests_total counter\n\
         flightdeck_requests_total{{model=\"fraud\",version=\"1\",code=\"200\"}} {}\n\
         flightdeck_requests_total{{model=\"fraud\",version=\"1\",code=\"500\"}} {errors_v1}\n\
         # TYPE flightdeck_request_duration_seconds histogram\n\
         flightdeck_request_duration_seconds_bucket{{model=\"fraud\",version=\"1\",le=\"0.001\"}} {fast}\n\
         flightdeck_request_duration_seconds_bucket{{model=\"fraud\",version=\"1\",le=\"0.5\"}} {requests_v1}\n\
         flightdeck_request_duration_seconds_bucket{{model=\"fraud\",version=\"1\",le=\"+Inf\"}} {requests_v1}\n\
         flightdeck_request_duration_seconds_sum{{model=\"fraud\",version=\"1\"}} 1\n\
         flightdeck_request_duration_seconds_count{{model=\"fraud\",version=\"1\"}} {requests_v1}\n\
         # TYPE flightdeck_drift_share gauge\n\
         flightdeck_drift_share{{model=\"fraud\",version=\"1\"}} 0.5\n\
         # TYPE flightdeck_live_quality gauge\n\
         flightdeck_live_quality{{model=\"fraud\",version=\"1\",metric=\"accuracy\"}} 0.912\n\
         flightdeck_live_quality{{model=\"fraud\",version=\"1\",metric=\"auc\"}} 0.871\n\
         flightdeck_labelled_answers{{model=\"fraud\",version=\"1\"}} 600\n\
         flightdeck_label_coverage_ratio{{model=\"fraud\",version=\"1\"}} 0.3\n\
         flightdeck_label_lag_seconds{{model=\"fraud\",version=\"1\"}} 42\n",
        requests_v1 - errors_v1
    )
}

/// A state with two models, fraud served and scraped twice one second apart.
pub fn loaded() -> State {
    let mut s = state();
    assert_eq!(tick(&mut s, 0.0), vec![Effect::FetchFleet]);
    let fleet = FleetData {
        models: vec![summary("fraud", Some(1)), summary("churn", None)],
        servers: Some(vec![server("fraud", ServingPlan::stable_only(1))]),
        interrupted: Vec::new(),
        rollouts: Vec::new(),
    };
    let effects = update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Ok(fleet),
        },
    );
    assert_eq!(
        effects,
        vec![Effect::Scrape {
            model: "fraud".into(),
            endpoint: "http://127.0.0.1:9000".into()
        }]
    );
    for (second, total, errors, fast) in [(0.0, 100, 0, 100), (1.0, 300, 10, 200)] {
        let snapshot = parse(&exposition(total, errors, fast));
        update(
            &mut s,
            Msg::MetricsScraped {
                model: "fraud".into(),
                endpoint: "http://127.0.0.1:9000".into(),
                monotonic: second,
                at: t0(),
                result: Ok(snapshot),
            },
        );
    }
    s
}

pub fn render(s: &State, theme: &str, width: u16, height: u16) -> ratatui::buffer::Buffer {
    render_with(s, theme, width, height, false)
}

/// As [`render`], with `--ascii` as given.
pub fn render_with(
    s: &State,
    theme: &str,
    width: u16,
    height: u16,
    ascii: bool,
) -> ratatui::buffer::Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let theme = Theme::built_in(theme, false).unwrap();
    let mut drawn = DrawnList::default();
    terminal
        .draw(|f| flightdeck::ui::draw(f, s, &theme, ascii, &mut drawn))
        .unwrap();
    terminal.backend().buffer().clone()
}

/// A left click at screen row `row` (column 10) of the console drawn at 80x24, read against
/// the list as drawn, as the run loop reads it: no message where no row of the list is.
pub fn click(s: &mut State, row: u16) -> Vec<flightdeck::app::Effect> {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let theme = Theme::built_in("dark", false).unwrap();
    let mut drawn = DrawnList::default();
    terminal
        .draw(|f| flightdeck::ui::draw(f, s, &theme, false, &mut drawn))
        .unwrap();
    match drawn.index_at(10, row) {
        Some(index) => flightdeck::app::update(s, flightdeck::app::Msg::Click { index }),
        None => Vec::new(),
    }
}

pub fn text(buffer: &ratatui::buffer::Buffer) -> String {
    let area = buffer.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The cell where `needle` starts (on the first line containing `row`, when given).
pub fn find_in(buffer: &ratatui::buffer::Buffer, row: &str, needle: &str) -> (u16, u16) {
    for (y, line) in text(buffer).lines().enumerate() {
        if !line.contains(row) {
            continue;
        }
        if let Some(x) = line.find(needle) {
            return (line[..x].chars().count() as u16, y as u16);
        }
    }
    panic!("{needle:?} not on screen:\n{}", text(buffer));
}

pub fn find(buffer: &ratatui::buffer::Buffer, needle: &str) -> (u16, u16) {
    find_in(buffer, "", needle)
}

pub fn drift_report() -> flightdeck::model::DriftReport {
    use flightdeck::model::{DriftReport, DriftThresholds, FeatureDrift, Histogram, Verdict};
    let feature = |name: &str, verdict: Verdict| FeatureDrift {
        name: name.into(),
        kind: "numeric".into(),
        method: "psi".into(),
        statistic: if verdict == Verdict::Drift { 0.9 } else { 0.01 },
        threshold: 0.25,
        psi: Some(0.9),
        ks_statistic: Some(0.4),
        ks_p_value: Some(1e-9),
        js_distance: None,
        js_base: None,
        chi2_p_value: None,
        psi_p_value: Some(1e-12),
        js_p_value: None,
        significance: Some(0.05 / 3.0),
        missing_rate: 0.0,
        out_of_range_rate: 0.1,
        n: 400,
        verdict,
        histogram: Histogram {
            bins: vec!["0..1".into(), "1..2".into()],
            reference: vec![0.5, 0.5],
            live: vec![0.1, 0.9],
        },
    };
    DriftReport {
        model: "fraud".into(),
        version: 1,
        window_samples: 400,
        window_seconds: 30.0,
        drift_share: 0.5,
        verdict: Verdict::Drift,
        thresholds: DriftThresholds::default(),
        features: vec![
            feature("amount", Verdict::Ok),
            feature("age", Verdict::Drift),
        ],
        predictions: Vec::new(),
        answers_versus: None,
    }
}

pub fn promote_plan(gate_passes: bool) -> Box<flightdeck::engine::ops::OpPlan> {
    use flightdeck::engine::ops::{DeploymentState, GateResult, GateStatus, OpPlan, OpRequest};
    Box::new(OpPlan {
        model: ModelName::new("fraud").unwrap(),
        request: OpRequest::Promote,
        before: DeploymentState {
            production: Some(1),
            canary: Some(2),
            canary_percent: 10,
        },
        after: DeploymentState {
            production: Some(2),
            canary: None,
            canary_percent: 0,
        },
        revisions: Default::default(),
        sentence: "production v1 -> v2; canary v2 (10%) now takes 100% of traffic; environment local, read-write"
            .into(),
        warnings: vec![],
        pipeline_change: None,
        environment: "local".into(),
        read_only: false,
        gates: vec![GateResult {
            name: "canary traffic".into(),
            status: if gate_passes {
                GateStatus::Pass
            } else {
                GateStatus::Fail
            },
            evidence: "v2 served 3 requests (minimum 100)".into(),
        }],
        recovery: None,
    })
}

/// A registered version of fraud as the registry lists it (v3 takes a wider input).
pub fn version(
    number: u32,
    aliases: &[&str],
    smoke: Option<bool>,
    pipeline: &str,
) -> flightdeck::model::ModelVersion {
    serde_json::from_value(serde_json::json!({
        "model": "fraud",
        "version": number,
        "sha256": format!("{number}49208a4c61f31c1db6f54a7ed7dbf3197d2a315a250fd44e9d067f04695529e"),
        "size_bytes": 670,
        "description": null,
        "signature": {
            // v3 was trained on one more feature: its input is wider.
            "inputs": [{"name": "X", "datatype": "FP32", "shape": [-1, if number == 3 { 5 } else { 4 }]}],
            "outputs": [
                {"name": "output_label", "datatype": "INT64", "shape": [-1]},
                {"name": "output_probability", "datatype": "FP32", "shape": [-1, 3]}
            ]
        },
        "lineage": {
            "data_hash": null,
            "code_commit": "4f1c2e9",
            "pipeline_version": pipeline,
            "author": "alice",
            "created_at": "2027-01-15T08:00:00Z"
        },
        "metrics": {"auc": 0.93},
        "sentinels": null,
        "aliases": aliases,
        "smoke_passed": smoke
    }))
    .unwrap()
}
