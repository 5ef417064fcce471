//! Setting up the demo: an isolated home (never the user's data dir), the demo's models
//! registered with their lineage, and v1 deployed to production after its smoke test.

use std::path::{Path, PathBuf};

use crate::engine::ops::{Consent, GateStatus, OpRequest, Operator, PlanOptions};
use crate::engine::register::{RegisterRequest, register};
use crate::model::ModelName;
use crate::serving::LocalServing;
use crate::settings::{Overrides, Settings};
use crate::store::Actor;
use crate::store::Registry;

/// The demo's files, built into the binary so `flightdeck demo` needs nothing else.
const ASSETS: &[(&str, &[u8])] = &[
    ("v1.onnx", include_bytes!("../../demo/v1.onnx")),
    ("v2.onnx", include_bytes!("../../demo/v2.onnx")),
    ("v3.onnx", include_bytes!("../../demo/v3.onnx")),
    ("reference.csv", include_bytes!("../../demo/reference.csv")),
    // Labelled rows no version saw in training, for `evaluate` (the console offers it).
    ("holdout.csv", include_bytes!("../../demo/holdout.csv")),
    (
        "sentinels.json",
        include_bytes!("../../demo/sentinels.json"),
    ),
    ("versions.json", include_bytes!("../../demo/versions.json")),
];

pub const MODEL: &str = "claims";

/// Demo settings: quick gates for a walkthrough, everything else default. v2 (better recall on
/// web claims) flags fraud on about 10 % more claims than v1 by design: the answers gate allows
/// up to 20 % here, where the default (10 %) would hold it for a human to look.
/// The demo's claims are made up, so its servers log a fifth of them: the requests pane and
/// `flightdeck requests claims` have something to show.
const CONFIG: &str = "[gates]\nmin_canary_requests = 100\nmax_p99_ratio = 5.0\nmax_answer_difference = 0.2\n\n[request_log]\nrate = 0.2\n";

pub struct Demo {
    pub model: ModelName,
    pub settings: Settings,
    pub assets: PathBuf,
    pub actor: Actor,
    pub program: PathBuf,
    pub serving: LocalServing,
    /// Runs the demo's operations, as the CLI and the console do.
    pub operator: Operator,
}

impl Demo {
    pub fn registry(&self) -> Result<Registry, String> {
        Registry::open(&self.settings.data_dir).map_err(|e| e.to_string())
    }
}

/// Writes the assets and config into `home` and resolves settings for it.
pub fn prepare(home: &Path, program: PathBuf) -> Result<Demo, String> {
    let assets = home.join("demo-assets");
    std::fs::create_dir_all(&assets).map_err(|e| format!("{}: {e}", assets.display()))?;
    for (name, bytes) in ASSETS {
        std::fs::write(assets.join(name), bytes).map_err(|e| format!("{name}: {e}"))?;
    }
    let config = home.join("config.toml");
    std::fs::write(&config, CONFIG).map_err(|e| e.to_string())?;
    let overrides = Overrides {
        data_dir: Some(home.to_path_buf()),
        ..Overrides::default()
    };
    let settings = Settings::resolve(Some(CONFIG), Some(config), None, &overrides)
        .map_err(|e| e.to_string())?;
    let actor = Actor::new(settings.user.clone(), settings.environment.name.clone());
    let serving = LocalServing::new(&settings.data_dir, program.clone())
        .with_config(settings.config_path.clone());
    let model = ModelName::new(MODEL).map_err(|e| e.to_string())?;
    let operator = Operator::new(&settings, program.clone())?;
    Ok(Demo {
        operator,
        model,
        settings,
        assets,
        actor,
        program,
        serving,
    })
}

/// Registers v1, v2 and v3 with their lineage, metrics, baseline and sentinels.
pub fn register_versions(demo: &Demo) -> Result<(), String> {
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(demo.assets.join("versions.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let mut registry = demo.registry()?;
    for v in ["v1", "v2", "v3"] {
        let m = &meta[v];
        let text = |k: &str| m[k].as_str().map(str::to_string);
        let metrics = m["metrics"]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
                    .collect()
            })
            .unwrap_or_default();
        let request = RegisterRequest {
            artifact: demo.assets.join(format!("{v}.onnx")),
            reference: Some(demo.assets.join("reference.csv")),
            // The demo's models encode the channel as app=0, branch=1, web=2 (demo/generate.py).
            profile: crate::engine::profile::ProfileOptions {
                categories: [(
                    "channel".to_string(),
                    vec!["app".to_string(), "branch".to_string(), "web".to_string()],
                )]
                .into(),
                ..Default::default()
            },
            sentinels: Some(demo.assets.join("sentinels.json")),
            metrics,
            data_hash: text("data_hash"),
            code_commit: text("commit"),
            pipeline_version: text("pipeline_version"),
            description: text("description"),
        };
        register(&mut registry, &demo.model, &request, &demo.actor).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// How long the demo waits for a gate that has too little evidence yet (the canary's traffic
/// is flowing, so the evidence comes).
const EVIDENCE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs one operation through the operator as `flightdeck deploy|promote|...` does, consenting
/// to nothing: a gate that fails stops it. A gate still short of data is planned again until it
/// has enough or [`EVIDENCE_WAIT`] passes.
pub async fn operate(demo: &Demo, request: OpRequest) -> Result<String, String> {
    operate_with(demo, request, false).await
}

/// `operate`, skipping the smoke test when `skip_smoke` (consented to, and journaled as such).
pub async fn operate_with(
    demo: &Demo,
    request: OpRequest,
    skip_smoke: bool,
) -> Result<String, String> {
    let deadline = std::time::Instant::now() + EVIDENCE_WAIT;
    let options = PlanOptions { skip_smoke };
    let planned = loop {
        let planned = demo
            .operator
            .plan(&demo.model, request, options, &|_| {})
            .await
            .map_err(|e| e.to_string())?;
        let waiting = planned
            .gates
            .iter()
            .any(|g| g.status == GateStatus::NotEnoughData);
        let failing = planned.gates.iter().any(|g| g.status == GateStatus::Fail);
        if !waiting || failing || std::time::Instant::now() > deadline {
            break planned;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let consent = Consent {
        skip_smoke,
        ..Consent::default()
    };
    let outcome = demo
        .operator
        .run(&planned, consent)
        .await
        .map_err(|e| e.to_string())?;
    Ok(outcome.sentence)
}
