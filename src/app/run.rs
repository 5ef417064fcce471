//! The console's run loop: terminal events, a clock tick and background results arrive on one
//! select; every queued message goes through `update`; a frame is drawn only when something
//! visible changed. Background work never touches the state: it sends messages.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use ratatui::widgets::TableState;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::effect::Effect;
use super::msg::{FleetData, Msg};
use super::state::{CheckOutcome, State};
use super::update::update;
use crate::engine::Registry;
use crate::settings::Settings;
use crate::sources::Sources;
use crate::theme::Theme;

/// How often the loop wakes without input (the clock only redraws once a second).
const TICK: Duration = Duration::from_millis(250);

/// How often the rows on screen are worked out again while the view stays put, in seconds.
const ON_SCREEN_EVERY_S: i64 = 5;

/// The least time between two draws for background answers alone (input draws at once).
const DRAW_EVERY: Duration = Duration::from_millis(200);

/// Opens the console in the terminal until the user quits; the terminal is restored on exit and
/// on panic.
pub async fn run(settings: &Settings, program: PathBuf) -> Result<(), String> {
    run_with(settings, program, Launch::default()).await
}

/// How the console starts: a first message, and the demo's guided tour.
#[derive(Clone, Default)]
pub struct Launch {
    pub intro: Option<String>,
    /// Called when the guided tour reaches a step (the tour is on when this is set).
    pub on_guide_step: Option<Arc<dyn Fn(usize) + Send + Sync>>,
    /// The labelled CSV the evaluate dialog offers first.
    pub evaluate_data: Option<PathBuf>,
}

