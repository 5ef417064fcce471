//! Bounded answers: every backend's answer is read up to a size limit (`refresh.max_answer_mb`,
//! 16 MB by default), so a backend that streams gigabytes costs the console its limit, never its
//! memory; the read fails saying how large the answer was allowed to be.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The default limit, in bytes.
pub const DEFAULT_LIMIT: usize = 16 * 1024 * 1024;

/// The process's limit: set once from the settings, read by every source.
static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_LIMIT);

/// Sets the limit for every answer read from now on (from the settings, at start-up).
pub fn set_limit(bytes: usize) {
    LIMIT.store(bytes.max(1), Ordering::Relaxed);
}

pub fn limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

/// The body of `response` as text, read chunk by chunk up to the limit; an error in words
/// (from `describe`) when the connection fails, and "`from`: answer larger than N MB" past the
/// limit (`from` names the backend, or is empty).
pub async fn text(
    mut response: reqwest::Response,
    from: &str,
    describe: impl Fn(&reqwest::Error) -> String,
) -> Result<String, String> {
    let limit = limit();
    let too_large = || {
        let said = too_large(limit);
        if from.is_empty() {
            said
        } else {
            format!("{from}: {said}")
        }
    };
    if response
        .content_length()
        .is_some_and(|n| n as usize > limit)
    {
        return Err(too_large());
    }
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn too_large(limit: usize) -> String {
    format!(
        "answer larger than {} MB (refresh.max_answer_mb): not read",
        limit.div_ceil(1024 * 1024)
    )
}
