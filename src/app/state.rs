//! Everything the console shows, and nothing it does not need: one struct, owned by a shell
//! (`console`'s loop or headless run), changed by `update`; the shells set only what they are
//! started with (the terminal's size, the demo's tour) and, headless, the clock and the
//! cluster's problem between steps.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::keymap::Keymap;
use std::collections::VecDeque;

use crate::clients::metrics::{ScrapeSnapshot, ServingStats, VersionKey};
use crate::model::{DriftReport, ModelSummary, ModelVersion, ServingStatus};

/// What the main area shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Fleet,
    /// Every configured environment's fleet in one list (`:fleet all`).
    Everywhere,
    /// One model's detail, with one of its panes in front.
    Model {
        name: String,
        pane: Pane,
    },
}

/// The panes of the model view, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Serving,
    Drift,
    Versions,
    Cluster,
    Journal,
    /// The request log: the newest logged requests with their answers.
    Requests,
}

impl Pane {
    pub const ALL: [Pane; 6] = [
        Pane::Serving,
        Pane::Drift,
        Pane::Versions,
        Pane::Cluster,
        Pane::Journal,
        Pane::Requests,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Pane::Serving => "serving",
            Pane::Drift => "drift",
            Pane::Versions => "versions",
            Pane::Cluster => "cluster",
            Pane::Journal => "journal",
            Pane::Requests => "requests",
        }
    }

    pub fn next(self) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Pane::ALL[(i + 1) % Pane::ALL.len()]
    }

    pub fn previous(self) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Pane::ALL[(i + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// What keys are doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing a filter after `/`.
    Filter,
    /// Typing a command after `:`.
    Command(String),
}

/// What covers the screen, one at a time; keys go to it before anything else.
#[derive(Debug, Clone)]
pub enum Overlay {
    /// An operation being previewed, confirmed or run.
    Operation(OpModal),
    /// A smoke test or an evaluation.
    Check(CheckModal),
    /// Two versions of a model side by side (`c` on the versions pane); any key closes it.
    Compare {
        model: String,
        left: u32,
        right: u32,
    },
    Help,
    /// Every source's state with its whole error text (`:errors`): the header and the footer
    /// clip theirs.
    Errors,
    /// The local servers, with stop and restart (`:server`).
    Servers(super::servers::ServersView),
    /// A model's local server logs, tailed (`l`).
    Logs(super::logs::LogView),
    /// The selected object whole (Enter on a row; `y` shows it as JSON).
    Describe {
        described: super::describe::Described,
        json: bool,
        /// Lines scrolled past.
        scroll: u16,
    },
}

/// Fleet columns the user can sort by (`o` cycles, `O` turns the direction around). Names go
/// A to Z; the rest worst (or busiest) first, and a value not measured last either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Name,
    Health,
    RequestRate,
    P99,
    ErrorRatio,
    Drift,
    Alerts,
}

impl SortColumn {
    pub const ALL: [SortColumn; 7] = [
        SortColumn::Name,
        SortColumn::Health,
        SortColumn::RequestRate,
        SortColumn::P99,
        SortColumn::ErrorRatio,
        SortColumn::Drift,
        SortColumn::Alerts,
    ];

    pub fn next(self) -> Self {
        let i = SortColumn::ALL.iter().position(|c| *c == self).unwrap_or(0);
        SortColumn::ALL[(i + 1) % SortColumn::ALL.len()]
    }

    pub fn label(self) -> &'static str {
        match self {
            SortColumn::Name => "name",
            SortColumn::Health => "health",
            SortColumn::RequestRate => "req/s",
            SortColumn::P99 => "p99",
            SortColumn::ErrorRatio => "error %",
            SortColumn::Drift => "drift",
            SortColumn::Alerts => "alerts",
        }
    }
}

/// Health of one data source: when it last answered, and its last error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceStatus {
    pub last_ok: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub in_flight: bool,
}

impl SourceStatus {
    pub fn age_seconds(&self, now: DateTime<Utc>) -> Option<i64> {
        self.last_ok.map(|t| (now - t).num_seconds().max(0))
    }

    /// The age worth showing: `None` while the source keeps up with the refresh interval (an age
    /// ticking every second would redraw an idle screen every second), else its age in seconds.
    pub fn lag_seconds(&self, now: DateTime<Utc>, refresh_seconds: f64) -> Option<i64> {
        let age = self.age_seconds(now)?;
        let allowed = (2.0 * refresh_seconds).max(3.0);
        (age as f64 > allowed).then_some(age)
    }
}

/// Points kept of each feature's drift trend.
pub const DRIFT_TREND: usize = 60;

