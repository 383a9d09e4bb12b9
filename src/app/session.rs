//! Sessions: what is open and how it is looked at, saved to a `.heatscope` file (JSON) and restored:
//! every image with its display settings, range rules, view, pinned pixel, contour levels, drawn
//! shape and added annotation files (and those turned off), which one is active, and the toggles of
//! the panels and overlays. Written atomically on a worker (File > Save session, Ctrl+S); the app
//! also keeps the last session beside its settings every 30 s and on exit, so a crash loses at most
//! 30 s (File > Restore last session). Opening a `.heatscope` file, from the dialog or the command
//! line, restores it; an image that no longer exists is reported and the rest restored. UI thread
//! (the files are read and written on workers).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::HeatscopeApp;
use super::measure::{Drawn, Tool};
use super::slot::{Key, Slot};
use crate::render::{DisplaySettings, ViewTransform};
use crate::stats::RangeMode;
use crate::workers::Job;

/// The extension of session files.
pub const EXTENSION: &str = "heatscope";

/// Sessions this build writes; older ones are read, newer ones refused with the reason.
const VERSION: u32 = 1;

/// A saved session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub heatscope_session: u32,
    pub images: Vec<SavedImage>,
    /// Index into `images` of the one shown.
    pub active: Option<usize>,
    #[serde(default)]
    pub panels: SavedPanels,
}

/// One open image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedImage {
    pub path: PathBuf,
    pub settings: DisplaySettings,
    pub range: [RangeMode; 3],
    #[serde(default)]
    pub view: Option<ViewTransform>,
    #[serde(default)]
    pub pinned: Option<[i64; 2]>,
    #[serde(default)]
    pub contour_levels: Option<String>,
    #[serde(default)]
    pub drawn: Option<Drawn>,
    /// Annotation files added by hand (the ones beside the image are found again).
    #[serde(default)]
    pub annotation_files: Vec<PathBuf>,
    /// Annotation files turned off.
    #[serde(default)]
    pub annotations_hidden: Vec<PathBuf>,
}

/// The panels and overlays.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedPanels {
    pub side_panels: bool,
    pub annotations: bool,
    pub contours: bool,
    pub tool: Tool,
    pub error_analysis: bool,
    /// Index into `images` of the image compared with the active one, how, and where the swipe
    /// line is.
    pub compare: Option<(usize, super::compare::Mode, f32)>,
}

/// Whether `path` names a session file.
pub fn is_session_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case(EXTENSION)) && !path.is_dir()
}

/// Parse a session file's text; errors say what is wrong.
pub fn parse(text: &str) -> Result<Session, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not a session file: {e}"))?;
    match value.get("heatscope_session").and_then(serde_json::Value::as_u64) {
        None => return Err("not a session file: no \"heatscope_session\" version".into()),
        Some(v) if v > u64::from(VERSION) => {
            return Err(format!("made by a newer heatscope (session version {v}; this one reads up to {VERSION})"));
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|e| format!("damaged session file: {e}"))
}

