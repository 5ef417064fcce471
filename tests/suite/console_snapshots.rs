//! Every pane and dialog of the console at 80x24 (the smallest supported terminal) and 160x48,
//! as text snapshots: a change to any screen shows up in review as a diff of what users see.
//! Update with `INSTA_UPDATE=always cargo test --test suite console_snapshots::` and review the diff.

use crate::common;

use common::console::*;
use flightdeck::app::state::{CheckKind, CheckModal, CheckOutcome, CheckStage, Mode, Overlay};
use flightdeck::app::{Msg, State, update};
use flightdeck::keymap::{Key, KeyCode};
use flightdeck::model::{JournalEntry, Outcome, SmokeCheck, SmokeReport};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn snapshot(name: &str, s: &State) {
    for (width, height) in SIZES {
        let screen = text(&render(s, "dark", width, height));
        // Trailing spaces say nothing and make diffs noisy.
        let screen: String = screen
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), screen);
    }
}

fn enter(s: &mut State) {
    update(s, Msg::Key(Key::plain(KeyCode::Enter)));
}

fn tab(s: &mut State) {
    update(s, Msg::Key(Key::plain(KeyCode::Tab)));
}

/// The fleet with fraud open on its serving pane, every pane's data loaded.
fn opened() -> State {
    let mut s = loaded();
    key(&mut s, 'j');
    enter(&mut s);
    update(
        &mut s,
        Msg::DriftFetched {
            model: "fraud".into(),
            at: t0(),
            result: Ok(vec![drift_report()]),
        },
    );
    update(
        &mut s,
        Msg::VersionsFetched {
            model: "fraud".into(),
            at: t0(),
            result: Ok(vec![
                version(1, &["production"], Some(true), "fp-1"),
                version(3, &[], Some(false), "fp-2"),
                version(2, &[], None, "fp-1"),
            ]),
        },
    );
    let entry = |id: i64, op: &str, to: &str, outcome: Outcome| JournalEntry {
        id,
        time: t0(),
        user: "alice".into(),
        environment: "local".into(),
        operation: op.into(),
        model: Some("fraud".into()),
        from: Some("v1".into()),
        to: Some(to.into()),
        outcome,
        details: serde_json::Value::Null,
    };
    update(
        &mut s,
        Msg::JournalFetched {
            model: "fraud".into(),
            at: t0(),
            result: Ok(vec![
                entry(3, "deploy", "v1 + canary v3 10%", Outcome::Failed),
                entry(2, "promote", "v2", Outcome::Succeeded),
                entry(1, "promote", "v2", Outcome::Started),
            ]),
        },
    );
    s
}

#[test]
fn fleet() {
    snapshot("fleet", &loaded());
}

#[test]
fn fleet_filtered_with_a_read_only_header() {
    let mut s = loaded();
    s.config.read_only = true;
    key(&mut s, '/');
    for c in "fra".chars() {
        key(&mut s, c);
    }
    snapshot("fleet_filtered_read_only", &s);
}

#[test]
fn model_panes() {
    let mut s = opened();
    for pane in ["serving", "drift", "versions", "cluster", "journal"] {
        snapshot(&format!("pane_{pane}"), &s);
        tab(&mut s);
    }
}

#[test]
fn help_and_command_palette() {
    let mut s = loaded();
    key(&mut s, '?');
    snapshot("help", &s);
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    s.mode = Mode::Command("them".into());
    snapshot("command_palette", &s);
}

#[test]
fn operation_preview_with_a_failing_gate() {
    let mut s = loaded();
    key(&mut s, 'j');
    key(&mut s, 'p');
    update(
        &mut s,
        Msg::OpPlanned {
            result: Ok(promote_plan(false)),
        },
    );
    snapshot("preview_promote_gate_failed", &s);
}

#[test]
fn smoke_report_dialog() {
    let mut s = opened();
    s.overlay = Some(Overlay::Check(CheckModal {
        model: "fraud".into(),
        version: 3,
        kind: CheckKind::Smoke,
        stage: CheckStage::Done(Ok(CheckOutcome::Smoke(SmokeReport {
            model: "fraud".into(),
            version: 3,
            at: t0(),
            passed: false,
            checks: vec![
                SmokeCheck {
                    name: "loads".into(),
                    passed: true,
                    detail: "v3 is ready".into(),
                    skipped: false,
                },
                SmokeCheck {
                    name: "sentinels".into(),
                    passed: false,
                    detail: "2 of 4 cases out of tolerance: \"large claim\" expected 1, got 0"
                        .into(),
                    skipped: false,
                },
            ],
            endpoint: "http://127.0.0.1:40000".into(),
        }))),
    }));
    snapshot("smoke_report", &s);
}

