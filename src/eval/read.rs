//! Reading SpectrumQA-sim manifests and prediction files (JSONL) with errors that name the file, the
//! line and the field. Each line is parsed to a `serde_json::Value` first and then checked field by
//! field, so a wrong field is reported by name rather than as a serde position. Any thread.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::error::EvalError;
use crate::types::{
    Level, NO_REGION, Prediction, QaRecord, QuestionKind, REGIONS, SEVERITY_CLASSES, ScenePaths, Split,
    parse_box_answer,
};

/// Read and check a manifest file: one [`QaRecord`] per non-blank line.
pub fn read_manifest(path: &Path) -> Result<Vec<QaRecord>, EvalError> {
    let text = read_text(path, "manifest")?;
    parse_manifest(&text, path)
}

/// Read a predictions file: one [`Prediction`] per non-blank line.
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>, EvalError> {
    let text = read_text(path, "predictions")?;
    parse_predictions(&text, path)
}

/// Check that every file a manifest names exists beside it (in `dataset`); the first missing one is
/// reported with the manifest line and the field (`images.observed`, ...).
pub fn check_images(manifest: &Path, dataset: &Path) -> Result<(), EvalError> {
    let text = read_text(manifest, "manifest")?;
    let mut checked = std::collections::HashSet::new();
    for (line, obj) in json_lines(&text, manifest)? {
        let f = Fields { path: manifest, line, obj: &obj };
        let record = f.record()?;
        let p = &record.images;
        for (field, rel) in [
            ("images.observed", &p.observed),
            ("images.truth", &p.truth),
            ("images.png", &p.png),
            ("images.meta", &p.meta),
        ] {
            if checked.insert(rel.clone()) && !dataset.join(rel).is_file() {
                return Err(EvalError::line(
                    manifest,
                    line,
                    field,
                    format!("file not found: {}", dataset.join(rel).display()),
                ));
            }
        }
    }
    Ok(())
}

fn read_text(path: &Path, what: &'static str) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Io { what, path: path.to_path_buf(), source })
}

/// Parse manifest text; `path` is only used in error messages. Besides the field types this checks
/// that ids are unique, that the level is the kind's level, that reference answers are valid options
/// and that an L3 answer agrees with its box.
pub fn parse_manifest(text: &str, path: &Path) -> Result<Vec<QaRecord>, EvalError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    // Large manifests (a 100k-question one is ~100 MB) are parsed on every core, in line order.
    let threads = if lines.len() < 4096 {
        1
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(8)
    };
    let chunk = lines.len().div_ceil(threads).max(1);
    let parse = |first: usize, part: &[&str]| -> Result<Vec<(usize, QaRecord)>, EvalError> {
        let mut out = Vec::with_capacity(part.len());
        for (i, raw) in part.iter().enumerate() {
            let line = first + i + 1;
            if let Some(obj) = json_object(raw, line, path)? {
                out.push((line, Fields { path, line, obj: &obj }.record()?));
            }
        }
        Ok(out)
    };
    let parts: Vec<Result<Vec<(usize, QaRecord)>, EvalError>> = if threads == 1 {
        vec![parse(0, &lines)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> =
                lines.chunks(chunk).enumerate().map(|(c, part)| s.spawn(move || parse(c * chunk, part))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        })
    };
    let mut out = Vec::with_capacity(lines.len());
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(lines.len());
    // The first error in line order, as a reading line by line would give.
    for (line, record) in
        parts.into_iter().map(|p| p.map(Vec::into_iter)).collect::<Result<Vec<_>, _>>()?.into_iter().flatten()
    {
        if let Some(&first_line) = seen.get(&record.id) {
            return Err(EvalError::Duplicate { path: path.to_path_buf(), line, id: record.id, first_line });
        }
        seen.insert(record.id.clone(), line);
        out.push(record);
    }
    if out.is_empty() {
        return Err(EvalError::Empty { what: "manifest", path: path.to_path_buf() });
    }
    Ok(out)
}

/// Parse predictions text; `path` is only used in error messages. Ids must be unique.
pub fn parse_predictions(text: &str, path: &Path) -> Result<Vec<Prediction>, EvalError> {
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, obj) in json_lines(text, path)? {
        let f = Fields { path, line, obj: &obj };
        let prediction = Prediction {
            id: f.non_empty_str("id")?,
            answer: f.str("answer")?,
            bbox: f.opt_box("box")?,
            confidence: f.opt_confidence("confidence")?,
            out_of_domain: f.obj.get("out_of_domain").and_then(serde_json::Value::as_bool),
        };
        if let Some(&first_line) = seen.get(&prediction.id) {
            return Err(EvalError::Duplicate { path: path.to_path_buf(), line, id: prediction.id, first_line });
        }
        seen.insert(prediction.id.clone(), line);
        out.push(prediction);
    }
    if out.is_empty() {
        return Err(EvalError::Empty { what: "predictions", path: path.to_path_buf() });
    }
    Ok(out)
}

