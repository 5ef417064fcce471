//! Reference data as data scientists have it: the training table with its label and id
//! columns, and text categories in the order the model encodes them (not sorted). The model is
//! the demo's claims classifier (amount, age, tenure_months, prev_claims, channel as a code).

use crate::common;

use std::path::{Path, PathBuf};

use common::server::Server;
use common::*;
use serde_json::{Value, json};

fn demo(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("demo")
        .join(name)
        .display()
        .to_string()
}

/// The demo's labelled rows as a training table: an id column first, the label last, and the
/// channel's text renamed by `names` (the model's codes are app=0, branch=1, web=2).
fn training_table(dir: &Path, file: &str, names: [&str; 3]) -> PathBuf {
    let text = std::fs::read_to_string(demo("holdout.csv")).unwrap();
    let mut out = String::from("id,amount,age,tenure_months,prev_claims,channel,fraud\n");
    for (i, line) in text.lines().skip(1).enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let channel = match cells[4] {
            "app" => names[0],
            "branch" => names[1],
            "web" => names[2],
            other => panic!("unexpected channel {other}"),
        };
        out.push_str(&format!(
            "c-{i:05},{},{},{},{},{channel},{}\n",
            cells[0], cells[1], cells[2], cells[3], cells[5]
        ));
    }
    let path = dir.join(file);
    std::fs::write(&path, out).unwrap();
    path
}

/// The same rows as the model receives them: five FP32 columns, the channel as its code.
fn model_rows() -> Vec<[f32; 5]> {
    let text = std::fs::read_to_string(demo("holdout.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let c: Vec<&str> = line.split(',').collect();
            let code = match c[4] {
                "app" => 0.0,
                "branch" => 1.0,
                _ => 2.0,
            };
            [
                c[0].parse().unwrap(),
                c[1].parse().unwrap(),
                c[2].parse().unwrap(),
                c[3].parse().unwrap(),
                code,
            ]
        })
        .collect()
}

/// `register NAME MODEL` with the training table described as users describe it: its label
/// (`fraud`) and its id column set aside, then `extra`.
fn described<'a>(name: &'a str, model: &'a str, table: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["register", name, model, "--reference", table];
    args.extend(["--label", "fraud", "--ignore", "id"]);
    args.extend_from_slice(extra);
    args
}

fn versions(home: &Path, model: &str) -> Value {
    serde_json::from_str(&ok(home, &["versions", model, "--json"])).unwrap()
}

