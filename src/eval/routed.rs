//! The router as a model: each question is read by the router from its text alone and sent to the
//! CNN, the VLM or the rule as its policy says (`models::router::policy`). The CNN and the rule get the
//! router's structured query (its kind, and the regions it read, in the generator's canonical
//! wording), never the dataset's kind, except under the oracle and the single-model policies, which
//! answer the dataset's own question; the VLM gets the question as written. A RadioQA task goes to the
//! radio CNN (asked the routed task on the same cutout) when one is loaded, else to the VLM. A wrong
//! route is scored as the model's answer to the wrong question. Any thread.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::predictor::{Answer, Fatal, ModelIdentity, Predictor, SceneQuestions};
use crate::models::router::policy::{Decision, OnAbstain, Policy, decide, hands_over};
use crate::models::router::{Route, Router};
use crate::sim::questions::{families, fill};
use crate::types::{QaRecord, QuestionKind, REGIONS};

/// The models a routed run may send questions to.
#[derive(Default)]
pub struct Models {
    pub cnn: Option<Box<dyn Predictor>>,
    pub vlm: Option<Box<dyn Predictor>>,
    pub rule: Option<Box<dyn Predictor>>,
    /// The radio CNN, for RadioQA tasks (optional: without it they go to the VLM).
    pub radio: Option<Box<dyn Predictor>>,
}

impl Models {
    fn get(&self, name: &str) -> Option<&dyn Predictor> {
        match name {
            "cnn" => self.cnn.as_deref(),
            "vlm" => self.vlm.as_deref(),
            "rule" => self.rule.as_deref(),
            "radio" => self.radio.as_deref(),
            _ => None,
        }
    }
}

/// How a routed run decides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RouteSettings {
    pub policy: Policy,
    pub on_abstain: OnAbstain,
    pub cascade_threshold: f64,
}

/// The router and the models it routes to, as one [`Predictor`].
pub struct RoutedPredictor {
    router: Arc<Router>,
    settings: RouteSettings,
    models: Models,
}

/// The models a policy needs with `router` (the best-on-val table may name the rule).
pub fn needed(policy: Policy, router: &Router, on_abstain: OnAbstain) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = match policy {
        Policy::BestOnVal => {
            let mut v = vec!["cnn", "vlm"];
            if router.config.best_on_val.iter().any(|c| c.model == "rule") {
                v.push("rule");
            }
            v
        }
        p => p.models().to_vec(),
    };
    if on_abstain == OnAbstain::Vlm && matches!(policy, Policy::Learned | Policy::BestOnVal | Policy::Cascade) {
        out.push("vlm");
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl RoutedPredictor {
    /// # Errors
    /// A model the policy needs is not loaded (named).
    pub fn new(router: Arc<Router>, settings: RouteSettings, models: Models) -> Result<Self, String> {
        let missing: Vec<&str> = needed(settings.policy, &router, settings.on_abstain)
            .into_iter()
            .filter(|m| models.get(m).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the {} policy sends questions to {}, which {} not loaded",
                settings.policy.name(),
                missing.join(" and "),
                if missing.len() == 1 { "is" } else { "are" }
            ));
        }
        Ok(Self { router, settings, models })
    }

    fn decide(&self, r: &QaRecord, route: &Route) -> Decision {
        let s = self.settings;
        decide(s.policy, &self.router.config, route, Some(r.level.name()), s.on_abstain, s.cascade_threshold)
            .unwrap_or_else(|why| Decision { model: None, why, cascade_below: None })
    }
}