/// A 1-based line number and that line's JSON object.
type JsonLine = (usize, Map<String, Value>);

/// The non-blank lines of `text` as JSON objects, with their 1-based line numbers.
fn json_lines(text: &str, path: &Path) -> Result<Vec<JsonLine>, EvalError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if let Some(obj) = json_object(raw, i + 1, path)? {
            out.push((i + 1, obj));
        }
    }
    Ok(out)
}

/// One line as a JSON object; None for a blank line.
fn json_object(raw: &str, line: usize, path: &Path) -> Result<Option<Map<String, Value>>, EvalError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let value: Value =
        serde_json::from_str(raw).map_err(|e| EvalError::line(path, line, "", format!("invalid JSON: {e}")))?;
    match value {
        Value::Object(obj) => Ok(Some(obj)),
        other => Err(EvalError::line(path, line, "", format!("expected a JSON object, got {}", type_name(&other)))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Typed access to one line's fields, turning every problem into a `Line` error naming the field.
struct Fields<'a> {
    path: &'a Path,
    line: usize,
    obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> EvalError {
        EvalError::line(self.path, self.line, field, message)
    }

    /// The field's value; absent and `null` both read as `None`.
    fn get(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    fn str(&self, field: &str) -> Result<String, EvalError> {
        self.str_in(self.obj, field, field)
    }

    fn str_in(&self, obj: &Map<String, Value>, key: &str, field: &str) -> Result<String, EvalError> {
        match obj.get(key) {
            None => Err(self.err(field, "missing")),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.err(field, format!("expected a string, got {}", type_name(other)))),
        }
    }

    fn non_empty_str(&self, field: &str) -> Result<String, EvalError> {
        let s = self.str(field)?;
        if s.trim().is_empty() {
            return Err(self.err(field, "must not be empty"));
        }
        Ok(s)
    }

    fn str_list(&self, field: &str) -> Result<Vec<String>, EvalError> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.err(field, format!("expected a list of strings, found {}", type_name(other)))),
                })
                .collect(),
            Some(other) => Err(self.err(field, format!("expected a list of strings, got {}", type_name(other)))),
        }
    }

    /// An optional box: four finite numbers. Range and order are checked by the caller.
    fn opt_box(&self, field: &str) -> Result<Option<[f32; 4]>, EvalError> {
        let items = match self.get(field) {
            None => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(
                    self.err(field, format!("expected four numbers [x0, y0, x1, y1], got {}", type_name(other)))
                );
            }
        };
        if items.len() != 4 {
            return Err(self.err(field, format!("expected four numbers [x0, y0, x1, y1], got {}", items.len())));
        }
        let mut b = [0f32; 4];
        for (slot, v) in b.iter_mut().zip(items) {
            let x = v.as_f64().ok_or_else(|| self.err(field, format!("expected a number, found {}", type_name(v))))?;
            let x = x as f32;
            if !x.is_finite() {
                return Err(self.err(field, format!("box value {v} is not a finite number")));
            }
            *slot = x;
        }
        Ok(Some(b))
    }

    fn opt_confidence(&self, field: &str) -> Result<Option<f32>, EvalError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => match v.as_f64().map(|x| x as f32) {
                Some(x) if x.is_finite() => Ok(Some(x)),
                Some(_) => Err(self.err(field, format!("{v} is not a finite number"))),
                None => Err(self.err(field, format!("expected a number, got {}", type_name(v)))),
            },
        }
    }

    fn parsed<T>(
        &self,
        field: &str,
        parse: impl Fn(&str) -> Option<T>,
        what: &str,
        expected: &str,
    ) -> Result<T, EvalError> {
        let s = self.str(field)?;
        parse(&s).ok_or_else(|| self.err(field, format!("unknown {what} {s:?} (expected {expected})")))
    }

    fn images(&self) -> Result<ScenePaths, EvalError> {
        let obj = match self.obj.get("images") {
            None => return Err(self.err("images", "missing")),
            Some(Value::Object(obj)) => obj,
            Some(other) => return Err(self.err("images", format!("expected an object, got {}", type_name(other)))),
        };
        Ok(ScenePaths {
            observed: self.str_in(obj, "observed", "images.observed")?,
            truth: self.str_in(obj, "truth", "images.truth")?,
            png: self.str_in(obj, "png", "images.png")?,
            meta: self.str_in(obj, "meta", "images.meta")?,
        })
    }

    /// Check every field by name, then let serde build the record from the canonicalized object (so
    /// fields added to [`QaRecord`] with serde defaults need no change here).
    fn record(&self) -> Result<QaRecord, EvalError> {
        let kinds = QuestionKind::ALL.into_iter().chain(QuestionKind::RADIO).map(QuestionKind::name);
        let kinds = kinds.collect::<Vec<_>>().join(", ");
        let mut obj = self.obj.clone();
        for field in ["id", "scene", "scenario"] {
            self.non_empty_str(field)?;
        }
        let split = self.parsed("split", Split::parse, "split", "train, val or test")?;
        let level = self.parsed("level", Level::parse, "level", "L1-L4")?;
        let kind = self.parsed("kind", parse_kind, "kind", &kinds)?;
        self.str("question")?;
        self.str("answer")?;
        for field in ["choices", "concepts", "examples"] {
            self.str_list(field)?;
        }
        self.opt_box("box")?;
        self.images()?;
        obj.insert("split".into(), Value::from(split.name()));
        obj.insert("level".into(), Value::from(level.name()));
        obj.insert("kind".into(), Value::from(kind.name()));
        obj.retain(|_, v| !v.is_null());
        let record: QaRecord = serde_json::from_value(Value::Object(obj)).map_err(|e| self.err("", e.to_string()))?;
        self.check(&record)?;
        Ok(record)
    }

    /// Cross-field checks: level vs kind, reference answers vs options, L3 answer vs box.
    fn check(&self, r: &QaRecord) -> Result<(), EvalError> {
        let kl = r.kind.level();
        if r.level != kl {
            return Err(self.err(
                "level",
                format!("level {} does not match kind `{}`, an {} kind", r.level.name(), r.kind.name(), kl.name()),
            ));
        }
        if r.kind != QuestionKind::Localize && r.bbox.is_some() {
            return Err(self.err("box", "only localize (L3) questions have a box"));
        }
        let one_of = |options: &[&str]| -> Result<(), EvalError> {
            if options.contains(&r.answer.as_str()) {
                Ok(())
            } else {
                Err(self.err("answer", format!("reference answer {:?} is not one of {}", r.answer, options.join(", "))))
            }
        };
        match r.kind {
            QuestionKind::Severity => one_of(&SEVERITY_CLASSES),
            QuestionKind::RegionAffected => one_of(&["yes", "no"]),
            QuestionKind::WorstRegion => one_of(&REGIONS),
            QuestionKind::WhichWorse => {
                if r.choices.len() != 2 || r.choices.iter().any(|c| !REGIONS.contains(&c.as_str())) {
                    return Err(self.err("choices", format!("expected two regions, got {:?}", r.choices)));
                }
                let choices: Vec<&str> = r.choices.iter().map(String::as_str).collect();
                one_of(&choices)
            }
            QuestionKind::Localize => self.check_box(r),
            QuestionKind::Explain => Ok(()),
            QuestionKind::Morphology
            | QuestionKind::Extended
            | QuestionKind::Fr
            | QuestionKind::Galaxy
            | QuestionKind::Artefact
            | QuestionKind::Anomaly => one_of(r.kind.radio_classes()),
        }
    }

    fn check_box(&self, r: &QaRecord) -> Result<(), EvalError> {
        let from_answer = parse_box_answer(&r.answer).map_err(|e| self.err("answer", e))?;
        match (from_answer, r.bbox) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(self.err("box", format!("the answer is {NO_REGION:?} but a box is given"))),
            (Some(_), None) => Err(self.err("box", format!("missing; the answer is the box {}", r.answer))),
            (Some(a), Some(b)) => {
                let valid = b.iter().all(|v| (0.0..=1.0).contains(v)) && b[0] <= b[2] && b[1] <= b[3];
                if !valid {
                    return Err(self.err("box", format!("{b:?} is not a box in [0, 1] with x0 <= x1 and y0 <= y1")));
                }
                // The answer text has three decimals.
                if a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1.0e-3) {
                    return Err(self.err("box", format!("{b:?} does not match the answer {}", r.answer)));
                }
                Ok(())
            }
        }
    }
}

