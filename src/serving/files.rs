//! The files that describe local deployments under `DATA_DIR/serve/`: `MODEL.plan.json` (what
//! the engine wants served; written only by the engine), `MODEL.server.json` (the supervisor's
//! record; written only by the supervisor), `MODEL.shadow.json` (the shadow the engine started,
//! so a server restarted after a crash runs it again; written only by the engine), the admin
//! token, and the logs. One writer per file,
//! each write a rename, so readers never see half a file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{ServerRecord, ServingPlan};

/// A shadow as the engine started it: which version, on what share of production's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ShadowPlan {
    pub version: u32,
    pub percent: u8,
}

#[derive(Debug, Clone)]
pub struct ServeFiles {
    pub data_dir: PathBuf,
}

impl ServeFiles {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.data_dir.join("serve")
    }

    pub fn plan(&self, model: &str) -> PathBuf {
        self.dir().join(format!("{model}.plan.json"))
    }

    pub fn record(&self, model: &str) -> PathBuf {
        self.dir().join(format!("{model}.server.json"))
    }

    pub fn port(&self, model: &str) -> PathBuf {
        self.dir().join(format!("{model}.port"))
    }

    /// The port a stopped server listened on: the next start listens there again if it can.
    pub fn last_port(&self, model: &str) -> PathBuf {
        self.dir().join(format!("{model}.last-port"))
    }

    pub fn token(&self) -> PathBuf {
        self.dir().join("admin.token")
    }

    /// Output of the server processes (their tracing log is `logs/serve-MODEL.log`).
    pub fn output_log(&self, model: &str) -> PathBuf {
        self.data_dir
            .join("logs")
            .join(format!("serve-{model}.out"))
    }

    pub fn read_plan(&self, model: &str) -> Option<ServingPlan> {
        read_json(&self.plan(model))
    }

    pub fn write_plan(&self, model: &str, plan: &ServingPlan) -> std::io::Result<()> {
        write_json(&self.plan(model), plan)
    }

    pub fn shadow(&self, model: &str) -> PathBuf {
        self.dir().join(format!("{model}.shadow.json"))
    }

    /// The shadow a restarted server must run again, if one was started and not stopped.
    pub fn read_shadow(&self, model: &str) -> Option<ShadowPlan> {
        read_json(&self.shadow(model))
    }

    pub fn write_shadow(&self, model: &str, shadow: &ShadowPlan) -> std::io::Result<()> {
        write_json(&self.shadow(model), shadow)
    }

    pub fn remove_shadow(&self, model: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.shadow(model)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn read_record(&self, model: &str) -> Option<ServerRecord> {
        read_json(&self.record(model))
    }

    pub fn write_record(&self, record: &ServerRecord) -> std::io::Result<()> {
        write_json(&self.record(&record.model), record)
    }

    /// Models with a plan, by name.
    pub fn models(&self) -> Vec<String> {
        let mut models: Vec<String> = std::fs::read_dir(self.dir())
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter_map(|name| name.strip_suffix(".plan.json").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        models.sort();
        models
    }

    /// The last non-empty line a model's servers printed (usually why one exited).
    pub fn last_output_line(&self, model: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.output_log(model)).ok()?;
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    write_atomically(path, &text, 0o644)
}

fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)
}

/// The admin token shared by the engine and the servers: read from `path`, or created there
/// (mode 0600) when missing.
pub fn admin_token(path: &Path) -> std::io::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let token = existing.trim().to_string();
        if token.len() >= 32 {
            return Ok(token);
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_atomically(path, token.as_bytes(), 0o600)?;
    Ok(token)
}