/// The question the CNN or the rule is asked for `route`: the routed kind in the generator's first
/// paraphrase with the regions the router read, on the same scene; `None` when the route has no kind
/// they answer or lacks the regions it needs.
pub fn structured_query(r: &QaRecord, route: &Route) -> Result<QaRecord, String> {
    let kind = route.kind.as_deref().ok_or("the router abstained")?;
    let family = families()
        .into_iter()
        .find(|f| f.kind.name() == kind && f.structured)
        .ok_or_else(|| format!("no structured form for {kind} questions"))?;
    let regions: Vec<usize> =
        route.regions.iter().filter_map(|n| REGIONS.iter().position(|x| x == n)).take(family.regions).collect();
    if regions.len() < family.regions {
        return Err(format!(
            "the question names {} of the {} regions a {kind} question needs",
            regions.len(),
            family.regions
        ));
    }
    let mut q = r.clone();
    q.kind = family.kind;
    q.level = family.kind.level();
    q.question = fill(family.paraphrases[0], &regions);
    q.choices = match family.kind {
        QuestionKind::WhichWorse => regions.iter().map(|&k| REGIONS[k].to_string()).collect(),
        _ => Vec::new(),
    };
    Ok(q)
}

/// The question the radio CNN is asked for `route`: the routed RadioQA task on the same cutout, with
/// that task's classes as the choices.
pub fn radio_query(r: &QaRecord, route: &Route) -> Result<QaRecord, String> {
    let kind = route.kind.as_deref().ok_or("the router abstained")?;
    let kind = QuestionKind::parse(kind).filter(|k| k.is_radio()).ok_or_else(|| format!("{kind} is no radio task"))?;
    let mut q = r.clone();
    q.kind = kind;
    q.level = kind.level();
    q.choices = kind.radio_classes().iter().map(|c| (*c).to_string()).collect();
    Ok(q)
}

/// Where one question went.
struct Sent {
    model: &'static str,
    record: QaRecord,
    decision: Decision,
    route_ms: f64,
}

impl Sent {
    /// `record` asked of the VLM as written, for the reason `why`.
    fn to_vlm(record: QaRecord, why: String, route_ms: f64) -> Sent {
        Sent { model: "vlm", record, decision: Decision { model: Some("vlm"), why, cascade_below: None }, route_ms }
    }
}

impl Predictor for RoutedPredictor {
    fn identity(&self) -> ModelIdentity {
        let mut names = Vec::new();
        let mut sum = crate::io::checksum::Fnv::default();
        sum.update(self.router.checksum().as_bytes());
        for m in ["cnn", "vlm", "rule", "radio"] {
            if let Some(p) = self.models.get(m) {
                let id = p.identity();
                names.push(format!("{m}: {}", id.name));
                sum.update(id.checksum.unwrap_or_default().as_bytes());
            }
        }
        ModelIdentity {
            kind: "router".into(),
            name: format!("router, {} policy ({})", self.settings.policy.name(), names.join("; ")),
            checksum: Some(sum.hex()),
            trained_on: None,
        }
    }

    fn asks(&self, _: &QaRecord) -> bool {
        true
    }

    fn batch(&self) -> usize {
        self.models.cnn.as_ref().map_or(1, |c| c.batch()).max(1)
    }

    fn in_flight(&self) -> usize {
        self.models.vlm.as_ref().map_or(1, |v| v.in_flight())
    }