/// As [`run`], started as `launch` says.
pub async fn run_with(settings: &Settings, program: PathBuf, launch: Launch) -> Result<(), String> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let mut theme = Theme::built_in(&settings.theme, no_color)?;
    let mut terminal = ratatui::try_init().map_err(|e| format!("cannot open the terminal: {e}"))?;
    if settings.mouse {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
    }
    let result = event_loop(
        &mut terminal,
        settings,
        program,
        &mut theme,
        no_color,
        launch,
    )
    .await;
    if settings.mouse {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    }
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    settings: &Settings,
    program: PathBuf,
    theme: &mut Theme,
    no_color: bool,
    launch: Launch,
) -> Result<(), String> {
    let env = &settings.environment;
    let mut state = State::from_settings(settings, settings.refresh.metrics_ms as f64 / 1000.0);
    state.toast = launch.intro.clone();
    if let Some(data) = &launch.evaluate_data {
        state.evaluate_data = data.display().to_string();
    }
    if launch.on_guide_step.is_some() {
        state.guide = Some(0);
    }
    if let Ok(size) = terminal.size() {
        state.size = (size.width, size.height);
    }
    let ops = OpContext {
        on_guide_step: launch.on_guide_step.clone(),
        operator: crate::engine::ops::Operator::for_environment(settings, env, program.clone())?,
        program: program.clone(),
    };
    let (tx, mut rx) = unbounded_channel::<Msg>();
    let mut background = Background {
        tx,
        sources: crate::sources::embedded::for_environment(
            env,
            &settings.data_dir,
            program.clone(),
            Duration::from_millis(settings.refresh.source_timeout_ms),
            settings.thresholds.drift(),
        )?,
        data_dir: settings.data_dir.clone(),
        started: Instant::now(),
        ops,
    };
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut table = TableState::default();
    // Frames are built off screen first and reach the terminal only when they differ from the
    // last one shown: an idle console writes nothing, not even the cursor and style resets a
    // draw always sends (a quiet link matters over SSH at 3 a.m.).
    let mut shadow = ratatui::Terminal::new(ratatui::backend::TestBackend::new(1, 1))
        .map_err(|e| format!("cannot draw: {e}"))?;
    let mut shown: Option<ratatui::buffer::Buffer> = None;
    let mut dirty = true;
    let mut prioritised = std::collections::BTreeSet::new();
    let mut last_view = None;
    // Input draws at once; answers from background work (a scrape's, dozens a second on a big
    // fleet) are drawn together, at most every DRAW_EVERY, by the next wake.
    let mut drawn_at: Option<Instant> = None;
    let mut urgent = true;
    loop {
        if dirty && (urgent || drawn_at.is_none_or(|t| t.elapsed() >= DRAW_EVERY)) {
            drawn_at = Some(Instant::now());
            urgent = false;
            if theme.name != state.theme && !no_color {
                *theme = Theme::built_in(&state.theme, no_color)?;
            }
            let size = terminal.size().map_err(|e| format!("cannot draw: {e}"))?;
            if shadow.size().ok() != Some(size) {
                shadow.backend_mut().resize(size.width, size.height);
                let _ = shadow.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height));
            }
            let mut shadow_table = table;
            shadow
                .draw(|frame| {
                    crate::ui::draw(frame, &state, theme, settings.ascii, &mut shadow_table)
                })
                .map_err(|e| format!("cannot draw: {e}"))?;
            let frame = shadow.backend().buffer();
            if shown.as_ref() != Some(frame) {
                shown = Some(frame.clone());
                terminal
                    .draw(|frame| crate::ui::draw(frame, &state, theme, settings.ascii, &mut table))
                    .map_err(|e| format!("cannot draw: {e}"))?;
            }
            dirty = false;
        }
        let first = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => match convert_key(key) {
                    Some(k) => Msg::Key(k),
                    None => continue,
                },
                Some(Ok(Event::Resize(width, height))) => Msg::Resize { width, height },
                // The wheel moves the selection (only when the config turns the mouse on).
                Some(Ok(Event::Mouse(mouse))) => match mouse.kind {
                    crossterm::event::MouseEventKind::ScrollDown => Msg::Key(crate::keymap::Key::plain(crate::keymap::KeyCode::Down)),
                    crossterm::event::MouseEventKind::ScrollUp => Msg::Key(crate::keymap::Key::plain(crate::keymap::KeyCode::Up)),
                    crossterm::event::MouseEventKind::Down(crossterm::event::MouseButton::Left) => Msg::Click { row: mouse.row, offset: table.offset() },
                    _ => continue,
                },
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("terminal input failed: {e}")),
                None => return Ok(()),
            },
            _ = tick.tick() => Msg::Tick { now: Utc::now(), monotonic: background.started.elapsed().as_secs_f64() },
            Some(msg) = rx.recv() => msg,
        };
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        for msg in batch {
            let shown_second = state.now.timestamp();
            let is_tick = matches!(msg, Msg::Tick { .. });
            // Input, and the cluster's first listing (the first useful screen), draw at once.
            urgent |= matches!(msg, Msg::Key(_) | Msg::Resize { .. } | Msg::Click { .. })
                || (matches!(msg, Msg::ServersListed { .. }) && state.servers.is_empty());
            for effect in update(&mut state, msg) {
                if let Effect::SwitchEnvironment { name } = &effect {
                    match switch_environment(settings, name, &background) {
                        Ok(switched) => background = switched,
                        Err(e) => state.toast = Some(e),
                    }
                    continue;
                }
                perform(effect, &background);
            }
            dirty |= !is_tick || state.now.timestamp() != shown_second;
        }
        if state.quit {
            return Ok(());
        }
        // The cluster source asks the servers on screen every refresh, the others less often.
        // Which rows are on screen is worked out again only when the view could have moved, and
        // every few seconds otherwise (a sort by rate reorders rows): every scrape's answer is
        // a message, and sorting a thousand rows after each was most of an idle console's work.
        let view = (
            state.open_model().map(str::to_string),
            state.selected,
            state.filter.clone(),
            state.sort,
            state.size,
            state.servers.len(),
            state.now.timestamp() / ON_SCREEN_EVERY_S,
        );
        if last_view.as_ref() != Some(&view) {
            let on_screen = super::fleet::on_screen(&state);
            if on_screen != prioritised {
                background.sources.cluster.prioritise(on_screen.clone());
                prioritised = on_screen;
            }
            last_view = Some(view);
        }
    }
}

/// The registry's view and the servers as one fleet (headless callers and the benchmark).
pub async fn fetch_fleet(sources: &Sources) -> Result<FleetData, String> {
    let (view, servers) = sources.fleet().await?;
    Ok(FleetData {
        models: view.models,
        servers: Some(servers),
        interrupted: view.interrupted,
    })
}

/// The background context for another configured environment: its sources, and operations
/// acting as the same user there (with that environment's read-only and rollback settings).
fn switch_environment(
    settings: &Settings,
    name: &str,
    current: &Background,
) -> Result<Background, String> {
    let env = settings
        .environments
        .get(name)
        .ok_or_else(|| format!("no environment {name:?} in the config"))?;
    let timeout = Duration::from_millis(settings.refresh.source_timeout_ms);
    let mut next = current.clone();
    next.sources = crate::sources::embedded::for_environment(
        env,
        &settings.data_dir,
        current.ops.program.clone(),
        timeout,
        settings.thresholds.drift(),
    )?;
    next.ops.operator =
        crate::engine::ops::Operator::for_environment(settings, env, current.ops.program.clone())?;
    Ok(next)
}

