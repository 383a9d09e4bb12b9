//! "Ask the image": a chat with the VLM about the open image. The question and its image (and, for a
//! SpectrumQA-sim sample, k same-kind train examples) go to a worker as a [`Job::Chat`]; the answer
//! streams in token by token with tokens/s, each token shaded by how sure the model was; Stop cancels;
//! chain of thought folds the reasoning and shows the extracted answer; each image keeps its history;
//! Copy puts an answer on the clipboard; "tell the model the GSD" puts the image's GSD before the
//! question (`chat_gsd.rs`). On a labelled sample the parsed answer sits beside the ground
//! truth with its score and beside the CNN's answer where the CNN answers that level. This file holds
//! the chat's state and what asking does; `chat_view.rs` draws it. UI thread: no file is read here
//! (the worker loads the images).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::HeatscopeApp;
pub use super::chat_history::{SavedTurn, load_histories, restore_histories, store_histories};
use super::document;
use super::slot::{Key, Slot};
use crate::backend::{AnswerFormat, ChatBackend, ChatReply, Finish, final_answer};
use crate::models::vlm::{Message, Part};
use crate::types::QaRecord;
use crate::workers::{ChatImage, Job};

/// What the user chose (kept between runs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ChatSettings {
    /// Ask for reasoning first and show the text after the last "Answer:" as the answer.
    pub cot: bool,
    /// Show the model k same-kind examples first (dataset questions only).
    pub few_shot: bool,
    pub shots: usize,
    pub max_tokens: usize,
    /// Which model answers a typed question.
    pub routing: super::chat_route::RoutingSettings,
    /// Put the open image's GSD before the question as one sentence (`chat_gsd.rs`).
    pub tell_gsd: bool,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self { cot: false, few_shot: false, shots: 3, max_tokens: 200, routing: Default::default(), tell_gsd: false }
    }
}

/// How a turn stands.
#[derive(Clone, Debug, PartialEq)]
pub enum TurnStatus {
    Streaming,
    Done(Finish),
    Failed(String),
}

/// One question and its answer.
#[derive(Clone, Debug)]
pub struct Turn {
    pub question: String,
    /// The dataset question asked, when it was one (for the ground truth).
    pub record: Option<QaRecord>,
    /// The in-context examples shown first (question, answer).
    pub shots: Vec<(String, String)>,
    pub cot: bool,
    /// Streamed tokens: new text and the model's log-probability.
    pub tokens: Vec<(String, Option<f32>)>,
    pub status: TurnStatus,
    pub(super) started: Instant,
    pub(super) first_token: Option<f64>,
    pub reply: Option<ChatReply>,
    /// Tokens/s of an answer restored from a previous run (its reply is not kept).
    pub saved_rate: Option<f64>,
    /// Which model answered ("CNN", "VLM") and why it was sent there, when the router chose.
    pub by: Option<String>,
    pub route: Option<String>,
    /// The GSD sentence that went before the question ("tell the model the GSD"), when one did.
    pub gsd_in_prompt: Option<String>,
}

/// A token as it can be shown: control characters (other than newline and tab) as `\u{..}` escapes,
/// since they have no glyph and would draw over their neighbours; so is a combining mark that opens
/// the token (each token is its own label, so the mark would land on the previous token's glyph).
pub fn visible(token: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |i: usize, c: char| (c.is_control() && c != '\n' && c != '\t') || (i == 0 && is_combining(c));
    if !token.char_indices().any(|(i, c)| hidden(i, c)) {
        return std::borrow::Cow::Borrowed(token);
    }
    std::borrow::Cow::Owned(
        token
            .char_indices()
            .map(|(i, c)| if hidden(i, c) { c.escape_unicode().to_string() } else { c.to_string() })
            .collect(),
    )
}

