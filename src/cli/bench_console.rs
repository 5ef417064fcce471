//! `flightdeck bench-console`: the console's costs on a synthetic fleet (1,000 models x 20
//! versions x 20 features by default). The registry is a real SQLite registry written through the
//! registry's own insert code; live data is what 1,000 servers' `/metrics` would say, parsed by
//! the same parser. Measures the first frame, frame builds at 200x60, a refresh round, a key, and
//! resident memory as the time series fill (they are bounded).

use super::say;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ui::DrawnList;
use chrono::Utc;
use clap::Args;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde::Serialize;

use super::table::render;
use super::{Failure, failure, print_json, runtime};
use crate::app::msg::FleetData;
use crate::app::state::{Pane, View};
use crate::app::{Msg, State, update};
use crate::clients::metrics::parse;
use crate::keymap::{Key, Keymap};
use crate::model::{
    DataType, DriftReport, ModelName, ServerRecord, ServingPlan, ServingStatus, Signature,
    TensorSpec,
};
use crate::store::Registry;
use crate::store::registry::versions::{NewVersion, insert_version};
use crate::theme::Theme;

#[derive(Debug, Args)]
pub struct BenchConsoleArgs {
    #[arg(long, default_value_t = 1000)]
    pub models: usize,
    #[arg(long, default_value_t = 20)]
    pub versions: u32,
    #[arg(long, default_value_t = 20)]
    pub features: usize,
    /// Environments in the `:fleet all` measurement, this one included (each the same fleet).
    #[arg(long, default_value_t = 3)]
    pub environments: usize,
    /// Frames drawn per measured view.
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    /// Refresh rounds fed to watch memory (the history holds 300 points per version).
    #[arg(long, default_value_t = 600)]
    pub rounds: usize,
    /// Write the synthetic registry here and keep it (to run the console on it), instead of a
    /// temporary directory.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Timing {
    what: String,
    mean_ms: f64,
    p99_ms: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    models: usize,
    versions: u32,
    features: usize,
    registry_write_s: f64,
    first_frame_ms: f64,
    timings: Vec<Timing>,
    rss_mb: Vec<(String, f64)>,
}

const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;

pub fn run(args: BenchConsoleArgs) -> Result<(), Failure> {
    let temp;
    let dir = match &args.keep {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(failure)?;
            temp.path().to_path_buf()
        }
    };
    let mut rss = vec![("start".to_string(), rss_mb())];
    let started = Instant::now();
    write_registry(&dir, &args)?;
    let registry_write_s = started.elapsed().as_secs_f64();
    rss.push(("registry written".into(), rss_mb()));

    // First frame: the console's own registry read and server listing, then one draw.
    let theme = Theme::built_in("dark", false).map_err(failure)?;
    let started = Instant::now();
    let runtime = runtime()?;
    let fleet = runtime
        .block_on(async {
            let sources = crate::sources::embedded::sources(
                &dir,
                PathBuf::from("flightdeck"),
                Duration::from_secs(30),
            )?;
            crate::console::headless::fetch_fleet(&sources).await
        })
        .map_err(failure)?;
    let mut state = State::new("local", false, "dark", Keymap::default(), 1.0);
    state.size = (WIDTH, HEIGHT);
    update(
        &mut state,
        Msg::FleetFetched {
            at: Utc::now(),
            result: Ok(fleet.clone()),
        },
    );
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).map_err(failure)?;
    let mut table = DrawnList::default();
    draw(&mut terminal, &state, &theme, &mut table)?;
    let first_frame_ms = started.elapsed().as_secs_f64() * 1e3;
    rss.push(("first frame".into(), rss_mb()));

    serve_every_model(&mut state, &fleet);
    let names: Vec<String> = fleet.models.iter().map(|m| m.name.to_string()).collect();
    let mut timings = Vec::new();
    let mut parse_times = Vec::new();
    let mut update_times = Vec::new();
    for second in 0..20 {
        let (parsed, applied) = refresh(&mut state, &names, args.features, second);
        parse_times.push(parsed);
        update_times.push(applied);
    }
    rss.push(("20 refresh rounds".into(), rss_mb()));
    timings.push(timing("parse 1 refresh of every server", &parse_times));
    timings.push(timing("apply 1 refresh of every server", &update_times));

    timings.push(frames(
        "frame: fleet",
        &mut terminal,
        &state,
        &theme,
        args.frames,
    )?);
    let key_times = (0..args.frames)
        .map(|_| {
            let started = Instant::now();
            update(&mut state, Msg::Key(Key::char('j')));
            draw(&mut terminal, &state, &theme, &mut table).map(|_| started.elapsed())
        })
        .collect::<Result<Vec<_>, _>>()?;
    timings.push(timing("key j + frame: fleet", &key_times));

    timings.extend(everywhere_timings(
        &mut state,
        &mut terminal,
        &theme,
        &args,
    )?);

    timings.extend(pane_timings(
        &mut state,
        &mut terminal,
        &theme,
        &dir,
        &names,
        &args,
    )?);

    rss.push(("frames and panes drawn".into(), rss_mb()));
    let mut second = 20;
    for checkpoint in [args.rounds / 2, args.rounds] {
        while second < checkpoint {
            refresh(&mut state, &names, args.features, second);
            second += 1;
        }
        rss.push((format!("after {checkpoint} rounds"), rss_mb()));
    }

    let report = Report {
        models: args.models,
        versions: args.versions,
        features: args.features,
        registry_write_s,
        first_frame_ms,
        timings,
        rss_mb: rss,
    };
    if args.json {
        return print_json(&report);
    }
    print(&report)
}