/// How far back a model's charts start when it is opened (its history's length at 1 s).
const HISTORY_SECONDS: u32 = super::state::HISTORY as u32;

/// What operations need: the environment's operator, and the demo's tour hook.
#[derive(Clone)]
struct OpContext {
    on_guide_step: Option<Arc<dyn Fn(usize) + Send + Sync>>,
    /// Plans and runs every operation (the same engine code as the CLI's).
    operator: crate::engine::ops::Operator,
    /// The flightdeck executable smoke tests and evaluations start servers with.
    program: PathBuf,
}

/// Plans an operation with everything its preview shows, every gate included (a missing smoke
/// test runs now, its steps reported as progress).
async fn plan_operation(
    ctx: OpContext,
    model: String,
    request: crate::engine::ops::OpRequest,
    tx: UnboundedSender<Msg>,
) -> Result<Box<crate::engine::ops::OpPlan>, String> {
    let name = crate::model::ModelName::new(&model).map_err(|e| e.to_string())?;
    let progress = |text: &str| {
        let _ = tx.send(Msg::Progress {
            text: text.to_string(),
        });
    };
    ctx.operator
        .plan(
            &name,
            request,
            crate::engine::ops::PlanOptions::default(),
            &progress,
        )
        .await
        .map(Box::new)
        .map_err(|e| e.to_string())
}

/// Plans finishing or reverting an interrupted operation, for the same dialog as any operation.
async fn plan_recovery(
    ctx: OpContext,
    model: String,
    how: crate::engine::ops::Recovery,
) -> Result<Box<crate::engine::ops::OpPlan>, String> {
    let name = crate::model::ModelName::new(&model).map_err(|e| e.to_string())?;
    ctx.operator
        .recovery_plan(&name, how)
        .await
        .map(Box::new)
        .map_err(|e| e.to_string())
}

/// Runs a confirmed plan with the consent the user gave in the dialog.
async fn run_operation(
    ctx: OpContext,
    planned: Box<crate::engine::ops::OpPlan>,
    consent: crate::engine::ops::Consent,
) -> Result<String, String> {
    let outcome = ctx
        .operator
        .run(&planned, consent)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "{} {}: done; {}",
        outcome.operation, outcome.model, outcome.sentence
    ))
}

/// What background work needs; each task takes a clone.
#[derive(Clone)]
struct Background {
    tx: UnboundedSender<Msg>,
    /// Where every pane's data comes from (the environment's backends).
    sources: Sources,
    /// The data dir smoke tests and evaluations keep their reports in.
    data_dir: PathBuf,
    started: Instant,
    ops: OpContext,
}

/// A smoke test (no `data`) or an evaluation on `data`, reporting each step as a message.
async fn run_check(
    data_dir: PathBuf,
    program: PathBuf,
    tx: UnboundedSender<Msg>,
    model: String,
    version: u32,
    data: Option<PathBuf>,
    record: bool,
) -> Result<CheckOutcome, String> {
    let name = crate::model::ModelName::new(&model).map_err(|e| e.to_string())?;
    let mut registry = Registry::open(&data_dir).map_err(|e| e.to_string())?;
    let progress = |text: &str| {
        let _ = tx.send(Msg::Progress {
            text: text.to_string(),
        });
    };
    match data {
        None => crate::engine::smoke::smoke(
            &mut registry,
            &program,
            &name,
            version,
            &crate::engine::smoke::SmokeOptions {
                record,
                ..crate::engine::smoke::SmokeOptions::default()
            },
            &progress,
        )
        .await
        .map(CheckOutcome::Smoke),
        Some(data) => crate::engine::evaluate::evaluate(
            &mut registry,
            &program,
            &name,
            version,
            &data,
            crate::engine::evaluate::EvaluateOptions {
                label: None,
                record,
            },
            &progress,
        )
        .await
        .map(|e| CheckOutcome::Evaluation(Box::new(e))),
    }
    .map_err(|e| e.to_string())
}