/// Combining diacritical marks (the blocks a model's tokens can start with).
fn is_combining(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

impl Turn {
    pub fn text(&self) -> String {
        self.tokens.iter().map(|(t, _)| t.as_str()).collect()
    }

    /// The answer that is scored: after the last "Answer:" with chain of thought, else all of it.
    pub fn answer(&self) -> String {
        if self.cot { final_answer(&self.text()) } else { self.text().trim().to_string() }
    }
}

/// Everything the app keeps about the chat (the answer streaming now is its document's).
#[derive(Debug)]
pub struct ChatState {
    pub vlm: Slot<Arc<dyn ChatBackend>>,
    /// Where answers come from (shown in the panel).
    pub source: crate::workers::VlmSource,
    /// Conversation per image.
    pub histories: HashMap<PathBuf, Vec<Turn>>,
    pub input: String,
    /// The dataset question picked from the list (cleared when the text is edited).
    pub picked: Option<QaRecord>,
    /// File the histories are written to after every answer (None: memory only).
    pub store: Option<PathBuf>,
    /// The router and its reading of the question being typed.
    pub routing: super::chat_route::Routing,
}

impl Default for ChatState {
    fn default() -> Self {
        Self {
            vlm: Slot::Empty,
            source: crate::workers::VlmSource::Bundled,
            histories: HashMap::new(),
            input: String::new(),
            picked: None,
            store: None,
            routing: super::chat_route::Routing::default(),
        }
    }
}

/// The job that opens the VLM: a model folder, a server, or (neither) the bundled model.
pub(super) fn load_job(source: crate::workers::VlmSource) -> Job {
    Job::task(format!("opening the VLM ({})", source.describe()), move |_| {
        crate::backend::open(&source).map_err(|e| e.to_string())
    })
}

/// Score of an answer against a dataset question, as a short verdict (the scorer's own rules,
/// `eval::score_question`).
pub fn verdict(r: &QaRecord, answer: &str) -> (bool, String) {
    let p = crate::types::Prediction {
        id: r.id.clone(),
        answer: answer.to_string(),
        bbox: None,
        confidence: None,
        out_of_domain: None,
    };
    let s = crate::eval::score_question(r, Some(&p));
    (s.correct, s.verdict)
}

/// Who answers a question asked now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Where the router's policy sends it (the VLM when routing is off).
    Routed,
    /// The other model than the policy's.
    Other,
    /// The CNN and the VLM.
    Both,
}

/// Start asking about the active image, where the router sends the question.
pub(super) fn ask(app: &mut HeatscopeApp) {
    ask_with(app, Choice::Routed);
}

/// Start asking about the active image: the CNN answers at once from its reading of the image, the VLM
/// on a worker.
pub(super) fn ask_with(app: &mut HeatscopeApp, choice: Choice) {
    let question = app.chat.input.trim().to_string();
    if question.is_empty() {
        return;
    }
    let settings = app.persisted.chat.routing.clone();
    let plan = match super::chat_route::plan(&mut app.chat.routing, &settings, &question) {
        None => return ask_vlm(app, None, AnswerFormat::default()),
        Some(Err(why)) => return ask_vlm(app, Some(why), AnswerFormat::default()),
        Some(Ok(p)) => p,
    };
    let why = plan.decision.why.clone();
    let routed = plan.decision.model;
    let options = crate::models::router::answer_format(&plan.route);
    let (cnn, vlm) = match (choice, routed) {
        (Choice::Both, _) => (true, true),
        (Choice::Other, Some("vlm")) => (true, false),
        (Choice::Other, _) | (Choice::Routed, Some("vlm")) => (false, true),
        (Choice::Routed, Some(_)) => (true, false),
        (Choice::Routed, None) => {
            let turn = note_turn(
                &question,
                app.chat.picked.clone(),
                "router",
                why,
                TurnStatus::Failed("not answered: rephrase the question, or send it with \"ask the VLM\"".into()),
            );
            return push_turn(app, turn, false);
        }
    };
    let note = match choice {
        Choice::Routed => why.clone(),
        Choice::Other => format!("you chose it (the router: {why})"),
        Choice::Both => format!("you asked both (the router: {why})"),
    };
    if cnn {
        // A RadioQA task is the radio CNN's (on the selected source), any other the spectrum CNN's.
        let radio = super::chat_route::is_radio(&plan.route);
        let (by, answered) = if radio {
            ("radio CNN", super::chat_route::radio_answer(&plan.route, app.radio_reading().as_deref()))
        } else {
            let reading = app.cnn_reading();
            ("CNN", super::chat_route::cnn_answer(&plan.route, &question, reading.as_deref()))
        };
        match answered {
            // The cascade hands an unsure CNN answer to the VLM.
            Ok((_, c))
                if choice == Choice::Routed
                    && plan.decision.cascade_below.is_some_and(|t| crate::models::router::policy::hands_over(c, t)) =>
            {
                let c = c.map_or_else(|| "no confidence".to_string(), |c| format!("confidence {c:.2}"));
                return ask_vlm(app, Some(format!("{why}; the CNN answered with {c}, so the VLM answers")), options);
            }
            Ok((answer, confidence)) => {
                let mut turn =
                    note_turn(&question, app.chat.picked.clone(), by, note.clone(), TurnStatus::Done(Finish::Stop));
                turn.tokens = vec![(answer, confidence.map(f32::ln))];
                push_turn(app, turn, !vlm);
            }
            Err(e) if !vlm => {
                return ask_vlm(app, Some(format!("{note}; the {by} cannot answer: {e}; the VLM answers")), options);
            }
            Err(e) => {
                let turn = note_turn(
                    &question,
                    app.chat.picked.clone(),
                    by,
                    note.clone(),
                    TurnStatus::Failed(format!("the {by} cannot answer: {e}")),
                );
                push_turn(app, turn, false);
            }
        }
    }
    if vlm {
        ask_vlm(app, Some(note), options);
    }
}