#[test]
fn the_training_table_registers_as_it_is_with_its_label_and_ids() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let train = training_table(h, "train.csv", ["app", "branch", "web"]);
    let train = train.to_str().unwrap();
    let model = demo("v1.onnx");

    // As it is, without saying which column is what: refused with the flags that place them.
    let err = fails(h, &["register", "claims", &model, "--reference", train], 1);
    assert!(
        err.contains("the model takes 5 features")
            && err.contains(
                "7 columns are left (id, amount, age, tenure_months, prev_claims, channel, fraud)"
            )
            && err.contains("--label")
            && err.contains("--ignore"),
        "{err}"
    );
    let err = fails(
        h,
        &[
            "register",
            "claims",
            &model,
            "--reference",
            train,
            "--label",
            "is_fraud",
        ],
        1,
    );
    assert!(
        err.contains("--label \"is_fraud\" names no column of the header (id, amount"),
        "{err}"
    );
    let err = fails(h, &["register", "claims", &model, "--label", "fraud"], 1);
    assert!(err.contains("--label needs --reference"), "{err}");
    let err = fails(
        h,
        &[
            "register",
            "claims",
            &model,
            "--reference",
            train,
            "--label",
            "fraud",
            "--ignore",
            "id",
            "--categories",
            "channel=app,web",
        ],
        1,
    );
    assert!(
        err.contains("\"branch\" is not among the declared categories (app, web)"),
        "{err}"
    );

    // Named: the label's distribution is kept, the id set aside, the categories coded as declared.
    let out = ok(
        h,
        &described(
            "claims",
            &model,
            train,
            &["--categories", "channel=app,branch,web"],
        ),
    );
    assert!(
        out.contains("baseline: 2000 rows, 5 features (4 numeric, 1 categorical)"),
        "{out}"
    );
    assert!(out.contains("channel: app=0, branch=1, web=2"), "{out}");
    assert!(out.contains("label fraud: 0 "), "{out}");
    assert!(!out.contains("warning"), "{out}");
    let v = versions(h, "claims");
    let profile = &v[0]["profile"];
    assert_eq!(profile["label"]["name"], "fraud");
    let classes: Vec<&str> = profile["label"]["kind"]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["0", "1"]);
    let names: Vec<&str> = profile["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["amount", "age", "tenure_months", "prev_claims", "channel"]
    );

    // No order declared: the assumption is said, and kept with the version.
    let out = ok(h, &described("claims-2", &model, train, &[]));
    assert!(
        out.contains("warning: channel: text categories mapped to codes in sorted order (app=0, branch=1, web=2); if the model encodes them differently, pass --categories channel=FIRST,SECOND,..."),
        "{out}"
    );
    assert_eq!(
        versions(h, "claims-2")[0]["profile"]["notes"][0]
            .as_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap(),
        "channel: text categories mapped to codes in sorted order (app=0, branch=1, web=2)"
    );
    // Doing what the warning says on the same artifact replaces the version's baseline, on record.
    let out = ok(
        h,
        &described(
            "claims-2",
            &model,
            train,
            &["--categories", "channel=app,branch,web"],
        ),
    );
    assert!(
        out.contains("its baseline profile is replaced from this reference"),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");
    assert!(versions(h, "claims-2")[0]["profile"].get("notes").is_none());
    let journal = ok(h, &["journal", "--model", "claims-2"]);
    assert!(journal.contains("reprofile"), "{journal}");
    // The same options again change nothing.
    let out = ok(
        h,
        &described(
            "claims-2",
            &model,
            train,
            &["--categories", "channel=app,branch,web"],
        ),
    );
    assert!(out.contains("nothing was changed"), "{out}");
    let err = fails(
        h,
        &[
            "register",
            "claims-3",
            &model,
            "--reference",
            train,
            "--label",
            "fraud",
            "--ignore",
            "fraud,id",
        ],
        1,
    );
    assert!(err.contains("\"fraud\" is named both the label"), "{err}");
}

