//! Effects: work the run loop performs for `update`, reporting back through messages.

/// What the console asks of a model's rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutCommand {
    /// Hand the canary `version` to `watch`, starting at the share it serves now.
    Start {
        version: u32,
        steps: Vec<u8>,
        interval_seconds: f64,
    },
    Pause,
    Resume,
}

impl RolloutCommand {
    /// "starting", "pausing", "resuming", for the toast while it runs.
    pub fn verb(&self) -> &'static str {
        match self {
            RolloutCommand::Start { .. } => "handing the canary to watch",
            RolloutCommand::Pause => "pausing",
            RolloutCommand::Resume => "resuming",
        }
    }
}

/// What the console asks of a model's shadow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowCommand {
    Start { version: u32, percent: u8 },
    Stop,
}

/// What the console asks of a model's local server (from `:server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCommand {
    /// Serve what the aliases say (a server stopped from the list).
    Start,
    Stop,
    Restart,
}

impl ServerCommand {
    /// "start", "stop", "restart".
    pub fn verb(self) -> &'static str {
        match self {
            ServerCommand::Start => "start",
            ServerCommand::Stop => "stop",
            ServerCommand::Restart => "restart",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read the registry and the local servers.
    FetchFleet,
    /// Scrape one server's `/metrics`.
    Scrape {
        model: String,
        endpoint: String,
    },
    /// Read a served model's drift report.
    FetchDrift {
        model: String,
        endpoint: String,
    },
    /// Read a model's past serving for its charts (from sources that keep history).
    FetchHistory {
        model: String,
        range: super::chart_range::ChartRange,
    },
    /// Read the newest lines of one of a model's local server logs.
    FetchLog {
        model: String,
        file: super::logs::LogFile,
    },
    /// Read a model's journal.
    FetchJournal {
        model: String,
    },
    /// Read a model's versions from the registry.
    FetchVersions {
        model: String,
    },
    /// Read the newest entries of a model's request log, or (with `search`) the newest that
    /// hold that text, from the whole log.
    FetchRequests {
        model: String,
        search: Option<String>,
    },
    /// Keep a logged request as a sentinel case of the version that answered it (answered
    /// with [`super::msg::Msg::OpFinished`]).
    KeepSentinel {
        model: String,
        entry: Box<crate::model::LoggedRequest>,
    },
    /// Start or stop a model's shadow (answered with [`super::msg::Msg::OpFinished`]).
    Shadow {
        model: String,
        command: ShadowCommand,
    },
    /// Stop or restart a model's local server (answered with
    /// [`super::msg::Msg::OpFinished`]).
    Server {
        model: String,
        command: ServerCommand,
    },
    /// Start, pause or resume a model's rollout (answered with [`super::msg::Msg::OpFinished`]).
    Rollout {
        model: String,
        command: RolloutCommand,
    },
    /// Plan an operation (preconditions, preview, gates).
    PlanOp {
        model: String,
        request: crate::engine::ops::OpRequest,
    },
    /// Plan finishing or reverting a model's interrupted operation.
    PlanRecovery {
        model: String,
        how: crate::engine::ops::Recovery,
    },
    /// Run a confirmed plan.
    RunOp {
        plan: Box<crate::engine::ops::OpPlan>,
        consent: crate::engine::ops::Consent,
    },
    /// Smoke-test a version on a throwaway local server.
    Smoke {
        model: String,
        version: u32,
    },
    /// Evaluate a version against production on a labelled CSV.
    Evaluate {
        model: String,
        version: u32,
        data: String,
    },
    /// Read another environment's fleet (for `:fleet all`), answered with
    /// [`super::msg::Msg::EnvironmentRead`].
    ReadEnvironment {
        name: String,
    },
    /// Read from (and act on) another configured environment.
    SwitchEnvironment {
        name: String,
    },
    /// The guided tour moved to this step.
    GuideStep(usize),
    Quit,
}
