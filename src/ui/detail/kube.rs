//! The cluster pane of a model served by KServe: mode, URL, what the traffic block really
//! serves, revisions, conditions, pods and recent events.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::model::{KubeService, ServingStatus};
use crate::theme::Theme;
use crate::ui::format;

/// Pods listed before "and N more": a pane, not a `kubectl get pods`.
const PODS_SHOWN: usize = 8;
const EVENTS_SHOWN: usize = 6;

pub fn draw(
    frame: &mut Frame<'_>,
    area: Rect,
    server: &ServingStatus,
    kube: &KubeService,
    state: &crate::app::State,
    theme: &Theme,
    block: Block<'_>,
) {
    let now = state.now;
    let mut lines = service_lines(server, kube, theme);
    lines.extend(warning_lines(server, kube, theme));
    lines.extend(traffic_lines(kube, theme));
    lines.push(condition_line(kube, theme));
    lines.extend(pod_lines(kube, now, theme));
    lines.extend(event_lines(kube, now, theme));
    frame.render_widget(
        Paragraph::new(super::filtered_lines(lines, &state.detail.filter))
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// A labelled line of the pane.
fn row(label: &str, value: Span<'static>, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{label:<12}"), theme.dim()),
        value,
    ])
}

/// Health, what serves, what the spec asks, and the InferenceService itself.
fn service_lines(server: &ServingStatus, kube: &KubeService, theme: &Theme) -> Vec<Line<'static>> {
    let plain = |text: String| Span::raw(text);
    let health = match &server.problem {
        None if server.healthy => Span::styled("Ready", theme.ok()),
        // What takes the traffic is ready; a newer revision is not.
        Some(problem) if server.healthy => Span::styled(
            format!("serving from ready revisions; not Ready: {problem}"),
            theme.warn(),
        ),
        problem => Span::styled(
            format!("not ready: {}", problem.clone().unwrap_or_default()),
            theme.danger(),
        ),
    };
    let serving = server
        .serving
        .map(|p| p.describe())
        .unwrap_or_else(|| "- (rollout in progress or versions unknown)".into());
    vec![
        row("health", health, theme),
        row(
            "serving",
            plain(format!("{serving}  (from status.traffic)")),
            theme,
        ),
        row(
            "spec asks",
            plain(if server.plan.stable == 0 {
                // Versions start at 1: 0 is a storage URI that names no registry version.
                "an unknown version (the storageUri matches no registry version through this environment's storage_uri)".into()
            } else {
                server.plan.describe()
            }),
            theme,
        ),
        // KServe's observedGeneration is the Knative Service's or the Deployment's, not the
        // InferenceService's: comparing it with the generation would say nothing true.
        row(
            "isvc",
            plain(format!(
                "{}/{} · {} mode · generation {}",
                kube.namespace,
                kube.name,
                kube.mode.as_str(),
                kube.generation,
            )),
            theme,
        ),
        row(
            "url",
            plain(kube.url.clone().unwrap_or_else(|| "-".into())),
            theme,
        ),
        row(
            "storageUri",
            plain(kube.storage_uri.clone().unwrap_or_else(|| "-".into())),
            theme,
        ),
    ]
}

/// What the user must know before acting: refused verbs, no canary, a stuck rollout.
fn warning_lines(server: &ServingStatus, kube: &KubeService, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if !kube.may_not.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(
                "your credentials may not: {} (operations needing it will be refused)",
                kube.may_not.join(", ")
            ),
            theme.warn(),
        )));
    }
    if !kube.mode.supports_canary() {
        lines.push(Line::from(Span::styled(
            format!(
                "{} mode: KServe ignores canaryTrafficPercent, so flightdeck offers no canary here",
                kube.mode.as_str()
            ),
            theme.warn(),
        )));
    }
    if server.serving.is_some() && server.serving != Some(server.plan) {
        lines.push(Line::from(Span::styled(
            "the cluster does not serve what the spec asks: a rollout is in progress or stuck",
            theme.danger(),
        )));
    }
    lines
}

