//! Opening files from inside the app: the desktop's own dialog where there is one (rfd through
//! xdg-desktop-portal on Linux), and heatscope's built-in browser wherever there is not (no portal
//! running, or the native dialog came back empty at once, which is how a missing portal shows). The
//! built-in browser is a window with a path field that opens what is typed (a file, a dataset folder,
//! a run folder) or goes to a typed folder, Up and Home, a list of the folder (folders first, then
//! the files heatscope reads; "all files" shows the rest) read on a worker, click to select (Ctrl adds),
//! double click or Enter to open, Backspace to go up, Esc to close. UI thread.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::HeatscopeApp;
use super::slot::{Key, Slot};
use crate::workers::Job;

/// What the user is choosing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Images, grids, dataset folders or run folders, to open.
    Files,
    /// A run folder, to show.
    RunFolder,
    /// A second run folder, to compare the shown run with.
    CompareRun,
    /// Annotation files, to add to the active image.
    Annotations,
    /// A CNN folder (heatscope's config.json or an imported model's heatscope.json), to load.
    CnnFolder,
}

/// One entry of a folder.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub path: PathBuf,
    pub name: String,
    pub dir: bool,
    pub bytes: u64,
    /// A SpectrumQA-sim dataset (manifest.jsonl) or a run (summary.json): opened as a whole.
    pub openable_dir: bool,
}

/// A folder's entries as read on a worker.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub dir: PathBuf,
    pub entries: Vec<Entry>,
    /// Entries left out past the listing limit.
    pub more: usize,
}

/// Entries listed at most (a folder of a million files must not stall the window).
const LIST_MAX: usize = 5000;

/// Read `dir` (on a worker): folders first, then files, each by name.
pub fn list(dir: &Path) -> Result<Listing, String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("cannot read the folder {}: {e}", dir.display()))?;
    let mut entries = Vec::new();
    let mut more = 0;
    for item in read.flatten() {
        if entries.len() >= LIST_MAX {
            more += 1;
            continue;
        }
        let path = item.path();
        let name = item.file_name().to_string_lossy().into_owned();
        // Follows links: a link to a folder browses like a folder.
        let meta = std::fs::metadata(&path).ok();
        let dir = meta.as_ref().is_some_and(std::fs::Metadata::is_dir);
        let openable_dir = dir && opens_whole(&path);
        entries.push(Entry { path, name, dir, bytes: meta.map_or(0, |m| m.len()), openable_dir });
    }
    entries.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase())));
    Ok(Listing { dir: dir.to_path_buf(), entries, more })
}

/// Whether `dir` opens as a whole (a dataset or a run) rather than being browsed into.
fn opens_whole(dir: &Path) -> bool {
    super::samples::is_dataset_folder(dir) || super::runs::is_run_folder(dir)
}

/// Whether the desktop has a file dialog rfd can use. On Linux that is xdg-desktop-portal, which
/// must be running on the session bus; elsewhere the system's own dialog is always there.
pub fn native_dialog_available() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return false;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else { return true };
    procs.flatten().any(|p| {
        std::fs::read_to_string(p.path().join("comm")).is_ok_and(|c| c.trim_end().starts_with("xdg-desktop-por"))
    })
}

/// The native dialog in flight.
#[derive(Debug)]
struct Native {
    rx: Receiver<Vec<PathBuf>>,
    started: Instant,
    purpose: Purpose,
}

/// An empty answer sooner than this is a dialog that never showed.
const NEVER_SHOWN: Duration = Duration::from_millis(700);

/// The browser window and the native dialog.
#[derive(Debug)]
pub struct FileBrowser {
    pub open: bool,
    pub purpose: Purpose,
    pub dir: PathBuf,
    /// The path field.
    pub input: String,
    pub listing: Slot<Listing>,
    pub selected: Vec<PathBuf>,
    pub show_all: bool,
    /// Whether to try the desktop's dialog first (learned false when it cannot show).
    pub native: bool,
    pending: Option<Native>,
    focus_input: bool,
}