/// The drift verdict of `feature` after the server of `model` answered the reference rows.
fn verdict_after_replay(home: &Path, model: &str, feature: &str) -> (String, f64) {
    let server = Server::start(home, model, &["--version", "1"]);
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let url = format!("{}/v2/models/{model}/infer", server.url);
    for chunk in model_rows().chunks(200) {
        let body = json!({"inputs": [{
            "name": "X", "shape": [chunk.len(), 5], "datatype": "FP32",
            "data": chunk.iter().flatten().collect::<Vec<_>>(),
        }]});
        let status = client.post(&url).json(&body).send().unwrap().status();
        assert_eq!(status, 200);
    }
    let report: Value = client
        .get(format!("{}/flightdeck/drift/{model}", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let f = report["versions"][0]["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == feature)
        .unwrap()
        .clone();
    (
        f["verdict"].as_str().unwrap().to_string(),
        f["statistic"].as_f64().unwrap_or(f64::NAN),
    )
}

#[test]
fn the_declared_category_order_is_what_drift_and_evaluation_use() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Category names whose sorted order is not the model's codes: zeta=0, alpha=1, mid=2.
    let train = training_table(h, "train.csv", ["zeta", "alpha", "mid"]);
    let train = train.to_str().unwrap();
    let model = demo("v1.onnx");
    let register = |name: &str, reference: &str, extra: &[&str]| {
        ok(h, &described(name, &model, reference, extra))
    };
    let out = register(
        "declared",
        train,
        &["--categories", "channel=zeta,alpha,mid"],
    );
    assert!(out.contains("channel: zeta=0, alpha=1, mid=2"), "{out}");
    let out = register("sorted", train, &[]);
    assert!(out.contains("channel: alpha=0, mid=1, zeta=2"), "{out}");

    // The same rows the reference holds, sent as the model receives them: no drift, when the
    // profile codes the categories as the model does; a false alarm when it assumed sorted order.
    let (declared, js) = verdict_after_replay(h, "declared", "channel");
    assert_eq!(declared, "ok", "JS {js}");
    assert!(js < 1e-9, "the reference rows themselves: JS {js}");
    // Profiled as the model receives them (FP32), the same rows fall in the same bins.
    for feature in ["amount", "age", "tenure_months", "prev_claims"] {
        let (verdict, psi) = verdict_after_replay(h, "declared", feature);
        assert_eq!((verdict.as_str(), psi), ("ok", 0.0), "{feature}");
    }
    let (sorted, js) = verdict_after_replay(h, "sorted", "channel");
    assert_eq!(sorted, "drift", "JS {js}");

    // Evaluation maps the table's text to the model's codes the same way: the renamed table
    // with the declared order scores exactly as the original table does.
    let evaluate = |model: &str, data: &str| -> f64 {
        let out = ok(
            h,
            &[
                "evaluate", model, "1", "--data", data, "--label", "fraud", "--ignore", "id",
                "--json",
            ],
        );
        let e: Value = serde_json::from_str(&out).unwrap();
        e["candidate_metrics"]["auc"].as_f64().unwrap()
    };
    let original = training_table(h, "original.csv", ["app", "branch", "web"]);
    let original = original.to_str().unwrap();
    register("original", original, &[]);
    let truth = evaluate("original", original);
    // Without --label, evaluate takes the label the version was registered with, wherever the
    // table puts it (here first, where "the last column" would be the channel).
    let text = std::fs::read_to_string(original).unwrap();
    let moved: String = text
        .lines()
        .map(|l| {
            let (rest, label) = l.rsplit_once(',').unwrap();
            format!("{label},{rest}\n")
        })
        .collect();
    let moved_path = h.join("label-first.csv");
    std::fs::write(&moved_path, moved).unwrap();
    let out = ok(
        h,
        &[
            "evaluate",
            "original",
            "1",
            "--data",
            moved_path.to_str().unwrap(),
            "--ignore",
            "id",
            "--json",
        ],
    );
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["candidate_metrics"]["auc"].as_f64().unwrap(), truth);
    assert_eq!(evaluate("declared", train), truth);
    assert_ne!(
        evaluate("sorted", train),
        truth,
        "sorted order feeds the model wrong codes"
    );
}

#[test]
fn the_servers_drift_numbers_are_scipys() {
    // Expected values: numpy 2.4 / scipy 1.17 on demo/holdout.csv at FP32, the reference all
    // 2,000 rows, live the first 600 with amount x 1.1 (in FP32): PSI on the reference's
    // deciles (proportions floored at 1e-4), ks_2samp (exact at these sizes), jensenshannon
    // (base e) with an unseen bucket, and chi2_contingency on the channel counts.
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let train = training_table(h, "train.csv", ["app", "branch", "web"]);
    let model = demo("v1.onnx");
    ok(
        h,
        &described(
            "parity",
            &model,
            train.to_str().unwrap(),
            &["--categories", "channel=app,branch,web"],
        ),
    );
    let server = Server::start(h, "parity", &["--version", "1"]);
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let live: Vec<[f32; 5]> = model_rows()
        .into_iter()
        .take(600)
        .map(|mut r| {
            r[0] *= 1.1f32;
            r
        })
        .collect();
    for chunk in live.chunks(200) {
        let body = json!({"inputs": [{
            "name": "X", "shape": [chunk.len(), 5], "datatype": "FP32",
            "data": chunk.iter().flatten().collect::<Vec<_>>(),
        }]});
        assert_eq!(
            client
                .post(format!("{}/v2/models/parity/infer", server.url))
                .json(&body)
                .send()
                .unwrap()
                .status(),
            200
        );
    }
    let report: Value = client
        .get(format!("{}/flightdeck/drift/parity", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let feature = |name: &str| {
        report["versions"][0]["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()
            .clone()
    };
    let agrees = |got: &Value, want: f64, what: &str| {
        let got = got.as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-6 * want.abs(),
            "{what}: {got} vs scipy {want}"
        );
    };
    let amount = feature("amount");
    agrees(&amount["psi"], 0.021048120179030273, "amount PSI");
    agrees(&amount["ks_statistic"], 0.063, "amount KS statistic");
    agrees(
        &amount["ks_p_value"],
        0.04919011126702455,
        "amount KS p-value",
    );
    let channel = feature("channel");
    agrees(&channel["js_distance"], 0.0023451950071443823, "channel JS");
    agrees(
        &channel["chi2_p_value"],
        0.9898893791974702,
        "channel chi-square p-value",
    );
    assert_eq!(channel["js_base"], "e");
}

#[test]
fn a_reference_beyond_ten_thousand_rows_is_kept_whole_and_judged_as_scipy() {
    // The demo's 2,000 labelled rows eight times over (amount + k on the k-th copy): 16,000
    // reference rows, past scipy's exact range. Expected: scipy 1.17 ks_2samp(reference at
    // FP32, the first 600 live rows with amount x 1.1 at FP32), which is kstwo.sf(D, 578) here.
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let text = std::fs::read_to_string(demo("holdout.csv")).unwrap();
    let mut table = String::from("amount,age,tenure_months,prev_claims,channel,fraud\n");
    for k in 0..8 {
        for line in text.lines().skip(1) {
            let (amount, rest) = line.split_once(',').unwrap();
            let amount: f64 = amount.parse().unwrap();
            table.push_str(&format!("{:.2},{rest}\n", amount + k as f64));
        }
    }
    let train = h.join("train.csv");
    std::fs::write(&train, table).unwrap();
    let model = demo("v1.onnx");
    let args = |name: &'static str| {
        vec![
            "register".to_string(),
            name.to_string(),
            model.clone(),
            "--reference".to_string(),
            train.display().to_string(),
            "--label".to_string(),
            "fraud".to_string(),
            "--categories".to_string(),
            "channel=app,branch,web".to_string(),
        ]
    };
    let whole = args("whole");
    ok(h, &whole.iter().map(String::as_str).collect::<Vec<_>>());
    // The values are kept apart from the profile: listing versions stays light.
    let listed = versions(h, "whole");
    let amount = &listed[0]["profile"]["features"][0];
    assert_eq!(amount["name"], "amount");
    assert!(amount["kind"].get("sample").is_none(), "{amount}");
    assert_eq!(amount["kind"]["n"], 16000);

    let server = Server::start(h, "whole", &["--version", "1"]);
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let live: Vec<[f32; 5]> = model_rows()
        .into_iter()
        .take(600)
        .map(|mut r| {
            r[0] *= 1.1f32;
            r
        })
        .collect();
    for chunk in live.chunks(200) {
        let body = json!({"inputs": [{
            "name": "X", "shape": [chunk.len(), 5], "datatype": "FP32",
            "data": chunk.iter().flatten().collect::<Vec<_>>(),
        }]});
        let status = client
            .post(format!("{}/v2/models/whole/infer", server.url))
            .json(&body)
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let report: Value = client
        .get(format!("{}/flightdeck/drift/whole", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let amount = report["versions"][0]["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "amount")
        .unwrap()
        .clone();
    let (d, p) = (0.052000000000000046, 0.08474421983667302);
    let got_d = amount["ks_statistic"].as_f64().unwrap();
    let got_p = amount["ks_p_value"].as_f64().unwrap();
    assert!(
        (got_d - d).abs() <= 1e-9,
        "KS statistic {got_d} vs scipy {d}"
    );
    assert!(
        (got_p - p).abs() <= 1e-6 * p,
        "KS p-value {got_p} vs scipy {p}"
    );

    // Fewer values kept, by configuration: registration says the test uses a sketch.
    std::fs::write(
        h.join("no-config.toml"),
        "[thresholds]\nks_reference_values = 10000\n",
    )
    .unwrap();
    let sketched = args("sketched");
    let out = common::run(h, &sketched.iter().map(String::as_str).collect::<Vec<_>>());
    let said = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("amount: 16000 reference values; the KS test compares live values with 10000 evenly spaced of them"),
        "{said}"
    );
}

#[test]
fn a_parquet_training_table_profiles_as_its_csv() {
    // tests/fixtures/tables/claims_train.parquet is the table training_table() writes as CSV,
    // written by pandas (pyarrow, snappy): the same rows must give the same baseline.
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let csv = training_table(h, "train.csv", ["app", "branch", "web"]);
    let parquet = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tables");
    let model = demo("v1.onnx");
    let categories = ["--categories", "channel=app,branch,web"];
    ok(
        h,
        &described("from-csv", &model, csv.to_str().unwrap(), &categories),
    );
    let table = parquet.join("claims_train.parquet");
    ok(
        h,
        &described("from-parquet", &model, table.to_str().unwrap(), &categories),
    );
    let from_csv = &versions(h, "from-csv")[0]["profile"];
    let from_parquet = &versions(h, "from-parquet")[0]["profile"];
    assert_eq!(from_csv["rows"], 2000);
    assert!(from_csv["label"].is_object(), "{from_csv}");
    assert_eq!(from_csv, from_parquet);

    // Evaluation reads it too, with the same numbers.
    let evaluated = |table: &Path, name: &str| -> Value {
        serde_json::from_str(&ok(
            h,
            &[
                "evaluate",
                name,
                "1",
                "--data",
                table.to_str().unwrap(),
                "--ignore",
                "id",
                "--json",
            ],
        ))
        .unwrap()
    };
    let a = evaluated(&csv, "from-csv");
    let b = evaluated(&table, "from-parquet");
    // Without --ignore, the columns registration set aside (id) are set aside again.
    let c: Value = serde_json::from_str(&ok(
        h,
        &[
            "evaluate",
            "from-parquet",
            "1",
            "--data",
            table.to_str().unwrap(),
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(c["candidate_metrics"], b["candidate_metrics"], "{c}");
    assert_eq!(a["candidate_metrics"], b["candidate_metrics"], "{a}\n{b}");
    // The demo's v1 as demo/versions.json records it.
    assert_eq!(a["candidate_metrics"]["accuracy"], 0.8055, "{a}");
    assert_eq!(b["rows"], 2000, "{b}");

    // A codec this build does not read is said, with what to do.
    let zstd = parquet.join("claims_train_zstd.parquet");
    let err = common::fails(
        h,
        &described("zstd", &model, zstd.to_str().unwrap(), &categories),
        1,
    );
    assert!(
        err.contains("compressed with zstd, which flightdeck does not read")
            && err.contains("snappy")
            && err.contains("claims_train_zstd.parquet"),
        "{err}"
    );
    // Nor is a file that only has the name.
    let garbage = h.join("garbage.parquet");
    std::fs::write(&garbage, "amount,age\n1,2\n").unwrap();
    let err = common::fails(
        h,
        &described("garbage", &model, garbage.to_str().unwrap(), &categories),
        1,
    );
    assert!(err.contains("not a readable Parquet file"), "{err}");
    let err = common::fails(h, &["versions", "garbage"], 1);
    assert!(
        err.contains("is not registered"),
        "nothing registered: {err}"
    );
}

#[test]
fn the_versions_answers_on_its_reference_are_kept_with_its_baseline() {
    // Expected: onnxruntime 1.32 and scikit-learn on demo/holdout.csv at FP32 with v2.onnx:
    // mean P(1) 0.21818233558535577, 1,827 rows predicted 0 and 173 predicted 1, accuracy
    // 0.831, AUC 0.7624638156957805, log loss 0.4210162803132465.
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = ok(
        h,
        &[
            "register",
            "claims",
            &demo("v2.onnx"),
            "--reference",
            &demo("holdout.csv"),
            "--label",
            "fraud",
            "--categories",
            "channel=app,branch,web",
        ],
    );
    assert!(
        out.contains("on the reference's labels: accuracy 0.8310"),
        "{out}"
    );
    let listed = versions(h, "claims");
    let predictions = &listed[0]["profile"]["predictions"];
    let output = |name: &str| {
        predictions["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {predictions}"))
            .clone()
    };
    let p1 = output("P(1)");
    assert_eq!(p1["kind"]["n"], 2000);
    let mean = p1["kind"]["mean"].as_f64().unwrap();
    assert!((mean - 0.21818233558535577).abs() < 1e-6, "{p1}");
    assert!(
        p1["kind"].get("sample").is_none(),
        "its values are kept apart from the listing: {p1}"
    );
    let classes = output("output_label");
    let counts: Vec<u64> = classes["kind"]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [1827, 173]);
    let metrics = &predictions["metrics"];
    assert_eq!(metrics["accuracy"], 0.831);
    let close = |key: &str, want: f64, within: f64| {
        let got = metrics[key].as_f64().unwrap();
        assert!(
            (got - want).abs() <= within * want,
            "{key}: {got} vs {want}"
        );
    };
    // AUC depends on the scores' order only: exact. Log loss reads the FP32 probabilities
    // themselves, which tract and onnxruntime round differently in a tree ensemble's sums
    // (about 1e-8 apart).
    close("auc", 0.7624638156957805, 1e-12);
    close("log_loss", 0.4210162803132465, 1e-7);
}

#[test]
fn answers_that_stop_varying_are_flagged_by_prediction_drift() {
    // The demo's v1 registered with its holdout rows: its answers there are the baseline. The
    // same rows live give no prediction drift; a pipeline that sends one row over and over (a
    // constant model, as far as anyone downstream can tell) is flagged as soon as the window
    // holds min_drift_samples (100) rows.
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let train = training_table(h, "train.csv", ["app", "branch", "web"]);
    ok(
        h,
        &described(
            "answers",
            &demo("v1.onnx"),
            train.to_str().unwrap(),
            &["--categories", "channel=app,branch,web"],
        ),
    );
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let send = |server: &Server, rows: &[[f32; 5]]| {
        for chunk in rows.chunks(200) {
            let body = json!({"inputs": [{
                "name": "X", "shape": [chunk.len(), 5], "datatype": "FP32",
                "data": chunk.iter().flatten().collect::<Vec<_>>(),
            }]});
            let status = client
                .post(format!("{}/v2/models/answers/infer", server.url))
                .json(&body)
                .send()
                .unwrap()
                .status();
            assert_eq!(status, 200);
        }
    };
    let predictions = |server: &Server| -> Vec<Value> {
        let report: Value = client
            .get(format!("{}/flightdeck/drift/answers", server.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        report["versions"][0]["predictions"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("{report}"))
    };
    let verdict = |rows: &[Value], name: &str| {
        rows.iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {rows:?}"))["verdict"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let server = Server::start(h, "answers", &["--version", "1"]);
    send(&server, &model_rows()[..600]);
    let healthy = predictions(&server);
    assert_eq!(verdict(&healthy, "P(1)"), "ok", "{healthy:?}");
    assert_eq!(verdict(&healthy, "output_label"), "ok", "{healthy:?}");
    drop(server);

    let server = Server::start(h, "answers", &["--version", "1"]);
    let one = model_rows()[0];
    send(&server, &vec![one; 99]);
    let early = predictions(&server);
    assert_eq!(verdict(&early, "P(1)"), "insufficient_data", "{early:?}");
    send(&server, &[one]);
    let stuck = predictions(&server);
    assert_eq!(verdict(&stuck, "P(1)"), "drift", "at 100 rows: {stuck:?}");
    // The version's verdict (the fleet's alert, the drift gate) covers its answers.
    let report: Value = client
        .get(format!("{}/flightdeck/drift/answers", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(report["versions"][0]["verdict"], "drift", "{report}");

    // The same numbers in /metrics, one series per output and method, valid exposition.
    let metrics = client
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let psi = stuck.iter().find(|p| p["name"] == "P(1)").unwrap()["psi"]
        .as_f64()
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("flightdeck_prediction_drift{")
                && l.contains("output=\"P(1)\"")
                && l.contains("method=\"psi\"")
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    let exported: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((exported - psi).abs() <= 1e-9 * psi, "{line} vs {psi}");
    common::promtool_check(&metrics);
}

#[test]
fn a_version_registered_without_reference_data_is_profiled_later_from_its_stored_file() {
    // Registered bare (as before reference predictions existed), then given its reference by
    // version: no need for the original file; its answers on the reference come with it.
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(h, &["register", "claims", &demo("v2.onnx")]);
    assert!(versions(h, "claims")[0]["profile"].is_null());
    let out = ok(
        h,
        &[
            "register",
            "claims",
            "--version",
            "1",
            "--reference",
            &demo("holdout.csv"),
            "--label",
            "fraud",
            "--categories",
            "channel=app,branch,web",
        ],
    );
    assert!(
        out.contains("its baseline profile is replaced from this reference (journaled)")
            && out.contains("on the reference's labels: accuracy 0.8310"),
        "{out}"
    );
    let listed = versions(h, "claims");
    assert_eq!(listed.as_array().unwrap().len(), 1, "no new version");
    assert!(
        listed[0]["profile"]["predictions"]["outputs"].is_array(),
        "{}",
        listed[0]
    );
    // A version that does not exist, or no reference: said plainly.
    let err = common::fails(
        h,
        &[
            "register",
            "claims",
            "--version",
            "7",
            "--reference",
            &demo("holdout.csv"),
        ],
        1,
    );
    assert!(err.contains("7"), "{err}");
    let err = common::fails(h, &["register", "claims", "--version", "1"], 2);
    assert!(err.contains("--reference"), "{err}");
}
