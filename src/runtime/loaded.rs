//! A model loaded, checked and optimised once, ready to run many times from many threads.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, Once};

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::error::RuntimeError;
use super::tensor::{self, NamedTensor, TensorData};
use super::{classifier, inspect, operators};
use crate::model::{ClassLabels, DataType, Signature};

type Plan = Arc<TypedRunnableModel>;
type State = TypedSimpleState;

/// Run states kept for reuse: spawning one per call costs more than a small model's inference.
const MAX_IDLE_STATES: usize = 16;

/// An optimised, runnable model and its signature.
#[derive(Clone)]
pub struct LoadedModel {
    plan: Plan,
    signature: Signature,
    /// Indices (into the signature's outputs) of what the plan computes, in plan order: all but
    /// a classifier's label, which is derived from its probabilities instead.
    computed: Vec<usize>,
    idle_states: Arc<Mutex<Vec<State>>>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Set while this thread runs tract under `guarded`, whose panics become error values.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Keeps the process's panic hook quiet for panics `guarded` turns into errors: a model that
/// fails on some inputs would otherwise print a full crash report per request into the
/// server's log (an erroring canary at 300 req/s: megabytes a second). Other panics still
/// reach the hook installed before (color-eyre's report).
fn quiet_guarded_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Turns a panic inside tract (it trusts its input more than we can) into an error of the
/// phase it happened in: a model that cannot be prepared, or one that failed on these inputs.
fn guarded<T>(
    what: &str,
    kind: fn(String) -> RuntimeError,
    f: impl FnOnce() -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    quiet_guarded_panics();
    let outer = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result.unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(kind(format!("{what} crashed inside the runtime: {detail}")))
    })
}