impl Default for FileBrowser {
    fn default() -> Self {
        let dir = std::env::current_dir().unwrap_or_else(|_| home());
        Self {
            open: false,
            purpose: Purpose::Files,
            dir,
            input: String::new(),
            listing: Slot::Empty,
            selected: Vec::new(),
            show_all: false,
            native: native_dialog_available(),
            pending: None,
            focus_input: false,
        }
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

impl HeatscopeApp {
    /// Ctrl+O, File > Open…, File > Open run…: the desktop's dialog when it has one, else the built-in
    /// browser.
    pub(super) fn choose(&mut self, ctx: &egui::Context, purpose: Purpose) {
        if self.browser.pending.is_some() {
            return;
        }
        if !self.browser.native {
            return self.show_browser(purpose, None);
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new().name("heatscope-file-dialog".into()).spawn(move || {
            let dialog = rfd::FileDialog::new();
            let picked = match purpose {
                Purpose::Files => dialog
                    .set_title("Open images")
                    .add_filter("images and grids", crate::io::EXTENSIONS)
                    .add_filter("sessions", &[super::session::EXTENSION])
                    .add_filter("all files", &["*"])
                    .pick_files()
                    .unwrap_or_default(),
                Purpose::RunFolder => dialog.set_title("Open a run folder").pick_folder().into_iter().collect(),
                Purpose::Annotations => dialog
                    .set_title("Add annotations")
                    .add_filter("annotations", &["json", "geojson", "xml", "txt", "csv"])
                    .add_filter("all files", &["*"])
                    .pick_files()
                    .unwrap_or_default(),
                Purpose::CompareRun => {
                    dialog.set_title("Compare with a run folder").pick_folder().into_iter().collect()
                }
                Purpose::CnnFolder => dialog.set_title("Load a CNN folder").pick_folder().into_iter().collect(),
            };
            // The app may have closed meanwhile; then nobody waits for the answer.
            let _ = tx.send(picked);
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => self.browser.pending = Some(Native { rx, started: Instant::now(), purpose }),
            Err(e) => {
                self.error(format!("cannot start the file dialog ({e}); using the built-in browser"));
                self.show_browser(purpose, None);
            }
        }
    }

    /// Open the built-in browser (in the last folder, or at `path` when given).
    pub fn show_browser(&mut self, purpose: Purpose, path: Option<PathBuf>) {
        let b = &mut self.browser;
        b.open = true;
        b.purpose = purpose;
        b.focus_input = true;
        b.selected.clear();
        if let Some(p) = path {
            b.dir = p;
        }
        b.input = b.dir.display().to_string();
        let dir = b.dir.clone();
        self.browse(dir);
    }

    /// List `dir` on a worker.
    fn browse(&mut self, dir: PathBuf) {
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        self.browser.dir = dir.clone();
        self.browser.input = dir.display().to_string();
        self.browser.selected.clear();
        let job = Job::task(format!("listing {}", dir.display()), move |_| list(&dir));
        match self.workers.submit(Key::Browse, job) {
            Ok(ticket) => self.browser.listing = Slot::loading(&ticket),
            Err(e) => self.browser.listing = Slot::Failed(e),
        }
    }

    pub(super) fn browse_event(&mut self, job: u64, kind: crate::workers::EventKind) {
        self.browser.listing.apply(job, kind);
    }

    /// The native dialog's answer, when it came.
    pub(super) fn poll_native_dialog(&mut self) {
        let Some(n) = &self.browser.pending else { return };
        let Ok(paths) = n.rx.try_recv() else { return };
        let (quick, purpose) = (n.started.elapsed() < NEVER_SHOWN, n.purpose);
        self.browser.pending = None;
        if paths.is_empty() && quick {
            // No dialog showed: use the built-in browser from now on.
            self.browser.native = false;
            self.info("The desktop has no file dialog (no xdg-desktop-portal); using heatscope's own browser.".into());
            return self.show_browser(purpose, None);
        }
        if paths.is_empty() {
            return self.info("No file chosen.".into());
        }
        self.take_chosen(purpose, paths);
    }

    /// Open what was chosen.
    fn take_chosen(&mut self, purpose: Purpose, paths: Vec<PathBuf>) {
        match purpose {
            Purpose::Files => self.open(paths),
            Purpose::Annotations => self.add_annotations(paths),
            Purpose::RunFolder => {
                for p in paths {
                    self.open_run(p);
                }
            }
            Purpose::CompareRun => {
                if let Some(p) = paths.into_iter().next() {
                    self.open_compare(p);
                }
            }
            Purpose::CnnFolder => {
                if let Some(p) = paths.into_iter().next() {
                    self.load_cnn(Some(p));
                }
            }
        }
    }
}

/// What the window asks the app to do.
enum Action {
    Go(PathBuf),
    Open(Vec<PathBuf>),
    Close,
}

/// The built-in browser window, when open.
pub fn window(app: &mut HeatscopeApp, ctx: &egui::Context) {
    if !app.browser.open {
        return;
    }
    let mut action = None;
    let mut open = true;
    let title = match app.browser.purpose {
        Purpose::Files => "Open files",
        Purpose::RunFolder => "Open a run folder",
        Purpose::CompareRun => "Compare with a run folder",
        Purpose::Annotations => "Add annotations",
        Purpose::CnnFolder => "Load a CNN folder",
    };
    egui::Window::new(title)
        .open(&mut open)
        .collapsible(false)
        .default_size([620.0, 460.0])
        .resizable(true)
        .show(ctx, |ui| action = browser_ui(ui, &mut app.browser));
    if !open {
        action = Some(Action::Close);
    }
    match action {
        Some(Action::Go(dir)) => app.browse(dir),
        Some(Action::Open(paths)) => {
            app.browser.open = false;
            let purpose = app.browser.purpose;
            app.take_chosen(purpose, paths);
        }
        Some(Action::Close) => app.browser.open = false,
        None => {}
    }
}

fn browser_ui(ui: &mut egui::Ui, b: &mut FileBrowser) -> Option<Action> {
    let mut action = None;
    ui.horizontal(|ui| {
        if ui.button("Up").on_hover_text("The folder above (Backspace)").clicked()
            && let Some(parent) = b.dir.parent()
        {
            action = Some(Action::Go(parent.to_path_buf()));
        }
        if ui.button("Home").on_hover_text("Your home folder").clicked() {
            action = Some(Action::Go(home()));
        }
        ui.checkbox(&mut b.show_all, "all files").on_hover_text("Also list files heatscope does not read");
    });
    let field = ui.add(
        egui::TextEdit::singleline(&mut b.input)
            .desired_width(f32::INFINITY)
            .hint_text("type a path: a file, a dataset or run folder, or a folder to go to"),
    );
    let field = field
        .accessible_name("Path")
        .on_hover_text("Enter opens a file, a dataset folder or a run folder, or goes to a folder");
    if b.focus_input {
        field.request_focus();
        b.focus_input = false;
    }
    if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
        action = Some(typed(b));
    }
    ui.separator();
    let listing = b.listing.clone();
    let footer = 34.0;
    match &listing {
        Slot::Ready(l) => {
            egui::ScrollArea::vertical()
                .max_height((ui.available_height() - footer).max(80.0))
                .auto_shrink(false)
                .show(ui, |ui| {
                    let shown =
                        l.entries.iter().filter(|e| e.dir || b.show_all || super::samples::is_openable(&e.path));
                    for e in shown {
                        let picked = b.selected.contains(&e.path);
                        let label = if e.dir {
                            let kind = if e.openable_dir { "  (dataset or run: Open opens it)" } else { "" };
                            format!("{}/{kind}", e.name)
                        } else {
                            format!("{}   {}", e.name, size_text(e.bytes))
                        };
                        let text = if e.dir { egui::RichText::new(label).strong() } else { egui::RichText::new(label) };
                        let r = ui.selectable_label(picked, text);
                        if r.double_clicked() {
                            action = Some(if e.dir && !e.openable_dir {
                                Action::Go(e.path.clone())
                            } else {
                                Action::Open(vec![e.path.clone()])
                            });
                        } else if r.clicked() {
                            if ui.input(|i| i.modifiers.command) {
                                if picked {
                                    b.selected.retain(|p| p != &e.path);
                                } else {
                                    b.selected.push(e.path.clone());
                                }
                            } else {
                                b.selected = vec![e.path.clone()];
                            }
                            b.input = e.path.display().to_string();
                        }
                    }
                    if l.more > 0 {
                        ui.weak(format!("… and {} more (type a path to reach them)", l.more));
                    }
                    if l.entries.is_empty() {
                        ui.weak("(empty folder)");
                    }
                });
        }
        other => {
            other.show(ui, "reading the folder…", "");
            ui.add_space((ui.available_height() - footer).max(0.0));
        }
    }
    ui.separator();
    ui.horizontal(|ui| {
        let chosen: Vec<PathBuf> = if b.selected.is_empty() { Vec::new() } else { b.selected.clone() };
        let label = match (b.purpose, chosen.len()) {
            (Purpose::RunFolder, _) => "Open run".to_string(),
            (Purpose::CompareRun, _) => "Compare".to_string(),
            (Purpose::CnnFolder, _) => "Load CNN".to_string(),
            (Purpose::Annotations, 0) => "Add".to_string(),
            (Purpose::Annotations, n) => format!("Add {n}"),
            (_, 0) => "Open".to_string(),
            (_, n) => format!("Open {n}"),
        };
        if ui.button(label).on_hover_text("Open the selection, or what the path field names (Enter)").clicked() {
            action = Some(if chosen.is_empty() { typed(b) } else { Action::Open(chosen) });
        }
        if ui.button("Cancel").on_hover_text("Esc").clicked() {
            action = Some(Action::Close);
        }
        ui.weak(b.dir.display().to_string());
    });
    let text_focus = ui.ctx().egui_wants_keyboard_input();
    ui.input(|i| {
        if i.key_pressed(egui::Key::Escape) {
            action = Some(Action::Close);
        }
        if !text_focus
            && i.key_pressed(egui::Key::Backspace)
            && let Some(parent) = b.dir.parent()
        {
            action = Some(Action::Go(parent.to_path_buf()));
        }
        if !text_focus && i.key_pressed(egui::Key::Enter) && !b.selected.is_empty() {
            action = Some(Action::Open(b.selected.clone()));
        }
    });
    action
}

/// What the path field names: a folder to go to, or something to open.
fn typed(b: &FileBrowser) -> Action {
    let text = b.input.trim();
    let path = match text.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None => PathBuf::from(text),
    };
    let path = if path.is_relative() { b.dir.join(path) } else { path };
    let whole = opens_whole(&path);
    if path.is_dir() && !whole && matches!(b.purpose, Purpose::Files | Purpose::Annotations) {
        Action::Go(path)
    } else {
        Action::Open(vec![path])
    }
}

fn size_text(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.2} GiB", b / 1_073_741_824.0),
    }
}

