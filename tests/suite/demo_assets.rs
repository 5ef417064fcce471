//! The demo's committed models and data (demo/generate.py) behave as the walkthrough needs:
//! they register with a baseline that has a categorical `channel`, v1 and v2 pass their smoke
//! tests, and v3 (the silently broken one) is caught by its sentinels.

use crate::common;

use std::path::PathBuf;

use common::{ok, run, stdout};

fn demo(file: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("demo")
        .join(file)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_demo_versions_register_and_only_the_broken_one_fails_its_smoke_test() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let versions: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo("versions.json")).unwrap()).unwrap();
    for v in ["v1", "v2", "v3"] {
        let meta = &versions[v];
        let auc = format!("auc={}", meta["metrics"]["auc"]);
        ok(
            h,
            &[
                "register",
                "claims",
                &demo(&format!("{v}.onnx")),
                "--reference",
                &demo("reference.csv"),
                "--sentinels",
                &demo("sentinels.json"),
                "--metric",
                &auc,
                "--commit",
                meta["commit"].as_str().unwrap(),
                "--pipeline-version",
                meta["pipeline_version"].as_str().unwrap(),
                "--data-hash",
                meta["data_hash"].as_str().unwrap(),
            ],
        );
    }
    assert!(
        versions["v2"]["metrics"]["auc"].as_f64() > versions["v1"]["metrics"]["auc"].as_f64(),
        "v2 is the better model"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&ok(h, &["versions", "claims", "--json"])).unwrap();
    let channel = &listed[0]["profile"]["features"][4];
    assert_eq!(channel["name"], "channel");
    assert_eq!(channel["kind"]["type"], "categorical");
    assert_eq!(channel["kind"]["categories"][2]["value"], "web");
    assert_eq!(channel["kind"]["categories"][2]["code"], 2.0);

    for v in ["1", "2"] {
        let out = ok(h, &["smoke", "claims", v]);
        assert!(out.contains("4 of 4 cases within tolerance"), "v{v}: {out}");
    }
    let out = run(h, &["smoke", "claims", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("FAIL sentinels"), "{}", stdout(&out));
}

#[test]
fn demo_script_makes_every_expected_observation() {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .args(["demo", "--script", "--home"])
        .arg(home.path())
        .env_remove("FLIGHTDECK_HOME")
        .env_remove("FLIGHTDECK_CONFIG")
        .output()
        .unwrap();
    let timeline = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{timeline}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "steady traffic served by v1",
        "v1's live accuracy from labels arriving 3s late",
        "v2 passed its smoke test and runs as a 20% canary",
        "the canary's first 200 labels arrived",
        "promote gates passed",
        "v2's live accuracy from labels arriving 3s late",
        "drift flagged on exactly amount, tenure_months",
        "v3 stopped by the smoke gate",
        "v3 in shadow on 20% of v2's requests for 3 s, its answers seen by no client",
        "v3 handed to a rollout anyway, its smoke test skipped",
        "v3's rollout aborted by itself at its first step",
        "the local receiver got the notice: rollout aborted (warning)",
        "alert claims-4xx (client_errors > 0.1) fired and reached the local receiver",
        "production is v2, healthy, with no canary",
        "0 failed, across every change",
        "every expected observation was made",
    ] {
        assert!(
            timeline.contains(expected),
            "missing {expected:?} in\n{timeline}"
        );
    }
    assert!(!timeline.contains("FAIL"), "{timeline}");
    // The demo stops what it started.
    let servers = ok(home.path(), &["server", "list"]);
    assert!(servers.contains("no local servers"), "{servers}");
}

/// The two-sample KS statistic of two columns (sorted copies), computed here, not by the server.
fn ks(a: &[f32], b: &[f32]) -> f64 {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_by(f32::total_cmp);
    b.sort_by(f32::total_cmp);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

#[test]
fn the_generators_shift_moves_exactly_the_two_features() {
    // The traffic's claims: the held-out ones, labelled.
    let claims =
        flightdeck::demo::traffic::load_rows(std::path::Path::new(&demo("holdout.csv"))).unwrap();
    assert!(
        claims.iter().all(|c| c.fraud.is_some()),
        "every claim is labelled"
    );
    let rows: Vec<[f32; 5]> = claims.iter().map(|c| c.row).collect();
    let mut shifted = rows.clone();
    shifted
        .iter_mut()
        .for_each(flightdeck::demo::traffic::shift);
    let names = ["amount", "age", "tenure_months", "prev_claims", "channel"];
    for (c, name) in names.iter().enumerate() {
        let before: Vec<f32> = rows.iter().map(|r| r[c]).collect();
        let after: Vec<f32> = shifted.iter().map(|r| r[c]).collect();
        let d = ks(&before, &after);
        if flightdeck::demo::traffic::SHIFTED.contains(name) {
            assert!(d > 0.3, "{name} should drift: KS {d}");
        } else {
            assert_eq!(d, 0.0, "{name} must not move");
        }
    }
}
