//! What routing is worth, computed from runs of the single models on one split (each question answered
//! by the CNN, the VLM and the rule): every policy's composite and model time, the composite as routing
//! errors are injected (the SpectrumQA referee's curve), and the cascade's cost-quality curve (RouteLLM's
//! composite against the share sent to the expensive model, with APGR). A question routed to the CNN or
//! the rule as another kind gets no answer (they would answer a different question); the VLM reads the
//! question itself, so its answer stands whatever the route. Scored by the report's own scorer. Any
//! thread.

use super::route_table::ModelRun;
use super::routed::structured_query;
use super::runs::RunLine;
use super::{ScoreOptions, Weights, score};
use crate::models::router::policy::{OnAbstain, Policy, decide, hands_over};
use crate::models::router::{Route, Router};
use crate::sim::rng::Rng;
use crate::types::{Prediction, QaRecord, QuestionKind};

/// The single-model runs of one split, and the router's reading of each question.
pub struct Analysis<'a> {
    pub records: Vec<&'a QaRecord>,
    runs: Vec<ModelRun>,
    routes: Vec<Route>,
    /// Whether the router's structured query of each question is the dataset's own (kind and regions).
    query_right: Vec<bool>,
    router: &'a Router,
}

/// A policy's result: composite and the model time it spends.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyResult {
    pub name: String,
    pub composite: f64,
    /// Share of the questions the VLM answers.
    pub vlm_share: f64,
    /// Mean model time per question (ms), and the total (s).
    pub ms_per_question: f64,
    pub total_s: f64,
}

/// The regions the dataset's own question names, as the CNN reads them.
fn dataset_regions(r: &QaRecord) -> Vec<String> {
    let mut v = match r.kind {
        QuestionKind::WhichWorse => r.choices.clone(),
        QuestionKind::RegionAffected => crate::types::REGIONS
            .iter()
            .filter(|x| r.question.contains(&format!(" {x} ")))
            .map(|x| (*x).to_string())
            .collect(),
        _ => Vec::new(),
    };
    v.sort();
    v
}

impl<'a> Analysis<'a> {
    /// `records` (the split's questions) with the runs' lines; every question is routed once.
    pub fn new(router: &'a Router, records: Vec<&'a QaRecord>, runs: Vec<ModelRun>) -> Self {
        let routes: Vec<Route> = records.iter().map(|r| router.route(&r.question)).collect();
        let query_right = records
            .iter()
            .zip(&routes)
            .map(|(r, route)| match structured_query(r, route) {
                Ok(q) => {
                    let mut got = match q.kind {
                        QuestionKind::WhichWorse => q.choices.clone(),
                        QuestionKind::RegionAffected => route.regions.iter().take(1).cloned().collect(),
                        _ => Vec::new(),
                    };
                    got.sort();
                    q.kind == r.kind && got == dataset_regions(r)
                }
                Err(_) => false,
            })
            .collect();
        Self { records, runs, routes, query_right, router }
    }

    fn line(&self, model: &str, id: &str) -> Option<&RunLine> {
        self.runs.iter().find(|m| m.model == model).and_then(|m| m.lines.get(id)).filter(|l| l.error.is_none())
    }

