//! The console's one loop: terminal input, a clock and background answers go through
//! `app::update`; the effects it returns are started by [`super::effects`]; the screen is drawn
//! by [`super::screen`] when something changed.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use crossterm::event::EventStream;
use futures_util::StreamExt;
use tokio::sync::mpsc::unbounded_channel;

use super::effects::{Background, OpContext, Replies, Reply, open_environment, perform};
use super::screen::Screen;
use super::terminal::Console;
use crate::app::{Effect, Msg, State, update};
use crate::settings::Settings;
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
    let mut console = Console::open(settings.mouse)?;
    event_loop(&mut console.terminal, settings, program, launch).await
}

/// The state the console opens with.
fn first_state(settings: &Settings, launch: &Launch, size: Option<(u16, u16)>) -> State {
    let mut state = State::from_settings(settings, settings.refresh.metrics_ms as f64 / 1000.0);
    state.toast = launch.intro.clone();
    if let Some(data) = &launch.evaluate_data {
        state.evaluate_data = data.display().to_string();
    }
    if launch.on_guide_step.is_some() {
        state.guide = Some(0);
    }
    if let Some(size) = size {
        state.size = size;
    }
    state
}

/// The settings' own environment's sources and operator, answering on `replies`.
fn first_background(
    settings: &Settings,
    program: PathBuf,
    launch: &Launch,
    replies: Replies,
) -> Result<Background, String> {
    let env = &settings.environment;
    Ok(Background {
        replies,
        sources: crate::sources::factory::for_environment(
            env,
            &settings.data_dir,
            program.clone(),
            Duration::from_millis(settings.refresh.source_timeout_ms),
            settings.thresholds.drift(),
        )?,
        data_dir: settings.data_dir.clone(),
        started: Instant::now(),
        ops: OpContext {
            on_guide_step: launch.on_guide_step.clone(),
            operator: crate::engine::ops::Operator::for_environment(
                settings,
                env,
                program.clone(),
            )?,
            program,
            receivers: settings.receivers.clone(),
            local_serving: env.serving == crate::settings::ServingBackend::Local,
            config: settings.config_path.clone(),
        },
    })
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    settings: &Settings,
    program: PathBuf,
    launch: Launch,
) -> Result<(), String> {
    let depth = crate::theme::ColorDepth::of_environment();
    let mut asked_theme = settings.theme.clone();
    let mut theme = Theme::for_terminal(&asked_theme, depth)?;
    let size = terminal.size().ok().map(|s| (s.width, s.height));
    let mut state = first_state(settings, &launch, size);
    let (tx, mut rx) = unbounded_channel::<Reply>();
    let mut background = first_background(settings, program, &launch, Replies::new(tx))?;
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut screen = Screen::new()?;
    let mut on_screen = OnScreen::default();
    let mut pacing = Pacing::default();
    // Other environments' sources, opened for `:fleet all` on their first read.
    let opened = Opened::default();
    loop {
        if pacing.due() {
            // `:theme` asked for another: built as this terminal shows it (the name asked
            // is kept, since a fallback theme has a name of its own).
            if asked_theme != state.config.theme {
                asked_theme = state.config.theme.clone();
                theme = Theme::for_terminal(&asked_theme, depth)?;
            }
            screen.draw(terminal, &state, &theme, settings.ascii)?;
        }
        let first = tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => match super::keys::message_of(event, &screen.drawn) {
                    Some(msg) => Incoming::Now(msg),
                    None => continue,
                },
                Some(Err(e)) => return Err(format!("terminal input failed: {e}")),
                None => return Ok(()),
            },
            _ = tick.tick() => Incoming::Now(Msg::Tick { now: Utc::now(), monotonic: background.started.elapsed().as_secs_f64() }),
            Some(reply) = rx.recv() => Incoming::Reply(reply),
        };
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(Incoming::Reply(more));
        }
        for incoming in batch {
            // Judged as each is applied: an `:env` earlier in the batch makes the answers
            // after it stale.
            let Some(msg) = incoming.current(background.replies.generation()) else {
                continue;
            };
            pacing.note(&msg, &state);
            let shown_second = state.now.timestamp();
            let is_tick = matches!(msg, Msg::Tick { .. });
            let mut queue = VecDeque::from([msg]);
            while let Some(msg) = queue.pop_front() {
                let environment = state.config.environment.clone();
                for effect in update(&mut state, msg) {
                    match effect {
                        Effect::SwitchEnvironment { name } => {
                            match open_environment(settings, &name, &background) {
                                Ok(switched) => {
                                    background = switched;
                                    on_screen = OnScreen::default();
                                }
                                Err(error) => queue.push_back(Msg::SwitchFailed {
                                    name,
                                    back_to: environment.clone(),
                                    error,
                                }),
                            }
                        }
                        Effect::ReadEnvironment { name } => {
                            read_environment(settings, name, &background, &opened)
                        }
                        effect => perform(effect, &background),
                    }
                }
            }
            // A tick draws when the second changed (ages shown tick); a refresh that brought
            // nothing new draws nothing.
            pacing.dirty |= !(is_tick || state.unchanged) || state.now.timestamp() != shown_second;
        }
        if state.quit {
            return Ok(());
        }
        on_screen.follow(&state, &background);
    }
}

