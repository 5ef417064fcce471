//! The console without a terminal: the reducer driven by messages, and frames drawn on
//! ratatui's TestBackend, checked for text and for the colours that carry meaning.

use crate::common;

use common::console::*;
use flightdeck::app::msg::FleetData;
use flightdeck::app::state::Mode;
use flightdeck::app::{Effect, Msg, update};
use flightdeck::clients::metrics::parse;
use flightdeck::keymap::{Key, KeyCode};
use flightdeck::model::{AliasName, ServingPlan};
use flightdeck::theme::Theme;
use flightdeck::ui::DrawnList;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

#[test]
fn fetches_follow_the_refresh_interval_and_never_pile_up() {
    let mut s = state();
    assert_eq!(tick(&mut s, 0.0), vec![Effect::FetchFleet]);
    assert!(tick(&mut s, 0.5).is_empty(), "not due yet");
    assert!(
        tick(&mut s, 1.5).is_empty(),
        "the previous fetch has not answered: no second one"
    );
    update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Ok(FleetData {
                servers: Some(Vec::new()),
                ..FleetData::default()
            }),
        },
    );
    assert_eq!(tick(&mut s, 2.0), vec![Effect::FetchFleet]);
    // ctrl-r refreshes now.
    update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Ok(FleetData {
                servers: Some(Vec::new()),
                ..FleetData::default()
            }),
        },
    );
    let refresh = Key {
        code: KeyCode::Char('r'),
        ctrl: true,
        alt: false,
    };
    assert_eq!(update(&mut s, Msg::Key(refresh)), vec![Effect::FetchFleet]);
}

#[test]
fn rates_and_quantiles_come_from_successive_scrapes() {
    let s = loaded();
    let rows = flightdeck::app::fleet::rows(&s);
    let fraud = rows.iter().find(|r| r.model == "fraud").unwrap();
    let stats = fraud.stats.unwrap();
    assert_eq!(stats.requests_per_second, 200.0);
    assert!((stats.error_ratio.unwrap() - 0.05).abs() < 1e-12);
    assert!(
        stats.p99.unwrap() > 0.001,
        "half the new requests were slow"
    );
    assert_eq!(fraud.alerts, vec!["!err", "!p99", "!drift"]);
}

#[test]
fn a_failing_source_keeps_its_last_data_and_says_why() {
    let mut s = loaded();
    update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Err("registry.db is locked".into()),
        },
    );
    assert_eq!(s.models.len(), 2, "last good data kept");
    assert_eq!(
        s.sources.registry.error.as_deref(),
        Some("registry.db is locked")
    );
    update(
        &mut s,
        Msg::MetricsScraped {
            model: "fraud".into(),
            endpoint: "http://127.0.0.1:9000".into(),
            monotonic: 2.0,
            at: t0(),
            result: Err("connection refused".into()),
        },
    );
    assert_eq!(
        s.sources.metrics["fraud"].error.as_deref(),
        Some("connection refused")
    );
    assert!(
        flightdeck::app::fleet::rows(&s)
            .iter()
            .any(|r| r.stats.is_some()),
        "last rates kept"
    );
}

#[test]
fn navigation_filter_sort_and_commands() {
    let mut s = loaded();
    assert_eq!(s.selected, 0);
    key(&mut s, 'j');
    key(&mut s, 'j');
    assert_eq!(s.selected, 1, "clamped at the last row");
    key(&mut s, 'g');
    assert_eq!(s.selected, 0);
    key(&mut s, '/');
    for c in "fra".chars() {
        key(&mut s, c);
    }
    update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    let rows = flightdeck::app::fleet::rows(&s);
    assert_eq!(
        rows.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(),
        ["fraud"]
    );
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    assert!(s.filter.is_empty());
    key(&mut s, 'o');
    assert_eq!(s.sort.label(), "health");
    key(&mut s, 'o');
    let rows = flightdeck::app::fleet::rows(&s);
    assert_eq!(
        rows[0].model, "fraud",
        "sorted by request rate, busiest first"
    );
    let screen = text(&render(&s, "dark", 80, 24));
    assert!(screen.contains("sort: req/s ▼"), "{screen}");
    // O turns it around; a model not measured stays last either way.
    key(&mut s, 'O');
    let rows = flightdeck::app::fleet::rows(&s);
    assert_eq!(rows.last().unwrap().model, "churn", "unmeasured last");
    let screen = text(&render(&s, "dark", 80, 24));
    assert!(screen.contains("sort: req/s ▲"), "{screen}");
    key(&mut s, 'O');
    key(&mut s, ':');
    for c in "nonsense".chars() {
        key(&mut s, c);
    }
    update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert!(s.toast.as_deref().unwrap().contains("unknown command"));
    key(&mut s, ':');
    key(&mut s, 't');
    key(&mut s, 'h');
    update(&mut s, Msg::Key(Key::plain(KeyCode::Tab)));
    assert_eq!(s.mode, Mode::Command("theme ".into()), "tab completes");
    for c in " ansi16".chars() {
        key(&mut s, c);
    }
    update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert_eq!(s.config.theme, "ansi16");
    key(&mut s, ':');
    key(&mut s, 'q');
    assert_eq!(
        update(&mut s, Msg::Key(Key::plain(KeyCode::Enter))),
        vec![Effect::Quit]
    );
    assert!(s.quit);
}

#[test]
fn the_fleet_fits_80x24_and_colours_carry_meaning() {
    let s = loaded();
    let theme = Theme::built_in("dark", false).unwrap();
    let buffer = render(&s, "dark", 80, 24);
    let screen = text(&buffer);
    assert!(
        screen.contains(" flightdeck ") && screen.contains("local"),
        "{screen}"
    );
    assert!(
        screen.contains("fraud") && screen.contains("churn"),
        "{screen}"
    );
    assert!(
        screen.contains("200") && screen.contains("5.00%"),
        "{screen}"
    );
    assert!(screen.contains("DRIFT"), "{screen}");
    let (x, y) = find_in(&buffer, "fraud", "DRIFT");
    assert_eq!(
        buffer[(x, y)].fg,
        theme.danger,
        "drift is in the danger colour"
    );
    let (x, y) = find_in(&buffer, "fraud", "5.00%");
    assert_eq!(
        buffer[(x, y)].fg,
        theme.danger,
        "an error rate over 1% is in the danger colour"
    );
    let big = text(&render(&s, "dark", 160, 48));
    assert!(
        big.contains("ALERTS") && big.contains("!err !p99 !drift"),
        "{big}"
    );
}

#[test]
fn read_only_environments_stand_out_in_the_header() {
    let mut s = loaded();
    s.config.read_only = true;
    let theme = Theme::built_in("dark", false).unwrap();
    let buffer = render(&s, "dark", 80, 24);
    let (x, y) = find(&buffer, "READ-ONLY");
    assert_eq!(buffer[(x, y)].bg, theme.read_only_bg);
    // Without colour the meaning stays: reverse video.
    let mono = render(&s, "mono", 80, 24);
    let (x, y) = find(&mono, "READ-ONLY");
    assert!(
        mono[(x, y)]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED)
    );
}

#[test]
fn a_small_terminal_gets_a_message_not_a_garbled_screen() {
    let s = loaded();
    let screen = text(&render(&s, "dark", 50, 10));
    assert!(screen.contains("needs at least 60x12"), "{screen}");
}