    /// The composite of answers chosen per question: `pick` gives the model and whether it was asked
    /// the question's own query (a CNN or rule asked another kind gives no answer).
    fn composite(
        &self,
        mut pick: impl FnMut(usize) -> Option<(&'static str, bool)>,
    ) -> (f64, Vec<Option<&'static str>>) {
        let mut preds: Vec<Prediction> = Vec::new();
        let mut chosen = Vec::with_capacity(self.records.len());
        for (i, r) in self.records.iter().enumerate() {
            let choice = pick(i);
            chosen.push(choice.map(|c| c.0));
            if let Some((model, right_query)) = choice
                && (model == "vlm" || right_query)
                && let Some(l) = self.line(model, &r.id)
            {
                preds.push(l.prediction());
            }
        }
        let recs: Vec<QaRecord> = self.records.iter().map(|r| (*r).clone()).collect();
        let opts = ScoreOptions { weights: Weights::default(), bootstrap: 0, seed: 0, split: None };
        let report = score(&recs, &preds, &opts);
        (report.overall().map_or(0.0, |g| g.composite.value), chosen)
    }

    fn result(&self, name: &str, composite: f64, chosen: &[Option<&'static str>], extra_ms: &[f64]) -> PolicyResult {
        let mut ms = 0.0;
        let mut vlm = 0usize;
        for (i, (r, c)) in self.records.iter().zip(chosen).enumerate() {
            if let Some(m) = c {
                ms += self.line(m, &r.id).map_or(0.0, |l| l.latency_ms);
                vlm += usize::from(*m == "vlm");
            }
            ms += extra_ms.get(i).copied().unwrap_or(0.0);
        }
        #[allow(clippy::cast_precision_loss)]
        let n = self.records.len().max(1) as f64;
        #[allow(clippy::cast_precision_loss)]
        PolicyResult {
            name: name.into(),
            composite,
            vlm_share: vlm as f64 / n,
            ms_per_question: ms / n,
            total_s: ms / 1000.0,
        }
    }

    /// A policy's composite and cost (the cascade at `threshold`: the CNN answers where it can read
    /// the question and is at least that confident, else the VLM).
    pub fn policy(&self, policy: Policy, threshold: f64) -> PolicyResult {
        let config = &self.router.config;
        let mut extra = vec![0.0; self.records.len()];
        let (composite, chosen) = self.composite(|i| {
            let r = self.records[i];
            let d = decide(policy, config, &self.routes[i], Some(r.level.name()), OnAbstain::Vlm, threshold).ok()?;
            let model = d.model?;
            if model == "vlm" || policy.reads_dataset_query() {
                return Some((model, true));
            }
            // A routed policy asks the VLM what the CNN cannot read (as the routed predictor does).
            if structured_query(r, &self.routes[i]).is_err() {
                return Some(("vlm", true));
            }
            let cnn = self.line("cnn", &r.id);
            if d.cascade_below.is_some_and(|t| hands_over(cnn.and_then(|l| l.confidence), t)) {
                extra[i] = cnn.map_or(0.0, |l| l.latency_ms);
                return Some(("vlm", true));
            }
            Some((model, self.query_right[i]))
        });
        let name = if policy == Policy::Cascade { format!("cascade@{threshold:.2}") } else { policy.name().into() };
        self.result(&name, composite, &chosen, &extra)
    }

    /// The router's kind error rate on these questions (abstentions count as errors).
    pub fn route_error_rate(&self) -> f64 {
        let wrong = self
            .records
            .iter()
            .zip(&self.routes)
            .filter(|(r, route)| route.kind.as_deref() != Some(r.kind.name()))
            .count();
        #[allow(clippy::cast_precision_loss)]
        let rate = wrong as f64 / self.records.len().max(1) as f64;
        rate
    }

    /// The composite with routing errors injected at `rate`: each question's kind is replaced, with
    /// that probability, by one of the other kinds drawn uniformly, and the paper's mapping (`learned`)
    /// or the best-on-val table sends it on; without an error the question is routed by its true kind.
    pub fn with_errors(&self, best_on_val: bool, rate: f64, seed: u64) -> f64 {
        let mut rng = Rng::derive(seed, &[u64::from(best_on_val), (rate * 1e6) as u64]);
        let policy = if best_on_val { Policy::BestOnVal } else { Policy::Learned };
        let (composite, _) = self.composite(|i| {
            let r = self.records[i];
            let kind = if rng.chance(rate) {
                let others: Vec<QuestionKind> = QuestionKind::ALL.into_iter().filter(|k| *k != r.kind).collect();
                others[rng.below(others.len())]
            } else {
                r.kind
            };
            let route = Route {
                level: Some(kind.level().name().into()),
                kind: Some(kind.name().into()),
                regions: Vec::new(),
                confidence: 1.0,
                abstained: false,
                best: kind.name().into(),
                why: String::new(),
                complete: true,
            };
            let d = decide(policy, &self.router.config, &route, None, OnAbstain::Vlm, 0.5).ok()?;
            Some((d.model?, kind == r.kind))
        });
        composite
    }
}

/// Mean and the 2.5 and 97.5 percentiles of `v`.
pub fn spread(v: &mut [f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let at = |q: f64| {
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        v[i]
    };
    (mean, at(0.025), at(0.975))
}

/// RouteLLM's average performance gap recovered: the mean over the curve's points (evenly spaced in
/// the share sent to the strong model) of (composite - weak) / (strong - weak); `points` are (share,
/// composite) sorted by share, integrated by the trapezoid rule over [0, 1].
pub fn apgr(points: &[(f64, f64)], weak: f64, strong: f64) -> f64 {
    let gap = strong - weak;
    if points.len() < 2 || gap.abs() < 1e-12 {
        return f64::NAN;
    }
    let pgr = |c: f64| (c - weak) / gap;
    let mut area = 0.0;
    for w in points.windows(2) {
        area += (w[1].0 - w[0].0) * (pgr(w[0].1) + pgr(w[1].1)) / 2.0;
    }
    let span = points[points.len() - 1].0 - points[0].0;
    if span > 1e-12 { area / span } else { f64::NAN }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_apgr() {
        let mut v = vec![3.0, 1.0, 2.0];
        assert_eq!(spread(&mut v), (2.0, 1.0, 3.0));
        // A straight line from the weak to the strong model recovers half the gap on average.
        let line = [(0.0, 0.5), (0.5, 0.6), (1.0, 0.7)];
        assert!((apgr(&line, 0.5, 0.7) - 0.5).abs() < 1e-12);
        // The strong model's score all along: everything recovered.
        assert!((apgr(&[(0.0, 0.7), (1.0, 0.7)], 0.5, 0.7) - 1.0).abs() < 1e-12);
        assert!(apgr(&line, 0.5, 0.5).is_nan());
    }
}