/// Read and parse a session file (on a worker).
fn read(path: &Path) -> Result<Session, String> {
    const MAX_BYTES: u64 = 64 << 20;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the session: {e} ({})", path.display()))?;
    if meta.len() > MAX_BYTES {
        return Err(format!(
            "the session file is {} bytes, too large to be a session ({})",
            meta.len(),
            path.display()
        ));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the session: {e} ({})", path.display()))?;
    parse(&text).map_err(|e| format!("{e} ({})", path.display()))
}

/// Session I/O the app waits for.
#[derive(Debug, Default)]
pub struct SessionState {
    /// A session being read, then restored.
    pub opening: Slot<Arc<(PathBuf, Session)>>,
    /// A session being written; ready with the path written.
    pub saving: Slot<Arc<PathBuf>>,
    /// Where Ctrl+S saves (the file last opened or saved), if any.
    pub path: Option<PathBuf>,
    /// The "Save session as" window's path field, when the window is open.
    pub save_as: Option<String>,
    /// Where the last session is kept (None: not kept, as in tests).
    pub last: Option<PathBuf>,
    /// Per image path: annotation files to add once it has loaded, and files to turn off.
    pub pending: Vec<(PathBuf, Vec<PathBuf>)>,
}

impl HeatscopeApp {
    /// The session as it stands.
    pub fn session(&self) -> Session {
        let images: Vec<SavedImage> = self
            .docs
            .iter()
            .filter(|d| !matches!(d.status, super::DocStatus::Failed(_)))
            .map(|d| {
                let added: Vec<PathBuf> = d
                    .annotations
                    .batches
                    .iter()
                    .skip(1)
                    .filter_map(Slot::ready)
                    .flat_map(|b| b.iter().map(|f| f.path.clone()))
                    .collect();
                let mut hidden: Vec<PathBuf> = d.annotations.hidden.iter().cloned().collect();
                hidden.sort();
                SavedImage {
                    path: d.path.clone(),
                    settings: d.settings.clone(),
                    range: d.range,
                    view: d.transform,
                    pinned: d.pinned,
                    contour_levels: d.measure.levels.clone(),
                    drawn: d.measure.drawn.clone(),
                    annotation_files: added,
                    annotations_hidden: hidden,
                }
            })
            .collect();
        let saved_ids: Vec<u64> =
            self.docs.iter().filter(|d| !matches!(d.status, super::DocStatus::Failed(_))).map(|d| d.id).collect();
        let active = saved_ids.iter().position(|&id| Some(id) == self.active);
        Session {
            heatscope_session: VERSION,
            images,
            active,
            panels: SavedPanels {
                side_panels: self.persisted.show_side_panels,
                annotations: self.show_annotations,
                contours: self.measure.show_contours,
                tool: self.measure.tool,
                error_analysis: self.failures.open,
                compare: self.compare.as_ref().and_then(|c| {
                    let k = saved_ids.iter().position(|&id| id == c.other)?;
                    Some((k, c.mode, c.swipe))
                }),
            },
        }
    }

    /// Restore `session`: open its images (those already open keep their data) and give each its
    /// view; images that no longer exist are reported.
    pub fn restore(&mut self, session: &Session) {
        let missing: Vec<String> =
            session.images.iter().filter(|i| !i.path.exists()).map(|i| i.path.display().to_string()).collect();
        if !missing.is_empty() {
            self.error(format!("the session's images no longer found: {}", missing.join(", ")));
        }
        let present: Vec<&SavedImage> = session.images.iter().filter(|i| i.path.exists()).collect();
        self.open(present.iter().map(|i| i.path.clone()).collect());
        for saved in &present {
            let path = std::path::absolute(&saved.path).unwrap_or_else(|_| saved.path.clone());
            let Some(doc) = self.docs.iter_mut().find(|d| d.path == path) else { continue };
            doc.restored = doc.loaded.is_none();
            doc.settings = saved.settings.clone();
            doc.range = saved.range;
            doc.transform = saved.view;
            doc.pinned = saved.pinned;
            doc.measure.levels.clone_from(&saved.contour_levels);
            doc.measure.clear_shape();
            doc.measure.drawn.clone_from(&saved.drawn);
            doc.annotations.hidden = saved.annotations_hidden.iter().cloned().collect();
            if !saved.annotation_files.is_empty() {
                self.session.pending.push((path, saved.annotation_files.clone()));
            }
        }
        let active = session
            .active
            .and_then(|k| session.images.get(k))
            .map(|i| std::path::absolute(&i.path).unwrap_or_else(|_| i.path.clone()));
        if let Some(doc) = active.and_then(|p| self.docs.iter().find(|d| d.path == p)) {
            self.active = Some(doc.id);
        }
        let p = &session.panels;
        self.persisted.show_side_panels = p.side_panels;
        self.show_annotations = p.annotations;
        self.measure.show_contours = p.contours;
        self.measure.tool = p.tool;
        self.failures.open = p.error_analysis;
        let other = p.compare.and_then(|(k, mode, swipe)| {
            let path = session.images.get(k)?.path.clone();
            let path = std::path::absolute(&path).unwrap_or(path);
            let id = self.docs.iter().find(|d| d.path == path)?.id;
            Some((id, mode, swipe))
        });
        match other {
            Some((id, mode, swipe)) => {
                self.compare_with(Some(id), mode);
                if let Some(c) = self.compare.as_mut() {
                    c.swipe = swipe.clamp(0.0, 1.0);
                }
                // The saved views stand (compare_with refits for a new comparison).
                for saved in &present {
                    let path = std::path::absolute(&saved.path).unwrap_or_else(|_| saved.path.clone());
                    if let Some(doc) = self.docs.iter_mut().find(|d| d.path == path) {
                        doc.transform = saved.view;
                    }
                }
            }
            None => self.compare = None,
        }
    }

    /// Read the session file `path` on a worker; it is restored when read.
    pub(super) fn open_session(&mut self, path: PathBuf) {
        let job = Job::task("reading the session", move |_| read(&path).map(|s| Arc::new((path, s))));
        match self.workers.submit(Key::SessionOpen, job) {
            Ok(ticket) => self.session.opening = Slot::loading(&ticket),
            Err(e) => self.error(format!("cannot read the session: {e}")),
        }
    }

    /// Write the session to `path` on a worker (atomically).
    pub(super) fn save_session(&mut self, path: PathBuf) {
        let path = if path.extension().is_none() { path.with_extension(EXTENSION) } else { path };
        let text = match serde_json::to_string_pretty(&self.session()) {
            Ok(t) => t,
            Err(e) => return self.error(format!("cannot save the session: {e}")),
        };
        let job = Job::task("saving the session", move |_| {
            crate::io::atomic::write(&path, text.as_bytes())
                .map_err(|e| format!("cannot save the session: {e} ({})", path.display()))?;
            Ok(Arc::new(path))
        });
        match self.workers.submit(Key::SessionSave, job) {
            Ok(ticket) => self.session.saving = Slot::loading(&ticket),
            Err(e) => self.error(format!("cannot save the session: {e}")),
        }
    }

    /// Keep the last session beside the settings (eframe's save: every 30 s and on exit).
    pub(super) fn keep_last_session(&mut self) {
        let Some(path) = self.session.last.clone() else { return };
        if self.docs.is_empty() {
            return;
        }
        match serde_json::to_string_pretty(&self.session()) {
            Ok(text) => {
                if let Err(e) = crate::io::atomic::write(&path, text.as_bytes()) {
                    tracing::warn!("cannot keep the last session: {e} ({})", path.display());
                }
            }
            Err(e) => tracing::warn!("cannot keep the last session: {e}"),
        }
    }

    /// A worker finished reading or writing a session.
    pub(super) fn session_event(&mut self, job: u64, kind: crate::workers::EventKind) {
        let opening = matches!(&self.session.opening, Slot::Loading(p) if p.id == job);
        let saving = matches!(&self.session.saving, Slot::Loading(p) if p.id == job);
        match kind {
            // Every failure is reported, also of a read a later one replaced (two files opened at once).
            crate::workers::EventKind::Failed(why) if !opening && !saving => self.error(why),
            kind if opening => {
                if let super::slot::Applied::Failed(why) = self.session.opening.apply(job, kind) {
                    self.error(why);
                }
            }
            kind => {
                if let super::slot::Applied::Failed(why) = self.session.saving.apply(job, kind) {
                    self.error(why);
                }
            }
        }
        if let Some(read) = self.session.opening.ready().cloned() {
            self.session.opening = Slot::Empty;
            let (path, session) = read.as_ref();
            self.restore(session);
            self.session.path = Some(path.clone());
            self.info(format!("restored the session {} ({} images)", path.display(), session.images.len()));
        }
        if let Some(path) = self.session.saving.ready().cloned() {
            self.session.saving = Slot::Empty;
            self.session.path = Some(path.as_ref().clone());
            self.info(format!("saved the session to {}", path.display()));
        }
    }

    /// Add the annotation files a restored session lists once their image has loaded.
    pub(super) fn request_session_annotations(&mut self) {
        if self.session.pending.is_empty() {
            return;
        }
        let ready: Vec<usize> = self
            .session
            .pending
            .iter()
            .enumerate()
            .filter(|(_, (p, _))| self.docs.iter().any(|d| d.path == *p && d.loaded.is_some()))
            .map(|(k, _)| k)
            .collect();
        for k in ready.into_iter().rev() {
            let (path, files) = self.session.pending.remove(k);
            if let Some(id) = self.docs.iter().find(|d| d.path == path).map(|d| d.id) {
                let before = self.active;
                self.active = Some(id);
                self.add_annotations(files);
                self.active = before;
            }
        }
    }
}

/// The "Save session as" window.
pub fn save_window(app: &mut HeatscopeApp, ctx: &egui::Context) {
    let Some(mut text) = app.session.save_as.take() else { return };
    let mut open = true;
    let mut save = false;
    egui::Window::new("Save session").open(&mut open).collapsible(false).show(ctx, |ui| {
        ui.label("Images, views, display settings, shapes and annotation layers, as a .heatscope file:");
        let field = ui
            .add(egui::TextEdit::singleline(&mut text).desired_width(420.0))
            .accessible_name("Session path")
            .on_hover_text("Where the session is written (replaced atomically)");
        save = ui.button("Save").clicked() || (field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)));
    });
    if save && !text.trim().is_empty() {
        app.save_session(PathBuf::from(text.trim()));
    } else if open {
        app.session.save_as = Some(text);
    }
}