#[test]
fn help_is_generated_from_the_keymap_and_fits_80x24() {
    let mut s = loaded();
    key(&mut s, '?');
    let screen = text(&render(&s, "dark", 80, 24));
    assert!(
        screen.contains("promote the canary") && screen.contains("quit"),
        "{screen}"
    );
    assert!(
        screen.contains("evaluate vs production"),
        "every action is listed:\n{screen}"
    );
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    assert_eq!(s.mode, Mode::Normal);
}

#[test]
fn enter_opens_a_model_tab_cycles_panes_and_esc_goes_back() {
    use flightdeck::app::state::{Pane, View};
    let mut s = loaded();
    key(&mut s, 'j'); // fraud (rows sorted by name: churn, fraud)
    let effects = update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert_eq!(
        s.view,
        View::Model {
            name: "fraud".into(),
            pane: Pane::Serving
        }
    );
    assert!(effects.contains(&Effect::FetchVersions {
        model: "fraud".into()
    }));
    assert!(effects.contains(&Effect::FetchDrift {
        model: "fraud".into(),
        endpoint: "http://127.0.0.1:9000".into()
    }));
    let screen = text(&render(&s, "dark", 80, 24));
    assert!(
        screen.contains("stable v1") && screen.contains("100% of traffic"),
        "{screen}"
    );

    update(&mut s, Msg::Key(Key::plain(KeyCode::Tab)));
    assert_eq!(
        s.view,
        View::Model {
            name: "fraud".into(),
            pane: Pane::Drift
        }
    );
    update(
        &mut s,
        Msg::DriftFetched {
            model: "fraud".into(),
            at: t0(),
            result: Ok(vec![drift_report()]),
        },
    );
    key(&mut s, 'j');
    assert_eq!(s.detail.selected, 1);
    key(&mut s, 'j');
    assert_eq!(s.detail.selected, 1, "clamped to the features");
    let buffer = render(&s, "dark", 100, 30);
    let screen = text(&buffer);
    assert!(
        screen.contains("age: reference vs live"),
        "the selected feature's histogram:\n{screen}"
    );
    let _ = buffer;
    key(&mut s, 'k'); // select amount, so age's row shows its own colours
    let buffer = render(&s, "dark", 100, 30);
    let theme = Theme::built_in("dark", false).unwrap();
    let (x, y) = find_in(&buffer, "age ", "drift");
    assert_eq!(
        buffer[(x, y)].fg,
        theme.danger,
        "a drifted feature's verdict is in the danger colour"
    );

    // A failing drift source keeps the last report and says so.
    update(
        &mut s,
        Msg::DriftFetched {
            model: "fraud".into(),
            at: t0(),
            result: Err("connection refused".into()),
        },
    );
    assert!(text(&render(&s, "dark", 100, 30)).contains("connection refused"));

    update(&mut s, Msg::Key(Key::plain(KeyCode::BackTab)));
    assert_eq!(
        s.view,
        View::Model {
            name: "fraud".into(),
            pane: Pane::Serving
        }
    );
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    assert_eq!(s.view, View::Fleet);
}

#[test]
fn serving_history_is_bounded() {
    let mut s = loaded();
    for i in 0..1000u64 {
        let snapshot = parse(&exposition(400 + i * 10, 0, 400 + i * 10));
        update(
            &mut s,
            Msg::MetricsScraped {
                model: "fraud".into(),
                endpoint: "http://127.0.0.1:9000".into(),
                monotonic: 2.0 + i as f64,
                at: t0() + chrono::Duration::seconds(i as i64),
                result: Ok(snapshot),
            },
        );
    }
    // A thousand seconds of reads: the five minutes keep their steps, and the one being filled.
    use flightdeck::app::chart_range::ChartRange;
    let history = s.coarse[&("fraud".to_string(), "1".to_string())].series(ChartRange::FiveMinutes);
    assert_eq!(history.len(), ChartRange::FiveMinutes.points() + 1);
}

#[test]
fn operations_open_a_preview_gates_block_and_overrides_are_explicit() {
    use flightdeck::app::state::OpStage;
    let mut s = loaded();
    key(&mut s, 'j'); // fraud
    let effects = key(&mut s, 'p');
    assert!(
        matches!(effects.as_slice(), [Effect::PlanOp { model, .. }] if model == "fraud"),
        "{effects:?}"
    );
    assert!(text(&render(&s, "dark", 100, 30)).contains("planning"));
    update(
        &mut s,
        Msg::OpPlanned {
            result: Ok(promote_plan(false)),
        },
    );
    let screen = text(&render(&s, "dark", 100, 30));
    assert!(
        screen.contains("production v1 -> v2")
            && screen.contains("canary traffic")
            && screen.contains("o: override"),
        "{screen}"
    );
    // A failing gate blocks Enter until overridden.
    assert!(update(&mut s, Msg::Key(Key::plain(KeyCode::Enter))).is_empty());
    assert!(s.toast.as_deref().unwrap().contains("a gate failed"));
    key(&mut s, 'o');
    let effects = update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::RunOp { consent, .. }] if consent.override_gates
        ),
        "{effects:?}"
    );
    assert!(matches!(s.modal().unwrap().stage, OpStage::Running(_)));
    assert!(
        update(&mut s, Msg::Key(Key::plain(KeyCode::Esc))).is_empty(),
        "no cancelling a running operation"
    );
    assert!(s.modal().is_some());
    let effects = update(
        &mut s,
        Msg::OpFinished {
            result: Ok("promote fraud: done".into()),
        },
    );
    assert!(
        effects.contains(&Effect::FetchFleet),
        "the new state is fetched at once"
    );
    key(&mut s, 'x');
    assert!(s.modal().is_none(), "any key closes the outcome");
    assert_eq!(s.toast.as_deref(), Some("promote fraud: done"));

    // A refusal from the engine (here: read-only) is shown, and nothing runs.
    key(&mut s, 'r');
    update(
        &mut s,
        Msg::OpPlanned {
            result: Err("environment \"local\" is read-only: refused to rollback fraud".into()),
        },
    );
    assert!(text(&render(&s, "dark", 100, 30)).contains("read-only"));
    assert!(update(&mut s, Msg::Key(Key::plain(KeyCode::Enter))).is_empty());
}

#[test]
fn typed_confirmation_needs_the_model_name() {
    let mut s = loaded();
    s.config.typed_confirmation = true;
    key(&mut s, 'j');
    key(&mut s, 'p');
    update(
        &mut s,
        Msg::OpPlanned {
            result: Ok(promote_plan(true)),
        },
    );
    assert!(update(&mut s, Msg::Key(Key::plain(KeyCode::Enter))).is_empty());
    assert!(s.toast.as_deref().unwrap().contains("type fraud"));
    for c in "fraud".chars() {
        key(&mut s, c);
    }
    let effects = update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::RunOp { consent, .. }] if !consent.override_gates
        ),
        "{effects:?}"
    );
}