/// One point of a version's serving history, kept small: a thousand models' worth of five
/// minutes at one point a second must fit in a few megabytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryPoint {
    pub requests_per_second: f32,
    /// Answers that were not a success (4xx and 5xx); NaN when there were no requests.
    pub error_ratio: f32,
    /// Seconds; NaN when no request finished in the interval.
    pub p99: f32,
    /// When it was read (unix seconds; a coarse point's bucket start): the chart's time axis.
    pub at: u32,
}

impl HistoryPoint {
    /// The numbers of a read at `at` (unix seconds).
    pub fn read(s: ServingStats, at: i64) -> Self {
        Self {
            requests_per_second: s.requests_per_second as f32,
            error_ratio: s.error_ratio.map_or(f32::NAN, |r| r as f32),
            p99: s.p99.map_or(f32::NAN, |p| p as f32),
            at: unix_u32(at),
        }
    }

    /// A bucket nothing was read in: a gap on the chart, never a zero.
    pub fn gap(at: i64) -> Self {
        Self {
            requests_per_second: f32::NAN,
            error_ratio: f32::NAN,
            p99: f32::NAN,
            at: unix_u32(at),
        }
    }
}

/// Unix seconds in four bytes (enough until 2106): the history stays small.
pub fn unix_u32(at: i64) -> u32 {
    at.clamp(0, i64::from(u32::MAX)) as u32
}

/// The last scrape of a server, where and when it was taken (monotonic seconds): rates come
/// only from two scrapes of the same endpoint, never across a server that was replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeSample {
    pub endpoint: String,
    pub monotonic: f64,
    pub snapshot: ScrapeSnapshot,
}

/// An operation being previewed, confirmed or run from the console.
#[derive(Debug, Clone)]
pub struct OpModal {
    pub model: String,
    pub request: crate::engine::ops::OpRequest,
    /// Set when the dialog finishes or reverts an interrupted operation instead.
    pub recovery: Option<crate::engine::ops::Recovery>,
    pub stage: OpStage,
    /// What the user typed (for typed confirmation).
    pub typed: String,
    /// Gates that did not pass, overridden by the user (`o`), recorded in the journal.
    pub override_gates: bool,
    /// The feature-pipeline change confirmed by the user (`m`).
    pub allow_pipeline_mismatch: bool,
}

impl OpModal {
    /// What the user agreed to in the dialog: `o` goes past every gate that did not pass, the
    /// smoke test's included.
    pub fn consent(&self) -> crate::engine::ops::Consent {
        crate::engine::ops::Consent {
            override_gates: self.override_gates,
            skip_smoke: self.override_gates,
            pipeline_change: self.allow_pipeline_mismatch,
        }
    }
}

#[derive(Debug, Clone)]
pub enum OpStage {
    Planning,
    Ready(Box<crate::engine::ops::OpPlan>),
    Running(Box<crate::engine::ops::OpPlan>),
    Done(Result<String, String>),
    Failed(String),
}

/// A smoke test or an evaluation started from the console. Neither moves serving or an alias,
/// so they run without a preview; their reports are stored with the version.
#[derive(Debug, Clone)]
pub struct CheckModal {
    pub model: String,
    pub version: u32,
    pub kind: CheckKind,
    pub stage: CheckStage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    Smoke,
    Evaluate,
}

impl CheckKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Smoke => "smoke test",
            CheckKind::Evaluate => "evaluate",
        }
    }
}

#[derive(Debug, Clone)]
pub enum CheckStage {
    /// An evaluation asks for its labelled CSV first (prefilled with the last one used).
    AskData {
        path: String,
        /// The path is the last one used, untouched: typing replaces it (as a selected
        /// field does), Backspace edits it.
        prefilled: bool,
    },
    Running,
    Done(Result<CheckOutcome, String>),
}

#[derive(Debug, Clone)]
pub enum CheckOutcome {
    Smoke(crate::model::SmokeReport),
    Evaluation(Box<crate::model::Evaluation>),
}

