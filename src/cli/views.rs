//! Headless views: `flightdeck status`, `drift` and `snapshot`, from the same view models as the
//! console, for scripts and for pasting into an incident channel.

use super::say;
use std::time::Duration;

use crate::ui::DrawnList;
use clap::Args;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::table::{or_dash, render};
use super::{Failure, failure, model_name, print_json, program, runtime};
use crate::app::fleet::{self, Health};
use crate::console::headless;
use crate::model::{
    AnswerComparison, DriftReport, DriftThresholds, FeatureDrift, ModelName, Verdict,
};
use crate::serving::LocalServing;
use crate::settings::Settings;
use crate::theme::Theme;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this model.
    pub model: Option<String>,
    /// Seconds between the two scrapes that rates are computed from.
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
    #[arg(long)]
    pub json: bool,
    /// Every configured environment, read at once, with an ENV column: one that cannot be read
    /// is named with its error (exit 1) and never holds back the others.
    #[arg(long)]
    pub all_envs: bool,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[arg(long, default_value_t = 120)]
    pub width: u16,
    #[arg(long, default_value_t = 30)]
    pub height: u16,
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
    /// The fleet's rows as data (what the picture shows, with the header's sources).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    pub model: String,
    #[arg(long)]
    pub json: bool,
}

fn collect(settings: &Settings, interval: f64) -> Result<crate::app::State, Failure> {
    let program = program()?;
    let interval = Duration::from_secs_f64(interval.clamp(0.1, 60.0));
    let state = runtime()?
        .block_on(headless::collect(settings, program, interval))
        .map_err(failure)?;
    if let Some(e) = &state.sources.registry.error {
        return Err(failure(format!("cannot read the registry: {e}")));
    }
    Ok(state)
}

pub fn status(settings: &Settings, args: StatusArgs) -> Result<(), Failure> {
    if args.all_envs {
        return status_everywhere(settings, &args);
    }
    let mut state = collect(settings, args.interval)?;
    if let Some(model) = &args.model {
        let model = model_name(model)?;
        if !state.models.iter().any(|m| m.name == model) {
            return Err(crate::error::EngineError::UnknownModel(model.to_string()).into());
        }
        state.filter = model.to_string();
    }
    let rows: Vec<_> = fleet::rows(&state)
        .into_iter()
        .filter(|r| args.model.as_ref().is_none_or(|m| &r.model == m))
        .collect();
    if args.json {
        let interrupted: Vec<_> = state
            .interrupted
            .iter()
            .filter(|i| args.model.as_ref().is_none_or(|m| &i.model == m))
            .collect();
        if interrupted.is_empty() {
            return print_json(&rows);
        }
        // Rows as ever, each with the operation a killed process left half done on it.
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let mut row = serde_json::to_value(r).unwrap_or_default();
                if let Some(i) = interrupted.iter().find(|i| i.model == r.model) {
                    row["interrupted"] = serde_json::json!(i.summary);
                }
                row
            })
            .collect();
        return print_json(&rows);
    }
    let table: Vec<Vec<String>> = rows.iter().map(status_cells).collect();
    say!("{}", render(&STATUS_HEADER, &table));
    // Half-done operations first: what the aliases say may not be what serves.
    for i in state
        .interrupted
        .iter()
        .filter(|i| args.model.as_ref().is_none_or(|m| &i.model == m))
    {
        say!(
            "interrupted: {}; `flightdeck recover {} --finish|--revert`",
            i.summary,
            i.model
        );
    }
    // What serves cannot be known while the cluster cannot be read: said, and exit 1.
    if let Some(Health::Unknown(why)) = rows
        .iter()
        .map(|r| &r.health)
        .find(|h| matches!(h, Health::Unknown(_)))
    {
        return Err(failure(format!(
            "cannot tell what serves: {why} (the registry's side is shown above)"
        )));
    }
    // A served model without numbers says why, so "-" is never mistaken for "nothing wrong".
    for r in &rows {
        if let (Health::Serving, fleet::Signal::Unknown { reason }) = (&r.health, &r.signal) {
            say!("{}: no numbers: {reason}", r.model);
        }
    }
    Ok(())
}

const STATUS_HEADER: [&str; 9] = [
    "MODEL", "PROD", "CANARY", "HEALTH", "REQ/S", "P99", "ERR%", "DRIFT", "ALERTS",
];