#[test]
fn an_interrupted_operation_is_announced_until_recovered() {
    let mut s = loaded();
    let fleet = FleetData {
        models: s.models.clone(),
        servers: Some(s.servers.values().cloned().collect()),
        interrupted: vec![flightdeck::app::msg::InterruptedOp {
            model: "fraud".into(),
            summary: "promote fraud (journal #12)".into(),
        }],
        rollouts: Vec::new(),
    };
    update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Ok(fleet),
        },
    );
    let buffer = render(&s, "dark", 120, 24);
    let screen = text(&buffer);
    assert!(
        screen.contains("interrupted: promote fraud (journal #12)")
            && screen.contains(":finish or :revert"),
        "{screen}"
    );
    let theme = Theme::built_in("dark", false).unwrap();
    let (x, y) = find(&buffer, "interrupted:");
    assert_eq!(buffer[(x, y)].fg, theme.danger);

    // :revert plans the recovery; the dialog is the operation dialog, titled for what it does.
    key(&mut s, ':');
    for c in "revert".chars() {
        key(&mut s, c);
    }
    assert_eq!(
        update(&mut s, Msg::Key(Key::plain(KeyCode::Enter))),
        vec![Effect::PlanRecovery {
            model: "fraud".into(),
            how: flightdeck::engine::ops::Recovery::Revert
        }]
    );
    update(
        &mut s,
        Msg::OpPlanned {
            result: Ok(promote_plan(true)),
        },
    );
    let screen = text(&render(&s, "dark", 120, 24));
    assert!(
        screen.contains("revert the interrupted promote fraud")
            && screen.contains("enter: confirm"),
        "{screen}"
    );
    assert!(matches!(
        update(&mut s, Msg::Key(Key::plain(KeyCode::Enter))).as_slice(),
        [Effect::RunOp { .. }]
    ));
    // Nothing interrupted for another model: said so, nothing planned.
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    s.overlay = None;
    s.mode = flightdeck::app::state::Mode::Command("finish churn".into());
    assert!(update(&mut s, Msg::Key(Key::plain(KeyCode::Enter))).is_empty());
    assert_eq!(
        s.toast.as_deref(),
        Some("churn has no interrupted operation")
    );
}

#[test]
fn cluster_and_journal_panes_show_the_processes_and_the_record() {
    use flightdeck::app::state::{Pane, View};
    use flightdeck::model::{JournalEntry, Outcome};
    let mut s = loaded();
    key(&mut s, 'j');
    let effects = update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert!(effects.contains(&Effect::FetchJournal {
        model: "fraud".into()
    }));
    key(&mut s, ':');
    for c in "cluster".chars() {
        key(&mut s, c);
    }
    update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert_eq!(
        s.view,
        View::Model {
            name: "fraud".into(),
            pane: Pane::Cluster
        }
    );
    let screen = text(&render(&s, "dark", 100, 30));
    assert!(
        screen.contains("healthy")
            && screen.contains("http://127.0.0.1:9000")
            && screen.contains("restarts"),
        "{screen}"
    );

    update(&mut s, Msg::Key(Key::plain(KeyCode::Tab)));
    assert_eq!(
        s.view,
        View::Model {
            name: "fraud".into(),
            pane: Pane::Journal
        }
    );
    let entry = |id: i64, op: &str, outcome: Outcome| JournalEntry {
        id,
        time: t0(),
        user: "alice".into(),
        environment: "local".into(),
        operation: op.into(),
        model: Some("fraud".into()),
        from: Some("v1".into()),
        to: Some("v2".into()),
        outcome,
        details: serde_json::Value::Null,
    };
    let rows = vec![
        entry(2, "promote", Outcome::Succeeded),
        entry(1, "promote", Outcome::Started),
    ];
    update(
        &mut s,
        Msg::JournalFetched {
            model: "fraud".into(),
            at: t0(),
            result: Ok(rows),
        },
    );
    let buffer = render(&s, "dark", 100, 30);
    let screen = text(&buffer);
    assert!(
        screen.contains("alice") && screen.contains("promote") && screen.contains("succeeded"),
        "{screen}"
    );
    key(&mut s, 'G');
    assert_eq!(s.detail.selected, 1);
}

#[test]
fn ascii_mode_draws_no_box_glyphs_in_any_pane_or_dialog() {
    let mut s = loaded();
    key(&mut s, 'j');
    update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    key(&mut s, '?');
    let theme = Theme::built_in("dark", false).unwrap();
    for width in [80, 160] {
        let mut terminal = Terminal::new(TestBackend::new(width, 30)).unwrap();
        let mut table = DrawnList::default();
        terminal
            .draw(|f| flightdeck::ui::draw(f, &s, &theme, true, &mut table))
            .unwrap();
        let screen = text(terminal.backend().buffer());
        assert!(
            screen.contains("+-")
                && !screen.contains('┌')
                && !screen.contains('─')
                && !screen.contains('▶'),
            "{screen}"
        );
    }
}

#[test]
fn smoke_and_evaluate_run_from_the_console_with_progress_and_a_report() {
    use flightdeck::app::state::{CheckOutcome, CheckStage};
    let mut s = loaded();
    key(&mut s, 'j'); // fraud: production v1, no canary

    // Evaluating production against itself is no evaluation: the user is told what to pick.
    assert!(key(&mut s, 'e').is_empty());
    assert!(s.check().is_none());
    assert!(s.toast.as_deref().unwrap().contains("select a version"));

    // s smoke-tests the canary, else production; progress shows while it runs.
    assert_eq!(
        key(&mut s, 's'),
        vec![Effect::Smoke {
            model: "fraud".into(),
            version: 1
        }]
    );
    update(
        &mut s,
        Msg::Progress {
            step: flightdeck::model::Step::new("running sentinel cases"),
        },
    );
    let screen = text(&render(&s, "dark", 100, 30));
    assert!(
        screen.contains("smoke test fraud v1") && screen.contains("running sentinel cases"),
        "{screen}"
    );
    let report = flightdeck::model::SmokeReport {
        model: "fraud".into(),
        version: 1,
        at: t0(),
        passed: false,
        checks: vec![
            flightdeck::model::SmokeCheck {
                name: "loads".into(),
                passed: true,
                detail: "served by a throwaway server".into(),
                skipped: false,
            },
            flightdeck::model::SmokeCheck {
                name: "sentinels".into(),
                passed: false,
                detail: "2 of 4 cases out of tolerance".into(),
                skipped: false,
            },
        ],
        endpoint: "http://127.0.0.1:1".into(),
    };
    update(
        &mut s,
        Msg::CheckFinished {
            result: Ok(CheckOutcome::Smoke(report)),
        },
    );
    let screen = text(&render(&s, "dark", 100, 30));
    assert!(
        screen.contains("2 of 4 cases out of tolerance") && screen.contains("FAILED; stored"),
        "{screen}"
    );
    assert!(s.toast.as_deref().unwrap().contains("FAILED sentinels"));
    key(&mut s, 'x');
    assert!(s.check().is_none(), "any key closes the report");

    // With a canary, e asks for the labelled CSV, then runs on it.
    let mut with_canary = summary("fraud", Some(1));
    let mut canary = with_canary.aliases[0].clone();
    canary.alias = AliasName::canary();
    canary.version = Some(2);
    with_canary.aliases.push(canary);
    update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Ok(FleetData {
                models: vec![with_canary, summary("churn", None)],
                servers: Some(vec![server("fraud", ServingPlan::stable_only(1))]),
                interrupted: Vec::new(),
                rollouts: Vec::new(),
            }),
        },
    );
    assert!(key(&mut s, 'e').is_empty(), "nothing runs before a path");
    assert!(matches!(
        s.check().unwrap().stage,
        CheckStage::AskData { .. }
    ));
    assert!(update(&mut s, Msg::Key(Key::plain(KeyCode::Enter))).is_empty());
    assert!(s.toast.as_deref().unwrap().contains("type the path"));
    for c in "h.csv".chars() {
        key(&mut s, c);
    }
    assert_eq!(
        update(&mut s, Msg::Key(Key::plain(KeyCode::Enter))),
        vec![Effect::Evaluate {
            model: "fraud".into(),
            version: 2,
            data: "h.csv".into()
        }]
    );
    // Esc closes a running check's dialog; its result still arrives as a toast.
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    assert!(s.check().is_none());
    update(
        &mut s,
        Msg::CheckFinished {
            result: Err("h.csv: no such file".into()),
        },
    );
    assert_eq!(s.toast.as_deref(), Some("failed: h.csv: no such file"));
    // The next evaluation offers the same file, as a selected field: Enter runs on it, typing
    // replaces it, Backspace edits it.
    key(&mut s, 'e');
    assert!(matches!(
        &s.check().unwrap().stage,
        CheckStage::AskData { path, prefilled: true } if path == "h.csv"
    ));
    for c in "other.csv".chars() {
        key(&mut s, c);
    }
    assert!(matches!(
        &s.check().unwrap().stage,
        CheckStage::AskData { path, prefilled: false } if path == "other.csv"
    ));
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    key(&mut s, 'e');
    update(&mut s, Msg::Key(Key::plain(KeyCode::Backspace)));
    key(&mut s, 'v');
    assert!(matches!(
        &s.check().unwrap().stage,
        // "h.cs" and a "v": edited, not replaced by "v".
        CheckStage::AskData { path, .. } if path == "h.csv"
    ));
}