/// Live data: every model served (stable and canary), as the server listing reports it.
fn serve_every_model(state: &mut State, fleet: &FleetData) {
    // Live data: every model served (stable and canary), scraped once a second.
    let servers: Vec<ServingStatus> = fleet
        .models
        .iter()
        .map(|m| server(m.name.as_str()))
        .collect();
    update(
        state,
        Msg::FleetFetched {
            at: Utc::now(),
            result: Ok(FleetData {
                models: fleet.models.clone(),
                servers: Some(servers),
                interrupted: Vec::new(),
                rollouts: Vec::new(),
            }),
        },
    );
}

/// `:fleet all` over this environment and `--environments - 1` others of the same size: the
/// time from the last environment's answer (its rows applied) to the frame that shows them,
/// then frames and a key over the merged list.
fn everywhere_timings(
    state: &mut State,
    terminal: &mut Terminal<TestBackend>,
    theme: &Theme,
    args: &BenchConsoleArgs,
) -> Result<Vec<Timing>, Failure> {
    let others: Vec<String> = (1..args.environments.max(1))
        .map(|i| format!("env-{i}"))
        .collect();
    state.config.environments = std::iter::once(state.config.environment.clone())
        .chain(others.iter().cloned())
        .map(|name| (name, false, false))
        .collect();
    // Their rows as a read of theirs would bring them: the same fleet, every model served.
    let rows = crate::app::fleet::all_rows(state);
    state.mode = crate::app::state::Mode::Command("fleet all".into());
    update(state, Msg::Key(Key::plain(crate::keymap::KeyCode::Enter)));
    let mut table = DrawnList::default();
    let answered = (0..args.frames.max(1))
        .map(|_| {
            for name in &others[..others.len().saturating_sub(1)] {
                update(
                    state,
                    Msg::EnvironmentRead {
                        name: name.clone(),
                        at: Utc::now(),
                        result: Ok(rows.clone().into()),
                    },
                );
            }
            let last = others.last().cloned().unwrap_or_default();
            let result = Ok(rows.clone().into());
            let started = Instant::now();
            update(
                state,
                Msg::EnvironmentRead {
                    name: last,
                    at: Utc::now(),
                    result,
                },
            );
            draw(terminal, state, theme, &mut table).map(|_| started.elapsed())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let merged = crate::app::everywhere::rows(state).len();
    let mut timings = vec![timing(
        &format!(
            "last of {} environments answers -> frame ({merged} rows)",
            others.len() + 1
        ),
        &answered,
    )];
    timings.push(frames(
        "frame: every environment",
        terminal,
        state,
        theme,
        args.frames,
    )?);
    let key_times = (0..args.frames)
        .map(|_| {
            let started = Instant::now();
            update(state, Msg::Key(Key::char('j')));
            draw(terminal, state, theme, &mut table).map(|_| started.elapsed())
        })
        .collect::<Result<Vec<_>, _>>()?;
    timings.push(timing("key j + frame: every environment", &key_times));
    state.view = View::Fleet;
    Ok(timings)
}

/// Frames of the model screen's panes (serving, drift with its report, versions from the
/// registry), then back to the fleet.
fn pane_timings(
    state: &mut State,
    terminal: &mut Terminal<TestBackend>,
    theme: &Theme,
    dir: &std::path::Path,
    names: &[String],
    args: &BenchConsoleArgs,
) -> Result<Vec<Timing>, Failure> {
    let mut timings = Vec::new();
    let model = names.first().cloned().unwrap_or_default();
    state.view = View::Model {
        name: model.clone(),
        pane: Pane::Serving,
    };
    timings.push(frames(
        "frame: serving pane",
        terminal,
        state,
        theme,
        args.frames,
    )?);
    state.view = View::Model {
        name: model.clone(),
        pane: Pane::Drift,
    };
    update(
        state,
        Msg::DriftFetched {
            model: model.clone(),
            at: Utc::now(),
            result: Ok(vec![drift_report(&model, args.features)]),
        },
    );
    timings.push(frames(
        "frame: drift pane",
        terminal,
        state,
        theme,
        args.frames,
    )?);
    let versions = Registry::open(dir)
        .and_then(|r| {
            r.versions(&ModelName::new(&model).map_err(crate::error::EngineError::BadModelName)?)
        })
        .map_err(failure)?;
    update(
        state,
        Msg::VersionsFetched {
            model: model.clone(),
            at: Utc::now(),
            result: Ok(versions),
        },
    );
    state.view = View::Model {
        name: model,
        pane: Pane::Versions,
    };
    timings.push(frames(
        "frame: versions pane",
        terminal,
        state,
        theme,
        args.frames,
    )?);
    state.view = View::Fleet;
    Ok(timings)
}

/// The report as tables.
fn print(report: &Report) -> Result<(), Failure> {
    say!(
        "synthetic fleet: {} models x {} versions x {} features (registry written in {:.1} s)",
        report.models,
        report.versions,
        report.features,
        report.registry_write_s
    );
    say!(
        "first frame (registry read + server listing + draw at {WIDTH}x{HEIGHT}): {:.1} ms",
        report.first_frame_ms
    );
    let rows: Vec<Vec<String>> = report
        .timings
        .iter()
        .map(|t| {
            vec![
                t.what.clone(),
                format!("{:.3}", t.mean_ms),
                format!("{:.3}", t.p99_ms),
            ]
        })
        .collect();
    say!("{}", render(&["STEP", "MEAN MS", "P99 MS"], &rows));
    let rows: Vec<Vec<String>> = report
        .rss_mb
        .iter()
        .map(|(when, mb)| vec![when.clone(), format!("{mb:.1}")])
        .collect();
    say!("{}", render(&["WHEN", "RSS MB"], &rows));
    Ok(())
}

/// One refresh round: every server's exposition parsed, then applied; returns both times.
fn refresh(
    state: &mut State,
    names: &[String],
    features: usize,
    second: usize,
) -> (Duration, Duration) {
    // Each server's answer is made, parsed and dropped in turn, as the console's scrape tasks
    // do (holding a thousand answers at once would count the benchmark's memory as the
    // console's); only the parsing is timed.
    let mut parsed = Duration::ZERO;
    let snapshots: Vec<_> = names
        .iter()
        .map(|name| {
            let text = exposition(name, features, second as u64);
            let started = Instant::now();
            let snapshot = parse(&text);
            parsed += started.elapsed();
            snapshot
        })
        .collect();
    let started = Instant::now();
    for (name, snapshot) in names.iter().zip(snapshots) {
        update(
            state,
            Msg::MetricsScraped {
                model: name.clone(),
                endpoint: format!("http://{name}.invalid"),
                monotonic: second as f64,
                at: Utc::now(),
                result: Ok(snapshot),
            },
        );
    }
    (parsed, started.elapsed())
}

fn draw(
    terminal: &mut Terminal<TestBackend>,
    state: &State,
    theme: &Theme,
    table: &mut DrawnList,
) -> Result<(), Failure> {
    terminal
        .draw(|f| crate::ui::draw(f, state, theme, false, table))
        .map(|_| ())
        .map_err(failure)
}

/// `n` frames of the current view, each built from scratch (a new buffer every time).
fn frames(
    what: &str,
    terminal: &mut Terminal<TestBackend>,
    state: &State,
    theme: &Theme,
    n: usize,
) -> Result<Timing, Failure> {
    let mut table = DrawnList::default();
    let times = (0..n.max(1))
        .map(|_| {
            let started = Instant::now();
            draw(terminal, state, theme, &mut table).map(|_| started.elapsed())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(timing(what, &times))
}

fn timing(what: &str, times: &[Duration]) -> Timing {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    let p99 = ms
        .get(((ms.len().max(1) - 1) as f64 * 0.99).round() as usize)
        .copied()
        .unwrap_or(0.0);
    Timing {
        what: what.to_string(),
        mean_ms: mean,
        p99_ms: p99,
    }
}

/// Resident memory of this process, from /proc (0 where there is none).
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Registers `models x versions` versions with a `features`-wide signature and a baseline
/// profiled from a synthetic reference CSV, in one transaction through the registry's insert.
fn write_registry(dir: &Path, args: &BenchConsoleArgs) -> Result<(), Failure> {
    let names: Vec<String> = (0..args.features).map(|i| format!("f{i:02}")).collect();
    let signature = Signature {
        inputs: vec![TensorSpec {
            name: "X".into(),
            datatype: DataType::Fp32,
            shape: vec![-1, args.features as i64],
        }],
        outputs: vec![TensorSpec {
            name: "score".into(),
            datatype: DataType::Fp32,
            shape: vec![-1, 1],
        }],
        classifier: None,
        notes: Vec::new(),
        categories: Default::default(),
    };
    std::fs::create_dir_all(dir).map_err(failure)?;
    let reference = dir.join("bench-reference.csv");
    let mut csv = names.join(",");
    csv.push('\n');
    for row in 0..500u64 {
        let values: Vec<String> = (0..args.features as u64)
            .map(|f| format!("{:.3}", ((row * 7919 + f * 104_729) % 1000) as f64 / 10.0))
            .collect();
        csv.push_str(&values.join(","));
        csv.push('\n');
    }
    std::fs::write(&reference, csv).map_err(failure)?;
    let profile = crate::engine::profile::profile_csv(&reference, &signature, &Default::default())
        .map_err(|e| failure(e.to_string()))?;
    let mut registry = Registry::open(dir).map_err(failure)?;
    let width = (args.models.max(1) as f64).log10().ceil() as usize + 1;
    registry
        .write("writing the benchmark's synthetic fleet", |tx| {
            for m in 0..args.models {
                let model = ModelName::new(&format!("model-{m:0width$}"))
                    .map_err(crate::error::EngineError::BadModelName)?;
                for v in 1..=args.versions {
                    let new = NewVersion {
                        model: model.clone(),
                        sha256: format!("{:064x}", (m as u128) << 32 | u128::from(v)),
                        size_bytes: 4096,
                        description: None,
                        signature: signature.clone(),
                        lineage: crate::model::Lineage {
                            data_hash: Some(format!("d{v}")),
                            code_commit: Some(format!("{:07x}", m * 31 + v as usize)),
                            pipeline_version: Some("fp-1".into()),
                            author: "bench".into(),
                            created_at: Utc::now(),
                        },
                        metrics: [("auc".to_string(), 0.8 + f64::from(v) / 1000.0)].into(),
                        profile: Some(profile.clone()),
                        sentinels: None,
                    };
                    insert_version(tx, &new, "bench")?;
                }
            }
            Ok(())
        })
        .map_err(failure)?;
    // Production and canary aliases, as operations would have left them.
    let actor = crate::store::Actor::new("bench", "local");
    for m in 0..args.models {
        let model = ModelName::new(&format!("model-{m:0width$}")).map_err(failure)?;
        for (alias, version) in [
            (
                crate::model::AliasName::production(),
                args.versions.saturating_sub(1).max(1),
            ),
            (crate::model::AliasName::canary(), args.versions),
        ] {
            registry
                .move_alias(
                    &crate::store::registry::aliases::AliasChange {
                        model: model.clone(),
                        alias,
                        to_version: Some(version),
                        expect: crate::store::registry::aliases::Expectation::Any,
                    },
                    &actor,
                )
                .map_err(failure)?;
        }
    }
    Ok(())
}

/// A served model as the server listing reports it (stable and a 10% canary).
fn server(model: &str) -> ServingStatus {
    let plan = ServingPlan {
        stable: 19,
        canary: Some(20),
        canary_percent: 10,
    };
    ServingStatus {
        model: model.into(),
        plan,
        serving: Some(plan),
        record: Some(ServerRecord {
            model: model.into(),
            supervisor_pid: 1,
            server_pid: Some(2),
            port: Some(9),
            started_plan: plan,
            started_at: Utc::now(),
            restarts: 0,
            last_exit: None,
            state: "running".into(),
        }),
        supervisor_alive: true,
        healthy: true,
        problem: None,
        kube: None,
    }
}

/// What a server's `/metrics` says after `second` seconds of 100 req/s: requests by code,
/// latency histograms, roles, traffic shares, drift per feature and method.
fn exposition(model: &str, features: usize, second: u64) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(16 * 1024);
    for (version, role, share) in [("19", "stable", 0.9), ("20", "canary", 0.1)] {
        let total = (second * 100) as f64 * share;
        let l = format!("model=\"{model}\",version=\"{version}\"");
        let _ = writeln!(
            out,
            "flightdeck_requests_total{{{l},code=\"200\"}} {}",
            total * 0.99
        );
        let _ = writeln!(
            out,
            "flightdeck_requests_total{{{l},code=\"500\"}} {}",
            total * 0.01
        );
        let _ = writeln!(out, "flightdeck_model_info{{{l},role=\"{role}\"}} 1");
        let _ = writeln!(out, "flightdeck_traffic_share_ratio{{{l}}} {share}");
        let _ = writeln!(out, "# TYPE flightdeck_request_duration_seconds histogram");
        let mut cumulative = 0.0;
        for (i, le) in [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        ]
        .iter()
        .enumerate()
        {
            cumulative += total / 2f64.powi(i as i32 + 1);
            let _ = writeln!(
                out,
                "flightdeck_request_duration_seconds_bucket{{{l},le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "flightdeck_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {total}"
        );
        let _ = writeln!(
            out,
            "flightdeck_request_duration_seconds_sum{{{l}}} {}",
            total * 0.002
        );
        let _ = writeln!(
            out,
            "flightdeck_request_duration_seconds_count{{{l}}} {total}"
        );
        for f in 0..features {
            for method in ["psi", "ks_statistic", "ks_p_value", "missing_rate"] {
                let _ = writeln!(
                    out,
                    "flightdeck_feature_drift{{{l},feature=\"f{f:02}\",method=\"{method}\"}} 0.0{f}"
                );
            }
        }
        let _ = writeln!(out, "flightdeck_drift_share{{{l}}} 0.05");
        let _ = writeln!(out, "flightdeck_drift_verdict{{{l},verdict=\"warn\"}} 1");
        let _ = writeln!(out, "flightdeck_drift_window_samples{{{l}}} 2000");
    }
    out
}

/// A drift report with `features` numeric features, as a server would send it.
fn drift_report(model: &str, features: usize) -> DriftReport {
    let feature = |i: usize| {
        serde_json::json!({
            "name": format!("f{i:02}"), "kind": "numeric", "method": "psi",
            "statistic": 0.01 * i as f64, "threshold": 0.25, "psi": 0.01 * i as f64,
            "ks_statistic": 0.05, "ks_p_value": 0.2, "missing_rate": 0.0, "out_of_range_rate": 0.01,
            "n": 2000, "verdict": if i.is_multiple_of(7) { "warn" } else { "ok" },
            "histogram": {
                "bins": (0..10).map(|b| format!("{b}..{}", b + 1)).collect::<Vec<_>>(),
                "reference": vec![0.1; 10], "live": vec![0.1; 10]
            }
        })
    };
    serde_json::from_value(serde_json::json!({
        "model": model, "version": 19, "window_samples": 2000, "window_seconds": 60.0,
        "drift_share": 0.0, "verdict": "warn", "thresholds": crate::model::DriftThresholds::default(),
        "features": (0..features).map(feature).collect::<Vec<_>>()
    }))
    .unwrap_or_else(|_| DriftReport {
        model: model.into(),
        version: 19,
        window_samples: 0,
        window_seconds: 0.0,
        drift_share: 0.0,
        verdict: crate::model::Verdict::InsufficientData,
        thresholds: crate::model::DriftThresholds::default(),
        features: Vec::new(),
        predictions: Vec::new(),
        answers_versus: None,
    })
}
