//! The console's view models without a terminal: the same messages and reducer, driven to
//! completion one step at a time, for `flightdeck status` and `flightdeck snapshot`. It performs
//! only the reads those two need (the fleet and a scrape); every other effect is the
//! interactive console's, executed in `effects.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::app::Effect;
use crate::app::msg::{FleetData, Msg};
use crate::app::state::State;
use crate::app::update;
use crate::settings::Settings;
use crate::sources::Sources;

/// Collects the fleet: registry, servers, and two scrapes `interval` apart (for rates).
pub async fn collect(
    settings: &Settings,
    program: PathBuf,
    interval: Duration,
) -> Result<State, String> {
    let sources = environment_sources(settings, &settings.environment, program)?;
    collect_from(settings, &sources, interval).await
}

/// `environment`'s sources, as `settings` configure their deadlines.
pub fn environment_sources(
    settings: &Settings,
    environment: &crate::settings::Environment,
    program: PathBuf,
) -> Result<Sources, String> {
    crate::sources::factory::for_environment(
        environment,
        &settings.data_dir,
        program,
        Duration::from_millis(settings.refresh.source_timeout_ms),
        settings.thresholds.drift(),
    )
}

/// As [`collect`], from sources already open (a console reading another environment again
/// keeps its sources: their clients and the registry's cache).
pub async fn collect_from(
    settings: &Settings,
    sources: &Sources,
    interval: Duration,
) -> Result<State, String> {
    let mut state = State::from_settings(settings, 3600.0);
    let started = Instant::now();
    let mut scrape_targets = Vec::new();
    for effect in update(
        &mut state,
        Msg::Tick {
            now: Utc::now(),
            monotonic: 0.0,
        },
    ) {
        if effect == Effect::FetchFleet {
            let result = fetch_fleet(sources).await;
            // A cluster that cannot be read makes what serves unknown, not "not served".
            state.sources.cluster_problem = sources.cluster.problem();
            for follow_up in update(
                &mut state,
                Msg::FleetFetched {
                    at: Utc::now(),
                    result,
                },
            ) {
                if let Effect::Scrape { model, endpoint } = follow_up {
                    scrape_targets.push((model, endpoint));
                }
            }
        }
    }
    // Two rounds of scrapes `interval` apart give rates; each round scrapes every server at once,
    // and the second only those that answered the first (a rate needs both; a hung server
    // would cost a second deadline for nothing).
    let metrics = &sources.metrics;
    let endpoints: std::collections::BTreeMap<String, String> =
        scrape_targets.iter().cloned().collect();
    for round in 0..2 {
        if scrape_targets.is_empty() {
            break;
        }
        if round == 1 {
            tokio::time::sleep(interval).await;
        }
        let results = futures_util::future::join_all(scrape_targets.iter().map(
            |(model, endpoint)| async move {
                let result = metrics.scrape(model.clone(), endpoint.clone()).await;
                (model.clone(), result)
            },
        ))
        .await;
        let monotonic = started.elapsed().as_secs_f64();
        scrape_targets.retain(|(model, _)| {
            results
                .iter()
                .any(|(answered, result)| answered == model && result.is_ok())
        });
        for (model, result) in results {
            let endpoint = endpoints.get(&model).cloned().unwrap_or_default();
            update(
                &mut state,
                Msg::MetricsScraped {
                    model,
                    endpoint,
                    monotonic,
                    at: Utc::now(),
                    result,
                },
            );
        }
    }
    // What `watch` says is firing: a one-shot read cannot hold a rule's `for` itself.
    if let Ok(registry) = crate::store::Registry::open(&settings.data_dir)
        && let Ok(watched) =
            crate::engine::alerts::journaled_firing(&registry, &settings.environment.name)
    {
        state.watched = watched;
    }
    state.now = Utc::now();
    Ok(state)
}

/// The registry's view and the servers as one fleet (headless callers and the benchmark).
pub async fn fetch_fleet(sources: &Sources) -> Result<FleetData, String> {
    let (view, servers) = sources.fleet().await?;
    Ok(FleetData {
        models: view.models,
        servers: Some(servers),
        interrupted: view.interrupted,
        rollouts: view.rollouts,
    })
}

/// The longest one environment's read may take, whatever its backends do: each request has its
/// own deadline (`source_timeout_ms`), and a read makes a few in a row.
pub fn environment_deadline(settings: &Settings, interval: Duration) -> Duration {
    Duration::from_millis(settings.refresh.source_timeout_ms) * 4 + interval
}

/// Another configured environment's fleet rows, as `status` would show them there: its
/// registry, its servers and two scrapes `interval` apart. An environment that cannot be read,
/// or does not answer by [`environment_deadline`], is an error naming what failed.
pub async fn environment_rows(
    settings: &Settings,
    name: &str,
    program: PathBuf,
    interval: Duration,
) -> Result<crate::app::everywhere::EnvironmentRows, String> {
    let environment = environment_named(settings, name)?;
    let sources = environment_sources(settings, environment, program)?;
    environment_rows_from(settings, name, &sources, interval).await
}

/// The configured environment called `name`.
pub fn environment_named<'a>(
    settings: &'a Settings,
    name: &str,
) -> Result<&'a crate::settings::Environment, String> {
    settings
        .environments
        .get(name)
        .or_else(|| (settings.environment.name == name).then_some(&settings.environment))
        .ok_or_else(|| format!("no environment {name:?} in the config"))
}

/// As [`environment_rows`], from that environment's sources already open.
pub async fn environment_rows_from(
    settings: &Settings,
    name: &str,
    sources: &Sources,
    interval: Duration,
) -> Result<crate::app::everywhere::EnvironmentRows, String> {
    let mut there = settings.clone();
    there.environment = environment_named(settings, name)?.clone();
    let deadline = environment_deadline(settings, interval);
    let state = tokio::time::timeout(deadline, collect_from(&there, sources, interval))
        .await
        .map_err(|_| format!("no answer within {} s", deadline.as_secs_f64().round()))??;
    if let Some(e) = &state.sources.registry.error {
        return Err(format!("cannot read the registry: {e}"));
    }
    let failing: Vec<&String> = state
        .sources
        .metrics
        .values()
        .filter_map(|s| s.error.as_ref())
        .collect();
    let metrics_problem = failing.first().map(|first| {
        format!(
            "the serving numbers of {} model(s) cannot be read: {first}",
            failing.len()
        )
    });
    Ok(crate::app::everywhere::EnvironmentRows {
        rows: crate::app::fleet::all_rows(&state),
        metrics_problem,
    })
}