#[test]
fn the_fleet_drift_column_follows_the_servers_verdict() {
    use flightdeck::model::Verdict;
    let mut s = loaded();
    let with_verdict = |verdict: &str| {
        format!(
            "{}# TYPE flightdeck_drift_verdict gauge\n\
             flightdeck_drift_verdict{{model=\"fraud\",version=\"1\",verdict=\"{verdict}\"}} 1\n\
             flightdeck_drift_verdict{{model=\"fraud\",version=\"1\",verdict=\"ok\"}} 0\n",
            exposition(500, 0, 500).replace("0.5\n", "0\n")
        )
    };
    let drift_of = |s: &flightdeck::app::State| {
        flightdeck::app::fleet::rows(s)
            .into_iter()
            .find(|r| r.model == "fraud")
            .unwrap()
            .drift
    };
    for (verdict, expected) in [
        ("insufficient_data", Verdict::InsufficientData),
        ("warn", Verdict::Warn),
        ("drift", Verdict::Drift),
    ] {
        update(
            &mut s,
            Msg::MetricsScraped {
                model: "fraud".into(),
                endpoint: "http://127.0.0.1:9000".into(),
                monotonic: 2.0,
                at: t0(),
                result: Ok(parse(&with_verdict(verdict))),
            },
        );
        assert_eq!(drift_of(&s), Some(expected), "{verdict}");
    }
    // An empty window no longer reads as "ok" in the fleet.
    update(
        &mut s,
        Msg::MetricsScraped {
            model: "fraud".into(),
            endpoint: "http://127.0.0.1:9000".into(),
            monotonic: 3.0,
            at: t0(),
            result: Ok(parse(&with_verdict("insufficient_data"))),
        },
    );
    // At 80 columns, where the SMOKE column (whose "ok" is another matter) has gone.
    let screen = text(&render(&s, "dark", 80, 24));
    let row = screen.lines().find(|l| l.contains("fraud")).unwrap();
    assert!(row.contains("n/a") && !row.contains(" ok "), "{row}");
}

#[test]
fn an_idle_screen_shows_no_ticking_ages_until_a_source_lags() {
    let mut s = loaded(); // refresh 1 s; the registry answered at t0, the clock at t0 + 1 s
    let header = |s: &flightdeck::app::State| {
        text(&render(s, "dark", 100, 24))
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    let fresh = header(&s);
    assert!(fresh.contains("registry live"), "{fresh}");
    // A few seconds later with nothing new: the same screen (nothing to redraw).
    tick(&mut s, 2.0);
    assert_eq!(header(&s), fresh);
    // The next fetch never answers: from 3 s (twice the refresh, at least 3 s) the age shows.
    tick(&mut s, 10.0);
    let lagging = header(&s);
    assert!(lagging.contains("registry 10s ago"), "{lagging}");
}

#[test]
fn the_registry_shows_before_a_slow_server_has_answered() {
    let mut s = state();
    assert_eq!(tick(&mut s, 0.0), vec![Effect::FetchFleet]);
    // The registry answered; the servers are still being asked.
    let effects = update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Ok(FleetData {
                models: vec![summary("fraud", Some(1))],
                servers: None,
                interrupted: Vec::new(),
                rollouts: Vec::new(),
            }),
        },
    );
    assert!(effects.is_empty());
    assert!(text(&render(&s, "dark", 100, 24)).contains("fraud"));
    assert!(
        tick(&mut s, 1.5).is_empty(),
        "no second fetch while the servers are being listed"
    );
    let effects = update(
        &mut s,
        Msg::ServersListed {
            servers: vec![server("fraud", ServingPlan::stable_only(1))],
            problem: None,
            known_at: None,
        },
    );
    assert_eq!(
        effects,
        vec![Effect::Scrape {
            model: "fraud".into(),
            endpoint: "http://127.0.0.1:9000".into()
        }]
    );
    assert_eq!(tick(&mut s, 2.5), vec![Effect::FetchFleet]);
}

#[test]
fn the_drift_pane_shows_each_features_trend_towards_its_limit() {
    use flightdeck::app::state::{Pane, View};
    let mut s = loaded();
    key(&mut s, 'j');
    update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    s.view = View::Model {
        name: "fraud".into(),
        pane: Pane::Drift,
    };
    // "age" creeps from nothing to its limit (0.25) over four reports.
    for statistic in [0.0, 0.08, 0.16, 0.25] {
        let mut report = drift_report();
        report.features[1].statistic = statistic;
        update(
            &mut s,
            Msg::DriftFetched {
                model: "fraud".into(),
                at: t0(),
                result: Ok(vec![report]),
            },
        );
    }
    let screen = text(&render(&s, "dark", 160, 30));
    let row = screen.lines().find(|l| l.contains(" age ")).unwrap();
    assert!(row.contains("▁▃▅█"), "{row}\n{screen}");
    assert_eq!(
        s.detail.drift_trend[&("fraud".to_string(), 1, "age".to_string())].len(),
        4
    );
}

#[test]
fn a_failed_smoke_test_of_the_canary_is_an_alert_and_a_column_on_wide_screens() {
    let mut s = loaded();
    let mut fraud = summary("fraud", Some(1));
    let mut canary = fraud.aliases[0].clone();
    canary.alias = AliasName::canary();
    canary.version = Some(2);
    fraud.aliases.push(canary);
    fraud.smoke.insert(2, false);
    update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Ok(FleetData {
                models: vec![fraud, summary("churn", None)],
                servers: None,
                interrupted: Vec::new(),
                rollouts: Vec::new(),
            }),
        },
    );
    let row = flightdeck::app::fleet::rows(&s)
        .into_iter()
        .find(|r| r.model == "fraud")
        .unwrap();
    assert_eq!(row.smoke, Some(false));
    assert!(row.alerts.contains(&"!smoke"), "{:?}", row.alerts);
    let narrow = text(&render(&s, "dark", 80, 24));
    let header = narrow.lines().find(|l| l.contains("MODEL")).unwrap();
    assert!(!header.contains("SMOKE"), "{narrow}");
    // Said where it went: the border lists what a wider terminal shows.
    assert!(narrow.contains("wider: ACC SMOKE"), "{narrow}");
    let wide = text(&render(&s, "dark", 160, 24));
    let line = wide.lines().find(|l| l.contains("fraud")).unwrap();
    assert!(wide.contains("SMOKE") && line.contains("FAIL"), "{wide}");
}

