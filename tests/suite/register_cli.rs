//! `flightdeck register` and the listings through the real binary: what users see for good and
//! bad input. Bad input exits 1 with a message naming the problem, and records nothing.

use crate::common;

use std::path::Path;

use common::{fails, fixture, ok, run};

fn f(name: &str) -> String {
    fixture(name).to_str().unwrap().to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Asserts that nothing was registered by the failed attempts.
fn assert_empty(home: &Path) {
    assert_eq!(ok(home, &["models", "--json"]).trim(), "[]");
    assert_eq!(ok(home, &["journal", "--json"]).trim(), "[]");
}

#[test]
fn register_prints_the_version_signature_and_profile() {
    let home = tempfile::tempdir().unwrap();
    let out = ok(
        home.path(),
        &[
            "register",
            "fraud",
            &f("logreg_multiclass.onnx"),
            "--reference",
            &f("classifier.reference.csv"),
            "--sentinels",
            &f("logreg_multiclass.sentinels.json"),
            "--metric",
            "auc=0.93",
            "--commit",
            "4f1c2e9",
            "--pipeline-version",
            "fp-1",
            "--data-hash",
            "sha256:abc",
        ],
    );
    assert!(out.contains("registered fraud v1"), "{out}");
    assert!(out.contains("input   X  FP32 [N, 4]"), "{out}");
    assert!(out.contains("output_probability  FP32 [N, 3]"), "{out}");
    assert!(
        out.contains("baseline: 800 rows, 4 features (4 numeric, 0 categorical)"),
        "{out}"
    );
    assert!(out.contains("sentinels: 3 cases"), "{out}");
    assert!(
        !out.contains("warning"),
        "the artifact meets its own sentinels: {out}"
    );

    let again = ok(
        home.path(),
        &["register", "fraud", &f("logreg_multiclass.onnx")],
    );
    assert!(again.contains("already holds this artifact"), "{again}");

    let versions = ok(home.path(), &["versions", "fraud"]);
    assert!(
        versions.contains("fp-1") && versions.contains("4f1c2e9") && versions.contains("auc=0.93"),
        "{versions}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(home.path(), &["versions", "fraud", "--json"])).unwrap();
    assert_eq!(json[0]["lineage"]["author"], "tester");
    assert_eq!(json[0]["profile"]["features"][3]["name"], "score");
}

#[test]
fn a_model_whose_sentinels_fail_is_registered_with_a_warning() {
    let home = tempfile::tempdir().unwrap();
    // The multiclass model's sentinels, checked against a different model of the same shape.
    let out = ok(
        home.path(),
        &[
            "register",
            "m",
            &f("mlp_classifier.onnx"),
            "--sentinels",
            &f("logreg_multiclass.sentinels.json"),
        ],
    );
    assert!(out.contains("warning: this artifact fails"), "{out}");
}

#[test]
fn text_columns_become_categorical_with_the_codes_the_model_receives() {
    let home = tempfile::tempdir().unwrap();
    let csv = write(
        home.path(),
        "ref.csv",
        "amount,age,tenure,segment\n1,30,2,retail\n2,40,3,business\n3,50,4,retail\n4,,5,private\n",
    );
    ok(
        home.path(),
        &[
            "register",
            "m",
            &f("logreg_multiclass.onnx"),
            "--reference",
            &csv,
            "--categorical",
            "tenure",
        ],
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(home.path(), &["versions", "m", "--json"])).unwrap();
    let features = &json[0]["profile"]["features"];
    assert_eq!(features[1]["missing"], 1, "an empty cell counts as missing");
    assert_eq!(features[1]["kind"]["type"], "numeric");
    assert_eq!(
        features[2]["kind"]["type"], "categorical",
        "declared with --categorical"
    );
    assert_eq!(
        features[2]["kind"]["categories"][0]["code"], 2.0,
        "numeric categories keep their value"
    );
    let segment = &features[3]["kind"]["categories"];
    let coded: Vec<(String, f64)> = segment
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["value"].as_str().unwrap().to_string(),
                c["code"].as_f64().unwrap(),
            )
        })
        .collect();
    // Sorted order, as scikit-learn's OrdinalEncoder assigns codes.
    assert_eq!(
        coded,
        vec![
            ("business".into(), 0.0),
            ("private".into(), 1.0),
            ("retail".into(), 2.0)
        ]
    );
    assert_eq!(segment[2]["count"], 2);
}

