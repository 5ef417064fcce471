//! Messages: user intents (keys, resizes), the clock, and results of background work.

use chrono::{DateTime, Utc};

use crate::clients::metrics::ScrapeSnapshot;
use crate::keymap::Key;
use crate::model::{DriftReport, ModelSummary, ModelVersion, ServingStatus};

#[derive(Debug, Clone)]
pub enum Msg {
    Key(Key),
    /// A left click on row `index` of the list on screen (the fleet's models or the open
    /// pane's rows), as the last drawn frame placed them.
    Click {
        index: usize,
    },
    /// `:env NAME` could not open that environment (its sources or operator): the console is
    /// still in `back_to`.
    SwitchFailed {
        name: String,
        back_to: String,
        error: String,
    },
    Resize {
        width: u16,
        height: u16,
    },
    /// Wall-clock time, plus a monotonic reading in seconds for rates.
    Tick {
        now: DateTime<Utc>,
        monotonic: f64,
    },
    /// Registry models and local servers, read together.
    FleetFetched {
        at: DateTime<Utc>,
        result: Result<FleetData, String>,
    },
    /// The registry read at `at` holds what the last `FleetFetched` brought (its files have not
    /// changed): as fresh as a new read, with nothing to copy or compare.
    FleetUnchanged {
        at: DateTime<Utc>,
    },
    /// The local servers and what each serves, after the registry's `FleetFetched`.
    ServersListed {
        servers: Vec<ServingStatus>,
        /// Why the cluster itself cannot be read, when it cannot.
        problem: Option<String>,
        /// While it cannot: when the rows were last confirmed (shown as their age).
        known_at: Option<DateTime<Utc>>,
    },
    /// A model's past serving per version, for its charts.
    HistoryFetched {
        model: String,
        range: super::chart_range::ChartRange,
        result: Result<
            std::collections::BTreeMap<(String, String), Vec<crate::clients::metrics::RatePoint>>,
            String,
        >,
    },
    /// A served model's drift reports.
    DriftFetched {
        model: String,
        at: DateTime<Utc>,
        result: Result<Vec<DriftReport>, String>,
    },
    /// The newest lines of one of a model's logs.
    LogFetched {
        model: String,
        file: super::logs::LogFile,
        result: Result<Vec<String>, String>,
    },
    /// A model's journal rows.
    JournalFetched {
        model: String,
        at: DateTime<Utc>,
        result: Result<Vec<crate::model::JournalEntry>, String>,
    },
    /// A model's newest logged requests (its request log), or those holding `search`.
    RequestsFetched {
        model: String,
        at: DateTime<Utc>,
        result: Result<Vec<crate::model::LoggedRequest>, String>,
        search: Option<String>,
    },
    /// Another environment's fleet (`:fleet all`), or why it cannot be read.
    EnvironmentRead {
        name: String,
        at: DateTime<Utc>,
        result: Result<super::everywhere::EnvironmentRows, String>,
    },
    /// A model's registry versions.
    VersionsFetched {
        model: String,
        at: DateTime<Utc>,
        result: Result<Vec<ModelVersion>, String>,
    },
    /// An operation's plan (with its gates), or why it cannot run.
    OpPlanned {
        result: Result<Box<crate::engine::ops::OpPlan>, String>,
    },
    /// An operation's end: its summary, or its error.
    OpFinished {
        result: Result<String, String>,
    },
    /// A step of the running operation or check, e.g. the latency burst at 40 of 200.
    Progress {
        step: crate::model::Step,
    },
    /// A smoke test's or an evaluation's report, or why it could not run.
    CheckFinished {
        result: Result<super::state::CheckOutcome, String>,
    },
    /// One server's `/metrics`.
    MetricsScraped {
        model: String,
        /// The server that was read (rates pair scrapes of the same one only).
        endpoint: String,
        monotonic: f64,
        at: DateTime<Utc>,
        result: Result<ScrapeSnapshot, String>,
    },
}

impl Msg {
    /// An answer that describes the environment it was read from (or, for a plan, that would
    /// act there): worthless, even misleading, once the console has switched to another one.
    /// Every message is named (no wildcard), so a new one must be sorted here.
    pub fn is_read(&self) -> bool {
        match self {
            Msg::FleetFetched { .. }
            | Msg::FleetUnchanged { .. }
            | Msg::ServersListed { .. }
            | Msg::HistoryFetched { .. }
            | Msg::DriftFetched { .. }
            | Msg::JournalFetched { .. }
            | Msg::RequestsFetched { .. }
            | Msg::VersionsFetched { .. }
            | Msg::MetricsScraped { .. }
            | Msg::OpPlanned { .. } => true,
            // A log file of this machine: the same whatever the environment.
            Msg::LogFetched { .. } => false,
            // Names the environment it was read from, whichever the console is in now.
            Msg::EnvironmentRead { .. } => false,
            // Operations and checks ran where they were started: their outcome is still news.
            Msg::OpFinished { .. } | Msg::Progress { .. } | Msg::CheckFinished { .. } => false,
            // Input, the clock and the loop's own word are never an old environment's answer.
            Msg::Key(_)
            | Msg::Click { .. }
            | Msg::Resize { .. }
            | Msg::Tick { .. }
            | Msg::SwitchFailed { .. } => false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetData {
    pub models: Vec<ModelSummary>,
    /// `None` when the servers come separately ([`Msg::ServersListed`]): the registry is shown
    /// at once, without waiting for a slow server to say what it serves.
    pub servers: Option<Vec<ServingStatus>>,
    /// Operations a killed process left half done, newest first.
    pub interrupted: Vec<InterruptedOp>,
    /// The latest rollout of each model, per environment.
    pub rollouts: Vec<crate::model::Rollout>,
}

pub use crate::model::InterruptedOp;