/// The console's whole state: what `update` changes and `draw` shows.
#[derive(Debug, Clone)]
pub struct State {
    /// Where the console acts and how it looks: fixed by the settings, but for `:env` and
    /// `:theme`.
    pub config: ConsoleConfig,
    /// The alert rules' pending and firing alerts, judged after each scrape.
    pub alerts: crate::engine::alerts::Evaluator,
    /// The alerts `watch` says are firing (from the journal), for one-shot views.
    pub watched: Vec<crate::engine::alerts::JournaledAlert>,
    /// A rollout asked for once (model, when): asked again within a few seconds, it starts.
    pub rollout_armed: Option<(String, f64)>,
    /// When each source last answered, or why it failed.
    pub sources: Sources,
    /// The open model's panes: their data and selection.
    pub detail: Detail,
    pub now: DateTime<Utc>,
    pub monotonic: f64,
    pub size: (u16, u16),
    pub view: View,
    pub mode: Mode,
    /// The fleet's `/` filter, sort and selected row.
    pub filter: String,
    pub sort: SortColumn,
    /// The sort's direction turned around (`O`): quietest or healthiest first, names Z to A.
    pub sort_reversed: bool,
    pub selected: usize,
    /// The fleet's selected model: the selection follows it when rows re-sort.
    pub fleet_identity: Option<super::panes::RowId>,
    pub models: Vec<ModelSummary>,
    /// The other environments' fleets while `:fleet all` is or was open (they survive `:env`:
    /// each names its environment).
    pub everywhere: Option<super::everywhere::Everywhere>,
    pub servers: BTreeMap<String, ServingStatus>,
    /// Operations a killed process left half done (shown until recovered).
    pub interrupted: Vec<super::msg::InterruptedOp>,
    /// The latest rollout of each model in this environment, under way or ended.
    pub rollouts: std::collections::BTreeMap<String, crate::model::Rollout>,
    pub scrapes: BTreeMap<String, ScrapeSample>,
    pub serving: BTreeMap<VersionKey, ServingStats>,
    /// Local servers stopped from `:server` in this environment, as last listed: a stopped
    /// server has no deployment, so the listing leaves it out; the list keeps it, to start it
    /// again (`s`).
    pub stopped_here: Vec<crate::model::ServingStatus>,
    /// The last five minutes, hour and day of each version's serving, in steps fixed in time
    /// (the serving charts; `T` picks the range).
    pub coarse: BTreeMap<VersionKey, super::chart_range::Coarse>,
    /// What the serving charts span.
    pub chart_range: super::chart_range::ChartRange,
    /// A one-line message for the user (errors from commands, results).
    pub toast: Option<String>,
    /// When it was shown (monotonic seconds): it goes after a while.
    pub toast_since: Option<f64>,
    /// The guided tour's current step, when the console runs the demo.
    pub guide: Option<usize>,
    /// The dialog or view over the screen, when one is open.
    pub overlay: Option<Overlay>,
    /// A version marked for comparison on the versions pane (`c`).
    pub compare_mark: Option<(String, u32)>,
    /// The latest step of the running operation or check.
    pub progress: Option<crate::model::Step>,
    /// The labelled CSV the evaluate dialog offers first (the last one used, or the demo's).
    pub evaluate_data: String,
    pub last_fetch: Option<f64>,
    /// The last message was a refresh that brought nothing new: the screen it would draw is
    /// the one shown (an idle console's refreshes then cost no frame).
    pub unchanged: bool,
    pub quit: bool,
}

/// Where the console acts and how it looks.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The alert rules the fleet is judged by (the same `flightdeck watch` uses).
    pub alert_rules: Vec<crate::model::AlertRule>,
    pub environment: String,
    pub read_only: bool,
    pub theme: String,
    pub keymap: Keymap,
    pub refresh_seconds: f64,
    /// Alert thresholds for the fleet's markers: error ratio, and p99 in seconds.
    pub alert_error_ratio: f64,
    pub alert_p99_seconds: f64,
    /// Typed confirmation (the environment's `confirm = "typed"`).
    pub typed_confirmation: bool,
    /// Every configured environment, for `:env NAME`: (name, read-only, typed confirmation).
    pub environments: Vec<(String, bool, bool)>,
}

/// When each source last answered, or why it failed.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub registry: SourceStatus,
    /// When the servers (or the cluster) were last listed: the cluster pane's age.
    pub servers_status: SourceStatus,
    /// Why the cluster cannot be read now (Kubernetes environments), shown in the header.
    pub cluster_problem: Option<String>,
    /// Each model's metrics source.
    pub metrics: BTreeMap<String, SourceStatus>,
    pub drift_status: SourceStatus,
    pub versions_status: SourceStatus,
    pub journal_status: SourceStatus,
    pub requests_status: SourceStatus,
}

/// The open model's panes: their data, selection and filter.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// Drift reports of the open model.
    pub drift: BTreeMap<String, Vec<DriftReport>>,
    /// Each feature's drift statistic over the reports seen, oldest first, at most
    /// [`DRIFT_TREND`] points, by (model, version, feature).
    pub drift_trend: BTreeMap<(String, u32, String), VecDeque<f32>>,
    /// Registry versions of the open model.
    pub versions: BTreeMap<String, Vec<ModelVersion>>,
    /// Journal rows of the open model, newest first.
    pub journal: BTreeMap<String, Vec<crate::model::JournalEntry>>,
    /// The open model's newest logged requests, newest first (the request log).
    pub requests: BTreeMap<String, Vec<crate::model::LoggedRequest>>,
    /// What the requests shown were searched for in the whole log (`None`: the newest).
    pub requests_search: Option<String>,
    /// While the requests pane is held (a row below the newest selected), how many newer
    /// requests the log has that it does not show.
    pub requests_newer: usize,
    /// Selected row inside the open pane (feature, version or journal row), as shown.
    pub selected: usize,
    /// What that row is: the selection follows it when rows refresh or re-sort.
    pub identity: Option<super::panes::RowId>,
    /// The `/` filter of the open pane's rows.
    pub filter: String,
}