#[test]
fn a_click_selects_a_fleet_row_and_a_second_click_opens_it() {
    use flightdeck::app::state::View;
    let mut s = loaded(); // rows: churn (screen row 3), fraud (screen row 4)
    assert!(click(&mut s, 1).is_empty());
    assert_eq!(s.selected, 0, "the header is not a row");
    click(&mut s, 4);
    assert_eq!(s.selected, 1);
    assert!(click(&mut s, 9).is_empty());
    assert_eq!(s.selected, 1, "below the last row nothing changes");
    let effects = click(&mut s, 4);
    assert!(matches!(&s.view, View::Model { name, .. } if name == "fraud"));
    assert!(!effects.is_empty(), "opening fetches the model's panes");
}

#[test]
fn env_switches_to_another_configured_environment_and_forgets_the_old_ones_data() {
    let mut s = loaded();
    s.config.environments = vec![("audit".into(), true, true), ("local".into(), false, false)];
    let command = |s: &mut flightdeck::app::State, text: &str| {
        s.mode = Mode::Command(text.into());
        update(s, Msg::Key(Key::plain(KeyCode::Enter)))
    };
    assert!(command(&mut s, "env nowhere").is_empty());
    assert!(
        s.toast
            .as_deref()
            .unwrap()
            .contains("configured: audit, local"),
        "{:?}",
        s.toast
    );
    assert_eq!(s.models.len(), 2, "an unknown name changes nothing");

    let effects = command(&mut s, "env audit");
    assert_eq!(
        effects,
        vec![
            Effect::SwitchEnvironment {
                name: "audit".into()
            },
            Effect::FetchFleet
        ]
    );
    assert_eq!(s.config.environment, "audit");
    assert!(s.config.read_only && s.config.typed_confirmation);
    assert!(s.models.is_empty() && s.scrapes.is_empty() && s.coarse.is_empty());
    let header = text(&render(&s, "dark", 100, 24));
    assert!(header.contains("audit · READ-ONLY"), "{header}");
}

#[test]
fn an_environment_that_cannot_be_opened_leaves_the_console_where_it_was() {
    let mut s = loaded();
    s.config.environments = vec![("prod".into(), false, true), ("local".into(), false, false)];
    s.mode = Mode::Command("env prod".into());
    update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert_eq!(s.config.environment, "prod");
    // The run loop could not build prod's sources: it says so, and the console is back in
    // local (whose sources still answer), not showing local's answers under prod's name.
    let effects = update(
        &mut s,
        Msg::SwitchFailed {
            name: "prod".into(),
            back_to: "local".into(),
            error: "cannot read kubeconfig /nowhere".into(),
        },
    );
    assert_eq!(s.config.environment, "local");
    assert!(!s.config.typed_confirmation);
    assert_eq!(
        s.toast.as_deref(),
        Some("cannot switch to prod: cannot read kubeconfig /nowhere; still in local")
    );
    assert!(effects.contains(&Effect::FetchFleet), "{effects:?}");
    let header = text(&render(&s, "dark", 100, 24));
    assert!(
        header.contains("local") && !header.contains("prod ·"),
        "{header}"
    );
}

#[test]
fn off_screen_servers_are_scraped_ten_times_less_often() {
    let mut s = state();
    s.size = (80, 24);
    let names: Vec<String> = (0..200).map(|i| format!("m{i:03}")).collect();
    let listing = |s: &mut flightdeck::app::State| {
        let servers = names
            .iter()
            .map(|n| server(n, ServingPlan::stable_only(1)))
            .collect();
        update(
            s,
            Msg::ServersListed {
                servers,
                problem: None,
                known_at: None,
            },
        )
    };
    update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Ok(FleetData {
                models: names.iter().map(|n| summary(n, Some(1))).collect(),
                servers: None,
                interrupted: Vec::new(),
                rollouts: Vec::new(),
            }),
        },
    );
    let scraped_at = |s: &mut flightdeck::app::State, second: f64, effects: Vec<Effect>| {
        for effect in effects {
            if let Effect::Scrape { model, endpoint } = effect {
                update(
                    s,
                    Msg::MetricsScraped {
                        model,
                        endpoint,
                        monotonic: second,
                        at: s.now,
                        result: Ok(parse(&exposition(100, 0, 100))),
                    },
                );
            }
        }
    };
    tick(&mut s, 0.0);
    let first = listing(&mut s);
    assert_eq!(first.len(), 200, "never scraped: all of them");
    scraped_at(&mut s, 0.0, first);
    tick(&mut s, 1.0);
    let second = listing(&mut s);
    assert!(
        second.len() < 60 && !second.is_empty(),
        "a second later only rows near the selection: {}",
        second.len()
    );
    scraped_at(&mut s, 1.0, second);
    tick(&mut s, 11.0);
    assert_eq!(
        listing(&mut s).len(),
        200,
        "ten intervals later, everyone again"
    );
}

#[test]
fn an_opened_models_charts_start_with_the_sources_history() {
    use flightdeck::clients::metrics::RatePoint;
    let mut s = loaded(); // one point of history for fraud v1 so far
    key(&mut s, 'j');
    let effects = update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert!(effects.contains(&Effect::FetchHistory {
        model: "fraud".into(),
        range: flightdeck::app::chart_range::ChartRange::FiveMinutes,
    }));
    let key = ("fraud".to_string(), "1".to_string());
    // The source's points at the range's 5 s step, as Prometheus answers the query.
    let points: Vec<RatePoint> = (0..5)
        .map(|i| RatePoint {
            at: 1_800_000_000.0 - 300.0 + 5.0 * f64::from(i),
            requests_per_second: 10.0 * f64::from(i),
            error_ratio: Some(0.0),
            p99: Some(0.002),
        })
        .collect();
    update(
        &mut s,
        Msg::HistoryFetched {
            model: "fraud".into(),
            range: flightdeck::app::chart_range::ChartRange::FiveMinutes,
            result: Ok([(key.clone(), points)].into()),
        },
    );
    let chart = |s: &flightdeck::app::State| {
        s.coarse[&key].series(flightdeck::app::chart_range::ChartRange::FiveMinutes)
    };
    // The source's five steps, then the step the console's own read is filling.
    let history = chart(&s);
    assert_eq!(history.len(), 6);
    assert_eq!(history[4].unwrap().requests_per_second, 40.0);
    assert_eq!(
        i64::from(history[0].unwrap().at),
        1_800_000_000 - 300,
        "the chart says since when it reaches back"
    );
    // A source without history (scrape) answers nothing, and nothing is lost.
    update(
        &mut s,
        Msg::HistoryFetched {
            model: "fraud".into(),
            range: flightdeck::app::chart_range::ChartRange::FiveMinutes,
            result: Ok(Default::default()),
        },
    );
    assert_eq!(chart(&s).len(), 6);
    // T asks the source for the hour's history, in its steps.
    let effects = key_press(&mut s, 'T');
    assert_eq!(
        effects,
        vec![Effect::FetchHistory {
            model: "fraud".into(),
            range: flightdeck::app::chart_range::ChartRange::Hour,
        }]
    );
}