    fn predict(
        &self,
        dataset: &Path,
        scenes: &[SceneQuestions<'_>],
        cancel: &AtomicBool,
    ) -> Result<Vec<Answer>, Fatal> {
        // Route every question, then ask each model its share in one call.
        let mut sent: Vec<Result<Sent, Answer>> = Vec::new();
        for r in scenes.iter().flat_map(|s| s.questions.iter()) {
            let start = Instant::now();
            let route = self.router.route(&r.question);
            let decision = self.decide(r, &route);
            let route_ms = start.elapsed().as_secs_f64() * 1000.0;
            let why = decision.why.clone();
            sent.push(match decision.model {
                None => Err(Answer::failed(r, format!("not answered: {why}"))),
                Some("radio") if self.models.radio.is_none() => {
                    Ok(Sent::to_vlm((*r).clone(), format!("{why}; no radio CNN is loaded -> VLM"), route_ms))
                }
                Some("radio") => match radio_query(r, &route) {
                    Ok(record) => Ok(Sent { model: "radio", record, decision, route_ms }),
                    Err(e) => Err(Answer::failed(r, format!("not answered: {why}; {e}"))),
                },
                // The oracle and the single models answer the dataset's own question.
                Some(model) if model == "vlm" || self.settings.policy.reads_dataset_query() => {
                    Ok(Sent { model, record: (*r).clone(), decision, route_ms })
                }
                Some(model) => match structured_query(r, &route) {
                    Ok(record) => Ok(Sent { model, record, decision, route_ms }),
                    // A routed policy asks the VLM what the CNN cannot read.
                    Err(e) => Ok(Sent::to_vlm((*r).clone(), format!("{why}; {e} -> VLM"), route_ms)),
                },
            });
        }
        let mut answers: Vec<Option<Answer>> = vec![None; sent.len()];
        for model in ["cnn", "rule", "radio", "vlm"] {
            self.ask(model, dataset, &sent, &mut answers, cancel)?;
        }
        // The cascade: the CNN's answers below the threshold (or without a confidence) go to the VLM.
        let handed: Vec<usize> = (0..sent.len())
            .filter(|&i| match (&sent[i], &answers[i]) {
                (Ok(s), Some(a)) => s
                    .decision
                    .cascade_below
                    .is_some_and(|t| a.error.is_some() || hands_over(a.prediction.confidence, t)),
                _ => false,
            })
            .collect();
        if !handed.is_empty() {
            let originals: Vec<&QaRecord> = scenes.iter().flat_map(|s| s.questions.iter().copied()).collect();
            let mut second: Vec<Result<Sent, Answer>> = Vec::new();
            for &i in &handed {
                let Ok(s) = &sent[i] else { continue };
                let why = match answers[i].as_ref().and_then(|a| a.prediction.confidence) {
                    Some(c) => format!("{}; the CNN's confidence {c:.2} is below it -> VLM", s.decision.why),
                    None => format!("{}; the CNN gives no confidence for this kind -> VLM", s.decision.why),
                };
                second.push(Ok(Sent::to_vlm(originals[i].clone(), why, s.route_ms)));
            }
            let mut again: Vec<Option<Answer>> = vec![None; second.len()];
            self.ask("vlm", dataset, &second, &mut again, cancel)?;
            for ((&i, later), s2) in handed.iter().zip(again).zip(second) {
                let cnn_ms = answers[i].as_ref().map_or(0.0, |a| a.latency_ms);
                answers[i] = later.map(|mut a| {
                    a.latency_ms += cnn_ms;
                    a
                });
                sent[i] = s2;
            }
        }
        let originals = scenes.iter().flat_map(|s| s.questions.iter());
        Ok(sent
            .into_iter()
            .zip(answers)
            .zip(originals)
            .map(|((s, a), r)| match (s, a) {
                (Err(a), _) => a,
                (Ok(s), Some(mut a)) => {
                    a.prediction.id.clone_from(&r.id);
                    a.raw = format!("[{}] {}", s.decision.why, a.raw);
                    a.latency_ms += s.route_ms;
                    a
                }
                (Ok(s), None) => Answer::failed(r, format!("{} gave no answer", s.model.to_uppercase())),
            })
            .collect())
    }
}

impl RoutedPredictor {
    /// Ask `model` the questions `sent` to it, scene by scene, into `answers` (by position).
    fn ask(
        &self,
        model: &'static str,
        dataset: &Path,
        sent: &[Result<Sent, Answer>],
        answers: &mut [Option<Answer>],
        cancel: &AtomicBool,
    ) -> Result<(), Fatal> {
        let mine: Vec<usize> = (0..sent.len()).filter(|&i| matches!(&sent[i], Ok(s) if s.model == model)).collect();
        if mine.is_empty() {
            return Ok(());
        }
        let Some(predictor) = self.models.get(model) else {
            for &i in &mine {
                if let Ok(s) = &sent[i] {
                    answers[i] = Some(Answer::failed(&s.record, format!("{model} is not loaded")));
                }
            }
            return Ok(());
        };
        let mut grouped: Vec<SceneQuestions<'_>> = Vec::new();
        for &i in &mine {
            let Ok(s) = &sent[i] else { continue };
            match grouped.last_mut() {
                Some(g) if g.scene == s.record.scene => g.questions.push(&s.record),
                _ => grouped.push(SceneQuestions { scene: &s.record.scene, questions: vec![&s.record] }),
            }
        }
        let got =
            predictor.predict(dataset, &grouped, cancel).map_err(|f| Fatal::new(format!("{model}: {}", f.reason)))?;
        // Answers come back by question id; a structured query keeps the question's id.
        let mut by_id: std::collections::HashMap<String, Answer> =
            got.into_iter().map(|a| (a.prediction.id.clone(), a)).collect();
        for &i in &mine {
            if let Ok(s) = &sent[i] {
                answers[i] = by_id.remove(&s.record.id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::predictor::PriorPredictor;
    use crate::types::{QuestionKind, ScenePaths, Split};

    fn record(kind: QuestionKind, question: &str, choices: &[&str]) -> QaRecord {
        QaRecord {
            id: "q1".into(),
            scene: "s".into(),
            scenario: "leo-urban".into(),
            split: Split::Train,
            level: kind.level(),
            kind,
            question: question.into(),
            answer: "yes".into(),
            choices: choices.iter().map(|c| c.to_string()).collect(),
            bbox: None,
            concepts: vec![],
            examples: vec![],
            images: ScenePaths::default(),
            snr_bin: None,
        }
    }

    #[test]
    fn a_policy_needing_a_model_that_is_not_loaded_is_refused_naming_it() {
        let router = Arc::new(Router::bundled().unwrap());
        let settings = RouteSettings { policy: Policy::Learned, on_abstain: OnAbstain::Vlm, cascade_threshold: 0.5 };
        let prior = || -> Box<dyn Predictor> {
            Box::new(PriorPredictor::new(&[record(QuestionKind::Severity, "q", &[])]).unwrap())
        };
        let e = RoutedPredictor::new(Arc::clone(&router), settings, Models { cnn: Some(prior()), ..Models::default() })
            .err()
            .unwrap();
        assert_eq!(e, "the learned policy sends questions to vlm, which is not loaded");
        let only = RouteSettings { policy: Policy::CnnOnly, ..settings };
        assert!(RoutedPredictor::new(router, only, Models { cnn: Some(prior()), ..Models::default() }).is_ok());
    }

    /// A model that answers with the kind it was asked and the question it read.
    struct Echo;

    impl Predictor for Echo {
        fn identity(&self) -> ModelIdentity {
            ModelIdentity { kind: "cnn".into(), name: "echo".into(), checksum: None, trained_on: None }
        }
        fn asks(&self, _: &QaRecord) -> bool {
            true
        }
        fn predict(&self, _: &Path, scenes: &[SceneQuestions<'_>], _: &AtomicBool) -> Result<Vec<Answer>, Fatal> {
            let all = scenes.iter().flat_map(|s| s.questions.iter());
            Ok(all
                .map(|r| {
                    let p = crate::types::Prediction {
                        id: r.id.clone(),
                        answer: format!("{}: {}", r.kind.name(), r.question),
                        bbox: None,
                        confidence: None,
                        out_of_domain: None,
                    };
                    Answer::ok(p, String::new(), 0.0)
                })
                .collect())
        }
    }

    #[test]
    fn the_oracle_asks_the_dataset_question_and_learned_the_routers_reading() {
        let router = Arc::new(Router::bundled().unwrap());
        // A severity question the dataset files as L3 localize: the oracle reads the dataset.
        let mut r = record(QuestionKind::Localize, "How severe is the interference overall?", &[]);
        r.level = QuestionKind::Localize.level();
        let scene = [SceneQuestions { scene: "s", questions: vec![&r] }];
        let ask = |policy| {
            let settings = RouteSettings { policy, on_abstain: OnAbstain::Vlm, cascade_threshold: 0.5 };
            let models = Models { cnn: Some(Box::new(Echo)), vlm: Some(Box::new(Echo)), ..Models::default() };
            let p = RoutedPredictor::new(Arc::clone(&router), settings, models).unwrap();
            p.predict(Path::new("."), &scene, &AtomicBool::new(false)).unwrap().remove(0)
        };
        let oracle = ask(Policy::Oracle);
        assert_eq!(oracle.prediction.answer, "localize: How severe is the interference overall?");
        assert!(oracle.raw.contains("-> CNN"), "{}", oracle.raw);
        let learned = ask(Policy::Learned);
        assert!(learned.prediction.answer.starts_with("severity: "), "{}", learned.prediction.answer);
        assert_eq!(ask(Policy::CnnOnly).prediction.answer, oracle.prediction.answer);
    }

    #[test]
    fn the_structured_query_carries_the_routed_kind_and_regions_in_canonical_words() {
        let router = Router::bundled().unwrap();
        let r =
            record(QuestionKind::RegionAffected, "yo, upper right vs the middle: which one's worse?", &["yes", "no"]);
        let route = router.route(&r.question);
        let q = structured_query(&r, &route).unwrap();
        assert_eq!((q.kind, q.id.as_str()), (QuestionKind::WhichWorse, "q1"));
        assert_eq!(q.choices, ["top-right", "centre"]);
        let r = record(QuestionKind::RegionAffected, "is the NW corner affected?", &["yes", "no"]);
        let q = structured_query(&r, &router.route(&r.question)).unwrap();
        assert!(q.question.contains(" top-left "), "{}", q.question);
        let r = record(QuestionKind::RegionAffected, "is that region affected by interference?", &["yes", "no"]);
        let route = router.route(&r.question);
        if route.kind.as_deref() == Some("region_affected") {
            assert!(structured_query(&r, &route).unwrap_err().contains("names 0 of the 1 regions"));
        }
    }

    #[test]
    fn a_radio_task_goes_to_the_radio_cnn_when_loaded_else_to_the_vlm() {
        let router = Arc::new(Router::bundled().unwrap());
        let mut r = record(QuestionKind::Morphology, "Is this radio galaxy FR-I or FR-II?", &["1C-1P"]);
        r.answer = "1C-1P".into();
        let scene = [SceneQuestions { scene: "s", questions: vec![&r] }];
        let settings = RouteSettings { policy: Policy::Learned, on_abstain: OnAbstain::Vlm, cascade_threshold: 0.5 };
        let ask = |radio: bool| {
            let models = Models {
                cnn: Some(Box::new(Echo)),
                vlm: Some(Box::new(Echo)),
                radio: radio.then(|| Box::new(Echo) as Box<dyn Predictor>),
                ..Models::default()
            };
            let p = RoutedPredictor::new(Arc::clone(&router), settings, models).unwrap();
            p.predict(Path::new("."), &scene, &AtomicBool::new(false)).unwrap().remove(0)
        };
        // The router reads the text (an FR question), not the dataset's kind: the radio CNN is asked fr.
        let with = ask(true);
        assert!(with.prediction.answer.starts_with("fr: "), "{}", with.prediction.answer);
        assert!(with.raw.contains("-> the radio CNN"), "{}", with.raw);
        assert_eq!(with.prediction.id, "q1");
        let without = ask(false);
        assert!(without.raw.contains("no radio CNN is loaded -> VLM"), "{}", without.raw);
        assert!(without.prediction.answer.starts_with("morphology: "), "the VLM reads the question as written");
        let q = radio_query(&r, &Router::bundled().unwrap().route("Is this radio galaxy FR-I or FR-II?")).unwrap();
        assert_eq!(q.choices, ["FR-I", "FR-II"]);
    }
}
