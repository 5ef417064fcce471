//! The smoke-test and evaluate dialogs of the reducer: which version they check, the labelled
//! CSV an evaluation asks for, and their reports. They move no serving or alias, so they start
//! without a preview (and run in read-only environments too, as they do headless).

use super::effect::Effect;
use super::fleet;
use super::state::{CheckKind, CheckModal, CheckOutcome, CheckStage, Overlay, State};
use crate::keymap::{Key, KeyCode};

/// Opens the dialog for `kind` on `model`'s `version`, or, without one, on the version worth
/// checking: the canary, else production (a smoke test only: production against itself is no
/// evaluation).
pub fn open(state: &mut State, model: &str, kind: CheckKind, version: Option<u32>) -> Vec<Effect> {
    let row = fleet::rows(state).into_iter().find(|r| r.model == model);
    let version = version.or_else(|| {
        let row = row.as_ref()?;
        match kind {
            CheckKind::Smoke => row.canary.or(row.production),
            CheckKind::Evaluate => row.canary,
        }
    });
    let Some(version) = version else {
        state.toast = Some(format!(
            "{}: select a version on {model}'s versions pane (Enter, then Tab to versions)",
            kind.name()
        ));
        return Vec::new();
    };
    let stage = match kind {
        CheckKind::Smoke => CheckStage::Running,
        CheckKind::Evaluate => CheckStage::AskData {
            path: state.evaluate_data.clone(),
            prefilled: !state.evaluate_data.is_empty(),
        },
    };
    state.progress = None;
    state.overlay = Some(Overlay::Check(CheckModal {
        model: model.to_string(),
        version,
        kind,
        stage,
    }));
    match kind {
        CheckKind::Smoke => vec![Effect::Smoke {
            model: model.to_string(),
            version,
        }],
        CheckKind::Evaluate => Vec::new(),
    }
}

/// Keys while the dialog is open: typing the CSV's path, Enter to start, Esc to close. A running
/// check keeps running when its dialog closes; its report still arrives as a toast.
pub fn on_key(state: &mut State, key: Key) -> Vec<Effect> {
    // The overlay field alone is borrowed: the keys below also set the toast and the data path.
    let Some(Overlay::Check(check)) = &mut state.overlay else {
        return Vec::new();
    };
    match (&mut check.stage, key.code) {
        (_, KeyCode::Esc) => {
            state.overlay = None;
        }
        (CheckStage::AskData { path, .. }, KeyCode::Enter) => {
            let data = path.trim().to_string();
            if data.is_empty() {
                state.toast = Some("type the path of a labelled CSV, then Enter".into());
                return Vec::new();
            }
            state.evaluate_data = data.clone();
            let effect = Effect::Evaluate {
                model: check.model.clone(),
                version: check.version,
                data,
            };
            check.stage = CheckStage::Running;
            state.progress = None;
            return vec![effect];
        }
        (CheckStage::AskData { path, prefilled }, KeyCode::Backspace) => {
            *prefilled = false;
            path.pop();
        }
        (CheckStage::AskData { path, prefilled }, KeyCode::Char(c)) if !key.ctrl => {
            if std::mem::take(prefilled) {
                path.clear();
            }
            path.push(c);
        }
        (CheckStage::AskData { path, prefilled }, KeyCode::Char('u')) if key.ctrl => {
            *prefilled = false;
            path.clear();
        }
        (CheckStage::Done(_), _) => state.overlay = None,
        _ => {}
    }
    Vec::new()
}

/// A report arrived: shown in the dialog if it is still open, and as a toast either way.
pub fn finished(state: &mut State, result: Result<CheckOutcome, String>) -> Vec<Effect> {
    state.progress = None;
    state.toast = Some(match &result {
        Ok(CheckOutcome::Smoke(report)) => match report.first_failure() {
            None => format!("smoke test {} v{}: passed", report.model, report.version),
            Some(check) => format!(
                "smoke test {} v{}: FAILED {}: {}",
                report.model, report.version, check.name, check.detail
            ),
        },
        Ok(CheckOutcome::Evaluation(e)) => {
            format!(
                "evaluate {} v{}: done on {} rows",
                e.model, e.candidate, e.rows
            )
        }
        Err(e) => format!("failed: {e}"),
    });
    if let Some(check) = state.check_mut() {
        check.stage = CheckStage::Done(result);
    }
    // The versions pane shows the stored report.
    match state.open_model() {
        Some(model) => vec![Effect::FetchVersions {
            model: model.to_string(),
        }],
        None => Vec::new(),
    }
}