#[test]
fn bad_files_and_names_are_refused_with_the_reason() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let err = fails(h, &["register", "fraud", "/nonexistent/model.onnx"], 1);
    assert!(err.contains("cannot read /nonexistent/model.onnx"), "{err}");
    let err = fails(h, &["register", "fraud", &f("generate.py")], 1);
    assert!(err.contains("not a valid ONNX model"), "{err}");
    let empty = write(h, "empty.onnx", "");
    let err = fails(h, &["register", "fraud", &empty], 1);
    assert!(err.contains("not a valid ONNX model"), "{err}");
    let err = fails(h, &["register", "fraud", &f("unsupported_op.onnx")], 1);
    assert!(err.contains("FancyScore (domain com.example.ops)"), "{err}");
    for (name, why) in [
        ("a/b", "path separator"),
        ("..", "leading '.'"),
        ("my model", "whitespace"),
        ("a\u{1b}b", "control character"),
    ] {
        let err = fails(h, &["register", name, &f("logreg_binary.onnx")], 1);
        assert!(err.contains(why), "{name:?}: {err}");
    }
    let err = fails(
        h,
        &["register", "m", &f("logreg_binary.onnx"), "--metric", "auc"],
        1,
    );
    assert!(err.contains("NAME=NUMBER"), "{err}");
    assert_empty(h);
}

#[test]
fn bad_reference_data_is_refused_with_line_and_column() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let model = f("logreg_multiclass.onnx");
    let cases = [
        (
            "narrow.csv",
            "a,b,c\n1,2,3\n",
            "the model takes 4 features (X [N, 4]) but 3 columns are left (a, b, c)",
        ),
        ("empty.csv", "a,b,c,d\n", "no data rows"),
        ("nothing.csv", "", "no data rows"),
        (
            "mixed.csv",
            "a,b,c,d\n1,2,3,4\n1,x2,3,4\n",
            "line 3, column \"b\": \"x2\" is not a number",
        ),
        (
            "ragged.csv",
            "a,b,c,d\n1,2,3,4\n1,2,3\n",
            "line 3: 3 fields where the header has 4",
        ),
        (
            "blank.csv",
            "a,b,c,d\n1,,3,4\n2,,3,4\n",
            "column \"b\" has no values",
        ),
    ];
    for (file, text, want) in cases {
        let csv = write(h, file, text);
        let err = fails(h, &["register", "fraud", &model, "--reference", &csv], 1);
        assert!(err.contains(want), "{file}: {err}");
        assert!(err.contains(file), "{file}: names the file: {err}");
    }
    let ok_csv = write(h, "ok.csv", "a,b,c,d\n1,2,3,4\n");
    let err = fails(
        h,
        &[
            "register",
            "fraud",
            &model,
            "--reference",
            &ok_csv,
            "--categorical",
            "z",
        ],
        1,
    );
    assert!(
        err.contains("--categorical \"z\" names no feature column"),
        "{err}"
    );
    assert_empty(h);
}

