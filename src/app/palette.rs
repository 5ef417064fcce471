//! The `:` palette's suggestions: the commands, and each command's arguments (themes,
//! environments, model names, a model's versions, pause/resume/stop), narrowing as the user
//! types; Tab completes as far as every suggestion agrees.

use super::state::State;

/// Commands the palette knows, for completion and help.
pub const COMMANDS: &[&str] = &[
    "models", "fleet", "serving", "drift", "versions", "cluster", "journal", "requests", "errors",
    "finish", "revert", "rollout", "shadow", "server", "help", "theme", "env", "quit", "q",
];

/// What may come next after `text`, narrowed by what is typed of the last word: each a whole
/// word, in the order offered.
pub fn suggestions(state: &State, text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let typing_new_word = text.is_empty() || text.ends_with(' ');
    let (done, partial) = if typing_new_word {
        (&words[..], "")
    } else {
        (&words[..words.len() - 1], words[words.len() - 1])
    };
    let candidates: Vec<String> = match done {
        [] => COMMANDS
            .iter()
            .filter(|c| c.len() > 1)
            .map(|c| c.to_string())
            .collect(),
        ["theme"] => crate::theme::Theme::names()
            .into_iter()
            .map(str::to_string)
            .collect(),
        ["env"] => state
            .config
            .environments
            .iter()
            .map(|(name, _, _)| name.clone())
            .collect(),
        ["finish" | "revert"] => state.interrupted.iter().map(|i| i.model.clone()).collect(),
        ["rollout"] => vec!["pause".into(), "resume".into()],
        ["fleet"] => vec!["all".into()],
        ["shadow"] => std::iter::once("stop".to_string())
            .chain(versions_of_model(state))
            .collect(),
        _ => Vec::new(),
    };
    let partial = partial.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| c.to_lowercase().starts_with(&partial))
        .collect()
}

/// The open (or selected) model's versions, newest first, as `:shadow` takes them.
fn versions_of_model(state: &State) -> Vec<String> {
    let model = state
        .open_model()
        .map(str::to_string)
        .or_else(|| super::update::selected_model(state));
    let Some(model) = model else {
        return Vec::new();
    };
    // Production cannot shadow itself.
    let production = state
        .servers
        .get(&model)
        .and_then(|s| s.serving)
        .map(|p| p.stable);
    let mut numbers: Vec<u32> = match state.detail.versions.get(&model) {
        Some(versions) => versions.iter().map(|v| v.version).collect(),
        // Versions are read when a model is opened; the fleet knows the newest number.
        None => state
            .models
            .iter()
            .find(|m| m.name.as_str() == model)
            .and_then(|m| m.latest_version)
            .map(|latest| (1..=latest).collect())
            .unwrap_or_default(),
    };
    numbers.retain(|v| Some(*v) != production);
    numbers.sort_unstable_by(|a, b| b.cmp(a));
    numbers.into_iter().map(|v| format!("v{v}")).collect()
}

/// Tab: the text completed as far as every suggestion agrees (a whole word and a space when
/// one is left); `None` when there is nothing to add.
pub fn complete(state: &State, text: &str) -> Option<String> {
    let found = suggestions(state, text);
    let first = found.first()?;
    let common: String = if found.len() == 1 {
        format!("{first} ")
    } else {
        let mut prefix = first.clone();
        for other in &found[1..] {
            while !other.to_lowercase().starts_with(&prefix.to_lowercase()) {
                prefix.pop();
            }
        }
        prefix
    };
    let head = match text.rfind(' ') {
        Some(i) => &text[..=i],
        None => "",
    };
    let completed = format!("{head}{common}");
    (completed.len() > text.len()).then_some(completed)
}
