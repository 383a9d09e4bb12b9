//! A training run's resume point as one consistent set of files. Each file of a checkpoint (weights,
//! optimizer moments, the trainer's state) is first written beside its final name as
//! `NAME.gN` and flushed; then `checkpoint.json`, the manifest naming generation N with each file's
//! length and hash, replaces the old one atomically (the commit point); then the staged files are
//! renamed into place. A run killed before the commit keeps the previous set whole (the staged files
//! are stale and removed on resume); one killed after it has its staged files renamed on resume
//! ([`recover`]). A resume then checks every file against the manifest, so weights newer than
//! the state can no longer repeat an epoch unnoticed. Used by the CNN and VLM trainers; runs on the
//! trainer's thread.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::io::atomic;

/// The manifest's file name.
pub const MANIFEST: &str = "checkpoint.json";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot {what}: {source}: {path}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error(
        "the checkpoint in {dir} is inconsistent: {file} {why} (its manifest {MANIFEST} says otherwise); \
         it was changed after heatscope wrote it: restore the folder or start a new run"
    )]
    Inconsistent { dir: PathBuf, file: String, why: String },
    #[error("{MANIFEST} in {0} is unreadable ({1}); restore the folder or start a new run")]
    Manifest(PathBuf, String),
}

/// One file of a committed set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub bytes: u64,
    /// `io::checksum` of the content.
    pub hash: String,
}

/// What `checkpoint.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Counts commits; the staged files of generation N are named `NAME.gN`.
    pub generation: u64,
    pub files: Vec<Entry>,
}

/// What writes a file's content to a given path.
pub type Writer<'a> = &'a dyn Fn(&Path) -> std::io::Result<()>;

/// What a checkpoint file holds: bytes, or what a writer writes.
#[derive(Clone, Copy)]
pub enum Content<'a> {
    Bytes(&'a [u8]),
    Written(Writer<'a>),
}

/// A file to write into a checkpoint: its final name and its content.
pub type Fill<'a> = (&'a str, Content<'a>);

/// A trainer's resume point as one set: `last.safetensors` (`weights`), `optimizer.safetensors`
/// (`moments`) and `state.json` (`state`); when the step is the best so far, also
/// `model.safetensors` (the same weights) and each of `best_files` (name, content).
pub fn commit_training(
    dir: &Path,
    weights: Writer<'_>,
    moments: Writer<'_>,
    state: &[u8],
    best_files: Option<&[(&str, &[u8])]>,
) -> Result<Manifest, CheckpointError> {
    let mut files: Vec<Fill<'_>> = vec![
        ("last.safetensors", Content::Written(weights)),
        ("optimizer.safetensors", Content::Written(moments)),
        ("state.json", Content::Bytes(state)),
    ];
    if let Some(best) = best_files {
        files.push(("model.safetensors", Content::Written(weights)));
        files.extend(best.iter().map(|&(name, bytes)| (name, Content::Bytes(bytes))));
    }
    commit(dir, &files)
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |source| CheckpointError::Io { what, path, source }
}

fn staged(dir: &Path, name: &str, generation: u64) -> PathBuf {
    dir.join(format!("{name}.g{generation}"))
}

/// The committed manifest in `dir`, if any.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, CheckpointError> {
    let path = dir.join(MANIFEST);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| CheckpointError::Manifest(dir.into(), e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", &path)(e)),
    }
}

