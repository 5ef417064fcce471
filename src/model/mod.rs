//! Plain data types shared by the engine, the sources, the server and the console: no I/O here.

pub mod alert;
pub mod alias;
pub mod comparison;
pub mod drift;
pub mod evaluation;
pub mod feedback;
pub mod gate;
pub mod journal;
pub mod kube;
pub mod logged_request;
pub mod name;
pub mod profile;
pub mod progress;
pub mod retrain;
pub mod rollout;
pub mod sentinel;
pub mod serving;
pub mod shadow;
pub mod signature;
pub mod smoke;
pub mod version;

pub use alert::{Alert, AlertRule, AlertSignal, AlertState, Notice, Receiver, Severity, Silence};
pub use alias::{Alias, AliasMove, version_of};
pub use drift::{
    AnswerComparison, DriftReport, DriftThresholds, FeatureDrift, Histogram, JsBase,
    OutputComparison, Verdict,
};
pub use evaluation::{Evaluation, Metrics};
pub use feedback::{FeedbackReceipt, FeedbackReport, LiveQuality};
pub use gate::{GateResult, GateStatus};
pub use journal::{InterruptedOp, JournalEntry, NewJournalEntry, Outcome};
pub use kube::{
    Condition, DeploymentMode, DeploymentRow, EventRow, KubeService, PodRow, TrafficTarget,
};
pub use logged_request::LoggedRequest;
pub use name::{AliasName, ModelName, NameError};
pub use profile::{
    BaselineProfile, CategoryFrequency, DEFAULT_REFERENCE_VALUES, FeatureKind, FeatureProfile,
    NumericProfile, PredictionProfile,
};
pub use progress::{Progress, Step};
pub use retrain::RetrainTrigger;
pub use rollout::{Rollout, RolloutPhase, VersionCounters};
pub use sentinel::{SentinelCase, SentinelSet, TensorValues};
pub use serving::{ServerRecord, ServingPlan, ServingStatus};
pub use shadow::ShadowReport;
pub use signature::{ClassLabels, ClassifierOutputs, DataType, Signature, TensorSpec};
pub use smoke::{SmokeCheck, SmokeReport};
pub use version::{Lineage, ModelSummary, ModelVersion};
