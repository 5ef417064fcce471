//! The console never draws a guess as a measurement and never lets a key fall through to an
//! operation: a 4xx outage, a stopped or replaced server, a failed read and a source that never
//! answered, driven through the reducer and drawn on a TestBackend; typing a filter in every
//! pane; a selection that follows its version.

use crate::common;

use common::console::*;
use flightdeck::app::fleet::{Signal, rows};
use flightdeck::app::msg::FleetData;
use flightdeck::app::state::{Mode, Overlay, Pane, View};
use flightdeck::app::{Effect, Msg, State, update};
use flightdeck::clients::metrics::parse;
use flightdeck::engine::ops::OpRequest;
use flightdeck::keymap::{Key, KeyCode};
use flightdeck::model::{JournalEntry, Outcome, ServingPlan};

fn press(s: &mut State, code: KeyCode) -> Vec<Effect> {
    update(s, Msg::Key(Key::plain(code)))
}

fn typed(s: &mut State, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| key(s, c)).collect()
}

fn fraud(s: &State) -> flightdeck::app::fleet::FleetRow {
    rows(s).into_iter().find(|r| r.model == "fraud").unwrap()
}

/// An exposition of fraud v1 with `ok` answers 200 and `refused` answers 400.
fn with_client_errors(ok: u64, refused: u64) -> String {
    format!(
        "# TYPE flightdeck_requests_total counter\n\
         flightdeck_requests_total{{model=\"fraud\",version=\"1\",code=\"200\"}} {ok}\n\
         flightdeck_requests_total{{model=\"fraud\",version=\"1\",code=\"400\"}} {refused}\n\
         # TYPE flightdeck_model_info gauge\n\
         flightdeck_model_info{{model=\"fraud\",version=\"1\",sha256=\"ab\",role=\"stable\"}} 1\n"
    )
}

fn scraped(s: &mut State, endpoint: &str, second: f64, text: &str) {
    update(
        s,
        Msg::MetricsScraped {
            model: "fraud".into(),
            endpoint: endpoint.into(),
            monotonic: second,
            at: t0() + chrono::Duration::seconds(second as i64),
            result: Ok(parse(text)),
        },
    );
}

fn listed(s: &mut State, server: flightdeck::model::ServingStatus) -> Vec<Effect> {
    update(
        s,
        Msg::ServersListed {
            servers: vec![server],
            problem: None,
            known_at: None,
        },
    )
}

/// The fraud row's line on a 100x24 screen.
fn fraud_line(s: &State) -> String {
    let screen = text(&render(s, "dark", 100, 24));
    screen
        .lines()
        .find(|l| l.starts_with('│') && l.contains("fraud"))
        .unwrap()
        .to_string()
}

#[test]
fn a_version_that_refuses_every_request_is_an_incident_not_zero_errors() {
    let mut s = loaded();
    scraped(
        &mut s,
        "http://127.0.0.1:9000",
        2.0,
        &with_client_errors(0, 0),
    );
    scraped(
        &mut s,
        "http://127.0.0.1:9000",
        3.0,
        &with_client_errors(0, 90),
    );
    let row = fraud(&s);
    let stats = row.stats.unwrap();
    assert_eq!(stats.error_ratio, Some(1.0));
    assert_eq!(stats.client_error_ratio, Some(1.0));
    assert_eq!(stats.server_error_ratio, Some(0.0));
    assert!(row.alerts.contains(&"!err"), "{:?}", row.alerts);
    let line = fraud_line(&s);
    assert!(line.contains("100%") && line.contains("!err"), "{line}");
    // status --json carries both ratios.
    let json = serde_json::to_value(&row).unwrap();
    assert_eq!(json["stats"]["client_error_ratio"], 1.0);
    assert_eq!(json["stats"]["server_error_ratio"], 0.0);
    assert_eq!(json["signal"]["state"], "live");
}

