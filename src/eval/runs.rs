//! A run folder: what a model answered on a dataset, kept so that it can be scored again, browsed,
//! and continued after a crash. `predictions.jsonl` holds one line per question (`id` and `answer`
//! as every predictions file, plus `box`, `confidence`, `parsed`, `score`, `latency_ms`, `raw`,
//! `error`), appended as answers come and synced after each batch; `summary.json` holds the settings
//! (dataset and its manifest's checksum, model identity, question selection, model options),
//! heatscope's version and, once the run is complete, the report. A run killed at any moment leaves a
//! readable folder: [`RunFolder::resume`] drops a last line cut mid-way and continues without asking
//! a finished question again or writing an id twice. Runs on the caller's thread.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::predictor::{Answer, ModelIdentity};
use super::runner::Selection;
use crate::types::{Prediction, QaRecord};

pub const PREDICTIONS: &str = "predictions.jsonl";
pub const SUMMARY: &str = "summary.json";

/// What makes two runs the same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The dataset folder as given (for people; the checksum is what is compared).
    pub dataset: PathBuf,
    /// `io::checksum` of the dataset's manifest.jsonl.
    pub manifest_checksum: String,
    pub model: ModelIdentity,
    pub selection: Selection,
    /// The model's own options (shots, chain of thought, answer length...).
    pub options: serde_json::Value,
}

/// `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// heatscope's version that wrote it.
    pub heatscope: String,
    pub settings: RunSettings,
    /// All selected questions answered (or failed with a reason).
    pub complete: bool,
    pub questions: usize,
    pub answered: usize,
    pub failed: usize,
    /// The report in `eval --json`'s schema, once complete.
    #[serde(default)]
    pub report: Option<serde_json::Value>,
}