/// A fleet row as `status` prints it.
fn status_cells(r: &fleet::FleetRow) -> Vec<String> {
    let s = r.stats;
    let stale = match &r.signal {
        fleet::Signal::Stale { age_seconds, .. } => Some(format!(
            "stale {}",
            age_seconds.map_or("?".to_string(), |a| format!("{a}s"))
        )),
        _ => None,
    };
    vec![
        r.model.clone(),
        or_dash(r.production.map(|v| format!("v{v}"))),
        or_dash(r.canary.map(|v| match r.canary_percent {
            Some(p) => format!("v{v} {p}%"),
            None => format!("v{v}"),
        })),
        match &r.health {
            Health::Serving => "up".into(),
            Health::Down(why) => format!("down: {why}"),
            Health::NotServed => "-".into(),
            Health::Unknown(_) => "unknown".into(),
        },
        or_dash(s.map(|s| format!("{:.1}", s.requests_per_second))),
        or_dash(s.and_then(|s| s.p99).map(|p| format!("{:.2}ms", p * 1e3))),
        or_dash(
            s.and_then(|s| s.error_ratio)
                .map(|e| format!("{:.2}%", e * 100.0)),
        ),
        or_dash(r.drift.map(|d| d.as_str())),
        stale
            .into_iter()
            .chain(r.alerts.iter().map(|a| a.to_string()))
            .chain(r.shadow.as_ref().map(|s| s.marker()))
            .collect::<Vec<_>>()
            .join(" "),
    ]
}

/// One environment as `status --all-envs --json` gives it.
#[derive(serde::Serialize)]
struct EnvironmentStatus {
    name: String,
    read_only: bool,
    /// Why it could not be read; its models are then missing from `models`.
    error: Option<String>,
    /// Why its serving numbers could not be read, when its registry could: its rows are
    /// there, without numbers.
    metrics_error: Option<String>,
    models: usize,
}

/// `status --all-envs`: every configured environment read at once (each within its own
/// deadline), the rows with their environment; an unreadable one is named with its error and
/// makes the exit 1, after the others are shown.
fn status_everywhere(settings: &Settings, args: &StatusArgs) -> Result<(), Failure> {
    let program = program()?;
    let interval = Duration::from_secs_f64(args.interval.clamp(0.1, 60.0));
    let mut names: Vec<(String, bool)> = settings
        .environments
        .values()
        .map(|e| (e.name.clone(), e.read_only))
        .collect();
    if !names.iter().any(|(n, _)| *n == settings.environment.name) {
        names.push((
            settings.environment.name.clone(),
            settings.environment.read_only,
        ));
    }
    names.sort();
    let reads =
        runtime()?.block_on(futures_util::future::join_all(names.iter().map(
            |(name, _)| headless::environment_rows(settings, name, program.clone(), interval),
        )));
    let mut environments = Vec::new();
    let mut models: Vec<(String, fleet::FleetRow)> = Vec::new();
    for ((name, read_only), read) in names.into_iter().zip(reads) {
        let (count, error, metrics_error) = match read {
            Ok(read) => {
                let rows: Vec<_> = read
                    .rows
                    .into_iter()
                    .filter(|r| args.model.as_ref().is_none_or(|m| &r.model == m))
                    .collect();
                let count = rows.len();
                models.extend(rows.into_iter().map(|r| (name.clone(), r)));
                (count, None, read.metrics_problem)
            }
            Err(e) => (0, Some(e), None),
        };
        environments.push(EnvironmentStatus {
            name,
            read_only,
            error,
            metrics_error,
            models: count,
        });
    }
    // A model by name across environments: the same model's rows side by side.
    models.sort_by(|(ea, a), (eb, b)| a.model.cmp(&b.model).then_with(|| ea.cmp(eb)));
    let failed: Vec<&EnvironmentStatus> =
        environments.iter().filter(|e| e.error.is_some()).collect();
    if args.json {
        let rows: Vec<serde_json::Value> = models
            .iter()
            .map(|(env, r)| {
                let mut row = serde_json::to_value(r).unwrap_or_default();
                row["environment"] = serde_json::json!(env);
                row
            })
            .collect();
        print_json(&serde_json::json!({ "environments": environments, "models": rows }))?;
    } else {
        let table: Vec<Vec<String>> = models
            .iter()
            .map(|(env, r)| {
                std::iter::once(env.clone())
                    .chain(status_cells(r))
                    .collect()
            })
            .collect();
        let header: Vec<&str> = std::iter::once("ENV").chain(STATUS_HEADER).collect();
        say!("{}", render(&header, &table));
        for e in environments.iter().filter(|e| e.error.is_none()) {
            if let Some(why) = &e.metrics_error {
                say!("{}: {why}", e.name);
            }
        }
        for e in &failed {
            say!(
                "{}: cannot be read: {}",
                e.name,
                e.error.as_deref().unwrap_or_default()
            );
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        let names: Vec<&str> = failed.iter().map(|e| e.name.as_str()).collect();
        Err(failure(format!(
            "{} of {} environments could not be read: {} (the others are shown)",
            failed.len(),
            environments.len(),
            names.join(", ")
        )))
    }
}

pub fn snapshot(settings: &Settings, args: SnapshotArgs) -> Result<(), Failure> {
    if args.width < crate::ui::MIN_WIDTH || args.height < crate::ui::MIN_HEIGHT {
        return Err(failure(format!(
            "a snapshot needs at least --width {} --height {}",
            crate::ui::MIN_WIDTH,
            crate::ui::MIN_HEIGHT
        )));
    }
    let state = collect(settings, args.interval)?;
    let theme = Theme::built_in("mono", true).map_err(failure)?;
    // Every model on the picture: a row cut off a channel's paste is an incident unseen. Its
    // header, the table's borders and header row and the footer, around the rows.
    let needed = u16::try_from(fleet::rows(&state).len() + 5).unwrap_or(u16::MAX);
    let height = args.height.max(needed);
    let mut terminal = Terminal::new(TestBackend::new(args.width, height)).map_err(failure)?;
    let mut table = DrawnList::default();
    terminal
        .draw(|f| crate::ui::draw(f, &state, &theme, settings.ascii, &mut table))
        .map_err(failure)?;
    let buffer = terminal.backend().buffer();
    let lines: Vec<String> = (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect()
        })
        .collect();
    if args.json {
        return print_json(&serde_json::json!({
            "at": state.now,
            "environment": state.config.environment,
            "header": lines.first().map(|l| l.trim()).unwrap_or_default(),
            "rows": fleet::rows(&state),
        }));
    }
    for line in for_a_channel(&lines) {
        say!("{line}");
    }
    Ok(())
}

