//! The shipped example config parses, and bad configs fail naming the key and the file.

use std::path::PathBuf;

use flightdeck::settings::{ConfigError, Confirm, Overrides, Settings};

fn resolve(text: &str) -> Result<Settings, ConfigError> {
    Settings::resolve(
        Some(text),
        Some(PathBuf::from("/etc/fd/config.toml")),
        Some(PathBuf::from("/default/data")),
        &Overrides::default(),
    )
}

#[test]
fn example_config_parses_to_the_defaults() {
    let text = include_str!("../../config.example.toml");
    let from_example = resolve(text).expect("config.example.toml must parse");
    let defaults = Settings::resolve(
        None,
        None,
        Some(PathBuf::from("/default/data")),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(from_example.thresholds, defaults.thresholds);
    assert_eq!(from_example.refresh, defaults.refresh);
    assert_eq!(from_example.environment, defaults.environment);
    assert_eq!(from_example.theme, "dark");
    assert_eq!(from_example.data_dir, PathBuf::from("/default/data"));
}

#[test]
fn every_commented_example_key_also_parses() {
    // Uncomment the optional keys the example documents, and check they are accepted.
    let text = include_str!("../../config.example.toml")
        .replace("# data_dir = ", "data_dir = ")
        .replace("# user = ", "user = ")
        .replace("# [environments.audit]", "[environments.audit]")
        .replace("# read_only = true", "read_only = true")
        .replace("# confirm = \"typed\"", "confirm = \"typed\"")
        .replace("# promote = \"P\"", "promote = \"P\"")
        .replace("# [retrain]", "[retrain]")
        .replace("# signals = [", "signals = [")
        .replace("# for = \"6h\"", "for = \"6h\"")
        .replace("# command = [", "command = [")
        .replace("# url = \"https://ci", "url = \"https://ci")
        .replace("# again_after = ", "again_after = ")
        .replace("# min_shadow_agreement = 0.8", "min_shadow_agreement = 0.8")
        .replace("# min_shadow_rows = 200", "min_shadow_rows = 200")
        .replace("# [request_log]", "[request_log]")
        .replace("# rate = 0.1", "rate = 0.1")
        .replace("# max_mb = 256", "max_mb = 256")
        .replace("# max_age = \"7d\"", "max_age = \"7d\"");
    let settings = resolve(&text).expect("uncommented example must parse");
    let retrain = settings.retrain.as_ref().expect("[retrain] read");
    assert_eq!(retrain.for_seconds, 6.0 * 3600.0);
    assert_eq!(retrain.again_after_seconds, Some(24.0 * 3600.0));
    assert_eq!(settings.request_log.rate, 0.1);
    assert_eq!(settings.gates.min_shadow_agreement, Some(0.8));
    assert_eq!(settings.request_log.max_age_seconds, 7.0 * 86_400.0);
    assert_eq!(settings.user, "alice");
    assert_eq!(settings.data_dir, PathBuf::from("/var/lib/flightdeck"));
    let audit = &settings.environments["audit"];
    assert!(audit.read_only);
    assert_eq!(audit.confirm, Confirm::Typed);
    use flightdeck::keymap::{Action, Key};
    assert_eq!(
        settings.keymap.action(Key::char('P')),
        Some(Action::Promote)
    );
    assert_eq!(settings.keymap.action(Key::char('p')), None);
}

#[test]
fn bad_key_overrides_name_the_entry_and_the_file() {
    for (text, needle) in [
        ("[keys]\npromot = \"P\"", "promot: no such action"),
        ("[keys]\nquit = \"hyper-q\"", "[keys] quit"),
        ("[keys]\nquit = []", "at least one key"),
    ] {
        let err = resolve(text).unwrap_err().to_string();
        assert!(
            err.contains(needle) && err.contains("config.toml"),
            "{text:?} -> {err}"
        );
    }
}

#[test]
fn unknown_key_names_the_key_and_the_file() {
    let err = resolve("[thresholds]\npsi_wran = 0.2\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("psi_wran"), "{err}");
    assert!(err.contains("/etc/fd/config.toml"), "{err}");
}

#[test]
fn bad_values_name_the_key() {
    for (text, key) in [
        ("theme = \"neon\"", "theme"),
        ("[thresholds]\nks_p_value = 1.5", "thresholds.ks_p_value"),
        (
            "[thresholds]\npsi_warn = 0.5\npsi_drift = 0.2",
            "thresholds.psi_warn",
        ),
        ("[refresh]\nmetrics_ms = 0", "refresh.metrics_ms"),
        ("[thresholds]\njs_base = \"10\"", "thresholds.js_base"),
        ("[environments.prod]\nregistry = \"oracle\"", "registry"),
        ("ascii = \"yes\"", "ascii"),
    ] {
        let err = resolve(text).unwrap_err().to_string();
        assert!(err.contains(key), "{text:?} -> {err}");
        assert!(err.contains("config.toml"), "{text:?} -> {err}");
    }
}

#[test]
fn flags_override_the_file_and_the_file_overrides_defaults() {
    let text = "theme = \"light\"\ndefault_environment = \"staging\"\n[environments.staging]\nread_only = false\n";
    let from_file = resolve(text).unwrap();
    assert_eq!(from_file.theme, "light");
    assert_eq!(from_file.environment.name, "staging");
    let overrides = Overrides {
        data_dir: Some(PathBuf::from("/flag/home")),
        environment: Some("local".into()),
        read_only: true,
        theme: Some("mono".into()),
        ..Overrides::default()
    };
    let flagged = Settings::resolve(
        Some(text),
        Some(PathBuf::from("/etc/fd/config.toml")),
        None,
        &overrides,
    )
    .unwrap();
    assert_eq!(flagged.theme, "mono");
    assert_eq!(flagged.environment.name, "local");
    assert!(flagged.environment.read_only);
    assert_eq!(flagged.data_dir, PathBuf::from("/flag/home"));
}

#[test]
fn unknown_environment_lists_the_configured_ones() {
    let err = Settings::resolve(
        None,
        None,
        Some(PathBuf::from("/d")),
        &Overrides {
            environment: Some("prod-eu".into()),
            ..Overrides::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("prod-eu") && err.contains("local"), "{err}");
}

#[test]
fn relative_data_dir_is_relative_to_the_config_file() {
    let settings = resolve("data_dir = \"state\"").unwrap();
    assert_eq!(settings.data_dir, PathBuf::from("/etc/fd/state"));
}

#[test]
fn the_console_and_status_judge_health_by_the_configured_thresholds() {
    let settings = resolve(
        "[thresholds]\nerror_rate_warn = 0.2\np99_warn_ms = 40.0\n\n[environments.local]\nconfirm = \"typed\"\n",
    )
    .unwrap();
    let state = flightdeck::app::State::from_settings(&settings, 1.0);
    assert_eq!(state.config.alert_error_ratio, 0.2);
    assert!((state.config.alert_p99_seconds - 0.040).abs() < 1e-12);
    assert!(state.config.typed_confirmation);
    let defaults = flightdeck::app::State::from_settings(&resolve("").unwrap(), 1.0);
    assert_eq!(defaults.config.alert_error_ratio, 0.01);
    assert!(!defaults.config.typed_confirmation);
}

#[test]
fn a_prometheus_environment_needs_its_url() {
    let err = resolve("[environments.prom]\nmetrics = \"prometheus\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[environments.prom]: metrics = \"prometheus\" needs prometheus_url"),
        "{err}"
    );
    let err =
        resolve("[environments.prom]\nmetrics = \"prometheus\"\nprometheus_url = \"prom:9090\"\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("use an http:// or https:// URL"), "{err}");
    let ok = resolve(
        "[environments.prom]\nmetrics = \"prometheus\"\nprometheus_url = \"http://prom:9090\"\n",
    )
    .unwrap();
    assert_eq!(
        ok.environments["prom"].prometheus_url.as_deref(),
        Some("http://prom:9090")
    );
}

#[test]
fn an_mlflow_environment_needs_its_url_and_may_serve_locally() {
    let err = resolve("[environments.ml]\nregistry = \"mlflow\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[environments.ml]: registry = \"mlflow\" needs mlflow_url"),
        "{err}"
    );
    let settings = resolve(
        "[environments.ml]\nregistry = \"mlflow\"\nmlflow_url = \"http://mlflow:5000\"\nmlflow_production_alias = \"prod\"\n",
    )
    .unwrap();
    let ml = &settings.environments["ml"];
    assert!(
        !ml.read_only,
        "MLflow with local serving deploys: its versions are copied into the local registry"
    );
    assert_eq!(
        (
            ml.mlflow_production_alias.as_str(),
            ml.mlflow_canary_alias.as_str()
        ),
        ("prod", "challenger")
    );
}

#[test]
fn kubernetes_environments_are_checked_as_a_whole() {
    let base = "[environments.k]\nserving = \"kubernetes\"\nmetrics = \"prometheus\"\nprometheus_url = \"http://p:9090\"\n";
    let ok = resolve(&format!(
        "{base}kubeconfig = \"kube/config\"\nnamespaces = [\"models\", \"ml-2\"]\nstorage_uri = \"s3://m/{{model}}/{{version}}\"\n"
    ))
    .unwrap();
    let k = &ok.environments["k"];
    assert_eq!(
        k.kubeconfig,
        Some(PathBuf::from("/etc/fd/kube/config")),
        "relative to the config file"
    );
    assert_eq!(k.namespaces, ["models", "ml-2"]);
    assert_eq!(k.rollout_timeout_s, 300);
    for (text, expected) in [
        (
            "[environments.k]\nserving = \"kubernetes\"\n".to_string(),
            "set metrics = \"prometheus\"",
        ),
        (
            format!("{base}namespaces = [\"Models\"]\n"),
            "not a Kubernetes namespace name",
        ),
        (
            format!("{base}storage_uri = \"s3://m/latest\"\n"),
            "must contain {version}",
        ),
        (
            format!("{base}rollout_timeout_s = 0\n"),
            "rollout_timeout_s = 0",
        ),
        (
            "[environments.l]\nnamespaces = [\"a\"]\n".to_string(),
            "only apply with serving = \"kubernetes\"",
        ),
    ] {
        let err = resolve(&text).unwrap_err().to_string();
        assert!(
            err.contains(expected) && err.contains("/etc/fd/config.toml"),
            "{text}: {err}"
        );
    }
}
