//! Replacing a file so that a crash, a kill or a power cut never leaves half of it: the new content
//! goes to a temporary file in the same folder, is flushed to the disk (fsync), and is renamed over
//! the old one (atomic on one file system); the folder is then synced so the rename itself is
//! durable. Used for every file a user would miss: checkpoints, model files, reports, predictions,
//! calibration, rendered images and the app's saved state. Any thread.

use std::path::{Path, PathBuf};

/// Where [`replace`] writes before renaming: `<name>.partial` beside `path`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Replace `path` with what `fill` writes into the temporary path it is handed. When `fill`, the
/// flush or the rename fails, the temporary file is removed and `path` keeps its old content.
pub fn replace(path: &Path, fill: impl FnOnce(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
    let tmp = partial_path(path);
    let result = fill(&tmp).and_then(|()| sync_file(&tmp)).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_folder_of(path)
}

/// Replace `path` with `bytes`.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    replace(path, |tmp| write_bytes(tmp, bytes.as_ref()))
}

/// Environment variable that makes [`write_bytes`] pause this many milliseconds halfway through
/// each file: a slow disk, so that tests can kill a writer in the middle of a write.
pub const SLOW_WRITES_ENV: &str = "HEATSCOPE_SLOW_WRITES_MS";

/// Write `bytes` to `path` (created or truncated), honouring [`SLOW_WRITES_ENV`].
pub fn write_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let pause = std::env::var(SLOW_WRITES_ENV).ok().and_then(|v| v.parse::<u64>().ok()).filter(|&ms| ms > 0);
    let Some(ms) = pause else { return std::fs::write(path, bytes) };
    let mut file = std::fs::File::create(path)?;
    let (first, rest) = bytes.split_at(bytes.len() / 2);
    file.write_all(first)?;
    file.flush()?;
    std::thread::sleep(std::time::Duration::from_millis(ms));
    file.write_all(rest)
}

/// Rename `from` to `to` (replacing it) and make the rename durable.
pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    sync_folder_of(to)
}

/// Flush a written file's data and metadata to the disk.
pub fn sync_file(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// Flush the folder holding `path`, so that a rename or a new entry in it survives a power cut.
/// Folders cannot be opened for syncing on every platform; there it is a no-op.
pub fn sync_folder_of(path: &Path) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if cfg!(unix) { std::fs::File::open(folder)?.sync_all() } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_partial_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write(&path, "old").unwrap();
        let e = replace(&path, |tmp| {
            std::fs::write(tmp, "half")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert!(!partial_path(&path).exists());
        write(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(partial_path(&path).file_name().unwrap(), "state.json.partial");
    }
}
