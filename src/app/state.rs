//! Everything the console shows, and nothing it does not need: one struct, owned by the run
//! loop, changed only by `update`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::keymap::Keymap;
use crate::model::{LocalServer, ModelSummary};
use crate::sources::metrics::{ScrapeSnapshot, ServingStats, VersionKey};

/// What the main area shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Fleet,
}

/// What keys are doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing a filter after `/`.
    Filter,
    /// Typing a command after `:`.
    Command(String),
    Help,
}

/// Fleet columns the user can sort by (`o` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Name,
    RequestRate,
    P99,
    ErrorRatio,
}

impl SortColumn {
    pub fn next(self) -> Self {
        match self {
            SortColumn::Name => SortColumn::RequestRate,
            SortColumn::RequestRate => SortColumn::P99,
            SortColumn::P99 => SortColumn::ErrorRatio,
            SortColumn::ErrorRatio => SortColumn::Name,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortColumn::Name => "name",
            SortColumn::RequestRate => "req/s",
            SortColumn::P99 => "p99",
            SortColumn::ErrorRatio => "error %",
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
}

/// The last scrape of a server and when it was taken (monotonic seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeSample {
    pub monotonic: f64,
    pub snapshot: ScrapeSnapshot,
}

#[derive(Debug, Clone)]
pub struct State {
    pub environment: String,
    pub read_only: bool,
    pub theme: String,
    pub keymap: Keymap,
    pub refresh_seconds: f64,
    pub now: DateTime<Utc>,
    pub monotonic: f64,
    pub size: (u16, u16),
    pub view: View,
    pub mode: Mode,
    pub filter: String,
    pub sort: SortColumn,
    pub selected: usize,
    pub models: Vec<ModelSummary>,
    pub servers: BTreeMap<String, LocalServer>,
    pub scrapes: BTreeMap<String, ScrapeSample>,
    pub serving: BTreeMap<VersionKey, ServingStats>,
    pub registry: SourceStatus,
    pub metrics: BTreeMap<String, SourceStatus>,
    /// A one-line message for the user (errors from commands, results).
    pub toast: Option<String>,
    pub last_fetch: Option<f64>,
    pub quit: bool,
}

impl State {
    pub fn new(
        environment: &str,
        read_only: bool,
        theme: &str,
        keymap: Keymap,
        refresh_seconds: f64,
    ) -> Self {
        Self {
            environment: environment.to_string(),
            read_only,
            theme: theme.to_string(),
            keymap,
            refresh_seconds,
            now: DateTime::<Utc>::UNIX_EPOCH,
            monotonic: 0.0,
            size: (80, 24),
            view: View::Fleet,
            mode: Mode::Normal,
            filter: String::new(),
            sort: SortColumn::Name,
            selected: 0,
            models: Vec::new(),
            servers: BTreeMap::new(),
            scrapes: BTreeMap::new(),
            serving: BTreeMap::new(),
            registry: SourceStatus::default(),
            metrics: BTreeMap::new(),
            toast: None,
            last_fetch: None,
            quit: false,
        }
    }
}