/// Write `files` into `dir` as one set (see the module docs). Files of earlier sets not named here
/// stay as they are.
pub fn commit(dir: &Path, files: &[Fill<'_>]) -> Result<Manifest, CheckpointError> {
    let generation = read_manifest(dir).ok().flatten().map_or(0, |m| m.generation) + 1;
    let mut entries = Vec::with_capacity(files.len());
    for &(name, content) in files {
        let path = staged(dir, name, generation);
        let written = match content {
            Content::Bytes(bytes) => std::fs::write(&path, bytes),
            Content::Written(write) => write(&path),
        };
        written.and_then(|()| atomic::sync_file(&path)).map_err(io_err("write", &path))?;
        let (bytes, hash) = fingerprint(&path)?;
        entries.push(Entry { name: (*name).to_string(), bytes, hash });
    }
    let manifest = Manifest { generation, files: entries };
    let text =
        serde_json::to_vec_pretty(&manifest).map_err(|e| CheckpointError::Manifest(dir.into(), e.to_string()))?;
    let path = dir.join(MANIFEST);
    atomic::write(&path, text).map_err(io_err("write", &path))?;
    roll_forward(dir, &manifest)?;
    Ok(manifest)
}

/// Rename the manifest's staged files into place (those a kill left staged).
fn roll_forward(dir: &Path, manifest: &Manifest) -> Result<(), CheckpointError> {
    for e in &manifest.files {
        let from = staged(dir, &e.name, manifest.generation);
        if from.is_file() {
            std::fs::rename(&from, dir.join(&e.name)).map_err(io_err("rename", &from))?;
        }
    }
    atomic::sync_folder_of(&dir.join(MANIFEST)).map_err(io_err("sync", dir))
}

/// Make `dir`'s checkpoint whole before resuming from it: finish an interrupted commit, remove the
/// files of one that never committed, and check every file against the manifest. `Ok(None)`: no
/// manifest (a new run, or one written before manifests existed). Files the manifest names that
/// are gone are left to the trainer (it restarts the moments without `optimizer.safetensors`).
pub fn recover(dir: &Path) -> Result<Option<Manifest>, CheckpointError> {
    let Some(manifest) = read_manifest(dir)? else { return Ok(None) };
    roll_forward(dir, &manifest)?;
    // Only the next generation can have been staged without committing.
    let next = format!(".g{}", manifest.generation + 1);
    for entry in std::fs::read_dir(dir).map_err(io_err("read", dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() > next.len() && name.ends_with(&next) {
            std::fs::remove_file(entry.path()).map_err(io_err("remove", &entry.path()))?;
        }
    }
    for e in &manifest.files {
        let path = dir.join(&e.name);
        // A file deleted on purpose (the optimizer's moments, to restart them) is the trainer's to
        // handle; only one that is there with other content breaks the set.
        if !path.is_file() {
            continue;
        }
        let (bytes, hash) = fingerprint(&path)?;
        if (bytes, &hash) != (e.bytes, &e.hash) {
            let why = if bytes == e.bytes {
                "has other content".to_string()
            } else {
                format!("has {bytes} bytes, not {}", e.bytes)
            };
            return Err(CheckpointError::Inconsistent { dir: dir.into(), file: e.name.clone(), why });
        }
    }
    Ok(Some(manifest))
}

/// Length and checksum of a file.
fn fingerprint(path: &Path) -> Result<(u64, String), CheckpointError> {
    crate::io::checksum::of_file(path, None).map_err(io_err("read", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_texts(dir: &Path, files: &[(&str, &'static str)]) -> Manifest {
        let set: Vec<Fill<'_>> = files.iter().map(|&(name, text)| (name, Content::Bytes(text.as_bytes()))).collect();
        commit(dir, &set).unwrap()
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn a_commit_writes_the_set_and_recover_accepts_it() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(recover(dir.path()).unwrap(), None, "no manifest: nothing to recover");
        let m = commit_texts(dir.path(), &[("last.safetensors", "w1"), ("state.json", "{\"epoch\": 1}")]);
        assert_eq!(m.generation, 1);
        let m = commit_texts(dir.path(), &[("last.safetensors", "w2"), ("state.json", "{\"epoch\": 2}")]);
        assert_eq!(m.generation, 2);
        assert_eq!(recover(dir.path()).unwrap(), Some(m));
        assert_eq!(
            (read(dir.path(), "last.safetensors"), read(dir.path(), "state.json")),
            ("w2".into(), "{\"epoch\": 2}".into())
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn a_kill_before_the_commit_keeps_the_old_set_and_after_it_finishes_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        commit_texts(d, &[("last.safetensors", "w1"), ("state.json", "s1")]);
        // Killed while staging generation 2: one file staged, the manifest still says 1.
        std::fs::write(d.join("last.safetensors.g2"), "w2").unwrap();
        let m = recover(d).unwrap().unwrap();
        assert_eq!(m.generation, 1);
        assert_eq!((read(d, "last.safetensors"), read(d, "state.json")), ("w1".into(), "s1".into()));
        assert!(!d.join("last.safetensors.g2").exists(), "stale staged files are removed");
        // Killed after committing generation 2 but before renaming: the rename finishes on resume.
        commit_texts(d, &[("last.safetensors", "w2"), ("state.json", "s2")]);
        std::fs::rename(d.join("last.safetensors"), d.join("last.safetensors.g2")).unwrap();
        std::fs::write(d.join("last.safetensors"), "w1").unwrap();
        recover(d).unwrap();
        assert_eq!((read(d, "last.safetensors"), read(d, "state.json")), ("w2".into(), "s2".into()));
    }

    #[test]
    fn a_training_step_commits_its_set_and_the_best_model_only_when_best() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let weights = |p: &Path| std::fs::write(p, "w1");
        let moments = |p: &Path| std::fs::write(p, "m1");
        let m = commit_training(d, &weights, &moments, b"s1", None).unwrap();
        let names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["last.safetensors", "optimizer.safetensors", "state.json"]);
        assert!(!d.join("model.safetensors").exists());
        let m = commit_training(d, &weights, &moments, b"s2", Some(&[("config.json", b"{}")])).unwrap();
        assert_eq!(m.files.len(), 5);
        assert_eq!(
            (read(d, "model.safetensors"), read(d, "config.json"), read(d, "state.json")),
            ("w1".into(), "{}".into(), "s2".into())
        );
    }

    #[test]
    fn files_changed_behind_its_back_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        commit_texts(d, &[("last.safetensors", "weights"), ("state.json", "s")]);
        std::fs::write(d.join("last.safetensors"), "weightz").unwrap();
        let e = recover(d).unwrap_err().to_string();
        assert!(e.contains("last.safetensors has other content") && e.contains("start a new run"), "{e}");
        std::fs::write(d.join("last.safetensors"), "w").unwrap();
        assert!(recover(d).unwrap_err().to_string().contains("has 1 bytes, not 7"));
        std::fs::remove_file(d.join("last.safetensors")).unwrap();
        assert!(recover(d).is_ok(), "a deleted file is the trainer's to handle");
        std::fs::write(d.join(MANIFEST), "{").unwrap();
        assert!(matches!(recover(d), Err(CheckpointError::Manifest(..))));
    }
}