/// A turn answered (or refused) without the VLM.
fn note_turn(question: &str, record: Option<QaRecord>, by: &str, route: String, status: TurnStatus) -> Turn {
    Turn {
        question: question.to_string(),
        record: record.filter(|r| r.question == question),
        shots: Vec::new(),
        cot: false,
        tokens: Vec::new(),
        status,
        started: Instant::now(),
        first_token: None,
        reply: None,
        saved_rate: None,
        by: Some(by.to_string()),
        route: Some(route),
        gsd_in_prompt: None,
    }
}

/// Add `turn` to the active image's history; `done` clears the question box (nothing more is asked).
fn push_turn(app: &mut HeatscopeApp, turn: Turn, done: bool) {
    let Some(path) = app.active_doc().map(|d| d.path.clone()) else { return };
    app.chat.histories.entry(path).or_default().push(turn);
    if done {
        app.chat.input.clear();
        app.chat.picked = None;
    }
    save(app);
}

/// Ask the VLM about the active image; `route` says why it was sent there (routing on). A closed
/// question (a dataset question's options, else `options` from the router's reading) is answered
/// under constrained decoding, one of its options exactly, and the route line says so; not under
/// chain of thought.
fn ask_vlm(app: &mut HeatscopeApp, route: Option<String>, options: AnswerFormat) {
    let Some(backend) = app.chat.vlm.ready() else {
        return app.error("the VLM is not ready yet (see the panel); ask again when it is".into());
    };
    let backend = Arc::clone(backend);
    let Some(doc) = app.active_doc() else { return };
    let (doc_id, path) = (doc.id, doc.path.clone());
    let question = app.chat.input.trim().to_string();
    if question.is_empty() {
        return;
    }
    // The image: a sample's rendered PNG, else the loaded raster rendered on the worker.
    let sample_dir = app.samples.as_ref().filter(|s| s.owns(&path)).map(|s| s.dir.clone());
    let record = app.chat.picked.clone().filter(|r| r.question == question);
    let image = match (&sample_dir, &record) {
        (Some(dir), Some(r)) => ChatImage::File(dir.join(&r.images.png)),
        _ => match doc.loaded.as_ref() {
            // A source selected on a sky image: the question is about its cutout.
            Some(l) if app.sources.show && doc.sources.selected.is_some() => {
                match doc.sources.selected_cutout(&l.raster) {
                    Some((_, cut)) => ChatImage::Raster(Arc::new(cut)),
                    None => ChatImage::Raster(Arc::clone(&l.raster)),
                }
            }
            Some(l) => ChatImage::Raster(Arc::clone(&l.raster)),
            None => {
                return match &doc.status {
                    super::DocStatus::Failed(why) => app
                        .error(format!("{} could not be opened, so there is nothing to ask about: {why}", doc.name())),
                    _ => app.error("the image is still loading; ask again when it is shown".into()),
                };
            }
        },
    };
    let settings = app.persisted.chat.clone();
    let gsd_in_prompt = super::chat_gsd::sentence(app);
    let (mut messages, images, shots) = match (&record, &sample_dir, &app.samples) {
        // A dataset question: the shared builder, with its examples when few-shot is on.
        (Some(r), Some(dir), Some(set)) => {
            let shots = if settings.few_shot { settings.shots } else { 0 };
            let find = |id: &str| set.records.iter().find(|x| x.id == id);
            let built = crate::backend::fewshot::conversation(r, shots, settings.cot, find, |x| {
                Ok(if x.id == r.id { image.clone() } else { ChatImage::File(dir.join(&x.images.png)) })
            });
            match built {
                Ok(c) => (c.messages, c.images, c.shown),
                Err(e) => return app.error(format!("cannot ask: {e}")),
            }
        }
        // A question of the user's own about any image.
        _ => {
            let text = crate::backend::fewshot::question_text(&question, settings.cot);
            (vec![Message::user(vec![Part::Image, Part::Text(text)])], vec![image], Vec::new())
        }
    };
    let format = match &record {
        _ if settings.cot => AnswerFormat::default(),
        Some(r) => AnswerFormat::for_kind(r.kind, &r.choices),
        None => options,
    };
    let route = match (&route, format.is_free()) {
        (_, true) => route,
        (Some(r), false) => Some(format!("{r}; {}", format.describe())),
        (None, false) => Some(format.describe()),
    };
    if let Some(s) = &gsd_in_prompt {
        crate::backend::gsd_prompt::prepend(&mut messages, s);
    }
    let job = Job::Chat { backend, messages, images, max_tokens: settings.max_tokens, format };
    match app.workers.submit(Key::Doc(doc_id, document::Part::Chat), job) {
        Ok(ticket) => {
            app.chat.histories.entry(path).or_default().push(Turn {
                question,
                record,
                shots,
                cot: settings.cot,
                tokens: Vec::new(),
                status: TurnStatus::Streaming,
                started: Instant::now(),
                first_token: None,
                reply: None,
                saved_rate: None,
                by: route.as_ref().map(|_| "VLM".to_string()),
                route,
                gsd_in_prompt,
            });
            if let Some(doc) = app.docs.iter_mut().find(|d| d.id == doc_id) {
                doc.results.answer = Slot::loading(&ticket);
            }
            app.chat.input.clear();
            app.chat.picked = None;
        }
        Err(e) => app.error(format!("cannot ask the VLM: {e}")),
    }
}

