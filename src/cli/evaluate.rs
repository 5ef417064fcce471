//! `flightdeck evaluate MODEL VERSION --data LABELLED.csv`: the candidate against production on
//! a frozen labelled set, through local servers; the result feeds the promote gate.

use super::say;
use std::path::PathBuf;

use clap::Args;

use super::table::{or_dash, render};
use super::{Failure, model_name, parse_version, print_json, program, runtime};
use crate::engine::evaluate::evaluate;

use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    pub model: String,
    #[arg(value_parser = parse_version)]
    pub version: u32,
    /// Labelled data, CSV with a header row or Parquet (`.parquet`): the model's feature
    /// columns and a label column.
    #[arg(long, value_name = "TABLE")]
    pub data: PathBuf,
    /// The label column (default: the one the version was registered with, else a column named
    /// "label", else the last column).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Columns that are neither features nor the label, e.g. ids and timestamps (repeatable,
    /// or comma-separated).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// A text column's categories in the order the model encodes them (the first is code 0),
    /// for a version registered without them (an MLflow version): as register takes it.
    #[arg(long, value_name = "NAME=A,B,...", value_parser = super::register::parse_categories)]
    pub categories: Vec<(String, Vec<String>)>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, args: EvaluateArgs) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
    let mut registry = super::open(settings)?;
    let program = program()?;
    let runtime = runtime()?;
    let baseline = if settings.environment.registry == crate::settings::RegistryBackend::Mlflow {
        runtime.block_on(mlflow_baseline(settings, &program, &model, args.version))?
    } else {
        crate::engine::evaluate::Baseline::LocalProduction
    };
    let progress =
        super::progress::printer(format!("evaluate {model} v{}", args.version), args.json);
    let e = runtime.block_on(evaluate(
        &mut registry,
        &program,
        &model,
        args.version,
        &args.data,
        crate::engine::evaluate::EvaluateOptions {
            label: args.label.as_deref(),
            ignore: &args.ignore,
            // Read-only: evaluated and shown, not stored (a stored result gates the promote).
            record: !settings.environment.read_only,
            baseline,
            categories: &args.categories.into_iter().collect(),
        },
        &progress,
    ))?;
    if settings.environment.read_only {
        eprintln!(
            "read-only environment {}: the result was not stored with v{}",
            settings.environment.name, args.version
        );
    }
    if args.json {
        return print_json(&e);
    }
    say!("{model} v{} on {} rows of {}", e.candidate, e.rows, e.data);
    let names: Vec<&String> = e.candidate_metrics.keys().collect();
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|k| {
            vec![
                (*k).clone(),
                format!("{:.4}", e.candidate_metrics[*k]),
                or_dash(
                    e.baseline_metrics
                        .as_ref()
                        .and_then(|b| b.get(*k))
                        .map(|v| format!("{v:.4}")),
                ),
            ]
        })
        .collect();
    let baseline = e
        .baseline
        .map(|b| format!("PRODUCTION v{b}"))
        .unwrap_or_else(|| "PRODUCTION".into());
    say!(
        "{}",
        render(
            &["METRIC", &format!("CANDIDATE v{}", e.candidate), &baseline],
            &rows
        )
    );
    Ok(())
}

/// In an MLflow environment the candidate and MLflow's champion are MLflow's versions: both are
/// copied into the local registry first (as a deploy copies them), and the champion is the
/// baseline.
async fn mlflow_baseline(
    settings: &Settings,
    program: &std::path::Path,
    model: &crate::model::ModelName,
    candidate: u32,
) -> Result<crate::engine::evaluate::Baseline, Failure> {
    use crate::engine::ops::OpRegistry;
    let mlflow = super::mlflow_copies::registry(settings, program)?;
    let champion = mlflow.held(model).await?.production;
    for version in std::iter::once(candidate).chain(champion) {
        super::mlflow_copies::copy(&mlflow, model, version, 1).await?;
    }
    Ok(crate::engine::evaluate::Baseline::Production(champion))
}
