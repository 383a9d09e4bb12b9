//! Routing in "Ask the image": as the user types, the router reads the question (kind, level, regions,
//! confidence) and the policy picks the model that answers, shown on a line under the question with the
//! reason; Ask sends it there, "Ask the other" overrides, "Both" asks the CNN and the VLM. A CNN answer
//! reads the CNN's reading of this image, the one its overlay shows, through the router's structured
//! query. UI thread: routing a question takes microseconds; the router is embedded (loaded once).

use std::sync::Arc;

use egui::RichText;

use crate::models::router::policy::{Decision, OnAbstain, Policy, decide};
use crate::models::router::{Route, Router};
use crate::types::{QaRecord, Split};

/// Policies the chat offers (the oracle needs a dataset's level, which a typed question has not).
pub const CHAT_POLICIES: [Policy; 5] =
    [Policy::BestOnVal, Policy::Learned, Policy::Cascade, Policy::CnnOnly, Policy::VlmOnly];

/// The routing the user chose (kept between runs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RoutingSettings {
    /// Route typed questions; off: the VLM answers everything, as before.
    pub on: bool,
    /// A name from [`CHAT_POLICIES`].
    pub policy: String,
    pub on_abstain: OnAbstain,
    /// The cascade hands a question to the VLM below this CNN confidence.
    pub cascade_threshold: f64,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self { on: true, policy: Policy::BestOnVal.name().into(), on_abstain: OnAbstain::Vlm, cascade_threshold: 0.5 }
    }
}

impl RoutingSettings {
    fn policy(&self) -> Policy {
        Policy::parse(&self.policy).ok().filter(|p| CHAT_POLICIES.contains(p)).unwrap_or(Policy::BestOnVal)
    }
}

/// The router and the last question it read (the line under the input is redrawn every frame).
#[derive(Debug, Default)]
pub struct Routing {
    router: Option<Result<Arc<Router>, String>>,
    last: Option<(String, Route)>,
}

impl Routing {
    /// The router in `dir` (default the bundled one), or why it cannot be used.
    pub fn load(dir: Option<&std::path::Path>) -> Self {
        let router = match dir {
            Some(d) => Router::load(d).map_err(|e| {
                format!(
                    "the router in {} cannot be used ({e}); routing is off: the VLM answers typed questions",
                    d.display()
                )
            }),
            None => Router::bundled().map_err(|e| format!("the bundled router cannot be used ({e}); routing is off")),
        };
        Self { router: Some(router.map(Arc::new)), last: None }
    }

    /// The router (the bundled one when none was loaded), or why it cannot be used.
    pub fn router(&mut self) -> Result<Arc<Router>, String> {
        self.router
            .get_or_insert_with(|| Router::bundled().map(Arc::new).map_err(|e| format!("routing is off: {e}")))
            .clone()
    }

    /// What the router makes of `question`.
    pub fn route(&mut self, question: &str) -> Result<Route, String> {
        if let Some((q, r)) = &self.last
            && q == question
        {
            return Ok(r.clone());
        }
        let route = self.router()?.route(question);
        self.last = Some((question.to_string(), route.clone()));
        Ok(route)
    }
}

/// Where a typed question goes: the model, why, and the router's reading.
#[derive(Clone, Debug)]
pub struct Plan {
    pub route: Route,
    pub decision: Decision,
}

/// The plan for `question` under `settings` (`None`: routing is off or the router is unusable).
pub fn plan(routing: &mut Routing, settings: &RoutingSettings, question: &str) -> Option<Result<Plan, String>> {
    if !settings.on || question.trim().is_empty() {
        return None;
    }
    let route = match routing.route(question) {
        Ok(r) => r,
        Err(e) => return Some(Err(e)),
    };
    let router = routing.router().ok()?;
    let decision =
        decide(settings.policy(), &router.config, &route, None, settings.on_abstain, settings.cascade_threshold);
    Some(decision.map(|mut decision| {
        // The rule needs a dataset's tuning and its grid; in the app the CNN's reading answers instead.
        if decision.model == Some("rule") {
            decision.model = Some("cnn");
            decision.why.push_str("; the rule answers in evaluation runs only, so here the CNN does");
        }
        Plan { route, decision }
    }))
}

/// A typed question as a record the structured query is built on (the scene's id when it is a sample).
fn typed_record(question: &str) -> QaRecord {
    QaRecord {
        id: "typed".into(),
        scene: String::new(),
        scenario: String::new(),
        split: Split::Test,
        level: crate::types::Level::L1,
        kind: crate::types::QuestionKind::Severity,
        question: question.into(),
        answer: String::new(),
        choices: Vec::new(),
        bbox: None,
        concepts: Vec::new(),
        examples: Vec::new(),
        images: crate::types::ScenePaths::default(),
        snr_bin: None,
    }
}

