//! `flightdeck register`: arguments, and the summary of what was recorded.

use super::say;
use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use super::{Failure, failure, model_name, print_json};
use crate::engine::register::{RegisterRequest, Registered, parse_metric, register};
use crate::model::{BaselineProfile, CategoryFrequency, FeatureKind, Signature};
use crate::settings::Settings;
use crate::store::Actor;

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Model name: letters, digits, '-', '_' and '.'.
    pub model: String,
    /// The ONNX file.
    #[arg(required_unless_present = "existing")]
    pub file: Option<PathBuf>,
    /// Profile an already registered version again from --reference, with the file the
    /// registry stores (for a version registered before it had reference data, or before its
    /// answers on the reference were kept).
    #[arg(long = "version", value_name = "V", value_parser = super::parse_version, conflicts_with = "file", requires = "reference")]
    pub existing: Option<u32>,
    /// Reference (training) data, CSV with a header row or Parquet (`.parquet`, snappy or
    /// uncompressed): the training table as it is, with
    /// its label and id columns named by --label and --ignore.
    #[arg(long, value_name = "TABLE")]
    pub reference: Option<PathBuf>,
    /// The reference's label column: its distribution is kept with the baseline.
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Reference columns that are neither features nor the label, e.g. ids and timestamps
    /// (repeatable, or comma-separated).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Treat this reference column as categorical (repeatable). Text columns are detected.
    #[arg(long, value_name = "NAME")]
    pub categorical: Vec<String>,
    /// A categorical column's categories in the order the model encodes them: the first is
    /// code 0 (repeatable), e.g. --categories merchant_category=grocery,electronics,travel.
    #[arg(long, value_name = "NAME=A,B,...", value_parser = parse_categories)]
    pub categories: Vec<(String, Vec<String>)>,
    /// Sentinel cases (JSON; format in the README) used by smoke tests.
    #[arg(long, value_name = "FILE")]
    pub sentinels: Option<PathBuf>,
    /// An evaluation metric, NAME=NUMBER (repeatable).
    #[arg(long = "metric", value_name = "K=V")]
    pub metrics: Vec<String>,
    /// Hash of the training data.
    #[arg(long, value_name = "H")]
    pub data_hash: Option<String>,
    /// Commit of the training code.
    #[arg(long, value_name = "C")]
    pub commit: Option<String>,
    /// Version of the feature pipeline the model expects.
    #[arg(long, value_name = "P")]
    pub pipeline_version: Option<String>,
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, actor: &Actor, args: RegisterArgs) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
    let metrics = args
        .metrics
        .iter()
        .map(|m| parse_metric(m))
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let mut registry = super::open(settings)?;
    let artifact = match (args.file, args.existing) {
        (Some(file), _) => file,
        (None, Some(version)) => {
            let stored = registry.version(&model, version)?;
            crate::store::registry::artifacts::path_for(registry.artifacts_root(), &stored.sha256)
        }
        (None, None) => {
            return Err(failure(
                "name the ONNX file, or --version V of a registered one",
            ));
        }
    };
    let request = RegisterRequest {
        artifact,
        reference: args.reference,
        profile: crate::engine::profile::ProfileOptions {
            columns: crate::engine::reference::Columns {
                label: args.label,
                ignore: args.ignore,
            },
            categorical: args.categorical,
            categories: args.categories.into_iter().collect(),
            reference_values: Some(settings.thresholds.ks_reference_values),
        },
        sentinels: args.sentinels,
        metrics,
        data_hash: args.data_hash,
        code_commit: args.commit,
        pipeline_version: args.pipeline_version,
        description: args.description,
    };
    let registered = register(&mut registry, &model, &request, actor)?;
    if args.json {
        return print_json(&serde_json::json!({
            "created": registered.created,
            "repaired": registered.repaired,
            "sentinel_failures": registered.sentinel_failures,
            "version": registered.version,
        }));
    }
    say!("{}", summary(&registered));
    Ok(())
}