/// Starts an effect in the background; its result comes back as a message.
fn perform(effect: Effect, background: &Background) {
    let Background {
        tx,
        sources,
        data_dir,
        started,
        ops,
    } = background.clone();
    match effect {
        // Handled by the run loop, which owns the background context.
        Effect::SwitchEnvironment { .. } => {}
        Effect::Quit => {}
        Effect::GuideStep(step) => {
            if let Some(hook) = &ops.on_guide_step {
                hook(step);
            }
        }
        Effect::FetchFleet => {
            // The registry shows at once; the servers follow when each has answered or timed out.
            tokio::spawn(async move {
                let result = sources.registry.fleet().await.map(|view| FleetData {
                    models: view.models,
                    servers: None,
                    interrupted: view.interrupted,
                });
                let read = result.is_ok();
                let _ = tx.send(Msg::FleetFetched {
                    at: Utc::now(),
                    result,
                });
                if read {
                    let servers = sources.cluster.servers().await;
                    let problem = sources.cluster.problem();
                    let known_at = sources.cluster.known_at();
                    let _ = tx.send(Msg::ServersListed {
                        servers,
                        problem,
                        known_at,
                    });
                }
            });
        }
        Effect::PlanRecovery { model, how } => {
            tokio::spawn(async move {
                let result = plan_recovery(ops, model, how).await;
                let _ = tx.send(Msg::OpPlanned { result });
            });
        }
        Effect::PlanOp { model, request } => {
            tokio::spawn(async move {
                let result = plan_operation(ops, model, request, tx.clone()).await;
                let _ = tx.send(Msg::OpPlanned { result });
            });
        }
        Effect::RunOp { plan, consent } => {
            tokio::spawn(async move {
                let result = run_operation(ops, plan, consent).await;
                let _ = tx.send(Msg::OpFinished { result });
            });
        }
        Effect::Smoke { model, version } => {
            tokio::spawn(async move {
                // A read-only environment runs the check and stores nothing.
                let record = !ops.operator.actor().read_only;
                let result = run_check(
                    data_dir,
                    ops.program,
                    tx.clone(),
                    model,
                    version,
                    None,
                    record,
                )
                .await;
                let _ = tx.send(Msg::CheckFinished { result });
            });
        }
        Effect::Evaluate {
            model,
            version,
            data,
        } => {
            tokio::spawn(async move {
                let data = Some(PathBuf::from(data));
                let record = !ops.operator.actor().read_only;
                let result = run_check(
                    data_dir,
                    ops.program,
                    tx.clone(),
                    model,
                    version,
                    data,
                    record,
                )
                .await;
                let _ = tx.send(Msg::CheckFinished { result });
            });
        }
        Effect::FetchVersions { model } => {
            tokio::spawn(async move {
                let result = sources.registry.versions(model.clone()).await;
                let _ = tx.send(Msg::VersionsFetched {
                    model,
                    at: Utc::now(),
                    result,
                });
            });
        }
        Effect::FetchHistory { model } => {
            tokio::spawn(async move {
                let result = sources
                    .metrics
                    .history(model.clone(), HISTORY_SECONDS)
                    .await;
                let _ = tx.send(Msg::HistoryFetched { model, result });
            });
        }
        Effect::FetchJournal { model } => {
            tokio::spawn(async move {
                let result = sources.registry.journal(model.clone(), 200).await;
                let _ = tx.send(Msg::JournalFetched {
                    model,
                    at: Utc::now(),
                    result,
                });
            });
        }
        Effect::FetchDrift { model, endpoint } => {
            tokio::spawn(async move {
                let result = sources.drift.drift(model.clone(), endpoint).await;
                let _ = tx.send(Msg::DriftFetched {
                    model,
                    at: Utc::now(),
                    result,
                });
            });
        }
        Effect::Scrape { model, endpoint } => {
            tokio::spawn(async move {
                let result = sources
                    .metrics
                    .scrape(model.clone(), endpoint.clone())
                    .await;
                let monotonic = started.elapsed().as_secs_f64();
                let _ = tx.send(Msg::MetricsScraped {
                    model,
                    endpoint,
                    monotonic,
                    at: Utc::now(),
                    result,
                });
            });
        }
    }
}

/// A terminal key event in the keymap's terms.
fn convert_key(event: crossterm::event::KeyEvent) -> Option<crate::keymap::Key> {
    use crate::keymap::{Key, KeyCode};
    use crossterm::event::{KeyCode as C, KeyModifiers as M};
    let code = match event.code {
        C::Char(c) => KeyCode::Char(c),
        C::Enter => KeyCode::Enter,
        C::Esc => KeyCode::Esc,
        C::Tab => KeyCode::Tab,
        C::BackTab => KeyCode::BackTab,
        C::Backspace => KeyCode::Backspace,
        C::Up => KeyCode::Up,
        C::Down => KeyCode::Down,
        C::Left => KeyCode::Left,
        C::Right => KeyCode::Right,
        C::PageUp => KeyCode::PageUp,
        C::PageDown => KeyCode::PageDown,
        C::Home => KeyCode::Home,
        C::End => KeyCode::End,
        C::F(n) => KeyCode::F(n),
        _ => return None,
    };
    Some(Key {
        code,
        ctrl: event.modifiers.contains(M::CONTROL),
        alt: event.modifiers.contains(M::ALT),
    })
}