impl LoadedModel {
    /// Parses, checks and optimises an ONNX model from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RuntimeError> {
        if bytes.is_empty() {
            return Err(RuntimeError::NotOnnx("the file is empty".into()));
        }
        let framework = operators::framework();
        let mut model: pb::ModelProto = framework
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| RuntimeError::NotOnnx(format!("{e:#}")))?;
        let graph = model
            .graph
            .as_mut()
            .ok_or_else(|| RuntimeError::NotOnnx("it holds no graph".into()))?;
        if graph.node.is_empty() && graph.output.is_empty() {
            // Random bytes often decode as an empty protobuf message.
            return Err(RuntimeError::NotOnnx("it decodes to an empty model".into()));
        }
        let unsupported = inspect::unsupported_operators(&framework, graph);
        if !unsupported.is_empty() {
            return Err(RuntimeError::Unsupported(unsupported));
        }
        inspect::check_wiring(graph)?;
        // Class labels are read before the rewrite removes ZipMap's attributes.
        let declared = inspect::signature(graph, Vec::new())?;
        let classifier = classifier::detect(graph, &declared);
        let notes = inspect::rewrite_zipmap(graph);
        let mut signature = inspect::signature(graph, notes)?;
        signature.classifier = classifier;

        let label = signature
            .classifier
            .as_ref()
            .map(|c| c.label_output.clone());
        let computed: Vec<usize> = (0..signature.outputs.len())
            .filter(|i| Some(&signature.outputs[*i].name) != label.as_ref())
            .collect();
        let plan = guarded("loading the model", RuntimeError::Prepare, || {
            optimise(&framework, &model, &signature, &computed)
        })?;
        refine_output_shapes(&plan, &mut signature, &computed);
        Ok(Self {
            plan,
            signature,
            computed,
            idle_states: Arc::new(Mutex::new(Vec::new())),
        })
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Runs one batch. Inputs are matched by name; numbers are converted to the declared type.
    pub fn run(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, RuntimeError> {
        let mut ordered: TVec<TValue> = tvec![];
        let mut batch = None;
        for spec in &self.signature.inputs {
            let input = inputs.iter().find(|i| i.name == spec.name).ok_or_else(|| {
                RuntimeError::BadInput {
                    name: spec.name.clone(),
                    problem: format!(
                        "missing (the model expects {} {})",
                        spec.datatype,
                        spec.shape_text()
                    ),
                }
            })?;
            check_shape(input, &spec.shape, &spec.name)?;
            let rows = input.shape.first().copied().unwrap_or(1);
            if *batch.get_or_insert(rows) != rows {
                return Err(RuntimeError::BadInput {
                    name: spec.name.clone(),
                    problem: format!(
                        "has {rows} rows but other inputs have {}",
                        batch.unwrap_or(0)
                    ),
                });
            }
            ordered.push(tensor::to_tract(input, spec.datatype)?.into());
        }
        if let Some(extra) = inputs
            .iter()
            .find(|i| !self.signature.inputs.iter().any(|s| s.name == i.name))
        {
            return Err(RuntimeError::BadInput {
                name: extra.name.clone(),
                problem: "is not an input of this model".into(),
            });
        }
        let outputs = guarded("inference", RuntimeError::Inference, || {
            self.run_plan(ordered)
        })?;
        let mut computed = self
            .computed
            .iter()
            .zip(outputs.iter())
            .map(|(i, value)| tensor::from_tract(&self.signature.outputs[*i].name, value))
            .collect::<Result<Vec<_>, _>>()?;
        let label = self.derive_label(&computed)?;
        // Back in the signature's order, the derived label in its place.
        let mut named = Vec::with_capacity(self.signature.outputs.len());
        let mut label = label;
        for (i, spec) in self.signature.outputs.iter().enumerate() {
            if let Some(pos) = self.computed.iter().position(|c| *c == i) {
                named.push(std::mem::replace(
                    &mut computed[pos],
                    NamedTensor::empty(&spec.name),
                ));
            } else if let Some(label) = label.take() {
                named.push(label);
            }
        }
        Ok(named)
    }

    /// Runs the plan on a reused state (or a new one), returning the state for the next call.
    fn run_plan(&self, inputs: TVec<TValue>) -> Result<TVec<TValue>, RuntimeError> {
        let fail = |e: TractError| RuntimeError::Inference(format!("{e:#}"));
        let idle = self
            .idle_states
            .lock()
            .ok()
            .and_then(|mut states| states.pop());
        let mut state = match idle {
            Some(state) => state,
            None => self.plan.spawn().map_err(fail)?,
        };
        let outputs = state.run(inputs).map_err(fail)?;
        if let Ok(mut states) = self.idle_states.lock()
            && states.len() < MAX_IDLE_STATES
        {
            states.push(state);
        }
        Ok(outputs)
    }

    /// A classifier's label output: the class of highest probability in each row, shaped and
    /// typed as the signature declares it.
    fn derive_label(&self, computed: &[NamedTensor]) -> Result<Option<NamedTensor>, RuntimeError> {
        let Some(c) = &self.signature.classifier else {
            return Ok(None);
        };
        let Some(spec) = self
            .signature
            .outputs
            .iter()
            .find(|o| o.name == c.label_output)
        else {
            return Ok(None);
        };
        let probs = computed
            .iter()
            .find(|o| o.name == c.probabilities_output)
            .ok_or_else(|| {
                RuntimeError::Inference(format!(
                    "the model did not return {:?}",
                    c.probabilities_output
                ))
            })?;
        let columns = probs.shape.get(1).copied().unwrap_or(0);
        if columns != c.classes.len() {
            return Err(RuntimeError::Inference(format!(
                "the model returned {columns} probability columns for {} classes",
                c.classes.len()
            )));
        }
        let values = probs.data.to_f64().unwrap_or_default();
        let winners = classifier::argmax_rows(&values, columns);
        let rows = winners.len();
        let data = match (&c.classes, spec.datatype) {
            (ClassLabels::Ints(classes), DataType::Int32) => {
                TensorData::I32(winners.iter().map(|i| classes[*i] as i32).collect())
            }
            (ClassLabels::Ints(classes), _) => {
                TensorData::I64(winners.iter().map(|i| classes[*i]).collect())
            }
            (ClassLabels::Strings(classes), _) => {
                TensorData::String(winners.iter().map(|i| classes[*i].clone()).collect())
            }
        };
        let shape = if spec.shape.len() == 2 {
            vec![rows, 1]
        } else {
            vec![rows]
        };
        Ok(Some(NamedTensor {
            name: spec.name.clone(),
            shape,
            data,
        }))
    }

    /// A batch of `rows` neutral inputs (zeros, or empty strings), to prove the model runs.
    pub fn neutral_inputs(&self, rows: usize) -> Vec<NamedTensor> {
        self.signature
            .inputs
            .iter()
            .map(|spec| {
                let shape = spec.shape_for_rows(rows);
                let n: usize = shape.iter().product();
                let data = match spec.datatype {
                    DataType::Bytes => TensorData::String(vec![String::new(); n]),
                    DataType::Bool => TensorData::Bool(vec![false; n]),
                    DataType::Int32 => TensorData::I32(vec![0; n]),
                    DataType::Int64 => TensorData::I64(vec![0; n]),
                    DataType::Fp64 => TensorData::F64(vec![0.0; n]),
                    _ => TensorData::F32(vec![0.0; n]),
                };
                NamedTensor {
                    name: spec.name.clone(),
                    shape,
                    data,
                }
            })
            .collect()
    }
}