#[test]
fn a_failed_read_keeps_the_numbers_dimmed_with_their_age_and_says_why() {
    let mut s = loaded();
    tick(&mut s, 12.0);
    let now = s.now;
    update(
        &mut s,
        Msg::MetricsScraped {
            model: "fraud".into(),
            endpoint: "http://127.0.0.1:9000".into(),
            monotonic: 12.0,
            at: now,
            result: Err("cannot connect: Connection refused".into()),
        },
    );
    let row = fraud(&s);
    assert!(row.stats.is_some(), "the last numbers are kept");
    assert!(
        matches!(&row.signal, Signal::Stale { age_seconds: Some(12), error } if error.contains("refused")),
        "{:?}",
        row.signal
    );
    let line = fraud_line(&s);
    assert!(line.contains("stale 12s"), "{line}");
    let screen = text(&render(&s, "dark", 100, 24));
    let header = screen.lines().next().unwrap();
    assert!(
        header.contains("metrics 0 ok, 1 failing")
            && header.contains("fraud: cannot")
            && header.contains(":errors"),
        "{header}"
    );
    // `:errors` shows the whole error.
    typed(&mut s, ":errors");
    press(&mut s, KeyCode::Enter);
    assert!(matches!(s.overlay, Some(Overlay::Errors)));
    let screen = text(&render(&s, "dark", 100, 24));
    assert!(
        screen.contains("cannot connect: Connection refused"),
        "{screen}"
    );
}

#[test]
fn a_stopped_server_leaves_no_numbers_and_the_header_no_ok() {
    let mut s = loaded();
    assert!(fraud(&s).stats.is_some());
    let mut stopped = server("fraud", ServingPlan::stable_only(1));
    stopped.supervisor_alive = false;
    stopped.healthy = false;
    stopped.serving = None;
    stopped.problem = Some("not running".into());
    let effects = listed(&mut s, stopped);
    assert!(effects.is_empty(), "nothing to scrape: {effects:?}");
    let row = fraud(&s);
    assert_eq!(row.stats, None);
    assert!(
        matches!(row.signal, Signal::Unknown { .. }),
        "{:?}",
        row.signal
    );
    let line = fraud_line(&s);
    assert!(
        line.contains("down") && !line.contains("0.0") && !line.contains('%'),
        "{line}"
    );
    let screen = text(&render(&s, "dark", 100, 24));
    assert!(
        screen.lines().next().unwrap().contains("metrics 0 ok"),
        "{screen}"
    );
}

#[test]
fn a_server_replaced_on_a_new_port_shows_none_of_its_predecessors_numbers() {
    let mut s = loaded();
    assert_eq!(fraud(&s).stats.unwrap().requests_per_second, 200.0);
    let mut replaced = server("fraud", ServingPlan::stable_only(1));
    replaced.record.as_mut().unwrap().port = Some(9100);
    let effects = listed(&mut s, replaced);
    assert_eq!(
        effects,
        vec![Effect::Scrape {
            model: "fraud".into(),
            endpoint: "http://127.0.0.1:9100".into()
        }],
        "read at its new endpoint at once"
    );
    // The new server has answered nothing yet: its first read has no rate.
    scraped(
        &mut s,
        "http://127.0.0.1:9100",
        5.0,
        &with_client_errors(0, 0),
    );
    assert_eq!(fraud(&s).stats, None, "nothing of the old server's remains");
    assert!(fraud_line(&s).contains(" - "), "{}", fraud_line(&s));
    scraped(
        &mut s,
        "http://127.0.0.1:9100",
        6.0,
        &with_client_errors(0, 0),
    );
    let stats = fraud(&s).stats.unwrap();
    assert_eq!(stats.requests_per_second, 0.0, "measured: no traffic");
    assert_eq!(stats.error_ratio, None, "no answers, no error ratio");
}

#[test]
fn a_metrics_source_that_never_answered_draws_dashes_not_zeros() {
    let mut s = state();
    tick(&mut s, 0.0);
    update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Ok(FleetData {
                models: vec![summary("fraud", Some(1))],
                servers: Some(vec![server("fraud", ServingPlan::stable_only(1))]),
                interrupted: Vec::new(),
                rollouts: Vec::new(),
            }),
        },
    );
    update(
        &mut s,
        Msg::MetricsScraped {
            model: "fraud".into(),
            endpoint: "http://127.0.0.1:9000".into(),
            monotonic: 0.0,
            at: t0(),
            result: Err("Prometheus at http://127.0.0.1:9: cannot connect".into()),
        },
    );
    let row = fraud(&s);
    assert_eq!(row.stats, None);
    let line = fraud_line(&s);
    assert!(
        !line.contains("0.0") && !line.contains("0.00%"),
        "a guess drawn as a measurement: {line}"
    );
}