#[test]
fn bad_sentinel_files_are_refused_naming_case_and_tensor() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let model = f("logreg_multiclass.onnx");
    let cases = [
        (
            "wide.json",
            r#"{"cases":[{"name":"c1","inputs":{"X":[[1,2,3,4,5]]},"expected":{"output_label":[0]}}]}"#,
            "case \"c1\": \"X\" has shape [1, 5] but the model's tensor is FP32 [N, 4]",
        ),
        (
            "missing.json",
            r#"{"cases":[{"name":"c1","inputs":{},"expected":{"output_label":[0]}}]}"#,
            "input \"X\" is missing",
        ),
        (
            "output.json",
            r#"{"cases":[{"name":"c1","inputs":{"X":[[1,2,3,4]]},"expected":{"score":[0]}}]}"#,
            "\"score\" is not an output",
        ),
        (
            "rows.json",
            r#"{"cases":[{"name":"c1","inputs":{"X":[[1,2,3,4]]},"expected":{"output_label":[0,1]}}]}"#,
            "has 2 rows but the inputs have 1",
        ),
        (
            "ragged.json",
            r#"{"cases":[{"name":"c1","inputs":{"X":[[1,2,3,4],[1]]},"expected":{"output_label":[0,1]}}]}"#,
            "rows of different lengths",
        ),
        (
            "text.json",
            r#"{"cases":[{"name":"c1","inputs":{"X":[["a","b","c","d"]]},"expected":{"output_label":[0]}}]}"#,
            "takes numbers",
        ),
        ("none.json", r#"{"cases":[]}"#, "no cases"),
        (
            "tol.json",
            r#"{"tolerance":-1,"cases":[{"name":"c1","inputs":{"X":[[1,2,3,4]]},"expected":{"output_label":[0]}}]}"#,
            "tolerance -1",
        ),
        (
            "typo.json",
            r#"{"cases":[{"name":"c1","input":{"X":[[1,2,3,4]]},"expected":{"output_label":[0]}}]}"#,
            "unknown field `input`",
        ),
    ];
    for (file, text, want) in cases {
        let path = write(h, file, text);
        let err = fails(h, &["register", "fraud", &model, "--sentinels", &path], 1);
        assert!(err.contains(want), "{file}: {err}");
    }
    assert_empty(h);
}

#[test]
fn read_only_flag_refuses_changes_with_exit_code_4() {
    let home = tempfile::tempdir().unwrap();
    let err = fails(
        home.path(),
        &["--readonly", "register", "m", &f("logreg_binary.onnx")],
        4,
    );
    assert!(err.contains("read-only"), "{err}");
    assert_empty(home.path());
    let out = run(home.path(), &["--readonly", "models"]);
    assert!(out.status.success(), "reading is allowed");
}

#[test]
fn unknown_model_and_version_say_how_to_find_the_right_one() {
    let home = tempfile::tempdir().unwrap();
    let err = fails(home.path(), &["versions", "ghost"], 1);
    assert!(err.contains("flightdeck models"), "{err}");
    ok(home.path(), &["register", "m", &f("logreg_binary.onnx")]);
    let err = fails(home.path(), &["alias", "set", "m", "production", "v7"], 1);
    assert!(
        err.contains("no version 7") && err.contains("flightdeck versions m"),
        "{err}"
    );
    let err = fails(
        home.path(),
        &["alias", "set", "m", "production", "seven"],
        2,
    );
    assert!(err.contains("write 3 or v3"), "{err}");
}