fn key_press(s: &mut flightdeck::app::State, c: char) -> Vec<Effect> {
    update(s, Msg::Key(Key::char(c)))
}

#[test]
fn a_long_fleet_scrolls_with_the_selection_and_shows_contiguous_rows() {
    let mut s = state();
    let names: Vec<String> = (0..200).map(|i| format!("m{i:03}")).collect();
    update(
        &mut s,
        Msg::FleetFetched {
            at: t0(),
            result: Ok(FleetData {
                models: names.iter().map(|n| summary(n, Some(1))).collect(),
                servers: Some(Vec::new()),
                interrupted: Vec::new(),
                rollouts: Vec::new(),
            }),
        },
    );
    // The run loop keeps one DrawnList across frames, as here.
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let theme = Theme::built_in("dark", false).unwrap();
    let mut table = DrawnList::default();
    let mut screen = |s: &flightdeck::app::State| {
        terminal
            .draw(|f| flightdeck::ui::draw(f, s, &theme, false, &mut table))
            .unwrap();
        text(terminal.backend().buffer())
    };
    let shown = |screen: &str| -> Vec<usize> {
        screen
            .lines()
            .filter_map(|l| {
                let at = l.find(" m")?;
                l[at + 2..at + 5].parse().ok()
            })
            .collect()
    };
    let check = |screen: &str, selected: usize| {
        let rows = shown(screen);
        assert!(rows.windows(2).all(|w| w[1] == w[0] + 1), "{rows:?}");
        assert!(rows.contains(&selected), "{selected} not in {rows:?}");
        let marked = screen.lines().find(|l| l.contains('▶')).unwrap();
        assert!(marked.contains(&format!("m{selected:03}")), "{marked}");
    };
    check(&screen(&s), 0);
    key(&mut s, 'G');
    check(&screen(&s), 199);
    key(&mut s, 'g');
    check(&screen(&s), 0);
    for _ in 0..30 {
        key(&mut s, 'j');
        let now = s.selected;
        check(&screen(&s), now);
    }
    // Moving back up inside the visible rows does not scroll.
    let before = shown(&screen(&s));
    key(&mut s, 'k');
    assert_eq!(shown(&screen(&s)), before);
}

#[test]
fn the_fleet_flags_aliases_that_disagree_with_what_serves() {
    use flightdeck::app::fleet::rows;
    let mut s = loaded();
    let alerts = |s: &flightdeck::app::State, model: &str| {
        rows(s)
            .into_iter()
            .find(|r| r.model == model)
            .unwrap()
            .alerts
    };
    assert!(
        !alerts(&s, "fraud").contains(&"!alias"),
        "agreeing at first"
    );
    // The cluster serves v2 while production says v1 (a rollout done outside flightdeck).
    let other = server("fraud", ServingPlan::stable_only(2));
    s.servers.insert("fraud".into(), other);
    assert!(alerts(&s, "fraud").contains(&"!alias"));
    // Production agrees, but a canary serves that no alias names.
    let canary = ServingPlan {
        stable: 1,
        canary: Some(2),
        canary_percent: 10,
    };
    s.servers.insert("fraud".into(), server("fraud", canary));
    assert!(alerts(&s, "fraud").contains(&"!alias"));
}

#[test]
fn alert_rules_are_judged_after_each_scrape_and_firing_ones_shown_with_their_age() {
    use chrono::Utc;
    use flightdeck::app::State;
    use flightdeck::app::fleet;
    use flightdeck::model::{AlertRule, AlertSignal, Severity};
    let mut s = loaded();
    s.config.alert_rules = vec![AlertRule {
        name: "fraud-errors".into(),
        signal: AlertSignal::Errors,
        threshold: 0.01,
        for_seconds: 60.0,
        severity: Severity::Critical,
        model: Some("fraud".into()),
        labels: Default::default(),
    }];
    // 5% errors, read at t0 and 90 s later: pending at the first, firing at the second.
    let scrape =
        |s: &mut State, second: f64, at: chrono::DateTime<Utc>, total: u64, errors: u64| {
            tick(s, second);
            s.now = at;
            update(
                s,
                Msg::MetricsScraped {
                    model: "fraud".into(),
                    endpoint: "http://127.0.0.1:9000".into(),
                    monotonic: second,
                    at,
                    result: Ok(parse(&exposition(total, errors, total))),
                },
            );
        };
    scrape(&mut s, 2.0, t0(), 500, 20);
    let row = |s: &State| {
        fleet::rows(s)
            .into_iter()
            .find(|r| r.model == "fraud")
            .unwrap()
    };
    assert!(row(&s).firing.is_empty(), "pending is not shown");
    // The user's filter hides fraud from the table, not from the rules.
    s.filter = "churn".into();
    scrape(&mut s, 3.0, t0() + chrono::Duration::seconds(90), 700, 30);
    s.filter.clear();
    let firing = row(&s).firing;
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(firing[0].rule, "fraud-errors");
    s.now = t0() + chrono::Duration::seconds(150);
    let screen = text(&render(&s, "dark", 160, 48));
    assert!(screen.contains("⚑fraud-errors 60s"), "{screen}");
}

#[test]
fn the_serving_pane_says_a_server_restarted_after_crashes() {
    use flightdeck::app::state::{Pane, View};
    let mut s = loaded();
    s.view = View::Model {
        name: "fraud".into(),
        pane: Pane::Serving,
    };
    let screen = text(&render(&s, "dark", 120, 30));
    assert!(!screen.contains("restarted"), "{screen}");
    let record = s
        .servers
        .get_mut("fraud")
        .and_then(|server| server.record.as_mut())
        .unwrap();
    record.restarts = 6;
    record.last_exit = Some("was killed (SIGKILL)".into());
    let screen = text(&render(&s, "dark", 120, 30));
    assert!(
        screen.contains(
            "server restarted 6 times since 08:00:00 UTC (the last was killed (SIGKILL))"
        ),
        "{screen}"
    );
}

#[test]
fn ascii_draws_every_view_in_plain_ascii() {
    use flightdeck::app::state::{Overlay, Pane, View};
    let mut s = loaded();
    s.detail.drift.insert("fraud".into(), vec![drift_report()]);
    let mut views = vec![(View::Fleet, None), (View::Fleet, Some(Overlay::Help))];
    for pane in Pane::ALL {
        views.push((
            View::Model {
                name: "fraud".into(),
                pane,
            },
            None,
        ));
    }
    for (view, overlay) in views {
        s.view = view.clone();
        s.overlay = overlay.clone();
        for (width, height) in [(80, 24), (160, 48)] {
            let screen = text(&render_with(&s, "dark", width, height, true));
            let odd: Vec<char> = screen.chars().filter(|c| !c.is_ascii()).collect();
            assert!(
                odd.is_empty(),
                "{view:?} {overlay:?} at {width}x{height} draws {odd:?}:\n{screen}"
            );
            // Every symbol has a stand-in: none became the `?` of an unknown one.
            let fancy = text(&render_with(&s, "dark", width, height, false));
            assert_eq!(
                screen.matches('?').count(),
                fancy.matches('?').count(),
                "{view:?} {overlay:?}: a symbol without a stand-in:\n{fancy}"
            );
        }
    }
    // Without --ascii the same screens keep their symbols (the check above can fail).
    s.view = View::Fleet;
    s.overlay = None;
    assert!(!text(&render_with(&s, "dark", 80, 24, false)).is_ascii());
}

