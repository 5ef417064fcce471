//! `flightdeck demo`: the first-deployment walkthrough on one machine. `--script` runs the whole
//! scenario unattended and exits 0 only if every expected observation was made.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use clap::Args;

use super::{Failure, failure, multi_thread_runtime, program};
use crate::demo::setup::{MODEL, operate, prepare, register_versions};
use crate::demo::traffic::{TrafficControl, load_rows, spawn};
use crate::engine::ops::OpRequest;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run the scenario unattended, print a timeline, exit 0 only if every observation held.
    #[arg(long)]
    pub script: bool,
    /// Demo home (default: a fresh temporary directory, removed on exit). Never your data dir.
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Requests per second from the traffic generator.
    #[arg(long, default_value_t = 300)]
    pub rate: u32,
}

pub fn run(args: DemoArgs) -> Result<(), Failure> {
    let temp = match &args.home {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("flightdeck-demo-")
                .tempdir()
                .map_err(failure)?,
        ),
    };
    let home = args
        .home
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
        .ok_or_else(|| failure("no demo home"))?;
    std::fs::create_dir_all(&home).map_err(failure)?;
    let program = program()?;
    let demo = prepare(&home, program.clone()).map_err(failure)?;
    let _log = crate::logging::init(&demo.settings.data_dir, "demo.log");
    let runtime = multi_thread_runtime()?;
    let result = if args.script {
        runtime
            .block_on(crate::demo::script::run(&demo, args.rate))
            .map_err(failure)
    } else {
        runtime.block_on(async {
            register_versions(&demo).map_err(failure)?;
            operate(
                &demo,
                OpRequest::Deploy {
                    version: 1,
                    canary_percent: None,
                },
            )
            .await
            .map_err(failure)?;
            let endpoint = demo
                .serving
                .status(MODEL)
                .await
                .endpoint()
                .ok_or_else(|| failure("the demo server has no endpoint"))?;
            let rows = load_rows(&demo.assets.join("holdout.csv")).map_err(failure)?;
            let control = Arc::new(TrafficControl::default());
            let traffic = spawn(
                format!("{endpoint}/v2/models/{MODEL}/infer"),
                rows,
                args.rate,
                control.clone(),
            );
            let intro = format!(
                "demo: v1 serves {} req/s · n: next step of the tour · ?: keys",
                args.rate
            );
            let shift = control.clone();
            let launch = crate::console::Launch {
                intro: Some(intro),
                // The tour's drift step shifts two features of the traffic.
                on_guide_step: Some(Arc::new(move |step| {
                    if step == crate::app::guide::DRIFT_STEP {
                        shift.shift.store(true, Ordering::Relaxed);
                    }
                })),
                evaluate_data: Some(demo.assets.join("holdout.csv")),
            };
            let console = crate::console::run_with(&demo.settings, program, launch)
                .await
                .map_err(failure);
            control.stop.store(true, Ordering::Relaxed);
            let _ = traffic.await;
            let _ = demo.serving.stop(&demo.model).await;
            console
        })
    };
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    drop(temp);
    result
}