fn parse_kind(s: &str) -> Option<QuestionKind> {
    QuestionKind::parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGES: &str = r#""images":{"observed":"o.npy","truth":"t.npy","png":"p.png","meta":"m.json"}"#;

    fn rec(id: &str, level: &str, kind: &str, answer: &str, extra: &str) -> String {
        format!(
            r#"{{"id":"{id}","scene":"s1","scenario":"leo","split":"test","level":"{level}","kind":"{kind}","question":"q?","answer":{answer}{extra},{IMAGES}}}"#
        )
    }

    #[test]
    fn a_large_manifest_parses_in_order_and_reports_the_first_bad_line() {
        let line = |i: usize| rec(&format!("q{i}"), "L1", "severity", r#""low""#, r#","choices":["low","high"]"#);
        let lines: Vec<String> = (0..20_000).map(line).collect();
        let records = parse_manifest(&lines.join("\n"), Path::new("m.jsonl")).expect("parses");
        assert_eq!(records.len(), 20_000);
        assert!(records.iter().enumerate().all(|(i, r)| r.id == format!("q{i}")), "in line order");
        // Errors in two chunks: the earlier line is the one reported, as line by line.
        let mut bad = lines.clone();
        bad[17_000] = "{not json".into();
        bad[12_345] = rec("x", "L1", "severity", r#""purple""#, r#","choices":["low","high"]"#);
        let (at, _, _) = manifest_err(&bad.join("\n"));
        assert_eq!(at, 12_346);
        // A duplicate id across chunks names both lines.
        let mut dup = lines;
        dup[19_999] = line(3);
        match parse_manifest(&dup.join("\n"), Path::new("m.jsonl")) {
            Err(EvalError::Duplicate { line, first_line, .. }) => assert_eq!((line, first_line), (20_000, 4)),
            other => panic!("{other:?}"),
        }
    }

    fn manifest_err(text: &str) -> (usize, String, String) {
        match parse_manifest(text, Path::new("m.jsonl")) {
            Err(e @ EvalError::Line { .. }) => {
                let msg = e.to_string();
                (e.line_number().unwrap_or(0), e.field().unwrap_or("").to_string(), msg)
            }
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_manifest_parses() {
        let text = [
            rec("a", "L1", "severity", r#""high""#, r#","choices":["low","moderate","high","severe"]"#),
            String::new(),
            rec("b", "L3", "localize", r#""[0.100, 0.200, 0.300, 0.400]""#, r#","box":[0.1,0.2,0.3,0.4]"#),
            rec("c", "L3", "localize", r#""none""#, r#","box":null"#),
            rec("d", "L2", "which_worse", r#""centre""#, r#","choices":["top-left","centre"]"#),
            rec("e", "L4", "explain", r#""use beam steering""#, r#","concepts":["mitigation:beam steering"]"#),
        ]
        .join("\n");
        let recs = parse_manifest(&text, Path::new("m.jsonl")).unwrap();
        assert_eq!(recs.len(), 5);
        assert_eq!(recs[1].bbox, Some([0.1, 0.2, 0.3, 0.4]));
        assert_eq!(recs[2].bbox, None);
        assert_eq!(recs[4].concepts, ["mitigation:beam steering"]);
        assert_eq!(recs[0].split, Split::Test);
    }

    #[test]
    fn manifest_errors_name_line_and_field() {
        let good = rec("a", "L1", "severity", r#""low""#, "");
        let (line, field, msg) = manifest_err(&format!("{good}\n{{\"id\": \"b\",\n"));
        assert_eq!((line, field.as_str()), (2, ""));
        assert!(msg.starts_with("m.jsonl:2: invalid JSON"), "{msg}");

        let (line, field, msg) = manifest_err(&format!("{good}\n\n{}", rec("b", "L7", "severity", r#""low""#, "")));
        assert_eq!((line, field.as_str()), (3, "level"));
        assert_eq!(msg, "m.jsonl:3: field `level`: unknown level \"L7\" (expected L1-L4)");

        let (line, field, _) = manifest_err(&rec("b", "L2", "severity", r#""low""#, ""));
        assert_eq!((line, field.as_str()), (1, "level"));
        let (_, field, _) = manifest_err(&rec("b", "L1", "severity", r#""extreme""#, ""));
        assert_eq!(field, "answer");
        let (_, field, _) = manifest_err(&rec("b", "L1", "sevrity", r#""low""#, ""));
        assert_eq!(field, "kind");
        let (_, field, _) = manifest_err(&rec("b", "L1", "severity", "3", ""));
        assert_eq!(field, "answer");
        let (_, field, _) =
            manifest_err(&rec("b", "L3", "localize", r#""[0.1, 0.2, 0.3, 0.4]""#, r#","box":[0.1,0.2,0.3]"#));
        assert_eq!(field, "box");
        let (_, field, _) = manifest_err(&rec("b", "L3", "localize", r#""[0.1, 0.2, 0.3, 0.4]""#, ""));
        assert_eq!(field, "box");
        let (_, field, _) = manifest_err(&rec("b", "L3", "localize", r#""none""#, r#","box":[0.1,0.2,0.3,0.4]"#));
        assert_eq!(field, "box");
        let (_, field, _) =
            manifest_err(&rec("b", "L3", "localize", r#""[0.1, 0.2, 0.3, 0.4]""#, r#","box":[0.1,0.2,0.3,0.5]"#));
        assert_eq!(field, "box");
        let (_, field, _) = manifest_err(&rec("b", "L2", "which_worse", r#""centre""#, r#","choices":["centre"]"#));
        assert_eq!(field, "choices");
        let (_, field, _) =
            manifest_err(&rec("b", "L1", "severity", r#""low""#, "").replace(r#""split":"test""#, r#""split":"dev""#));
        assert_eq!(field, "split");
        let (_, field, _) = manifest_err(&rec("b", "L1", "severity", r#""low""#, "").replace(r#""png":"p.png","#, ""));
        assert_eq!(field, "images.png");
    }

    #[test]
    fn duplicate_and_empty_manifests_fail() {
        let a = rec("a", "L1", "severity", r#""low""#, "");
        match parse_manifest(&format!("{a}\n{a}"), Path::new("m.jsonl")) {
            Err(EvalError::Duplicate { line: 2, first_line: 1, id, .. }) => assert_eq!(id, "a"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_manifest("\n  \n", Path::new("m.jsonl")), Err(EvalError::Empty { .. })));
    }

    #[test]
    fn predictions_parse_and_fail_precisely() {
        let p = Path::new("p.jsonl");
        let ok = "{\"id\":\"a\",\"answer\":\"high\"}\n\n{\"id\":\"b\",\"answer\":\"\",\"box\":[0,0,0.5,0.5],\"confidence\":0.9}\n";
        let preds = parse_predictions(ok, p).unwrap();
        assert_eq!(preds.len(), 2);
        assert_eq!(preds[1].bbox, Some([0.0, 0.0, 0.5, 0.5]));
        assert_eq!(preds[1].confidence, Some(0.9));

        let e = parse_predictions("{\"id\":\"a\",\"answer\":\"x\"}\n{\"id\":\"b\"}", p).unwrap_err();
        assert_eq!((e.line_number(), e.field()), (Some(2), Some("answer")));
        assert_eq!(e.to_string(), "p.jsonl:2: field `answer`: missing");

        let e = parse_predictions("{\"id\":\"a\",\"answer\":\"x\",\"box\":[0.1,0.2,0.3]}", p).unwrap_err();
        assert_eq!((e.line_number(), e.field()), (Some(1), Some("box")));
        let e = parse_predictions("{\"id\":\"a\",\"answer\":\"x\",\"box\":[0.1,0.2,0.3,1e300]}", p).unwrap_err();
        assert_eq!(e.field(), Some("box"));
        let e = parse_predictions("{\"id\":\"a\",\"answer\":\"x\",\"box\":[0.1,\"a\",0.3,0.4]}", p).unwrap_err();
        assert_eq!(e.field(), Some("box"));
        let e = parse_predictions("{\"id\":7,\"answer\":\"x\"}", p).unwrap_err();
        assert_eq!(e.field(), Some("id"));
        let e = parse_predictions("[1, 2]", p).unwrap_err();
        assert_eq!((e.line_number(), e.field()), (Some(1), None));

        let e = parse_predictions(
            "{\"id\":\"a\",\"answer\":\"x\"}\n{\"id\":\"c\",\"answer\":\"y\"}\n{\"id\":\"a\",\"answer\":\"z\"}",
            p,
        )
        .unwrap_err();
        assert!(matches!(&e, EvalError::Duplicate { line: 3, first_line: 1, .. }), "{e:?}");
        assert_eq!(e.to_string(), "p.jsonl:3: duplicate id \"a\" (first seen on line 1)");
    }

    #[test]
    fn files_that_cannot_be_read_name_their_path() {
        let e = read_predictions(Path::new("/nonexistent/dir/p.jsonl")).unwrap_err();
        assert!(matches!(e, EvalError::Io { what: "predictions", .. }));
        assert!(
            e.to_string().starts_with("cannot read predictions: ")
                && e.to_string().ends_with("/nonexistent/dir/p.jsonl")
        );
    }
}