/// The revisions, and what each traffic entry serves (named by its pods).
fn traffic_lines(kube: &KubeService, theme: &Theme) -> Vec<Line<'static>> {
    let plain = |text: String| Span::raw(text);
    let mut lines = Vec::new();
    // The newest revision, and the one serving at 100 % before it when that differs.
    let mut revisions = format!("latest {}", kube.latest_ready.as_deref().unwrap_or("-"));
    if let Some(rolled) = kube
        .latest_rolled_out
        .as_ref()
        .filter(|r| Some(*r) != kube.latest_ready.as_ref())
    {
        revisions.push_str(&format!(" · rolled out {rolled}"));
    }
    lines.push(row("revisions", plain(revisions), theme));
    for (i, t) in kube.traffic.iter().enumerate() {
        let label = if i == 0 { "traffic" } else { "" };
        lines.push(row(
            label,
            plain(format!(
                "{:>3}%  {}  {}{}",
                t.percent,
                t.version
                    .map(|v| format!("v{v}"))
                    .unwrap_or_else(|| "v?".into()),
                t.revision,
                match (&t.tag, t.latest) {
                    (Some(tag), _) => format!(" ({tag})"),
                    (None, true) => " (latest)".into(),
                    _ => String::new(),
                }
            )),
            theme,
        ));
    }
    lines
}

/// KServe's conditions on one line, each coloured by its status.
fn condition_line(kube: &KubeService, theme: &Theme) -> Line<'static> {
    let conditions: Vec<Span<'static>> = kube
        .conditions
        .iter()
        .flat_map(|c| {
            let style = if c.status == "True" {
                theme.ok()
            } else {
                theme.danger()
            };
            [
                Span::styled(format!("{} {}", c.kind, c.status), style),
                Span::raw("  "),
            ]
        })
        .collect();
    let mut line = vec![Span::styled(format!("{:<12}", "conditions"), theme.dim())];
    line.extend(conditions);
    Line::from(line)
}

/// The pods (the first few), with their version, state, restarts and age, and the deployments.
fn pod_lines(kube: &KubeService, now: DateTime<Utc>, theme: &Theme) -> Vec<Line<'static>> {
    let plain = |text: String| Span::raw(text);
    let mut lines = Vec::new();
    let ready = kube.pods.iter().filter(|p| p.ready).count();
    lines.push(row(
        "pods",
        plain(format!("{ready}/{} ready", kube.pods.len())),
        theme,
    ));
    for pod in kube.pods.iter().take(PODS_SHOWN) {
        let style = if pod.ready { theme.dim() } else { theme.warn() };
        let age = pod
            .started_at
            .map(|t| format::age((now - t).num_seconds().max(0)))
            .unwrap_or_else(|| "-".into());
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(
                format!(
                    "{}  {}  {}  {}  restarts {}  {age}",
                    pod.name,
                    pod.version
                        .map(|v| format!("v{v}"))
                        .unwrap_or_else(|| "v?".into()),
                    // kubectl's STATUS: the waiting reason says more than the phase.
                    pod.waiting.as_deref().unwrap_or(&pod.phase),
                    if pod.ready { "ready" } else { "not ready" },
                    pod.restarts
                ),
                style,
            ),
        ]));
    }
    if kube.pods.len() > PODS_SHOWN {
        lines.push(Line::from(Span::styled(
            format!("  and {} more", kube.pods.len() - PODS_SHOWN),
            theme.dim(),
        )));
    }
    if !kube.deployments.is_empty() {
        let text = kube
            .deployments
            .iter()
            .map(|d| format!("{} {}/{}", d.name, d.ready, d.desired))
            .collect::<Vec<_>>()
            .join("  ");
        lines.push(row("deployments", plain(text), theme));
    }
    lines
}

/// Recent events, warnings highlighted.
fn event_lines(kube: &KubeService, now: DateTime<Utc>, theme: &Theme) -> Vec<Line<'static>> {
    let plain = |text: String| Span::raw(text);
    let mut lines = Vec::new();
    lines.push(row(
        "events",
        plain(if kube.events.is_empty() {
            "none recent".into()
        } else {
            String::new()
        }),
        theme,
    ));
    for event in kube.events.iter().take(EVENTS_SHOWN) {
        let style = if event.kind == "Warning" {
            theme.warn()
        } else {
            theme.dim()
        };
        let when = event
            .at
            .map(|t| format::age((now - t).num_seconds().max(0)))
            .unwrap_or_else(|| "-".into());
        let count = if event.count > 1 {
            format!(" x{}", event.count)
        } else {
            String::new()
        };
        lines.push(Line::from(Span::styled(
            format!(
                "  {when:>5} {} {}{count}: {} ({})",
                event.kind, event.reason, event.message, event.object
            ),
            style,
        )));
    }
    lines
}