/// `NAME=A,B,C` as the column and its categories in order.
pub(super) fn parse_categories(text: &str) -> Result<(String, Vec<String>), String> {
    let (name, list) = text.split_once('=').ok_or_else(|| {
        format!("{text:?}: write it as NAME=FIRST,SECOND,... (the first is code 0)")
    })?;
    let categories: Vec<String> = list.split(',').map(|c| c.trim().to_string()).collect();
    if name.trim().is_empty() || categories.iter().any(String::is_empty) {
        return Err(format!(
            "{text:?}: a column name, then categories without empty ones"
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = categories.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(format!("{text:?}: {twice:?} is listed twice"));
    }
    Ok((name.trim().to_string(), categories))
}

fn summary(r: &Registered) -> String {
    let v = &r.version;
    let mut lines = vec![headline(r)];
    lines.extend(signature_lines(&v.signature));
    if let Some(p) = &v.profile {
        lines.extend(profile_lines(p));
    }
    if let Some(s) = &v.sentinels {
        let failing = r.sentinel_failures.len();
        lines.push(format!(
            "  sentinels: {} cases, tolerance {:e}",
            s.cases.len(),
            s.tolerance
        ));
        if failing > 0 {
            lines.push(format!("  warning: this artifact fails {failing} of its own sentinel checks (smoke tests will fail):"));
            lines.extend(r.sentinel_failures.iter().map(|f| format!("    {f}")));
        }
    }
    if !v.metrics.is_empty() {
        let m: Vec<String> = v.metrics.iter().map(|(k, x)| format!("{k}={x}")).collect();
        lines.push(format!("  metrics: {}", m.join(" ")));
    }
    lines.join("\n")
}

/// What registration did with the file: created, re-profiled, repaired or nothing.
fn headline(r: &Registered) -> String {
    let v = &r.version;
    let (model, label, sha) = (&v.model, v.label(), &v.sha256);
    if r.created {
        format!(
            "registered {model} {label}  sha256 {sha}  {} bytes",
            v.size_bytes
        )
    } else if r.reprofiled {
        format!(
            "{model} {label} already holds this artifact (sha256 {sha}); its baseline profile is replaced from this reference (journaled); a running server scores drift against the new one once restarted"
        )
    } else if r.repaired {
        format!(
            "{model} {label} already holds this artifact (sha256 {sha}); its stored file was damaged and is repaired from this one"
        )
    } else {
        format!("{model} {label} already holds this artifact (sha256 {sha}); nothing was changed")
    }
}

/// The inputs, outputs, classifier reading and notes of a signature, a line each.
fn signature_lines(signature: &Signature) -> Vec<String> {
    let mut lines = Vec::new();
    for (kind, tensor) in signature
        .inputs
        .iter()
        .map(|t| ("input ", t))
        .chain(signature.outputs.iter().map(|t| ("output", t)))
    {
        lines.push(format!(
            "  {kind}  {}  {} {}",
            tensor.name,
            tensor.datatype,
            tensor.shape_text()
        ));
    }
    if let Some(c) = &signature.classifier {
        lines.push(format!(
            "  classifier: {} classes; {:?} is the argmax of {:?}",
            c.classes.len(),
            c.label_output,
            c.probabilities_output
        ));
    }
    lines.extend(signature.notes.iter().map(|note| format!("  note: {note}")));
    lines
}

/// The baseline: its size, each categorical feature's codes, the label's and the answers'
/// distributions, the metrics on the reference's labels, and the profiler's warnings.
fn profile_lines(p: &BaselineProfile) -> Vec<String> {
    let mut lines = Vec::new();
    let categorical = p
        .features
        .iter()
        .filter(|f| matches!(f.kind, FeatureKind::Categorical { .. }))
        .count();
    lines.push(format!(
        "  baseline: {} rows, {} features ({} numeric, {categorical} categorical)",
        p.rows,
        p.features.len(),
        p.features.len() - categorical
    ));
    for f in &p.features {
        if let FeatureKind::Categorical { categories } = &f.kind {
            let codes: Vec<String> = categories
                .iter()
                .map(|c| match c.code {
                    Some(code) => format!("{}={code}", c.value),
                    None => c.value.clone(),
                })
                .collect();
            lines.push(format!("  {}: {}", f.name, codes.join(", ")));
        }
    }
    if let Some(label) = &p.label {
        let shown = match &label.kind {
            FeatureKind::Categorical { categories } => frequencies(categories),
            FeatureKind::Numeric(n) => format!("mean {:.4}, std {:.4}", n.mean, n.std),
        };
        lines.push(format!("  label {}: {shown}", label.name));
    }
    if let Some(predictions) = &p.predictions {
        let shown: Vec<String> = predictions
            .outputs
            .iter()
            .map(|o| match &o.kind {
                FeatureKind::Numeric(n) => format!("{} mean {:.4}", o.name, n.mean),
                FeatureKind::Categorical { categories } => {
                    format!("{} {}", o.name, frequencies(categories))
                }
            })
            .collect();
        lines.push(format!("  answers on the reference: {}", shown.join("; ")));
        if !predictions.metrics.is_empty() {
            let m: Vec<String> = predictions
                .metrics
                .iter()
                .map(|(k, x)| format!("{k} {x:.4}"))
                .collect();
            lines.push(format!("  on the reference's labels: {}", m.join(", ")));
        }
    }
    lines.extend(p.notes.iter().map(|note| format!("  warning: {note}")));
    lines
}

/// "a 93.1%, b 6.9%": each category with its share.
fn frequencies(categories: &[CategoryFrequency]) -> String {
    categories
        .iter()
        .map(|c| format!("{} {:.1}%", c.value, c.frequency * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}