impl State {
    /// The operation dialog, when it is what is open.
    pub fn modal(&self) -> Option<&OpModal> {
        match &self.overlay {
            Some(Overlay::Operation(modal)) => Some(modal),
            _ => None,
        }
    }

    pub fn modal_mut(&mut self) -> Option<&mut OpModal> {
        match &mut self.overlay {
            Some(Overlay::Operation(modal)) => Some(modal),
            _ => None,
        }
    }

    /// The smoke-test or evaluation dialog, when it is what is open.
    pub fn check(&self) -> Option<&CheckModal> {
        match &self.overlay {
            Some(Overlay::Check(check)) => Some(check),
            _ => None,
        }
    }

    pub fn check_mut(&mut self) -> Option<&mut CheckModal> {
        match &mut self.overlay {
            Some(Overlay::Check(check)) => Some(check),
            _ => None,
        }
    }

    /// The model and the two versions being compared, when a comparison is open.
    pub fn comparing(&self) -> Option<(&str, u32, u32)> {
        match &self.overlay {
            Some(Overlay::Compare { model, left, right }) => Some((model, *left, *right)),
            _ => None,
        }
    }

    /// The shadow running beside `model`'s production, as its server's last scrape said.
    pub fn shadow_of(&self, model: &str) -> Option<&crate::clients::metrics::ShadowNumbers> {
        self.scrapes
            .get(model)
            .and_then(|s| s.snapshot.shadow.get(model))
    }

    /// The model whose detail is open, if any.
    pub fn open_model(&self) -> Option<&str> {
        match &self.view {
            View::Model { name, .. } => Some(name),
            View::Fleet | View::Everywhere => None,
        }
    }

    /// The state for `settings`' environment: its theme, keys, alert thresholds and how
    /// operations are confirmed. The console and `flightdeck status|snapshot` start here, so
    /// both judge health by the same thresholds.
    pub fn from_settings(settings: &crate::settings::Settings, refresh_seconds: f64) -> Self {
        let env = &settings.environment;
        let mut state = Self::new(
            &env.name,
            env.read_only,
            &settings.theme,
            settings.keymap.clone(),
            refresh_seconds,
        );
        state.config.alert_rules = settings.alerts.clone();
        state.config.alert_error_ratio = settings.thresholds.error_rate_warn;
        state.config.alert_p99_seconds = settings.thresholds.p99_warn_ms / 1000.0;
        state.config.typed_confirmation = env.confirm == crate::settings::Confirm::Typed;
        state.config.environments = settings
            .environments
            .values()
            .map(|e| {
                (
                    e.name.clone(),
                    e.read_only,
                    e.confirm == crate::settings::Confirm::Typed,
                )
            })
            .collect();
        state
    }

    pub fn new(
        environment: &str,
        read_only: bool,
        theme: &str,
        keymap: Keymap,
        refresh_seconds: f64,
    ) -> Self {
        Self {
            alerts: Default::default(),
            watched: Vec::new(),
            rollout_armed: None,
            config: ConsoleConfig {
                // None until the settings give them (`from_settings`).
                alert_rules: Vec::new(),
                environment: environment.to_string(),
                read_only,
                theme: theme.to_string(),
                keymap,
                refresh_seconds,
                alert_error_ratio: 0.01,
                alert_p99_seconds: 0.25,
                typed_confirmation: false,
                environments: Vec::new(),
            },
            sources: Sources::default(),
            detail: Detail::default(),
            now: DateTime::<Utc>::UNIX_EPOCH,
            monotonic: 0.0,
            size: (80, 24),
            view: View::Fleet,
            mode: Mode::Normal,
            filter: String::new(),
            sort: SortColumn::Name,
            sort_reversed: false,
            selected: 0,
            fleet_identity: None,
            models: Vec::new(),
            everywhere: None,
            servers: BTreeMap::new(),
            interrupted: Vec::new(),
            rollouts: Default::default(),
            scrapes: BTreeMap::new(),
            serving: BTreeMap::new(),
            stopped_here: Vec::new(),
            coarse: BTreeMap::new(),
            chart_range: Default::default(),
            toast: None,
            toast_since: None,
            guide: None,
            overlay: None,
            compare_mark: None,
            progress: None,
            evaluate_data: String::new(),
            last_fetch: None,
            unchanged: false,
            quit: false,
        }
    }
}