/// The picture as an incident channel wants it: no key footer (the last line), no selection
/// marker, no empty rows padding the table to the terminal's height, no trailing spaces.
fn for_a_channel(lines: &[String]) -> Vec<String> {
    let body = &lines[..lines.len().saturating_sub(1)];
    body.iter()
        .filter(|line| {
            // A row of the table with nothing in it: border, spaces, border.
            let inner: String = line.chars().skip(1).collect();
            let inner = inner.trim_end();
            let inner = inner.strip_suffix(['│', '|']).unwrap_or(inner).trim();
            !(inner.is_empty() && line.starts_with(['│', '|']))
        })
        .map(|line| {
            let mut chars: Vec<char> = line.chars().collect();
            if chars.len() > 2 && matches!(chars[0], '│' | '|') && matches!(chars[1], '▶' | '>')
            {
                chars[1] = ' ';
            }
            chars.into_iter().collect::<String>().trim_end().to_string()
        })
        .collect()
}

pub fn drift(settings: &Settings, args: DriftArgs) -> Result<(), Failure> {
    let model = model_name(&args.model)?;
    let reports = read_drift(settings, &model)?;
    if args.json {
        return print_json(&reports);
    }
    if reports.is_empty() {
        say!(
            "{model}: no loaded version has a baseline profile (register with --reference to score drift)"
        );
    }
    for report in &reports {
        say!(
            "{model} v{}: {} over {} rows ({:.0}s); {:.0}% of features drifted",
            report.version,
            report.verdict.as_str(),
            report.window_samples,
            report.window_seconds,
            report.drift_share * 100.0
        );
        if let Some(level) = report
            .features
            .iter()
            .chain(&report.predictions)
            .find_map(|f| f.significance)
        {
            let columns = report.features.len() + report.predictions.len();
            say!(
                "  each column judged at p < {} ({} shared by {columns}): a statistic past its threshold counts only if sampling alone is that unlikely",
                crate::model::drift::p_value_text(level),
                report.thresholds.ks_p_value
            );
        }
        if let Some(compared) = &report.answers_versus {
            say!("{}", answers_text(compared, report.version));
        }
        // The features, then the answers (prediction drift) under the kind "prediction".
        let rows: Vec<Vec<String>> = report
            .features
            .iter()
            .map(|f| (f, f.kind.as_str()))
            .chain(report.predictions.iter().map(|f| (f, "prediction")))
            .map(|(f, kind)| drift_row(f, kind, &report.thresholds))
            .collect();
        say!(
            "{}\n",
            render(
                &[
                    "FEATURE",
                    "KIND",
                    "METHOD",
                    "STATISTIC",
                    "THRESHOLD",
                    "KS D",
                    "P-VALUE",
                    "MISSING",
                    "OUT OF RANGE",
                    "N",
                    "BY",
                    "VERDICT"
                ],
                &rows
            )
        );
    }
    Ok(())
}