fn journal_row(id: i64, operation: &str, outcome: Outcome) -> JournalEntry {
    JournalEntry {
        id,
        time: t0(),
        user: "alice".into(),
        environment: "local".into(),
        operation: operation.into(),
        model: Some("fraud".into()),
        from: Some("v1".into()),
        to: Some("v1 + canary v2 10%".into()),
        outcome,
        details: serde_json::Value::Null,
    }
}

/// fraud open on `pane`, through the command palette.
fn open_on(pane: &str) -> State {
    let mut s = loaded();
    key(&mut s, 'j'); // fraud (churn sorts first)
    key(&mut s, ':');
    typed(&mut s, pane);
    press(&mut s, KeyCode::Enter);
    assert!(matches!(&s.view, View::Model { name, .. } if name == "fraud"));
    s
}

#[test]
fn a_k9s_filter_in_the_journal_never_reaches_an_operation() {
    let mut s = open_on("journal");
    assert!(matches!(
        &s.view,
        View::Model {
            pane: Pane::Journal,
            ..
        }
    ));
    update(
        &mut s,
        Msg::JournalFetched {
            model: "fraud".into(),
            at: t0(),
            result: Ok(vec![
                journal_row(3, "deploy", Outcome::Failed),
                journal_row(2, "deploy", Outcome::Succeeded),
                journal_row(1, "deploy", Outcome::Started),
            ]),
        },
    );
    // "/failed" then Enter: `a` (abort) and Enter (confirm) are text here.
    let mut effects = key(&mut s, '/');
    effects.extend(typed(&mut s, "failed"));
    effects.extend(press(&mut s, KeyCode::Enter));
    assert!(effects.is_empty(), "{effects:?}");
    assert!(s.modal().is_none(), "no dialog opened");
    assert_eq!(s.detail.filter, "failed");
    let screen = text(&render(&s, "dark", 100, 24));
    assert!(screen.contains("filter: failed"), "{screen}");
    assert_eq!(
        screen.lines().filter(|l| l.contains("alice")).count(),
        1,
        "only the failed row: {screen}"
    );
    // Esc clears the filter first, then goes back.
    press(&mut s, KeyCode::Esc);
    assert!(s.detail.filter.is_empty());
    assert!(matches!(s.view, View::Model { .. }));
    press(&mut s, KeyCode::Esc);
    assert_eq!(s.view, View::Fleet);
}

#[test]
fn every_pane_with_rows_filters_and_unknown_keys_say_so() {
    for pane in ["versions", "drift", "cluster", "journal"] {
        let mut s = open_on(pane);
        key(&mut s, '/');
        assert_eq!(s.mode, Mode::Filter, "{pane}");
        let effects = typed(&mut s, "dpra");
        assert!(effects.is_empty(), "{pane}: {effects:?}");
        assert!(s.modal().is_none() && s.check().is_none(), "{pane}");
        press(&mut s, KeyCode::Esc);
    }
    let mut s = loaded();
    key(&mut s, 'z');
    assert!(
        s.toast.as_deref().unwrap().contains("z: no such key"),
        "{:?}",
        s.toast
    );
}

