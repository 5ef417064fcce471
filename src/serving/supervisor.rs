//! The supervisor: one small process per local deployment that runs `flightdeck serve`, records
//! its pid and port, restarts it with backoff when it exits on its own, and stops it on SIGTERM.
//! It outlives the console and the CLI that started it, so they can come and go.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};

use super::files::ServeFiles;
use crate::model::{ServerRecord, ServingPlan};

/// First restart delay; doubled per consecutive crash up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A server that ran this long is considered healthy again: the backoff starts over.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How often a running supervisor checks that its deployment still exists on disk.
const ORPHAN_CHECK: Duration = Duration::from_secs(2);

/// Runs until told to stop (SIGTERM/SIGINT) or until the deployment's plan file is removed,
/// also while the server runs: a data dir deleted under it (a test's temp home, a user's
/// `rm -rf`) stops the server instead of leaving it serving a deployment nobody can see.
pub async fn supervise(
    data_dir: &Path,
    model: &str,
    program: &Path,
    port: Option<u16>,
    config: Option<&Path>,
) -> Result<(), String> {
    let files = ServeFiles::new(data_dir);
    let mut stop = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut record = ServerRecord {
        model: model.to_string(),
        supervisor_pid: std::process::id(),
        server_pid: None,
        port,
        started_plan: files
            .read_plan(model)
            .ok_or_else(|| format!("no plan for {model}"))?,
        started_at: Utc::now(),
        restarts: 0,
        last_exit: None,
        state: "starting".into(),
    };
    let mut crashes_in_a_row = 0u32;
    loop {
        let Some(plan) = files.read_plan(model) else {
            tracing::info!(model, "plan removed: supervisor exits");
            break;
        };
        let _ = std::fs::remove_file(files.port(model));
        let mut child = spawn_server(&files, model, &plan, record.port, program, config)?;
        let started = Instant::now();
        record.server_pid = child.id();
        record.started_plan = plan;
        record.started_at = Utc::now();
        record.state = "starting".into();
        write(&files, &record);

        // Wait for the port (first start) while watching for an early exit or a stop signal.
        let exit = loop {
            if record.port.is_none()
                && let Some(port) = std::fs::read_to_string(files.port(model))
                    .ok()
                    .and_then(|p| p.trim().parse().ok())
            {
                record.port = Some(port);
            }
            if record.state == "starting" && std::fs::metadata(files.port(model)).is_ok() {
                record.state = "running".into();
                write(&files, &record);
            }
            tokio::select! {
                status = child.wait() => break Some(status),
                _ = stop.recv() => break None,
                _ = interrupt.recv() => break None,
                _ = tokio::time::sleep(Duration::from_millis(50)), if record.state == "starting" => {}
                _ = tokio::time::sleep(ORPHAN_CHECK), if record.state != "starting" => {
                    // Checked before any write: writing the record would recreate the dir.
                    if !files.plan(model).exists() {
                        tracing::warn!(model, "the deployment's plan is gone: stopping its server");
                        break None;
                    }
                }
            }
        };
        let Some(status) = exit else {
            shut_down(&mut child).await;
            cleanup(&files, model);
            return Ok(());
        };
        let how = match status {
            Ok(s) => describe_exit(s),
            Err(e) => format!("could not be waited for: {e}"),
        };
        let detail = files
            .last_output_line(model)
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        record.last_exit = Some(format!("{how}{detail}"));
        record.restarts += 1;
        record.server_pid = None;
        record.state = "restarting".into();
        write(&files, &record);
        tracing::warn!(model, exit = %how, "server exited; restarting");

        crashes_in_a_row = if started.elapsed() >= STABLE_AFTER {
            1
        } else {
            crashes_in_a_row + 1
        };
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << crashes_in_a_row.saturating_sub(1).min(8))
            .min(MAX_BACKOFF);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.recv() => { cleanup(&files, model); return Ok(()); }
            _ = interrupt.recv() => { cleanup(&files, model); return Ok(()); }
        }
    }
    cleanup(&files, model);
    Ok(())
}

fn write(files: &ServeFiles, record: &ServerRecord) {
    if let Err(e) = files.write_record(record) {
        tracing::error!(error = %e, "cannot write the server record");
    }
}

fn cleanup(files: &ServeFiles, model: &str) {
    let _ = std::fs::remove_file(files.record(model));
    let _ = std::fs::remove_file(files.port(model));
}

fn spawn_server(
    files: &ServeFiles,
    model: &str,
    plan: &ServingPlan,
    port: Option<u16>,
    program: &Path,
    config: Option<&Path>,
) -> Result<Child, String> {
    let log_path = files.output_log(model);
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(program);
    command.arg("--home").arg(&files.data_dir);
    // The server reads the config its supervisor was given (`[request_log]` and the drift
    // thresholds are in it), not whatever the XDG location holds.
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .args(["serve", model, "--version", &plan.stable.to_string()])
        // Restarts keep the first port, so clients and scrapers find the server again.
        .args(["--port", &port.unwrap_or(0).to_string()])
        .arg("--port-file")
        .arg(files.port(model))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(true);
    if let Some(canary) = plan.canary {
        command.args([
            "--canary",
            &canary.to_string(),
            "--canary-percent",
            &plan.canary_percent.to_string(),
        ]);
    }
    // A shadow started and not stopped runs again in a restarted server.
    if let Some(shadow) = files.read_shadow(model) {
        command.args([
            "--shadow",
            &shadow.version.to_string(),
            "--shadow-percent",
            &shadow.percent.to_string(),
        ]);
    }
    command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))
}

async fn shut_down(child: &mut Child) {
    if let Some(pid) = child.id() {
        super::process::terminate(pid);
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(9)) => "was killed (SIGKILL)".into(),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "exited".into(),
    }
}

/// The program to run servers with: this executable.
pub fn this_program() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot find the flightdeck executable: {e}"))
}