#[test]
fn default_skl2onnx_exports_of_every_family_register() {
    let home = tempfile::tempdir().unwrap();
    for model in [
        "scaler_logreg",
        "minmax_mlp",
        "imputer_linear",
        "binarizer_logreg",
        "rf_binary",
        "rf_multiclass",
        "et_binary",
        "et_multiclass",
        "gb_binary",
        "gb_multiclass",
        "rf_regressor",
        "et_regressor",
        "gb_regressor",
        "rf_string_labels",
    ] {
        let out = ok(
            home.path(),
            &["register", model, &f(&format!("{model}.onnx"))],
        );
        assert!(
            out.contains(&format!("registered {model} v1")),
            "{model}: {out}"
        );
    }
    let labels = ok(home.path(), &["versions", "rf_string_labels", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(
        json[0]["signature"]["classifier"]["classes"],
        serde_json::json!(["approve", "decline", "review"])
    );
}

#[test]
fn a_column_transformer_registers_with_one_reference_column_per_input() {
    let home = tempfile::tempdir().unwrap();
    let csv = write(
        home.path(),
        "ref.csv",
        "amount,age,tenure,score,segment\n10.5,31,2,0.3,retail\n99,45,1,-0.2,business\n7,52,3,1.1,retail\n",
    );
    let out = ok(
        home.path(),
        &[
            "register",
            "mixed",
            &f("column_transformer.onnx"),
            "--reference",
            &csv,
        ],
    );
    assert!(out.contains("input   segment  BYTES [N, 1]"), "{out}");
    assert!(out.contains("4 numeric, 1 categorical"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(home.path(), &["versions", "mixed", "--json"])).unwrap();
    let segment = &json[0]["profile"]["features"][4]["kind"];
    assert_eq!(segment["type"], "categorical");
    assert!(
        segment["categories"][0].get("code").is_none(),
        "a string input receives the text itself"
    );
    // The graph's OneHotEncoder says which categories the model knows, in its order: the
    // profile lists them all (private at 0 %, absent from this reference).
    assert_eq!(
        json[0]["signature"]["categories"]["segment"],
        serde_json::json!(["business", "private", "retail"])
    );
    let listed: Vec<(&str, u64)> = segment["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["value"].as_str().unwrap(), c["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(listed, [("business", 1), ("private", 0), ("retail", 2)]);
    // A reference value the encoder does not know is said, not refused.
    let odd = write(
        home.path(),
        "odd.csv",
        "amount,age,tenure,score,segment\n10.5,31,2,0.3,retail\n99,45,1,-0.2,wholesale\n",
    );
    let out = ok(
        home.path(),
        &[
            "register",
            "odd",
            &f("column_transformer.onnx"),
            "--reference",
            &odd,
        ],
    );
    assert!(
        out.contains("warning: segment: wholesale in the reference is not among the categories the model's encoder knows (business, private, retail); the model treats it as unknown"),
        "{out}"
    );
    // One named input per column: columns are matched by name, in any order, around the
    // label and ignored columns; a column that is none of these is refused by name.
    let swapped = write(
        home.path(),
        "swapped.csv",
        "id,age,amount,tenure,bought,score,segment\n1,31,10.5,2,1,0.3,retail\n2,45,99,1,0,-0.2,business\n",
    );
    let register = |name: &str, extra: &[&str]| {
        let mut args = vec!["register", name];
        let model = f("column_transformer.onnx");
        args.push(&model);
        args.extend(["--reference", swapped.as_str()]);
        args.extend(extra);
        run(home.path(), &args)
    };
    let out = register("other", &["--label", "bought"]);
    let err = common::stderr(&out);
    assert!(
        err.contains("column \"id\" is not an input of the model: name it with --label if it is the label, or --ignore it"),
        "{err}"
    );
    let out = register("other", &["--label", "bought", "--ignore", "id"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(&ok(home.path(), &["versions", "other", "--json"])).unwrap();
    let features = &json[0]["profile"]["features"];
    assert_eq!(features[0]["name"], "amount");
    assert_eq!(
        features[0]["kind"]["max"], 99.0,
        "amount's values, not age's"
    );
    assert_eq!(features[1]["name"], "age");
}

#[test]
fn config_lists_every_environment_with_its_backends() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(
        h.join("no-config.toml"),
        "[environments.prom]\nmetrics = \"prometheus\"\nprometheus_url = \"http://127.0.0.1:9090\"\n\
         [environments.ml]\nregistry = \"mlflow\"\nmlflow_url = \"http://127.0.0.1:5000\"\n\
         [environments.k8s]\nserving = \"kubernetes\"\nmetrics = \"prometheus\"\nprometheus_url = \"http://p:9090\"\n\
         namespaces = [\"models\"]\nstorage_uri = \"s3://m/{model}/{version}\"\nprometheus_runtime = \"knative\"\n",
    )
    .unwrap();
    let out = common::ok(h, &["--env", "prom", "config"]);
    assert!(
        out.lines().any(|l| l.contains("k8s")
            && l.contains("serving kubernetes (context current, namespaces models, storage s3://m/{model}/{version})")
            && l.contains("runtime knative")),
        "{out}"
    );
    assert!(out.contains("environment   prom"), "{out}");
    // What drift and promotions are judged by is part of the resolved settings.
    assert!(
        out.contains("JS >= 0.1 (base e)") && out.contains("canary >= 100 requests"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&common::ok(h, &["--env", "prom", "config", "--json"])).unwrap();
    assert_eq!(json["drift"]["js_base"], "e");
    assert_eq!(json["gates"]["max_p99_ratio"], 1.5);
    assert!(
        out.lines().any(|l| l.contains("* prom")
            && l.contains("metrics prometheus http://127.0.0.1:9090")),
        "{out}"
    );
    // MLflow with local serving operates (its versions are copied into the local registry).
    assert!(
        out.lines().any(|l| l.contains("ml")
            && l.contains("registry mlflow http://127.0.0.1:5000")
            && l.contains("serving local")
            && !l.contains("read-only")),
        "{out}"
    );
    assert_eq!(json["drift"]["ks_reference_values"], 100000);
}