#[test]
fn two_versions_compared() {
    let mut s = opened();
    tab(&mut s);
    tab(&mut s); // versions: v1, v3, v2
    key(&mut s, 'c');
    key(&mut s, 'j');
    key(&mut s, 'c');
    assert_eq!(s.comparing(), Some(("fraud", 1, 3)));
    // Each evaluated on the same labelled set: their stored numbers side by side.
    let evaluation = |candidate: u32, accuracy: f64, log_loss: f64| {
        serde_json::from_value::<flightdeck::model::Evaluation>(serde_json::json!({
            "model": "fraud", "candidate": candidate, "baseline": 1, "rows": 2000,
            "data": "/data/fraud/holdout-2027-01.csv", "at": "2027-01-16T09:30:00Z",
            "candidate_metrics": {"accuracy": accuracy, "log_loss": log_loss},
            "baseline_metrics": {"accuracy": 0.91, "log_loss": 0.24}
        }))
        .unwrap()
    };
    for v in s.detail.versions.get_mut("fraud").unwrap() {
        v.evaluation = match v.version {
            1 => Some(evaluation(1, 0.91, 0.24)),
            3 => Some(evaluation(3, 0.935, 0.19)),
            _ => None,
        };
    }
    snapshot("compare_v1_v3", &s);
    let screen = text(&render(&s, "dark", 100, 40));
    assert!(
        screen.contains("eval accuracy") && screen.contains("+0.0250"),
        "{screen}"
    );
    key(&mut s, 'x');
    assert!(s.comparing().is_none(), "any key closes it");
}

#[test]
fn a_click_selects_a_version_or_journal_row() {
    let mut s = opened();
    tab(&mut s);
    tab(&mut s); // versions: v1 (screen row 4), v3 (5), v2 (6)
    click(&mut s, 5);
    assert_eq!(s.detail.selected, 1);
    click(&mut s, 2);
    assert_eq!(s.detail.selected, 1, "the border is not a row");
    click(&mut s, 9);
    assert_eq!(s.detail.selected, 1, "below the last row nothing changes");
    // The click lands where the screen shows that row.
    let screen = text(&render(&s, "dark", 80, 24));
    assert!(screen.lines().nth(5).unwrap().contains("▶ v3"), "{screen}");

    // In the drift pane the features start one row lower, under the report's summary.
    s.view = flightdeck::app::state::View::Model {
        name: "fraud".into(),
        pane: flightdeck::app::state::Pane::Drift,
    };
    s.detail.selected = 0;
    click(&mut s, 6);
    assert_eq!(s.detail.selected, 1);
    let screen = text(&render(&s, "dark", 80, 24));
    assert!(screen.lines().nth(6).unwrap().contains("▶ age"), "{screen}");
}