/// The CNN's answer to `question` as the router reads it, from the CNN's reading of the image (with
/// its confidence when it has one), or why it cannot answer.
pub fn cnn_answer(
    route: &Route,
    question: &str,
    reading: Option<&crate::models::cnn::CnnReading>,
) -> Result<(String, Option<f32>), String> {
    let reading =
        reading.ok_or("the CNN has not read this image (it reads SpectrumQA heatmaps; run it from the CNN panel)")?;
    let query = crate::eval::routed::structured_query(&typed_record(question), route)?;
    let p = reading.answer(&query).ok_or("the CNN does not answer this kind of question")?;
    Ok((p.answer, p.confidence))
}

/// The radio CNN's answer to the RadioQA task the router read, from its reading of the selected
/// source's cutout (with its calibrated probability), or why it cannot answer.
pub fn radio_answer(
    route: &Route,
    reading: Option<&crate::models::cnn_radio::RadioReading>,
) -> Result<(String, Option<f32>), String> {
    let kind = route.kind.as_deref().ok_or("the router abstained")?;
    let reading = reading.ok_or(
        "no source is selected: click a source on the image (Sources panel, K) for the radio CNN to read its cutout",
    )?;
    if let Some(why) = &reading.out_of_domain {
        return Err(format!("the selected cutout is outside what the radio CNN was trained on ({why})"));
    }
    let task = reading.task(kind).ok_or_else(|| format!("the radio CNN does not answer {kind} questions"))?;
    Ok((task.label.to_string(), Some(task.confidence())))
}

/// Whether the router read `route` as a RadioQA task (the radio CNN's, not the spectrum CNN's).
pub fn is_radio(route: &Route) -> bool {
    route.kind.as_deref().and_then(crate::types::QuestionKind::parse).is_some_and(crate::types::QuestionKind::is_radio)
}

/// The line under the question: where it goes and why; the override and compare buttons. Returns
/// what the user clicked: `Some(true)` ask the other model, `Some(false)` ask both.
pub fn line(ui: &mut egui::Ui, plan: &Result<Plan, String>) -> Option<bool> {
    let mut clicked = None;
    match plan {
        Err(why) => {
            ui.label(RichText::new(why).small().weak());
        }
        Ok(p) => {
            let r = &p.route;
            let target = match p.decision.model {
                Some("radio") => "RADIO CNN".to_string(),
                m => m.map_or_else(|| "nobody".to_string(), str::to_uppercase),
            };
            let reading = match (&r.level, &r.kind) {
                (Some(level), Some(kind)) => {
                    let regions =
                        if r.regions.is_empty() { String::new() } else { format!(", {}", r.regions.join(" and ")) };
                    format!("{level} {}{regions} ({:.2})", kind.replace('_', " "), r.confidence)
                }
                _ => format!("abstains ({})", r.why),
            };
            ui.add(egui::Label::new(RichText::new(format!("-> {target} · {reading}")).small().strong()).wrap())
                .on_hover_text("The router reads the text only; the policy and what an abstention does are set below");
            ui.add(egui::Label::new(RichText::new(&p.decision.why).small().weak()).wrap());
            ui.horizontal_wrapped(|ui| {
                let specialist = if is_radio(r) { "radio CNN" } else { "CNN" };
                let other = if p.decision.model == Some("vlm") { specialist } else { "VLM" };
                if ui
                    .small_button(format!("ask the {other}"))
                    .on_hover_text(format!("Send this question to the {other} instead (Ctrl+Enter)"))
                    .clicked()
                {
                    clicked = Some(true);
                }
                if ui
                    .small_button("both")
                    .on_hover_text(format!("Ask the {specialist} and the VLM, answers one under the other"))
                    .clicked()
                {
                    clicked = Some(false);
                }
            });
        }
    }
    clicked
}

/// The routing settings row.
pub fn settings_ui(ui: &mut egui::Ui, s: &mut RoutingSettings) {
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut s.on, "route").on_hover_text(
            "Let the router pick the model for each typed question (CNN or VLM) from the text alone; off: the VLM answers",
        );
        ui.add_enabled_ui(s.on, |ui| {
            egui::ComboBox::from_id_salt("routing policy")
                .selected_text(s.policy().name())
                .width(110.0)
                .show_ui(ui, |ui| {
                    for p in CHAT_POLICIES {
                        ui.selectable_value(&mut s.policy, p.name().to_string(), p.name());
                    }
                })
                .response
                .accessible_name("Routing policy")
                .on_hover_text(
                    "best-on-val: the model that scored best on the val split for this kind; learned: the paper's \
                     L1/L3 to the CNN, L2/L4 to the VLM; cascade: the CNN unless it is unsure",
                );
            let mut ask = s.on_abstain == OnAbstain::Ask;
            if ui
                .checkbox(&mut ask, "ask me when unsure")
                .on_hover_text("When the router abstains (off topic, or not sure): on, nobody answers and you rephrase; off, the VLM answers")
                .changed()
            {
                s.on_abstain = if ask { OnAbstain::Ask } else { OnAbstain::Vlm };
            }
        });
    });
}