fn check_shape(input: &NamedTensor, expected: &[i64], name: &str) -> Result<(), RuntimeError> {
    let mismatch = input.shape.len() != expected.len()
        || input
            .shape
            .iter()
            .zip(expected)
            .any(|(got, want)| *want > 0 && *got as i64 != *want);
    if mismatch {
        let want: Vec<String> = expected
            .iter()
            .map(|d| if *d < 0 { "N".into() } else { d.to_string() })
            .collect();
        return Err(RuntimeError::BadInput {
            name: name.to_string(),
            problem: format!(
                "has shape {:?} but the model expects [{}]",
                input.shape,
                want.join(", ")
            ),
        });
    }
    Ok(())
}

/// Declares the inputs with a symbolic batch, keeps only the outputs tract computes (unused
/// branches are pruned), then types, optimises and plans the model.
fn optimise(
    framework: &tract_onnx::Onnx,
    proto: &pb::ModelProto,
    signature: &Signature,
    computed: &[usize],
) -> Result<Plan, RuntimeError> {
    let prepare = |e: TractError| RuntimeError::Prepare(format!("{e:#}"));
    let mut model = framework.model_for_proto_model(proto).map_err(prepare)?;
    let batch = model.symbols.sym("N");
    for (ix, spec) in signature.inputs.iter().enumerate() {
        let dims: TVec<TDim> = spec
            .shape
            .iter()
            .enumerate()
            .map(|(axis, d)| match (*d, axis) {
                (d, _) if d > 0 => d.to_dim(),
                (_, 0) => batch.to_dim(),
                (_, axis) => model.symbols.sym(&format!("d{ix}_{axis}")).to_dim(),
            })
            .collect();
        let dt = match spec.datatype {
            DataType::Bytes => DatumType::String,
            DataType::Bool => DatumType::Bool,
            DataType::Int32 => DatumType::I32,
            DataType::Int64 => DatumType::I64,
            DataType::Fp64 => DatumType::F64,
            DataType::Fp16 => DatumType::F16,
            DataType::Int8 => DatumType::I8,
            DataType::Int16 => DatumType::I16,
            DataType::Uint8 => DatumType::U8,
            DataType::Fp32 => DatumType::F32,
        };
        model
            .set_input_fact(ix, InferenceFact::dt_shape(dt, dims))
            .map_err(prepare)?;
    }
    let outlets = model.output_outlets().map_err(prepare)?.to_vec();
    let kept: Vec<OutletId> = computed
        .iter()
        .filter_map(|i| outlets.get(*i).copied())
        .collect();
    model.select_output_outlets(&kept).map_err(prepare)?;
    let typed = model.into_optimized().map_err(prepare)?;
    typed.into_runnable().map_err(prepare)
}

/// Fills in output dimensions the graph left open but the optimiser worked out (for example
/// the number of probability columns behind a rewritten ZipMap).
fn refine_output_shapes(plan: &Plan, signature: &mut Signature, computed: &[usize]) {
    let model = plan.model();
    for (ix, output) in computed.iter().enumerate() {
        let Some(spec) = signature.outputs.get_mut(*output) else {
            continue;
        };
        let Ok(fact) = model.output_fact(ix) else {
            continue;
        };
        if fact.shape.len() != spec.shape.len() {
            continue;
        }
        for (declared, inferred) in spec.shape.iter_mut().zip(fact.shape.iter()) {
            if *declared < 0
                && let Ok(v) = inferred.to_i64()
            {
                *declared = v;
            }
        }
    }
}