/// A model served by KServe, mid-canary, as the Kubernetes cluster source reports it.
fn kserve_server() -> flightdeck::model::ServingStatus {
    use flightdeck::model::{
        Condition, DeploymentMode, DeploymentRow, EventRow, KubeService, PodRow, ServingPlan,
        TrafficTarget,
    };
    let canary = ServingPlan {
        stable: 1,
        canary: Some(3),
        canary_percent: 10,
    };
    let condition = |kind: &str, status: &str| Condition {
        kind: kind.into(),
        status: status.into(),
        reason: None,
        message: None,
    };
    let pod = |name: &str, ready: bool, restarts: u32| PodRow {
        name: name.into(),
        phase: "Running".into(),
        ready,
        restarts,
        revision: Some(name[..21].into()),
        started_at: Some(t0() - chrono::Duration::minutes(42)),
        waiting: (!ready).then(|| "CrashLoopBackOff".into()),
        version: Some(if name.contains("00001") { 1 } else { 3 }),
    };
    let mut server = flightdeck::model::ServingStatus {
        serving: Some(canary),
        plan: canary,
        record: None,
        supervisor_alive: true,
        healthy: true,
        problem: None,
        ..server("fraud", canary)
    };
    server.kube = Some(std::sync::Arc::new(KubeService {
        namespace: "ml".into(),
        name: "fraud".into(),
        uid: None,
        created_at: None,
        mode: DeploymentMode::Serverless,
        url: Some("http://fraud.ml.example.com".into()),
        storage_uri: Some("s3://models/fraud/3".into()),
        canary_percent_spec: Some(10),
        generation: 4,
        observed_generation: Some(4),
        conditions: vec![
            condition("IngressReady", "True"),
            condition("PredictorReady", "True"),
            condition("Ready", "True"),
        ],
        latest_created: Some("fraud-predictor-00003".into()),
        latest_ready: Some("fraud-predictor-00003".into()),
        latest_rolled_out: Some("fraud-predictor-00001".into()),
        previous_rolled_out: None,
        traffic: vec![
            TrafficTarget {
                revision: "fraud-predictor-00003".into(),
                percent: 10,
                latest: true,
                tag: Some("latest".into()),
                version: Some(3),
            },
            TrafficTarget {
                revision: "fraud-predictor-00001".into(),
                percent: 90,
                latest: false,
                tag: Some("prev".into()),
                version: Some(1),
            },
        ],
        pods: vec![
            pod("fraud-predictor-00001-deployment-7d9c-x2k9q", true, 0),
            pod("fraud-predictor-00003-deployment-5f8b-q8m2z", false, 3),
        ],
        deployments: vec![DeploymentRow {
            name: "fraud-predictor-00003-deployment".into(),
            desired: 1,
            ready: 0,
        }],
        events: vec![EventRow {
            at: Some(t0() - chrono::Duration::seconds(30)),
            kind: "Warning".into(),
            reason: "BackOff".into(),
            message: "Back-off restarting failed container kserve-container".into(),
            object: "Pod/fraud-predictor-00003-deployment-5f8b-q8m2z".into(),
            count: 4,
        }],
        may_not: vec!["patch inferenceservices".into()],
    }));
    server
}

#[test]
fn kubernetes_cluster_pane() {
    let mut s = opened();
    s.servers.insert("fraud".into(), kserve_server());
    for _ in 0..3 {
        tab(&mut s);
    }
    snapshot("pane_cluster_kserve", &s);
}

#[test]
fn versions_whose_inputs_are_unknown_are_not_called_identical() {
    // MLflow versions whose file was not fetched yet list no inputs.
    let mut s = opened();
    let unfetched = |number, aliases: &[&str]| {
        let mut v = version(number, aliases, None, "fp-1");
        v.signature.inputs.clear();
        v.signature.outputs.clear();
        v
    };
    update(
        &mut s,
        Msg::VersionsFetched {
            model: "fraud".into(),
            at: t0(),
            result: Ok(vec![unfetched(1, &["production"]), unfetched(2, &[])]),
        },
    );
    tab(&mut s);
    tab(&mut s);
    key(&mut s, 'c');
    key(&mut s, 'j');
    key(&mut s, 'c');
    assert_eq!(s.comparing(), Some(("fraud", 1, 2)));
    let screen = text(&render(&s, "dark", 160, 48));
    assert!(
        screen.contains("signatures: unknown for v1 and v2") && !screen.contains("identical"),
        "{screen}"
    );
}

#[test]
fn the_drift_pane_lists_the_versions_answers_above_its_inputs() {
    let mut s = opened();
    let mut report = drift_report();
    let mut answers = report.features[1].clone();
    answers.name = "P(1)".into();
    report.predictions = vec![answers];
    update(
        &mut s,
        Msg::DriftFetched {
            model: "fraud".into(),
            at: t0(),
            result: Ok(vec![report]),
        },
    );
    tab(&mut s); // drift
    let screen = text(&render(&s, "dark", 160, 48));
    let answers = screen.find("→ P(1)").unwrap_or_else(|| panic!("{screen}"));
    assert!(screen.contains("→ its answers"), "explained: {screen}");
    let amount = screen.find("amount").unwrap_or_else(|| panic!("{screen}"));
    assert!(answers < amount, "answers first: {screen}");
}

