//! The preview of every operation, as the CLI and the console show it before anyone confirms:
//! planned against a real registry (SQLite, versions registered by the real binary, aliases
//! moved through it) and kept as one text snapshot, refusals included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fmt::Write;

use common::{fixture, ok};
use flightdeck::engine::Registry;
use flightdeck::engine::ops::{OpRequest, plan};
use flightdeck::model::{ModelName, ServingPlan};

/// One preview as text: the sentence, warnings and the pipeline question; or the refusal.
fn preview(registry: &Registry, request: OpRequest, serving: Option<ServingPlan>) -> String {
    let model = ModelName::new("fraud").unwrap();
    match plan(registry, &model, request, serving, "local", false) {
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
    let mut case = |title: &str, request: OpRequest, serving: Option<ServingPlan>| {
        let registry = Registry::open(h).unwrap();
        writeln!(out, "{title}\n  {}", preview(&registry, request, serving)).unwrap();
    };
    let deploy = |version, canary_percent| OpRequest::Deploy {
        version,
        canary_percent,
    };

    // Nothing deployed yet.
    case("first deploy, direct", deploy(1, None), None);
    case("first deploy as a canary", deploy(1, Some(10)), None);
    case("promote with nothing deployed", OpRequest::Promote, None);
    case("unknown version", deploy(9, None), None);

    ok(h, &["alias", "set", "fraud", "production", "1"]);
    let v1 = Some(ServingPlan::stable_only(1));
    case("canary deploy", deploy(2, Some(10)), v1);
    case("direct deploy", deploy(2, None), v1);
    case("deploy of production itself", deploy(1, Some(10)), v1);
    case("promote without a canary", OpRequest::Promote, v1);
    case("abort without a canary", OpRequest::Abort, v1);
    case(
        "rollback with no earlier production",
        OpRequest::Rollback { to: None },
        v1,
    );
    case("deploy across a pipeline change", deploy(3, None), v1);

    ok(h, &["alias", "set", "fraud", "canary", "2"]);
    let v1_v2 = Some(ServingPlan {
        stable: 1,
        canary: Some(2),
        canary_percent: 10,
    });
    case("promote", OpRequest::Promote, v1_v2);
    case("abort", OpRequest::Abort, v1_v2);
    case("same canary again", deploy(2, Some(10)), v1_v2);
    case("canary share change", deploy(2, Some(50)), v1_v2);

    ok(h, &["alias", "set", "fraud", "production", "2"]);
    ok(h, &["alias", "remove", "fraud", "canary"]);
    let v2 = Some(ServingPlan::stable_only(2));
    case(
        "rollback to the previous production",
        OpRequest::Rollback { to: None },
        v2,
    );
    case(
        "rollback to a named version",
        OpRequest::Rollback { to: Some(3) },
        v2,
    );
    case(
        "rollback to production itself",
        OpRequest::Rollback { to: Some(2) },
        v2,
    );

    insta::assert_snapshot!("previews", out);
}