/// File > Open path…: the built-in browser with its path field, whatever the desktop has.
pub fn open_path(app: &mut HeatscopeApp) {
    app.show_browser(Purpose::Files, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_puts_folders_first_and_marks_datasets_and_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("b-folder")).expect("dir");
        std::fs::create_dir(dir.path().join("a-dataset")).expect("dir");
        std::fs::write(dir.path().join("a-dataset/manifest.jsonl"), "").expect("file");
        std::fs::write(dir.path().join("image.TIF"), [0u8; 10]).expect("file");
        std::fs::write(dir.path().join("notes.md"), "x").expect("file");
        let l = list(dir.path()).expect("listing");
        let names: Vec<&str> = l.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a-dataset", "b-folder", "image.TIF", "notes.md"]);
        assert!(l.entries[0].openable_dir && !l.entries[1].openable_dir);
        assert_eq!(l.entries[2].bytes, 10);
        let readable = |name: &str| super::super::samples::is_openable(Path::new(name));
        assert!(readable("image.TIF") && readable("grid.txt") && !readable("notes.md"));
        let e = list(&dir.path().join("missing")).expect_err("no folder");
        assert!(e.contains("missing"), "{e}");
        assert_eq!(size_text(1536), "1.5 KiB");
    }

    #[test]
    fn the_path_field_goes_to_folders_and_opens_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("dir");
        std::fs::create_dir(dir.path().join("run")).expect("dir");
        std::fs::write(dir.path().join("run/summary.json"), "{}").expect("file");
        let mut b = FileBrowser { dir: dir.path().to_path_buf(), ..FileBrowser::default() };
        b.input = "sub".into();
        assert!(matches!(typed(&b), Action::Go(p) if p == dir.path().join("sub")));
        b.input = "run".into();
        assert!(matches!(typed(&b), Action::Open(p) if p == vec![dir.path().join("run")]));
        b.input = dir.path().join("x.npy").display().to_string();
        assert!(matches!(typed(&b), Action::Open(p) if p == vec![dir.path().join("x.npy")]));
        b.purpose = Purpose::RunFolder;
        b.input = "sub".into();
        assert!(matches!(typed(&b), Action::Open(_)), "choosing a run folder opens the folder typed");
    }
}