#[test]
fn model_and_feature_names_are_never_cut_while_other_columns_have_room() {
    for (width, height) in [(80, 24), (200, 60)] {
        let mut s = loaded();
        s.models.push(summary("fraud-detector-eu-west", Some(1)));
        let screen = text(&render(&s, "dark", width, height));
        assert!(
            screen.contains("fraud-detector-eu-west "),
            "{width}x{height}:\n{screen}"
        );
        // What the name cost is said: the columns a wider terminal would show.
        assert_eq!(
            screen.contains("wider: ") && screen.contains("REQ/S"),
            width == 80,
            "{width}x{height}:\n{screen}"
        );
        let mut s = opened();
        let long = "transaction_amount_eur_30d";
        if let Some(reports) = s.detail.drift.get_mut("fraud") {
            reports[0].features[0].name = long.into();
        }
        tab(&mut s); // the drift pane
        let screen = text(&render(&s, "dark", width, height));
        assert!(screen.contains(long), "{width}x{height}:\n{screen}");
    }
}

/// A value the table must cut is cut with `…`: `accuracy=0.8055` cut bare read as
/// `accuracy=0`, a false number.
#[test]
fn a_cut_metric_says_it_was_cut() {
    let mut s = opened();
    if let Some(versions) = s.detail.versions.get_mut("fraud") {
        for v in versions.iter_mut() {
            v.metrics.insert("accuracy".into(), 0.8055);
            v.metrics.insert("log_loss".into(), 0.41234);
        }
    }
    tab(&mut s); // drift
    tab(&mut s); // versions
    let screen = text(&render(&s, "dark", 80, 24));
    let metrics: Vec<&str> = screen.lines().filter(|l| l.contains("accuracy=")).collect();
    assert!(!metrics.is_empty(), "{screen}");
    for line in metrics {
        let cell = &line[line.find("accuracy=").unwrap()..];
        assert!(
            cell.contains("accuracy=0.8055") || cell.contains('…'),
            "cut without a sign: {line:?}"
        );
        assert!(
            cell.contains('…'),
            "80 columns cannot hold all three: {line:?}"
        );
    }
}

#[test]
fn enter_describes_the_selected_row_whole_and_y_shows_it_as_json() {
    use flightdeck::app::state::Overlay;
    let mut s = opened();
    tab(&mut s); // drift
    tab(&mut s); // versions: v1 (production) first
    enter(&mut s);
    let Some(Overlay::Describe {
        described, json, ..
    }) = &s.overlay
    else {
        panic!("{:?}", s.overlay)
    };
    assert_eq!(described.title, "fraud v1");
    assert!(!json);
    snapshot("describe_version", &s);
    // A line longer than the box wraps under itself: nothing is cut at the edge.
    let mut wide = s.clone();
    if let Some(Overlay::Describe { described, .. }) = &mut wide.overlay {
        described.value["description"] = serde_json::Value::from(
            "retrained on the March claims after the upstream schema change, with the amount feature clipped at the 99.9th percentile; see the runbook ENDMARK",
        );
    }
    let screen = text(&render(&wide, "dark", 80, 24));
    assert!(
        screen.contains("description: retrained on the March claims") && screen.contains("ENDMARK"),
        "{screen}"
    );
    let screen = text(&render(&s, "dark", 160, 48));
    assert!(
        screen.contains("sha256:") && screen.contains("lineage:"),
        "{screen}"
    );
    key(&mut s, 'y');
    let screen = text(&render(&s, "dark", 160, 48));
    assert!(
        screen.contains("\"sha256\":") && screen.contains("(JSON, as read at 08:00:00 UTC)"),
        "{screen}"
    );
    // j scrolls, Esc closes.
    key(&mut s, 'j');
    let Some(Overlay::Describe { scroll, .. }) = &s.overlay else {
        panic!()
    };
    assert_eq!(*scroll, 1);
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    assert!(s.overlay.is_none());
    // A journal row whole: who, when, what, the outcome and its details.
    tab(&mut s); // cluster
    tab(&mut s); // journal
    enter(&mut s);
    let screen = text(&render(&s, "dark", 160, 48));
    assert!(
        screen.contains("operation: deploy")
            && screen.contains("outcome: failed")
            && screen.contains("user: alice"),
        "{screen}"
    );
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    // y in the fleet: the selected model's row as JSON.
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    key(&mut s, 'y');
    let screen = text(&render(&s, "dark", 160, 48));
    assert!(screen.contains("\"model\": \"fraud\""), "{screen}");
}