/// Apply an event of chat job `job` for document `doc_id`: tokens extend the streaming turn, the end
/// settles it, fills the document's answer slot and saves the histories.
pub(super) fn on_event(app: &mut HeatscopeApp, doc_id: u64, job: u64, kind: crate::workers::EventKind) {
    use crate::workers::{EventKind, Output};
    let Some(doc) = app.docs.iter_mut().find(|d| d.id == doc_id) else { return };
    let Slot::Loading(pending) = &doc.results.answer else { return };
    if pending.id != job {
        return;
    }
    let Some(turn) = app.chat.histories.get_mut(&doc.path).and_then(|h| h.last_mut()) else { return };
    match kind {
        EventKind::Token { text, logprob, .. } => {
            turn.first_token.get_or_insert_with(|| turn.started.elapsed().as_secs_f64());
            turn.tokens.push((text, logprob));
        }
        EventKind::Done(Output::Reply(reply)) => {
            turn.status = TurnStatus::Done(reply.finish);
            turn.reply = Some(*reply);
        }
        EventKind::Done(_) => turn.status = TurnStatus::Failed("internal error: the worker returned no answer".into()),
        EventKind::Failed(why) => turn.status = TurnStatus::Failed(why),
        EventKind::Cancelled => turn.status = TurnStatus::Done(Finish::Cancelled),
        EventKind::Progress { .. } | EventKind::Preview(_) => {}
    }
    doc.results.answer = match &turn.status {
        TurnStatus::Streaming => return,
        TurnStatus::Done(finish) => Slot::Ready(*finish),
        TurnStatus::Failed(why) => Slot::Failed(why.clone()),
    };
    save(app);
}

/// Write the histories to their file, saying so when that fails.
fn save(app: &mut HeatscopeApp) {
    if let Some(store) = app.chat.store.clone()
        && let Err(why) = store_histories(&app.chat, &store)
    {
        app.error(format!("the chat history was not saved: {why}"));
    }
}

/// A document closes while its answer streams: stop the job and keep what arrived as a stopped turn
/// (the job's own "cancelled" will find no document to report to).
pub(super) fn on_close(app: &mut HeatscopeApp, doc: &super::Document) {
    if !doc.results.answer.is_loading() {
        return;
    }
    if let Some(turn) = app.chat.histories.get_mut(&doc.path).and_then(|h| h.last_mut())
        && turn.status == TurnStatus::Streaming
    {
        turn.status = TurnStatus::Done(Finish::Cancelled);
    }
    save(app);
}

pub(super) fn stop(app: &mut HeatscopeApp) {
    if let Some(Slot::Loading(pending)) = app.active_doc().map(|d| &d.results.answer) {
        pending.cancel();
    }
}