/// One line of `predictions.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunLine {
    pub id: String,
    pub answer: String,
    #[serde(rename = "box", default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f32; 4]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_domain: Option<bool>,
    pub parsed: bool,
    pub score: f64,
    pub latency_ms: f64,
    pub raw: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunLine {
    /// The line for `r` answered with `a`, scored.
    pub fn of(r: &QaRecord, a: &Answer) -> Self {
        let scored = (a.error.is_none()).then(|| super::question::score_question(r, Some(&a.prediction)));
        Self {
            id: r.id.clone(),
            answer: a.prediction.answer.clone(),
            bbox: a.prediction.bbox,
            confidence: a.prediction.confidence,
            out_of_domain: a.prediction.out_of_domain,
            parsed: scored.as_ref().is_some_and(|s| s.parsed),
            score: scored.map_or(0.0, |s| s.score),
            latency_ms: a.latency_ms,
            raw: a.raw.clone(),
            error: a.error.clone(),
        }
    }

    pub fn prediction(&self) -> Prediction {
        Prediction {
            id: self.id.clone(),
            answer: self.answer.clone(),
            bbox: self.bbox,
            confidence: self.confidence,
            out_of_domain: self.out_of_domain,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunFolderError {
    #[error("cannot {what}: {source}: {path}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0} already holds a run: continue it with --resume, or choose another --run folder")]
    Exists(PathBuf),
    #[error("{dir} holds no run to continue (no {SUMMARY}); start one without --resume")]
    NoRun { dir: PathBuf },
    #[error("{dir} is a run of {what}; this one would be {now}: start another --run folder")]
    Other { dir: PathBuf, what: String, now: String },
    #[error("{path}: line {line}: {why}")]
    Line { path: PathBuf, line: usize, why: String },
    #[error("{path}: {why}")]
    Summary { path: PathBuf, why: String },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RunFolderError {
    let path = path.to_path_buf();
    move |source| RunFolderError::Io { what, path, source }
}

/// An open run folder that answers are appended to.
#[derive(Debug)]
pub struct RunFolder {
    dir: PathBuf,
    settings: RunSettings,
    file: std::fs::File,
    lines: Vec<RunLine>,
    done: HashSet<String>,
}

impl RunFolder {
    /// Start a run in `dir` (created); refused when it already holds one.
    ///
    /// # Errors
    /// When the folder holds a run or cannot be written.
    pub fn create(dir: &Path, settings: RunSettings) -> Result<Self, RunFolderError> {
        if dir.join(SUMMARY).exists() || dir.join(PREDICTIONS).exists() {
            return Err(RunFolderError::Exists(dir.to_path_buf()));
        }
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let run = Self::with_lines(dir, settings, Vec::new(), 0)?;
        run.write_summary(0, None)?;
        Ok(run)
    }

    /// Continue the run in `dir`, which must be of the same dataset, model, selection and options.
    ///
    /// # Errors
    /// When there is no run, it is another run, or its files are damaged beyond a cut last line.
    pub fn resume(dir: &Path, settings: RunSettings) -> Result<Self, RunFolderError> {
        if !dir.join(SUMMARY).is_file() {
            return Err(RunFolderError::NoRun { dir: dir.to_path_buf() });
        }
        let (summary, lines, whole) = read(dir)?;
        if let Some((what, now)) = difference(&summary.settings, &settings) {
            return Err(RunFolderError::Other { dir: dir.to_path_buf(), what, now });
        }
        Self::with_lines(dir, settings, lines, whole)
    }

    /// The open file, cut after its last whole line (`whole` bytes).
    fn with_lines(dir: &Path, settings: RunSettings, lines: Vec<RunLine>, whole: u64) -> Result<Self, RunFolderError> {
        let path = dir.join(PREDICTIONS);
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io("open", &path))?;
        // A line cut by a kill is dropped; everything before it stays.
        let len = file.metadata().map_err(io("read", &path))?.len();
        if len != whole {
            file.set_len(whole).map_err(io("repair", &path))?;
        }
        let done = lines.iter().map(|l| l.id.clone()).collect();
        Ok(Self { dir: dir.to_path_buf(), settings, file, lines, done })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Ids already answered.
    pub fn done(&self) -> &HashSet<String> {
        &self.done
    }

    pub fn lines(&self) -> &[RunLine] {
        &self.lines
    }

    /// Append answers (whole lines, then synced to the disk).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn append(&mut self, answers: &[(&QaRecord, Answer)]) -> Result<(), RunFolderError> {
        let path = self.dir.join(PREDICTIONS);
        let mut text = String::new();
        let mut added = Vec::new();
        for (r, a) in answers {
            if self.done.contains(&r.id) || added.iter().any(|l: &RunLine| l.id == r.id) {
                continue;
            }
            let line = RunLine::of(r, a);
            let json = serde_json::to_string(&line).map_err(|e| io("write", &path)(std::io::Error::other(e)))?;
            text.push_str(&json);
            text.push('\n');
            added.push(line);
        }
        self.file.write_all(text.as_bytes()).and_then(|()| self.file.sync_data()).map_err(io("write", &path))?;
        self.done.extend(added.iter().map(|l| l.id.clone()));
        self.lines.extend(added);
        Ok(())
    }

    /// The predictions so far, to score.
    pub fn predictions(&self) -> Vec<Prediction> {
        self.lines.iter().map(RunLine::prediction).collect()
    }

    /// Write `summary.json` (atomically): `questions` selected, and the report once complete.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn write_summary(&self, questions: usize, report: Option<serde_json::Value>) -> Result<(), RunFolderError> {
        let failed = self.lines.iter().filter(|l| l.error.is_some()).count();
        let summary = Summary {
            heatscope: env!("CARGO_PKG_VERSION").into(),
            settings: self.settings.clone(),
            complete: report.is_some(),
            questions,
            answered: self.lines.len() - failed,
            failed,
            report,
        };
        let path = self.dir.join(SUMMARY);
        let text = serde_json::to_vec_pretty(&summary).map_err(|e| io("write", &path)(std::io::Error::other(e)))?;
        crate::io::atomic::write(&path, text).map_err(io("write", &path))
    }
}

/// Read a run folder: its summary and every whole line of its predictions (a last line cut mid-way
/// is left out; a damaged line before it, or an id twice, is an error).
///
/// # Errors
/// When the files are missing or damaged.
pub fn open(dir: &Path) -> Result<(Summary, Vec<RunLine>), RunFolderError> {
    read(dir).map(|(summary, lines, _)| (summary, lines))
}

/// A run folder's summary alone.
///
/// # Errors
/// When it is missing or damaged.
pub fn read_summary(dir: &Path) -> Result<Summary, RunFolderError> {
    let path = dir.join(SUMMARY);
    let text = std::fs::read(&path).map_err(io("read", &path))?;
    serde_json::from_slice(&text)
        .map_err(|e| RunFolderError::Summary { path: path.clone(), why: format!("not a run summary: {e}") })
}

/// [`open`], with the length of the predictions' whole lines in bytes.
fn read(dir: &Path) -> Result<(Summary, Vec<RunLine>, u64), RunFolderError> {
    let summary = read_summary(dir)?;
    let path = dir.join(PREDICTIONS);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io("read", &path)(e)),
    };
    let mut lines = Vec::new();
    let mut seen = HashSet::new();
    let mut whole = 0u64;
    let pieces: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let complete = piece.ends_with(b"\n");
        let parsed = std::str::from_utf8(piece).ok().and_then(|s| serde_json::from_str::<RunLine>(s.trim_end()).ok());
        match parsed {
            Some(line) if complete => {
                if !seen.insert(line.id.clone()) {
                    return Err(RunFolderError::Line {
                        path,
                        line: i + 1,
                        why: format!("id {} appears twice", line.id),
                    });
                }
                lines.push(line);
                whole += piece.len() as u64;
            }
            // Cut by a kill: the only line that may be damaged.
            _ if last && !complete => break,
            _ => return Err(RunFolderError::Line { path, line: i + 1, why: "not a run line (damaged file)".into() }),
        }
    }
    Ok((summary, lines, whole))
}

