//! `flightdeck bench`: how fast the runtime loads and runs a model, per call, at the batch
//! sizes given; used to compare with onnxruntime and to size a deployment.

use super::say;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use super::table::render;
use super::{Failure, failure, print_json};
use crate::runtime::{LoadedModel, NamedTensor, TensorData};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The ONNX file.
    pub file: PathBuf,
    /// Numeric CSV (with header) of input rows, repeated to fill a batch; default: generated values.
    #[arg(long, value_name = "CSV")]
    pub rows: Option<PathBuf>,
    /// Batch sizes to measure (repeatable).
    #[arg(long = "batch", default_values_t = [1usize, 256])]
    pub batches: Vec<usize>,
    /// Measuring time per batch size.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct BatchResult {
    batch: usize,
    calls: usize,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
    rows_per_s: f64,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    model: String,
    load_ms: f64,
    batches: Vec<BatchResult>,
}

pub fn run(args: BenchArgs) -> Result<(), Failure> {
    let bytes = std::fs::read(&args.file)
        .map_err(|e| failure(format!("cannot read {}: {e}", args.file.display())))?;
    let mut load_times = Vec::new();
    let mut model = None;
    for _ in 0..5 {
        let started = Instant::now();
        let loaded = LoadedModel::from_bytes(&bytes)
            .map_err(|e| failure(format!("{}: {e}", args.file.display())))?;
        load_times.push(started.elapsed());
        model = Some(loaded);
    }
    let model = model.ok_or_else(|| failure("no model loaded"))?;
    let signature = model.signature();
    if signature.inputs.len() != 1 || signature.inputs[0].datatype.as_str() == "BYTES" {
        return Err(failure("bench supports models with one numeric input"));
    }
    let input = &signature.inputs[0];
    let width = input
        .row_width()
        .ok_or_else(|| failure(format!("input {} has no fixed width", input.name)))?;
    let pool = match &args.rows {
        Some(csv) => read_rows(csv, width)?,
        None => generated_rows(width, 1024),
    };
    let mut batches = Vec::new();
    for &batch in &args.batches {
        let values: Vec<f32> = pool.iter().cycle().take(batch * width).copied().collect();
        let mut shape = vec![batch];
        shape.extend(input.shape.iter().skip(1).map(|d| *d as usize));
        let tensor = NamedTensor {
            name: input.name.clone(),
            shape,
            data: TensorData::F32(values),
        };
        let inputs = [tensor];
        for _ in 0..20 {
            model.run(&inputs).map_err(|e| failure(e.to_string()))?;
        }
        let budget = Duration::from_secs_f64(args.seconds.max(0.05));
        let started = Instant::now();
        let mut times = Vec::new();
        while started.elapsed() < budget || times.len() < 50 {
            let t = Instant::now();
            model.run(&inputs).map_err(|e| failure(e.to_string()))?;
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        times.sort_by(f64::total_cmp);
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        batches.push(BatchResult {
            batch,
            calls: times.len(),
            mean_us: mean,
            p50_us: pick(0.5),
            p99_us: pick(0.99),
            rows_per_s: batch as f64 / (mean / 1e6),
        });
    }
    load_times.sort();
    let report = BenchReport {
        model: args.file.display().to_string(),
        load_ms: load_times[load_times.len() / 2].as_secs_f64() * 1e3,
        batches,
    };
    if args.json {
        return print_json(&report);
    }
    say!(
        "{}  load {:.2} ms (median of 5)",
        report.model,
        report.load_ms
    );
    let rows: Vec<Vec<String>> = report
        .batches
        .iter()
        .map(|b| {
            vec![
                b.batch.to_string(),
                b.calls.to_string(),
                format!("{:.1}", b.mean_us),
                format!("{:.1}", b.p50_us),
                format!("{:.1}", b.p99_us),
                format!("{:.0}", b.rows_per_s),
            ]
        })
        .collect();
    say!(
        "{}",
        render(
            &["BATCH", "CALLS", "MEAN µs", "P50 µs", "P99 µs", "ROWS/S"],
            &rows
        )
    );
    Ok(())
}

fn read_rows(path: &PathBuf, width: usize) -> Result<Vec<f32>, Failure> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| failure(format!("{}: {e}", path.display())))?;
    let mut values = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| failure(format!("{}: {e}", path.display())))?;
        if record.len() != width {
            return Err(failure(format!(
                "{} row {}: {} columns, the model takes {width}",
                path.display(),
                i + 1,
                record.len()
            )));
        }
        for field in record.iter() {
            let v = field
                .trim()
                .parse::<f32>()
                .map_err(|_| failure(format!("{}: {field:?} is not a number", path.display())))?;
            values.push(v);
        }
    }
    if values.is_empty() {
        return Err(failure(format!("{} has no rows", path.display())));
    }
    Ok(values)
}

/// Deterministic values spread over [-3, 3] (a linear congruential generator: no seed needed).
fn generated_rows(width: usize, rows: usize) -> Vec<f32> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..width * rows)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 6.0 - 3.0
        })
        .collect()
}
