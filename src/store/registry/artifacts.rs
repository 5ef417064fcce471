//! Content-addressed artifact files: `artifacts/sha256/ab/abcdef....onnx`, written to a temporary
//! file, synced, then renamed, so a file under its final name is always complete.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::EngineError;

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the artifact with this digest lives below the artifacts root.
pub fn path_for(root: &Path, sha256: &str) -> PathBuf {
    let prefix = sha256.get(..2).unwrap_or("00");
    root.join("sha256")
        .join(prefix)
        .join(format!("{sha256}.onnx"))
}

/// Stores `bytes` under their digest unless an identical file is already there.
pub fn store(root: &Path, sha256: &str, bytes: &[u8]) -> Result<PathBuf, EngineError> {
    let target = path_for(root, sha256);
    // Kept only when it is whole: a stored file of the right size whose content was damaged is
    // written again from these bytes (registering the original file repairs it).
    let intact = fs::metadata(&target).is_ok_and(|m| m.len() == bytes.len() as u64)
        && fs::read(&target).is_ok_and(|stored| sha256_hex(&stored) == sha256);
    if intact {
        return Ok(target);
    }
    let dir = target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.to_path_buf());
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EngineError::Write { path, source }
    };
    fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    let temp = dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, &target)?;
        // Make the rename itself durable.
        File::open(&dir)?.sync_all()
    })();
    if let Err(source) = result {
        let _ = fs::remove_file(&temp);
        return Err(EngineError::Write {
            path: target,
            source,
        });
    }
    Ok(target)
}

/// Reads an artifact back, checking that its content still matches its name.
pub fn load(root: &Path, sha256: &str) -> Result<Vec<u8>, EngineError> {
    let path = path_for(root, sha256);
    let bytes = fs::read(&path).map_err(|source| EngineError::Read {
        path: path.clone(),
        source,
    })?;
    let actual = sha256_hex(&bytes);
    if actual != sha256 {
        return Err(EngineError::Read {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "content hash is {actual}, expected {sha256}: the artifact was modified or damaged"
                ),
            ),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_under_digest_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = b"model bytes";
        let sha = sha256_hex(bytes);
        assert_eq!(sha.len(), 64);
        let path = store(dir.path(), &sha, bytes).unwrap();
        assert!(path.ends_with(format!("sha256/{}/{sha}.onnx", &sha[..2])));
        assert_eq!(load(dir.path(), &sha).unwrap(), bytes);
        // Storing again is a no-op, and leaves no temporary files.
        store(dir.path(), &sha, bytes).unwrap();
        let entries: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        fs::write(&path, b"model bytez").unwrap();
        let err = load(dir.path(), &sha).unwrap_err().to_string();
        assert!(err.contains("modified or damaged"), "{err}");
        // Storing the original again repairs it.
        store(dir.path(), &sha, bytes).unwrap();
        assert_eq!(load(dir.path(), &sha).unwrap(), bytes);
    }
}