#[test]
fn the_selection_follows_its_version_when_the_rows_reorder() {
    let mut s = open_on("versions");
    let versions = |list: Vec<flightdeck::model::ModelVersion>| Msg::VersionsFetched {
        model: "fraud".into(),
        at: t0(),
        result: Ok(list),
    };
    update(
        &mut s,
        versions(vec![
            version(1, &["production"], Some(true), "fp-1"),
            version(3, &[], None, "fp-1"),
            version(2, &[], Some(true), "fp-1"),
        ]),
    );
    key(&mut s, 'j');
    key(&mut s, 'j');
    assert_eq!(flightdeck::app::panes::selected_version(&s), Some(2));
    // v2 becomes the canary: aliased versions are listed first, so its row moves.
    update(
        &mut s,
        versions(vec![
            version(1, &["production"], Some(true), "fp-1"),
            version(2, &["canary"], Some(true), "fp-1"),
            version(3, &[], None, "fp-1"),
        ]),
    );
    assert_eq!(flightdeck::app::panes::selected_version(&s), Some(2));
    assert_eq!(s.detail.selected, 1);
    let effects = key(&mut s, 'r');
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::PlanOp {
                request: OpRequest::Rollback { to: Some(2) },
                ..
            }]
        ),
        "{effects:?}"
    );
    // Filtering keeps it selected while it matches.
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    s.overlay = None;
    key(&mut s, '/');
    typed(&mut s, "canary");
    press(&mut s, KeyCode::Enter);
    assert_eq!(flightdeck::app::panes::selected_version(&s), Some(2));
}

#[test]
fn a_dialog_always_shows_its_keys_and_says_what_is_overridden() {
    use flightdeck::engine::ops::{GateResult, GateStatus};
    let mut s = loaded();
    key(&mut s, 'j');
    key(&mut s, 'p');
    let mut plan = promote_plan(false);
    // Long evidence on many gates: more than an 80x24 screen holds.
    plan.gates = (0..8)
        .map(|i| GateResult {
            name: format!("gate {i}"),
            status: if i % 2 == 0 {
                GateStatus::Fail
            } else {
                GateStatus::NotEnoughData
            },
            evidence: "canary 35.38% of 277 vs production 0.00% of 3083 since each version was loaded (allowed +1.00%), which is a long sentence".into(),
        })
        .collect();
    update(&mut s, Msg::OpPlanned { result: Ok(plan) });
    let screen = text(&render(&s, "dark", 80, 24));
    assert!(
        screen.contains("o: override") && screen.contains("esc: cancel"),
        "the keys are cut off:\n{screen}"
    );
    assert!(!screen.contains("OVERRIDDEN"), "{screen}");
    key(&mut s, 'o');
    let screen = text(&render(&s, "dark", 80, 24));
    assert!(
        screen.contains("[x] o: override") && screen.contains("WITH 8 GATE(S) OVERRIDDEN"),
        "{screen}"
    );
    assert!(
        screen.contains("OVERRIDDEN canary"),
        "each gate says so: {screen}"
    );
}

#[test]
fn a_down_server_is_an_alert_and_keeps_no_drift_verdict() {
    let mut s = loaded();
    assert!(fraud(&s).drift.is_some());
    let mut frozen = server("fraud", ServingPlan::stable_only(1));
    frozen.healthy = false;
    frozen.serving = None;
    frozen.problem = Some("the server did not answer within 2000 ms".into());
    listed(&mut s, frozen);
    let row = fraud(&s);
    assert_eq!(row.drift, None, "no verdict without a read: {row:?}");
    assert!(row.alerts.contains(&"!down"), "{:?}", row.alerts);
    let screen = text(&render(&s, "dark", 100, 24));
    assert!(
        screen.lines().next().unwrap().contains("servers 1 down"),
        "{screen}"
    );
}

#[test]
fn a_message_gives_the_footer_back_after_a_while() {
    let mut s = loaded();
    key(&mut s, 'z');
    assert!(s.toast.is_some());
    tick(&mut s, 5.0);
    assert!(s.toast.is_some(), "still there after 5 s");
    tick(&mut s, 30.0);
    assert_eq!(s.toast, None);
    // An operation's outcome too, once its dialog is closed.
    key(&mut s, 'j');
    key(&mut s, 'p');
    update(
        &mut s,
        Msg::OpPlanned {
            result: Ok(promote_plan(true)),
        },
    );
    press(&mut s, KeyCode::Enter);
    update(
        &mut s,
        Msg::OpFinished {
            result: Ok("promote fraud: done".into()),
        },
    );
    key(&mut s, 'x');
    assert_eq!(s.toast.as_deref(), Some("promote fraud: done"));
    tick(&mut s, 40.0);
    tick(&mut s, 60.0);
    assert_eq!(s.toast, None, "an old outcome does not stay as news");
}