/// Where "Save session as" starts: the session file last used, else beside the active image.
pub fn default_path(app: &HeatscopeApp) -> PathBuf {
    if let Some(p) = &app.session.path {
        return p.clone();
    }
    let dir = app.active_doc().and_then(|d| d.path.parent().map(Path::to_path_buf)).unwrap_or_default();
    dir.join(format!("session.{EXTENSION}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_and_bad_files_say_why() {
        let s = Session {
            heatscope_session: VERSION,
            images: vec![SavedImage {
                path: "/data/a.tif".into(),
                settings: DisplaySettings::default(),
                range: [RangeMode::Manual(1.0, 2.0), RangeMode::ZScale, RangeMode::Percentile(1.0, 99.0)],
                view: None,
                pinned: Some([3, 4]),
                contour_levels: Some("3σ".into()),
                drawn: Some(Drawn::Line([0.0, 1.0], [2.0, 3.0])),
                annotation_files: vec!["/data/a.json".into()],
                annotations_hidden: vec![],
            }],
            active: Some(0),
            panels: SavedPanels {
                side_panels: true,
                annotations: false,
                contours: true,
                tool: Tool::Rect,
                error_analysis: false,
                compare: Some((0, super::super::compare::Mode::Swipe, 0.3)),
            },
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(parse(&text).unwrap(), s);
        assert!(parse("{\"images\": []}").unwrap_err().contains("no \"heatscope_session\""));
        assert!(parse("{\"heatscope_session\": 99}").unwrap_err().contains("newer heatscope"));
        assert!(parse(&text[..text.len() / 2]).unwrap_err().contains("not a session file"));
        assert!(parse("{\"heatscope_session\": 1, \"images\": 7}").unwrap_err().contains("damaged"));
    }
}