/// A canary's answers against production's, one line per signal: "label: class 1 4.1% vs
/// 3.9%, ...".
fn answers_text(compared: &AnswerComparison, version: u32) -> String {
    let mut lines = vec![compared.describe(version)];
    for o in &compared.outputs {
        let shares: Vec<String> = o
            .shares
            .iter()
            .map(|(name, this, versus)| {
                if o.is_classes() {
                    format!("{name} {:.1}% vs {:.1}%", this * 100.0, versus * 100.0)
                } else {
                    format!("{name} {this:.4} vs {versus:.4}")
                }
            })
            .collect();
        let distance = if o.is_classes() {
            format!("differs on >= {:.1}% of rows", o.distance * 100.0)
        } else {
            format!("KS D {:.4}", o.distance)
        };
        lines.push(format!(
            "  {}: {}; {distance}, p {}",
            o.name,
            shares.join(", "),
            crate::model::drift::p_value_text(o.p_value)
        ));
    }
    lines.join("\n")
}

/// Each loaded version's drift report: from the model's local server, or in a Kubernetes
/// environment through Prometheus (servers inside a cluster are never called directly).
fn read_drift(settings: &Settings, model: &ModelName) -> Result<Vec<DriftReport>, Failure> {
    let program = program()?;
    let serving = LocalServing::new(&settings.data_dir, program.clone());
    let timeout = Duration::from_millis(settings.refresh.source_timeout_ms);
    runtime()?.block_on(async {
        if settings.environment.serving == crate::settings::ServingBackend::Kubernetes {
            let sources = crate::sources::factory::for_environment(
                &settings.environment,
                &settings.data_dir,
                program.clone(),
                timeout,
                settings.thresholds.drift(),
            )
            .map_err(failure)?;
            return sources
                .drift
                .drift(model.to_string(), String::new())
                .await
                .map_err(|e| failure(format!("cannot read the drift of {model}: {e}")));
        }
        let endpoint = super::server::running_endpoint(&serving, model, "").await?;
        let client = crate::clients::http::client().map_err(failure)?;
        crate::clients::model_server::drift(&client, &endpoint, model.as_str(), timeout)
            .await
            .map_err(|e| {
                failure(format!(
                    "cannot read the drift of {model} from {endpoint}: {e}"
                ))
            })
    })
}

/// One row of the drift table. With no live rows nothing is measured: a statistic would be
/// noise from the smoothing of empty bins, so it shows as `-`.
fn drift_row(f: &FeatureDrift, kind: &str, t: &DriftThresholds) -> Vec<String> {
    let measured = f.n > 0;
    vec![
        f.name.clone(),
        kind.to_string(),
        f.method.clone(),
        or_dash(measured.then(|| format!("{:.4}", f.statistic))),
        format!("{}", f.threshold),
        or_dash(
            f.ks_statistic
                .filter(|_| measured)
                .map(|d| format!("{d:.4}")),
        ),
        or_dash(
            f.ks_p_value
                .or(f.js_p_value)
                .or(f.chi2_p_value)
                .filter(|_| measured)
                .map(crate::model::drift::p_value_text),
        ),
        or_dash(measured.then(|| format!("{:.1}%", f.missing_rate * 100.0))),
        or_dash(measured.then(|| format!("{:.1}%", f.out_of_range_rate * 100.0))),
        f.n.to_string(),
        or_dash(decided_by(f, t)),
        f.verdict.as_str().to_string(),
    ]
}

/// Which test made a warn or drift verdict: PSI, KS (p-value with a large enough D) or JS; a
/// KS verdict next to a small PSI reads as a contradiction otherwise.
fn decided_by(f: &FeatureDrift, t: &DriftThresholds) -> Option<&'static str> {
    if !matches!(f.verdict, Verdict::Drift | Verdict::Warn) {
        return None;
    }
    let level = f.significance.unwrap_or(t.ks_p_value);
    if let Some(js) = f.js_distance {
        return (js >= t.js_drift).then_some("JS");
    }
    let psi = f.psi.unwrap_or(f.statistic);
    let psi_counts = f.psi_p_value.is_none_or(|p| p < level);
    let ks = f.ks_p_value.is_some_and(|p| p < level)
        && f.ks_statistic.is_some_and(|d| d >= t.ks_min_statistic);
    match (psi >= t.psi_drift && psi_counts, ks) {
        (true, true) => Some("PSI, KS"),
        (true, false) => Some("PSI"),
        (false, true) => Some("KS"),
        (false, false) => (psi >= t.psi_warn && psi_counts).then_some("PSI"),
    }
}