/// The first setting in which `old` and `new` differ, as (what the run is, what this one would be).
fn difference(old: &RunSettings, new: &RunSettings) -> Option<(String, String)> {
    if old.manifest_checksum != new.manifest_checksum {
        return Some((
            format!("another dataset ({}, manifest {})", old.dataset.display(), old.manifest_checksum),
            format!("{} (manifest {})", new.dataset.display(), new.manifest_checksum),
        ));
    }
    if old.model != new.model {
        let show = |m: &ModelIdentity| {
            format!("{} {}{}", m.kind, m.name, m.checksum.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())
        };
        return Some((format!("model {}", show(&old.model)), show(&new.model)));
    }
    if old.selection != new.selection {
        return Some((format!("the questions {:?}", old.selection), format!("{:?}", new.selection)));
    }
    if old.options != new.options {
        return Some((format!("the options {}", old.options), new.options.to_string()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{QuestionKind, ScenePaths, Split};

    fn settings(checksum: &str) -> RunSettings {
        RunSettings {
            dataset: "ds".into(),
            manifest_checksum: checksum.into(),
            model: ModelIdentity { kind: "rule".into(), name: "rule".into(), checksum: None, trained_on: None },
            selection: Selection::default(),
            options: serde_json::json!({"shots": 0}),
        }
    }

    fn record(i: usize) -> QaRecord {
        QaRecord {
            id: format!("q{i}"),
            scene: "s".into(),
            scenario: "leo-urban".into(),
            split: Split::Test,
            level: QuestionKind::Severity.level(),
            kind: QuestionKind::Severity,
            question: "?".into(),
            answer: "high".into(),
            choices: Vec::new(),
            bbox: None,
            concepts: Vec::new(),
            examples: Vec::new(),
            images: ScenePaths::default(),
            snr_bin: None,
        }
    }

    fn said(r: &QaRecord, text: &str) -> Answer {
        Answer::ok(
            Prediction {
                id: r.id.clone(),
                answer: text.into(),
                bbox: None,
                confidence: Some(0.7),
                out_of_domain: None,
            },
            text.into(),
            3.0,
        )
    }

    #[test]
    fn a_run_is_written_resumed_after_a_cut_line_and_refused_for_another_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("run");
        let rs: Vec<QaRecord> = (0..4).map(record).collect();
        let mut run = RunFolder::create(&d, settings("aaaa")).unwrap();
        run.append(&[(&rs[0], said(&rs[0], "high")), (&rs[1], said(&rs[1], "low"))]).unwrap();
        assert!(RunFolder::create(&d, settings("aaaa")).unwrap_err().to_string().contains("--resume"));
        drop(run);
        // A kill mid-line: half a line at the end.
        let path = d.join(PREDICTIONS);
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"id\": \"q2\", \"answ").unwrap();
        drop(f);
        let (_, lines) = open(&d).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].score, lines[1].score, lines[0].parsed), (1.0, 0.0, true));
        let e = RunFolder::resume(&d, settings("bbbb")).unwrap_err().to_string();
        assert!(e.contains("another dataset"), "{e}");
        let mut run = RunFolder::resume(&d, settings("aaaa")).unwrap();
        assert_eq!(run.done().len(), 2);
        // An id answered before is never written again.
        run.append(&[
            (&rs[1], said(&rs[1], "high")),
            (&rs[2], Answer::failed(&rs[2], "server said 500")),
            (&rs[3], said(&rs[3], "high")),
        ])
        .unwrap();
        run.write_summary(4, Some(serde_json::json!({"groups": []}))).unwrap();
        let (summary, lines) = open(&d).unwrap();
        assert_eq!(lines.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), ["q0", "q1", "q2", "q3"]);
        assert_eq!((summary.complete, summary.answered, summary.failed), (true, 3, 1));
        assert_eq!(lines[2].error.as_deref(), Some("server said 500"));
        // The file is a predictions file like any other.
        let preds = crate::eval::read_predictions(&path).unwrap();
        assert_eq!(preds.len(), 4);
        // A damaged line in the middle is an error, not silently skipped.
        let text = std::fs::read_to_string(&path).unwrap().replacen("\"q1\"", "\"q1", 1);
        std::fs::write(&path, text).unwrap();
        assert!(open(&d).unwrap_err().to_string().contains("line 2"));
        let e = RunFolder::resume(&dir.path().join("none"), settings("aaaa")).unwrap_err().to_string();
        assert!(e.contains("no run to continue"), "{e}");
    }
}
