//! The preview of every operation, as the CLI and the console show it before anyone confirms:
//! planned by the one operator against a real registry (SQLite, versions registered by the real
//! binary, aliases moved through it) and a real local server, kept as one text snapshot,
//! refusals included; and the gates each kind of operation has.

use crate::common;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use common::{fixture, ok};
use flightdeck::engine::ops::{OpPlan, OpRequest, Operator, PlanOptions};
use flightdeck::model::ModelName;
use flightdeck::settings::{Overrides, Settings};

fn operator(home: &Path) -> Operator {
    let overrides = Overrides {
        data_dir: Some(home.to_path_buf()),
        ..Overrides::default()
    };
    let settings = Settings::resolve(None, None, None, &overrides).unwrap();
    Operator::new(&settings, PathBuf::from(env!("CARGO_BIN_EXE_flightdeck"))).unwrap()
}

/// Plans `request` (a missing smoke test is not run: the previews are about the effect).
fn plan(home: &Path, request: OpRequest) -> Result<OpPlan, String> {
    let model = ModelName::new("fraud").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let options = PlanOptions { skip_smoke: true };
    runtime
        .block_on(operator(home).plan(&model, request, options, &|_| {}))
        .map_err(|e| e.to_string())
}

/// One preview as text: the sentence, warnings and the pipeline question; or the refusal.
fn preview(home: &Path, request: OpRequest) -> String {
    match plan(home, request) {
        Ok(p) => {
            let mut text = p.sentence.clone();
            for w in &p.warnings {
                write!(text, "\n  warning: {w}").unwrap();
            }
            if let Some((from, to)) = &p.pipeline_change {
                write!(text, "\n  needs confirmation: pipeline {from} -> {to}").unwrap();
            }
            text
        }
        Err(e) => format!("refused: {e}"),
    }
}

fn gate_names(home: &Path, request: OpRequest) -> Vec<String> {
    plan(home, request)
        .unwrap()
        .gates
        .into_iter()
        .map(|g| g.name)
        .collect()
}

/// Switches the running server to v1 with v2 as a 10% canary.
fn serve_v1_with_canary_v2(h: &Path) {
    ok(
        h,
        &[
            "server",
            "start",
            "fraud",
            "--version",
            "1",
            "--canary",
            "2",
            "--canary-percent",
            "10",
        ],
    );
}

struct Server<'a>(&'a Path);

impl Drop for Server<'_> {
    fn drop(&mut self) {
        let _ = common::run(self.0, &["server", "stop", "fraud"]);
    }
}

#[test]
fn every_operation_previews_its_effect_in_one_sentence() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for (file, pipeline) in [
        ("logreg_multiclass.onnx", "fp-1"),
        ("mlp_classifier.onnx", "fp-1"),
        ("scaler_logreg.onnx", "fp-2"),
    ] {
        let path = fixture(file);
        ok(
            h,
            &[
                "register",
                "fraud",
                path.to_str().unwrap(),
                "--pipeline-version",
                pipeline,
            ],
        );
    }
    let mut out = String::new();
    let mut case = |title: &str, request: OpRequest| {
        writeln!(out, "{title}\n  {}", preview(h, request)).unwrap();
    };
    let deploy = |version, canary_percent| OpRequest::Deploy {
        version,
        canary_percent,
    };

    // Nothing deployed yet.
    case("first deploy, direct", deploy(1, None));
    case("first deploy as a canary", deploy(1, Some(10)));
    case("promote with nothing deployed", OpRequest::Promote);
    case("unknown version", deploy(9, None));

    ok(h, &["alias", "set", "fraud", "production", "1"]);
    let _server = Server(h);
    ok(h, &["server", "start", "fraud"]);
    case("canary deploy", deploy(2, Some(10)));
    case("direct deploy", deploy(2, None));
    case("deploy of production itself", deploy(1, Some(10)));
    case("promote without a canary", OpRequest::Promote);
    case("abort without a canary", OpRequest::Abort);
    case(
        "rollback with no earlier production",
        OpRequest::Rollback { to: None },
    );
    case("deploy across a pipeline change", deploy(3, None));

    ok(h, &["alias", "set", "fraud", "canary", "2"]);
    serve_v1_with_canary_v2(h);
    case("promote", OpRequest::Promote);
    case("abort", OpRequest::Abort);
    case("same canary again", deploy(2, Some(10)));
    case("canary share change", deploy(2, Some(50)));

    ok(h, &["alias", "set", "fraud", "production", "2"]);
    ok(h, &["alias", "remove", "fraud", "canary"]);
    ok(h, &["server", "start", "fraud", "--version", "2"]);
    case(
        "rollback to the previous production",
        OpRequest::Rollback { to: None },
    );
    case(
        "rollback to a named version",
        OpRequest::Rollback { to: Some(3) },
    );
    case(
        "rollback to production itself",
        OpRequest::Rollback { to: Some(2) },
    );

    insta::assert_snapshot!("previews", out);
}

#[test]
fn each_kind_of_operation_has_its_gates() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for file in ["logreg_multiclass.onnx", "mlp_classifier.onnx"] {
        ok(h, &["register", "fraud", fixture(file).to_str().unwrap()]);
    }
    let deploy = |canary_percent| OpRequest::Deploy {
        version: 2,
        canary_percent,
    };
    assert_eq!(
        gate_names(
            h,
            OpRequest::Deploy {
                version: 1,
                canary_percent: None
            }
        ),
        ["smoke", "artifact", "signature"]
    );
    ok(h, &["alias", "set", "fraud", "production", "1"]);
    let _server = Server(h);
    ok(h, &["server", "start", "fraud"]);
    assert_eq!(
        gate_names(h, deploy(Some(10))),
        ["smoke", "artifact", "signature"]
    );
    assert_eq!(
        gate_names(h, OpRequest::Rollback { to: Some(2) }),
        ["smoke", "artifact", "signature"],
        "a rollback is gated like a deploy"
    );
    ok(h, &["alias", "set", "fraud", "production", "2"]);
    ok(h, &["server", "start", "fraud", "--version", "2"]);
    assert_eq!(
        gate_names(h, OpRequest::Rollback { to: None }),
        ["smoke", "artifact", "signature"],
        "the default target too"
    );
    ok(h, &["alias", "set", "fraud", "production", "1"]);
    ok(h, &["server", "start", "fraud", "--version", "1"]);
    ok(h, &["alias", "set", "fraud", "canary", "2"]);
    serve_v1_with_canary_v2(h);
    assert_eq!(
        gate_names(h, OpRequest::Promote),
        [
            "canary traffic",
            "5xx errors",
            "4xx errors",
            "p99 latency",
            "labelled quality",
            "drift",
            "answers",
            "artifact"
        ]
    );
    assert!(
        gate_names(h, OpRequest::Abort).is_empty(),
        "removing a canary needs no evidence"
    );
}
