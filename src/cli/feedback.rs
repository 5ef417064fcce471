//! `flightdeck feedback`: send the labels of answers already given (a table of request ids and
//! labels) to the model's local server, which joins them with what each version answered.

use super::say;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{Failure, failure, model_name, print_json, program, runtime};
use crate::model::FeedbackReceipt;
use crate::serving::LocalServing;
use crate::settings::{ServingBackend, Settings};

#[derive(Debug, Args)]
pub struct FeedbackArgs {
    pub model: String,
    /// A CSV or Parquet table with each answered request's id and its label.
    #[arg(long, value_name = "FILE")]
    pub labels: PathBuf,
    /// The column holding the request ids (the `id` of each answer, or its x-request-id).
    #[arg(long, default_value = "id")]
    pub id_column: String,
    /// The column holding the labels (a class, or a number for a regressor).
    #[arg(long, default_value = "label")]
    pub label_column: String,
    #[arg(long)]
    pub json: bool,
}

/// Labels sent per request: a few megabytes of JSON, well under the server's body limit.
const LABELS_PER_REQUEST: usize = 20_000;

pub fn run(settings: &Settings, args: FeedbackArgs) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
    if settings.environment.serving == ServingBackend::Kubernetes {
        return Err(failure(format!(
            "labels are joined by the model servers that answered; in a Kubernetes environment post them to each predictor's /flightdeck/feedback/{model}"
        )));
    }
    let (header, mut columns, _) = crate::engine::reference::read_raw(&args.labels)
        .map_err(|e| failure(format!("{}: {e}", args.labels.display())))?;
    let mut take = |name: &str| -> Result<Vec<String>, Failure> {
        let index = header.iter().position(|h| h == name).ok_or_else(|| {
            failure(format!(
                "{}: no column {name:?} (columns: {}); name it with --id-column / --label-column",
                args.labels.display(),
                header.join(", ")
            ))
        })?;
        Ok(std::mem::take(&mut columns[index]))
    };
    let ids = take(&args.id_column)?;
    let labels = take(&args.label_column)?;
    let serving = LocalServing::new(&settings.data_dir, program()?);
    let timeout = Duration::from_millis(settings.refresh.source_timeout_ms.max(10_000));
    let receipt = runtime()?.block_on(async {
        let why = " (labels are joined by the server that answered)";
        let endpoint = super::server::running_endpoint(&serving, &model, why).await?;
        let client = crate::clients::http::client().map_err(failure)?;
        let mut all = FeedbackReceipt::default();
        for (id_chunk, label_chunk) in ids
            .chunks(LABELS_PER_REQUEST)
            .zip(labels.chunks(LABELS_PER_REQUEST))
        {
            let body: Vec<serde_json::Value> = id_chunk
                .iter()
                .zip(label_chunk)
                .map(|(id, label)| serde_json::json!({ "id": id, "label": label }))
                .collect();
            let receipt = crate::clients::model_server::post_labels(
                &client,
                &endpoint,
                model.as_str(),
                &serde_json::Value::Array(body),
                timeout,
            )
            .await
            .map_err(|e| failure(format!("cannot send labels to {endpoint}: {e}")))?;
            all.absorb(receipt);
        }
        Ok::<_, Failure>(all)
    })?;
    if args.json {
        print_json(&receipt)?;
    } else {
        say!(
            "{model}: {} labels joined; {} too late (their answers are no longer kept), {} for ids not kept that the server did not name (never answered here, answered before a restart, or expired), {} duplicates, {} invalid",
            receipt.matched,
            receipt.late,
            receipt.unknown,
            receipt.duplicate,
            receipt.invalid
        );
        for problem in &receipt.problems {
            say!("  invalid: {problem}");
        }
    }
    // Late, unknown and repeated labels are the ordinary life of a label feed; labels that are
    // not labels, or a file of which nothing joined, are a mistake a script must see.
    if receipt.invalid > 0 {
        return Err(failure(format!(
            "{} labels in {} are invalid (see above); the others were joined",
            receipt.invalid,
            args.labels.display()
        )));
    }
    if receipt.matched == 0 && !ids.is_empty() {
        return Err(failure(format!(
            "none of the {} labels in {} joined an answer the server keeps",
            ids.len(),
            args.labels.display()
        )));
    }
    Ok(())
}
