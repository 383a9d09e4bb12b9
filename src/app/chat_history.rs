//! The chat's history kept between runs: each image's turns as saved (eframe storage, and a file the
//! app writes after every answer: a temporary file renamed over it, so a crash never leaves half a
//! file), and back. UI thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use super::chat::{ChatState, Turn, TurnStatus};
use crate::backend::{ChatReply, Finish};
use crate::types::QaRecord;

/// A turn as kept between runs (eframe storage, saved on exit and every 30 s): the question, the
/// examples, every token with its log-probability, how it ended and its speed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedTurn {
    pub question: String,
    pub record: Option<QaRecord>,
    pub shots: Vec<(String, String)>,
    pub cot: bool,
    pub tokens: Vec<(String, Option<f32>)>,
    /// "stop", "length", "cancelled" or "failed: <why>".
    pub status: String,
    pub tokens_per_second: Option<f64>,
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub route: Option<String>,
    /// The GSD sentence that went before the question (absent in histories saved before it existed).
    #[serde(default)]
    pub gsd_in_prompt: Option<String>,
}

/// Turns kept per image when saving (the latest).
const SAVED_TURNS: usize = 50;

/// The histories as they are saved; an answer still streaming is saved as stopped with its text so far.
pub fn saved_histories(state: &ChatState) -> Vec<(PathBuf, Vec<SavedTurn>)> {
    let mut out: Vec<(PathBuf, Vec<SavedTurn>)> = state
        .histories
        .iter()
        .filter(|(_, turns)| !turns.is_empty())
        .map(|(path, turns)| {
            let skip = turns.len().saturating_sub(SAVED_TURNS);
            let saved = turns[skip..]
                .iter()
                .map(|t| SavedTurn {
                    question: t.question.clone(),
                    record: t.record.clone(),
                    shots: t.shots.clone(),
                    cot: t.cot,
                    tokens: t.tokens.clone(),
                    status: match &t.status {
                        TurnStatus::Done(Finish::Stop) => "stop".into(),
                        TurnStatus::Done(Finish::Length) => "length".into(),
                        TurnStatus::Done(Finish::Cancelled) | TurnStatus::Streaming => "cancelled".into(),
                        TurnStatus::Failed(why) => format!("failed: {why}"),
                    },
                    tokens_per_second: t.reply.as_ref().and_then(ChatReply::tokens_per_second).or(t.saved_rate),
                    by: t.by.clone(),
                    route: t.route.clone(),
                    gsd_in_prompt: t.gsd_in_prompt.clone(),
                })
                .collect();
            (path.clone(), saved)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Read the histories file; a missing file is an empty history, an unreadable one an error to show
/// (the file is left alone, so nothing is lost by starting).
pub fn load_histories(path: &std::path::Path) -> Result<HashMap<PathBuf, Vec<Turn>>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(format!("cannot read the chat history {}: {e}", path.display())),
    };
    serde_json::from_slice(&bytes).map(restore_histories).map_err(|e| {
        format!("the chat history {} is damaged ({e}); it was not loaded and is kept as it is", path.display())
    })
}

/// Write the histories to `path` (a temporary file renamed over it, so a crash never leaves half a file).
pub fn store_histories(state: &ChatState, path: &std::path::Path) -> Result<(), String> {
    let json = serde_json::to_vec(&saved_histories(state)).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    crate::io::atomic::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Histories back from what [`saved_histories`] wrote.
pub fn restore_histories(saved: Vec<(PathBuf, Vec<SavedTurn>)>) -> HashMap<PathBuf, Vec<Turn>> {
    saved
        .into_iter()
        .map(|(path, turns)| {
            let turns = turns
                .into_iter()
                .map(|s| Turn {
                    status: match s.status.as_str() {
                        "stop" => TurnStatus::Done(Finish::Stop),
                        "length" => TurnStatus::Done(Finish::Length),
                        "cancelled" => TurnStatus::Done(Finish::Cancelled),
                        other => TurnStatus::Failed(other.strip_prefix("failed: ").unwrap_or(other).to_string()),
                    },
                    question: s.question,
                    record: s.record,
                    shots: s.shots,
                    cot: s.cot,
                    tokens: s.tokens,
                    started: Instant::now(),
                    first_token: None,
                    reply: None,
                    saved_rate: s.tokens_per_second,
                    by: s.by,
                    route: s.route,
                    gsd_in_prompt: s.gsd_in_prompt,
                })
                .collect();
            (path, turns)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::chat::visible;

    #[test]
    fn histories_survive_a_save_and_restore() {
        let mut state = ChatState::default();
        let turn = |status: TurnStatus| Turn {
            question: "Which region is worse?".into(),
            record: None,
            shots: vec![("q".into(), "a".into())],
            cot: true,
            tokens: vec![("north".into(), Some(-0.1)), ("-east".into(), None)],
            status,
            started: Instant::now(),
            first_token: None,
            reply: None,
            saved_rate: Some(12.5),
            by: Some("CNN".into()),
            route: Some("L1 severity question -> CNN".into()),
            gsd_in_prompt: Some("The ground sampling distance of this image is 0.6 m per pixel.".into()),
        };
        state.histories.insert(
            PathBuf::from("a.png"),
            vec![
                turn(TurnStatus::Done(Finish::Stop)),
                turn(TurnStatus::Streaming),
                turn(TurnStatus::Failed("gone".into())),
            ],
        );
        let saved = saved_histories(&state);
        let json = serde_json::to_string(&saved).expect("serializable");
        let back: Vec<(PathBuf, Vec<SavedTurn>)> = serde_json::from_str(&json).expect("readable");
        let restored = restore_histories(back);
        let turns = &restored[&PathBuf::from("a.png")];
        assert_eq!(turns.len(), 3);
        assert_eq!(turns[0].text(), "north-east");
        assert_eq!(turns[0].status, TurnStatus::Done(Finish::Stop));
        // An answer cut short by a crash or quit comes back as stopped, with its text.
        assert_eq!(turns[1].status, TurnStatus::Done(Finish::Cancelled));
        assert_eq!(turns[2].status, TurnStatus::Failed("gone".into()));
        assert_eq!(turns[0].tokens[0].1, Some(-0.1));
        assert_eq!(turns[0].saved_rate, Some(12.5));
        assert_eq!(
            (turns[0].by.as_deref(), turns[0].route.as_deref()),
            (Some("CNN"), Some("L1 severity question -> CNN"))
        );
        assert!(turns[0].cot && turns[0].shots.len() == 1);
        assert_eq!(
            turns[0].gsd_in_prompt.as_deref(),
            Some("The ground sampling distance of this image is 0.6 m per pixel.")
        );
        // A history saved before the GSD option existed still loads, with no sentence.
        let mut old: serde_json::Value = serde_json::from_str(&json).expect("json");
        old[0][1][0].as_object_mut().expect("a turn").remove("gsd_in_prompt");
        let old: Vec<(PathBuf, Vec<SavedTurn>)> = serde_json::from_value(old).expect("old histories load");
        assert_eq!(old[0].1[0].gsd_in_prompt, None);
        assert_eq!(visible("a\u{8}b"), "a\\u{8}b");
        assert_eq!(visible("line\n"), "line\n");
        assert_eq!(visible("\u{301}x"), "\\u{301}x");
        assert_eq!(visible("e\u{301}"), "e\u{301}");
        // Through a file: written whole, read back; a damaged file is an error and stays on disk.
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("sub/chat-history.json");
        assert!(load_histories(&file).expect("missing is empty").is_empty());
        store_histories(&state, &file).expect("written");
        assert_eq!(load_histories(&file).expect("read")[&PathBuf::from("a.png")].len(), 3);
        std::fs::write(&file, b"{not json").expect("damage");
        let err = load_histories(&file).expect_err("damaged");
        assert!(err.contains("damaged") && file.is_file(), "{err}");
    }
}