/// Other environments' sources by name, shared with the reads that open them.
type Opened = Arc<std::sync::Mutex<std::collections::BTreeMap<String, crate::sources::Sources>>>;

/// Reads another environment's fleet for `:fleet all` in the background; its answer names the
/// environment, so it holds whichever one the console is in when it arrives.
/// Each environment's sources are opened once, in the background (a kubeconfig or TLS roots
/// are read then, never on the loop), and kept in `opened`: their HTTP clients and the
/// registry's cache are what make a read cheap.
fn read_environment(settings: &Settings, name: String, background: &Background, opened: &Opened) {
    let settings = settings.clone();
    let replies = background.replies.clone();
    let program = background.ops.program.clone();
    let opened = opened.clone();
    tokio::spawn(async move {
        let kept = opened.lock().ok().and_then(|o| o.get(&name).cloned());
        let sources = match kept {
            Some(sources) => Ok(sources),
            None => super::headless::environment_named(&settings, &name).and_then(|environment| {
                super::headless::environment_sources(&settings, environment, program)
            }),
        };
        if let (Ok(sources), Ok(mut opened)) = (&sources, opened.lock()) {
            opened.insert(name.clone(), sources.clone());
        }
        let interval = Duration::from_secs(1);
        let result = match sources {
            Ok(sources) => {
                super::headless::environment_rows_from(&settings, &name, &sources, interval).await
            }
            Err(e) => Err(e),
        };
        replies.send(Msg::EnvironmentRead {
            name,
            at: Utc::now(),
            result,
        });
    });
}

/// What the loop handles: input and the clock, or a background answer tagged with the
/// environment it was asked in.
enum Incoming {
    Now(Msg),
    Reply(Reply),
}

impl Incoming {
    /// The message, unless it answers for an environment the console has left since.
    fn current(self, generation: u64) -> Option<Msg> {
        match self {
            Incoming::Now(msg) => Some(msg),
            Incoming::Reply(reply) => (!reply.is_stale(generation)).then_some(reply.msg),
        }
    }
}

/// When to draw: input draws at once; answers from background work (a scrape's, dozens a second
/// on a big fleet) are drawn together, at most every [`DRAW_EVERY`], by the next wake.
struct Pacing {
    dirty: bool,
    urgent: bool,
    drawn_at: Option<Instant>,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            dirty: true,
            urgent: true,
            drawn_at: None,
        }
    }
}

impl Pacing {
    /// Input, and the cluster's first listing (the first useful screen), draw at once.
    fn note(&mut self, msg: &Msg, state: &State) {
        self.urgent |= matches!(msg, Msg::Key(_) | Msg::Resize { .. } | Msg::Click { .. })
            || (matches!(msg, Msg::ServersListed { .. }) && state.servers.is_empty());
    }

    /// Whether to draw now (and, if so, counts it as drawn).
    fn due(&mut self) -> bool {
        let due =
            self.dirty && (self.urgent || self.drawn_at.is_none_or(|t| t.elapsed() >= DRAW_EVERY));
        if due {
            self.drawn_at = Some(Instant::now());
            self.urgent = false;
            self.dirty = false;
        }
        due
    }
}

/// Which models' servers the cluster source asks every refresh: the rows on screen (the others
/// less often).
#[derive(Default)]
struct OnScreen {
    prioritised: BTreeSet<String>,
    last_view: Option<View>,
}

/// What decides which rows are on screen.
type View = (
    Option<String>,
    usize,
    String,
    crate::app::state::SortColumn,
    (u16, u16),
    usize,
    i64,
);

impl OnScreen {
    /// Works out the rows on screen again only when the view could have moved, and every few
    /// seconds otherwise (a sort by rate reorders rows): every scrape's answer is a message,
    /// and sorting a thousand rows after each was most of an idle console's work.
    fn follow(&mut self, state: &State, background: &Background) {
        let view = (
            state.open_model().map(str::to_string),
            state.selected,
            state.filter.clone(),
            state.sort,
            state.size,
            state.servers.len(),
            state.now.timestamp() / ON_SCREEN_EVERY_S,
        );
        if self.last_view.as_ref() == Some(&view) {
            return;
        }
        let on_screen = crate::app::fleet::on_screen(state);
        if on_screen != self.prioritised {
            background.sources.cluster.prioritise(on_screen.clone());
            self.prioritised = on_screen;
        }
        self.last_view = Some(view);
    }
}