#[test]
fn the_palette_suggests_commands_and_their_arguments_and_tab_completes_them() {
    use flightdeck::app::palette::{complete, suggestions};
    let mut s = loaded();
    s.config.environments = vec![
        ("local".into(), false, false),
        ("prod-eu".into(), true, true),
        ("prod-us".into(), true, true),
    ];
    assert_eq!(suggestions(&s, "sh"), ["shadow"]);
    assert_eq!(complete(&s, "sh").as_deref(), Some("shadow "));
    assert_eq!(complete(&s, "theme an").as_deref(), Some("theme ansi16 "));
    assert_eq!(suggestions(&s, "env "), ["local", "prod-eu", "prod-us"]);
    // As far as every suggestion agrees.
    assert_eq!(complete(&s, "env p").as_deref(), Some("env prod-"));
    assert_eq!(suggestions(&s, "env prod-u"), ["prod-us"]);
    assert_eq!(suggestions(&s, "rollout "), ["pause", "resume"]);
    // Versions as the console writes them, from the fleet too (churn: nothing in production).
    assert_eq!(suggestions(&s, "shadow v"), ["v2", "v1"]);
    assert_eq!(
        complete(&s, "re"),
        None,
        "requests and revert: nothing agreed to add"
    );
    assert_eq!(suggestions(&s, "re"), ["requests", "revert"]);
    assert!(suggestions(&s, "theme zz").is_empty());
    // Through the keys: typed, Tab, shown in the footer.
    update(&mut s, Msg::Key(Key::char(':')));
    for c in "theme an".chars() {
        update(&mut s, Msg::Key(Key::char(c)));
    }
    let screen = text(&render(&s, "dark", 80, 24));
    assert!(screen.contains(":theme an█   ansi16"), "{screen}");
    update(&mut s, Msg::Key(Key::plain(KeyCode::Tab)));
    assert_eq!(s.mode, Mode::Command("theme ansi16 ".into()));
    update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert_eq!(s.config.theme, "ansi16");
}

#[test]
fn slash_filters_with_an_expression_and_bang_inverts_it() {
    let mut s = loaded();
    let typed = |s: &mut flightdeck::app::State, text: &str| {
        s.filter.clear();
        key(s, '/');
        for c in text.chars() {
            key(s, c);
        }
        update(s, Msg::Key(Key::plain(KeyCode::Enter)));
        flightdeck::app::fleet::rows(s)
            .into_iter()
            .map(|r| r.model)
            .collect::<Vec<_>>()
    };
    assert_eq!(typed(&mut s, "^fr.*d$"), ["fraud"]);
    assert_eq!(typed(&mut s, "!fraud"), ["churn"]);
    assert_eq!(typed(&mut s, "CHURN|fraud"), ["churn", "fraud"]);
}

#[test]
fn fleet_all_merges_every_environment_and_an_environment_that_fails_keeps_its_rows_marked_stale() {
    use flightdeck::app::everywhere::{self, Freshness};
    use flightdeck::app::fleet;
    let mut s = loaded();
    s.config.environments = vec![
        ("local".into(), false, false),
        ("prod-eu".into(), false, true),
        ("prod-us".into(), true, false),
    ];
    s.mode = Mode::Command("fleet all".into());
    let effects = update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert_eq!(
        effects,
        vec![
            Effect::ReadEnvironment {
                name: "prod-eu".into()
            },
            Effect::ReadEnvironment {
                name: "prod-us".into()
            }
        ]
    );
    // Asked once: a read under way is not asked again on the next tick.
    assert!(
        !tick(&mut s, 2.0)
            .iter()
            .any(|e| matches!(e, Effect::ReadEnvironment { .. })),
    );
    let rows = everywhere::rows(&s);
    let lines: Vec<(String, Option<String>, Freshness)> = rows
        .iter()
        .map(|r| {
            (
                r.environment.to_string(),
                r.model().map(str::to_string),
                r.freshness.clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("local".into(), Some("churn".into()), Freshness::Live),
            ("local".into(), Some("fraud".into()), Freshness::Live),
            ("prod-eu".into(), None, Freshness::Reading),
            ("prod-us".into(), None, Freshness::Reading),
        ],
        "this environment's rows at once, the others said to be read"
    );
    assert_eq!(
        everywhere::selected_row(&s).and_then(|r| r.model().map(str::to_string)),
        Some("churn".into())
    );

    // prod-eu answers with its own fraud (served, with numbers); prod-us fails.
    let mut theirs = fleet::row_of(&s, "fraud").unwrap();
    theirs.production = Some(7);
    update(
        &mut s,
        Msg::EnvironmentRead {
            name: "prod-eu".into(),
            at: t0(),
            result: Ok(vec![theirs.clone()].into()),
        },
    );
    update(
        &mut s,
        Msg::EnvironmentRead {
            name: "prod-us".into(),
            at: t0(),
            result: Err("cannot read the registry: connection refused".into()),
        },
    );
    let rows = everywhere::rows(&s);
    let eu = rows
        .iter()
        .find(|r| r.environment == "prod-eu")
        .expect("prod-eu's fraud");
    assert_eq!(eu.row.as_ref().unwrap().production, Some(7));
    assert_eq!(eu.freshness, Freshness::Live);
    let us = rows.iter().find(|r| r.environment == "prod-us").unwrap();
    assert!(us.row.is_none());
    assert!(
        matches!(&us.freshness, Freshness::Failing { error, age_seconds: None } if error.contains("refused")),
        "{:?}",
        us.freshness
    );
    // Sorted by name, then environment: the same model side by side.
    let order: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.environment, r.model().unwrap_or("?")))
        .collect();
    assert_eq!(
        order,
        ["local churn", "local fraud", "prod-eu fraud", "prod-us ?"]
    );
    let screen = text(&render(&s, "dark", 120, 24));
    assert!(screen.contains("every environment (3 models)"), "{screen}");
    assert!(
        screen.contains("prod-us ✖ failing") && screen.contains("cannot be read: cannot read"),
        "{screen}"
    );

    // prod-eu read again: its registry answers, its metrics source does not. The list says so
    // rather than a bare ✔, and :errors says why.
    update(
        &mut s,
        Msg::EnvironmentRead {
            name: "prod-eu".into(),
            at: t0(),
            result: Ok(everywhere::EnvironmentRows {
                rows: vec![theirs.clone()],
                metrics_problem: Some(
                    "the serving numbers of 1 model(s) cannot be read: Prometheus at http://127.0.0.1:9: connection refused".into(),
                ),
            }),
        },
    );
    let screen = text(&render(&s, "dark", 120, 24));
    assert!(
        screen.contains("prod-eu ⚠ no numbers (:errors)"),
        "{screen}"
    );
    command(&mut s, "errors");
    let screen = text(&render(&s, "dark", 120, 30));
    assert!(
        screen.contains("environment prod-eu (:fleet all) serving numbers: failing")
            && screen.contains(
                "  the serving numbers of 1 model(s) cannot be read: Prometheus at http://127.0.0.1:9"
            ),
        "{screen}"
    );
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));

    // Enter on the line of an environment that cannot be read shows why, whole; the console
    // stays where it is.
    key(&mut s, 'G');
    update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert_eq!(s.config.environment, "local");
    let screen = text(&render(&s, "dark", 120, 30));
    assert!(
        screen.contains("environment prod-us")
            && screen.contains("cannot read the registry: connection refused"),
        "{screen}"
    );
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    key(&mut s, 'g');

    // Ten seconds on, prod-eu is read again and now fails: its fraud stays, stale with its age.
    let effects = tick(&mut s, 12.0);
    assert!(
        effects.contains(&Effect::ReadEnvironment {
            name: "prod-eu".into()
        }),
        "{effects:?}"
    );
    update(
        &mut s,
        Msg::EnvironmentRead {
            name: "prod-eu".into(),
            at: t0() + chrono::Duration::seconds(12),
            result: Err("no answer within 13 s".into()),
        },
    );
    let eu = everywhere::rows(&s)
        .into_iter()
        .find(|r| r.environment == "prod-eu")
        .unwrap();
    assert!(matches!(
        &eu.row.as_ref().unwrap().signal,
        fleet::Signal::Stale { age_seconds: Some(12), error } if error.contains("prod-eu: no answer")
    ));
    let screen = text(&render(&s, "dark", 120, 24));
    assert!(
        screen.contains("prod-eu ✖ failing, rows 12s old"),
        "{screen}"
    );
    assert!(
        screen
            .lines()
            .any(|l| l.contains("prod-eu") && l.contains("fraud") && l.contains("stale 12s")),
        "{screen}"
    );
    // `:errors` lists the other environments' reads too, each error whole.
    command(&mut s, "errors");
    let screen = text(&render(&s, "dark", 120, 30));
    assert!(
        screen.contains("environment prod-eu (:fleet all): failing (last good read 12s ago)")
            && screen.contains("no answer within 13 s")
            && screen.contains("environment prod-us (:fleet all): failing (never read)"),
        "{screen}"
    );
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));

    // Enter on prod-eu's fraud moves the console there (typed confirmation and all) and opens
    // it; Esc comes back to the list, which kept what it read of local.
    for _ in 0..2 {
        key(&mut s, 'j');
    }
    assert_eq!(
        everywhere::selected_row(&s).map(|r| r.environment.to_string()),
        Some("prod-eu".into())
    );
    let effects = update(&mut s, Msg::Key(Key::plain(KeyCode::Enter)));
    assert_eq!(
        effects.first(),
        Some(&Effect::SwitchEnvironment {
            name: "prod-eu".into()
        })
    );
    assert_eq!(s.config.environment, "prod-eu");
    assert!(s.config.typed_confirmation);
    assert_eq!(s.open_model(), Some("fraud"));
    update(&mut s, Msg::Key(Key::plain(KeyCode::Esc)));
    assert_eq!(s.view, flightdeck::app::state::View::Everywhere);
    let local: Vec<String> = everywhere::rows(&s)
        .iter()
        .filter(|r| r.environment == "local")
        .filter_map(|r| r.model().map(str::to_string))
        .collect();
    assert_eq!(local, ["churn", "fraud"], "local, as last read here");
}

#[test]
fn a_refresh_that_brings_nothing_new_is_marked_unchanged_and_one_that_does_is_not() {
    let mut s = loaded();
    let fleet = |production: Option<u32>| FleetData {
        models: vec![summary("fraud", production), summary("churn", None)],
        servers: Some(vec![server("fraud", ServingPlan::stable_only(1))]),
        interrupted: Vec::new(),
        rollouts: Vec::new(),
    };
    let fetched = |s: &mut flightdeck::app::State, data: Result<FleetData, String>| {
        update(
            s,
            Msg::FleetFetched {
                at: t0(),
                result: data,
            },
        );
        s.unchanged
    };
    assert!(fetched(&mut s, Ok(fleet(Some(1)))), "the same fleet again");
    assert!(!fetched(&mut s, Ok(fleet(Some(2)))), "production moved");
    assert!(fetched(&mut s, Ok(fleet(Some(2)))));
    assert!(!fetched(&mut s, Err("registry locked".into())), "a failure");
    assert!(
        !fetched(&mut s, Ok(fleet(Some(2)))),
        "the recovery from it is news"
    );
    let mut down = fleet(Some(2));
    down.servers = Some(Vec::new());
    assert!(!fetched(&mut s, Ok(down)), "the server is gone");
    // The registry's own word that its files are as last read: fresh, nothing to redraw...
    let later = t0() + chrono::Duration::seconds(5);
    update(&mut s, Msg::FleetUnchanged { at: later });
    assert!(s.unchanged);
    assert_eq!(s.sources.registry.last_ok, Some(later));
    assert_eq!(s.models.len(), 2, "the rows stay");
    // ...unless it was failing before: its recovery is news.
    fetched(&mut s, Err("registry locked".into()));
    update(&mut s, Msg::FleetUnchanged { at: later });
    assert!(!s.unchanged);
    assert_eq!(s.sources.registry.error, None);
    // A key is never a refresh.
    key(&mut s, 'j');
    assert!(!s.unchanged);
}

#[test]
fn a_version_loaded_between_two_reads_has_no_rate_until_a_read_of_its_own() {
    let mut s = loaded();
    let page = |v2: Option<u64>, v1: u64| {
        let mut text = format!(
            "# TYPE flightdeck_model_info gauge\n\
             flightdeck_model_info{{model=\"fraud\",version=\"1\",role=\"stable\"}} 1\n\
             # TYPE flightdeck_requests_total counter\n\
             flightdeck_requests_total{{model=\"fraud\",version=\"1\",code=\"200\"}} {v1}\n"
        );
        if let Some(v2) = v2 {
            text.push_str(&format!(
                "flightdeck_model_info{{model=\"fraud\",version=\"2\",role=\"canary\"}} 1\n\
                 flightdeck_requests_total{{model=\"fraud\",version=\"2\",code=\"200\"}} {v2}\n"
            ));
        }
        parse(&text)
    };
    let scrape = |s: &mut flightdeck::app::State, second: f64, snapshot| {
        update(
            s,
            Msg::MetricsScraped {
                model: "fraud".into(),
                endpoint: "http://127.0.0.1:9000".into(),
                monotonic: second,
                at: t0(),
                result: Ok(snapshot),
            },
        );
    };
    scrape(&mut s, 2.0, page(None, 400));
    // The canary was loaded a fraction of the interval ago and answered 5 requests since: 5
    // req/s over the whole second would be a guess; it has no rate yet.
    scrape(&mut s, 3.0, page(Some(5), 500));
    let v2 = ("fraud".to_string(), "2".to_string());
    let v1 = ("fraud".to_string(), "1".to_string());
    assert!(!s.serving.contains_key(&v2), "{:?}", s.serving.get(&v2));
    assert_eq!(s.serving[&v1].requests_per_second, 100.0);
    scrape(&mut s, 4.0, page(Some(55), 600));
    assert_eq!(s.serving[&v2].requests_per_second, 50.0);
    // Its server restarted in place: counting from zero again, no rate for that interval.
    scrape(&mut s, 5.0, page(Some(20), 30));
    assert!(!s.serving.contains_key(&v1) && !s.serving.contains_key(&v2));
    scrape(&mut s, 6.0, page(Some(70), 130));
    assert_eq!(s.serving[&v1].requests_per_second, 100.0);
}
