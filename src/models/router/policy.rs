//! Which model answers a routed question, and why, under each policy: `oracle` (the paper's: the
//! dataset's level, L1/L3 to the CNN and L2/L4 to the VLM), `learned` (the same mapping from the
//! predicted level), `best-on-val` (the model that scored best on the val split for the predicted
//! level and kind, from the router's table), `cascade` (the CNN first, the VLM when the CNN is not
//! sure), and the single models. Pure functions; any thread.

use super::{BestCell, Route, RouterConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    Oracle,
    Learned,
    BestOnVal,
    Cascade,
    CnnOnly,
    VlmOnly,
    RuleOnly,
}

impl Policy {
    pub const ALL: [Policy; 7] = [
        Policy::Oracle,
        Policy::Learned,
        Policy::BestOnVal,
        Policy::Cascade,
        Policy::CnnOnly,
        Policy::VlmOnly,
        Policy::RuleOnly,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Oracle => "oracle",
            Policy::Learned => "learned",
            Policy::BestOnVal => "best-on-val",
            Policy::Cascade => "cascade",
            Policy::CnnOnly => "cnn-only",
            Policy::VlmOnly => "vlm-only",
            Policy::RuleOnly => "rule-only",
        }
    }

    /// # Errors
    /// An unknown name, with the known ones.
    pub fn parse(s: &str) -> Result<Policy, String> {
        Policy::ALL.into_iter().find(|p| p.name() == s.trim()).ok_or_else(|| {
            let names: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
            format!("unknown policy {s:?}; expected one of {}", names.join(", "))
        })
    }

    /// Whether the model it picks answers the dataset's own question (the oracle and the single
    /// models), not the router's structured reading of it.
    pub fn reads_dataset_query(self) -> bool {
        matches!(self, Policy::Oracle | Policy::CnnOnly | Policy::VlmOnly | Policy::RuleOnly)
    }

    /// The models this policy may send questions to.
    pub fn models(self) -> &'static [&'static str] {
        match self {
            Policy::CnnOnly => &["cnn"],
            Policy::VlmOnly => &["vlm"],
            Policy::RuleOnly => &["rule"],
            Policy::Oracle | Policy::Learned | Policy::Cascade => &["cnn", "vlm"],
            Policy::BestOnVal => &["cnn", "vlm", "rule"],
        }
    }
}

/// What happens to a question the router abstains on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnAbstain {
    /// The VLM answers it (it reads any text).
    #[default]
    Vlm,
    /// Nobody answers; the user is asked to rephrase.
    Ask,
}

impl OnAbstain {
    /// # Errors
    /// An unknown name.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "vlm" => Ok(Self::Vlm),
            "ask" => Ok(Self::Ask),
            other => Err(format!("unknown abstention setting {other:?}; expected vlm or ask")),
        }
    }
}

/// Where a question goes and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// `cnn`, `vlm` or `rule`; `None`: nobody (the user is asked to rephrase).
    pub model: Option<&'static str>,
    pub why: String,
    /// The CNN answers first and hands over to the VLM below this confidence.
    pub cascade_below: Option<f64>,
}

fn to(model: &'static str, why: impl Into<String>) -> Decision {
    Decision { model: Some(model), why: why.into(), cascade_below: None }
}

/// Whether the cascade hands a CNN answer with `confidence` over to the VLM: below `threshold`, or
/// no confidence at all.
pub fn hands_over(confidence: Option<f32>, threshold: f64) -> bool {
    confidence.is_none_or(|c| f64::from(c) < threshold)
}

/// Whether a question of `kind` has a structured form the CNN and the rule answer (the generator's
/// family says so).
pub fn structured(kind: &str) -> bool {
    crate::sim::questions::families().iter().any(|f| f.kind.name() == kind && f.structured)
}

/// The paper's fixed mapping: L1 and L3 to the CNN, L2 and L4 (and anything else) to the VLM.
fn paper(level: &str, what: &str) -> Decision {
    match level {
        "L1" | "L3" => to("cnn", format!("{level} {what} -> CNN (the paper's mapping: L1/L3 to the CNN)")),
        _ => to("vlm", format!("{level} {what} -> VLM (the paper's mapping: L2/L4 to the VLM)")),
    }
}

fn model_label(m: &str) -> String {
    m.to_uppercase()
}

/// The best-on-val cell for a level and kind.
pub fn cell<'a>(table: &'a [BestCell], level: &str, kind: &str) -> Option<&'a BestCell> {
    table.iter().find(|c| c.level == level && c.kind == kind)
}

/// Where `policy` sends a question the router read as `route`. `dataset_level` is the dataset's
/// level, which only `oracle` reads; `cascade_threshold` is the CNN confidence under which the
/// cascade hands over.
///
/// # Errors
/// `oracle` without a dataset level (a typed question has none).
pub fn decide(
    policy: Policy,
    config: &RouterConfig,
    route: &Route,
    dataset_level: Option<&str>,
    on_abstain: OnAbstain,
    cascade_threshold: f64,
) -> Result<Decision, String> {
    match policy {
        Policy::CnnOnly => return Ok(to("cnn", "cnn-only: the CNN answers everything")),
        Policy::VlmOnly => return Ok(to("vlm", "vlm-only: the VLM answers everything")),
        Policy::RuleOnly => return Ok(to("rule", "rule-only: the rule answers everything")),
        Policy::Oracle => {
            let level =
                dataset_level.ok_or("the oracle policy reads the dataset's level; a typed question has none")?;
            return Ok(paper(level, "question (the dataset's level)"));
        }
        _ => {}
    }
    let (Some(level), Some(kind), false) = (route.level.as_deref(), route.kind.as_deref(), route.abstained) else {
        return Ok(match on_abstain {
            OnAbstain::Vlm => to("vlm", format!("the router abstains ({}): the VLM answers", route.why)),
            OnAbstain::Ask => Decision {
                model: None,
                why: format!("the router abstains ({}): please rephrase", route.why),
                cascade_below: None,
            },
        });
    };
    let what = format!("{} question", kind.replace('_', " "));
    // A RadioQA task: the spectrum CNN and the rule know nothing of radio images; the radio CNN, the
    // vision-only specialist, beats the VLM on every radio task (models/cnn-radio), as radio-llava found.
    if crate::types::QuestionKind::parse(kind).is_some_and(crate::types::QuestionKind::is_radio) {
        return Ok(to(
            "radio",
            format!("{what} is a radio task -> the radio CNN (the specialist beats the VLM on every radio task)"),
        ));
    }
    let needs_regions =
        |m: &'static str| to("vlm", format!("{level} {what} names no region a {} can read -> VLM", model_label(m)));
    Ok(match policy {
        Policy::Learned => paper(level, &what),
        Policy::BestOnVal => match cell(&config.best_on_val, level, kind) {
            Some(c) => {
                let model = match c.model.as_str() {
                    "cnn" => "cnn",
                    "rule" => "rule",
                    _ => "vlm",
                };
                if model != "vlm" && !route.complete {
                    needs_regions(model)
                } else {
                    let others: Vec<String> = c
                        .scores
                        .iter()
                        .filter(|(m, _)| m.as_str() != c.model)
                        .map(|(m, s)| format!("{s:.2} ({m})"))
                        .collect();
                    let best = c.scores.get(&c.model).copied().unwrap_or(f64::NAN);
                    to(
                        model,
                        format!(
                            "{level} {what} -> {}: best on val for this kind, {best:.2} vs {}",
                            model_label(model),
                            if others.is_empty() { "no other model".to_string() } else { others.join(", ") }
                        ),
                    )
                }
            }
            None => {
                let mut d = paper(level, &what);
                d.why.push_str("; no val score for this kind");
                d
            }
        },
        Policy::Cascade if structured(kind) && route.complete => Decision {
            model: Some("cnn"),
            why: format!(
                "{level} {what} -> CNN first; the VLM answers when the CNN's confidence is below {cascade_threshold:.2}"
            ),
            cascade_below: Some(cascade_threshold),
        },
        Policy::Cascade if structured(kind) => needs_regions("cnn"),
        Policy::Cascade => to("vlm", format!("{level} {what} -> VLM (the CNN does not answer it)")),
        Policy::Oracle | Policy::CnnOnly | Policy::VlmOnly | Policy::RuleOnly => unreachable!("handled above"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::router::{FORMAT, train::labels};

    fn config(table: Vec<BestCell>) -> RouterConfig {
        RouterConfig {
            format: FORMAT.into(),
            bits: 8,
            labels: labels(),
            threshold: 0.5,
            best_on_val: table,
            best_on_val_from: None,
        }
    }

    fn route(level: &str, kind: &str, regions: &[&str], complete: bool) -> Route {
        Route {
            level: Some(level.into()),
            kind: Some(kind.into()),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            confidence: 0.9,
            abstained: false,
            best: kind.into(),
            why: String::new(),
            complete,
        }
    }

    fn best(level: &str, kind: &str, model: &str, scores: &[(&str, f64)]) -> BestCell {
        BestCell {
            level: level.into(),
            kind: kind.into(),
            model: model.into(),
            scores: scores.iter().map(|(m, s)| (m.to_string(), *s)).collect(),
            n: 10,
        }
    }

    #[test]
    fn policy_names_round_trip_and_unknown_ones_list_the_known() {
        for p in Policy::ALL {
            assert_eq!(Policy::parse(p.name()), Ok(p));
        }
        let e = Policy::parse("smart").unwrap_err();
        assert!(e.contains("best-on-val") && e.contains("rule-only"));
    }

    #[test]
    fn the_paper_mapping_and_the_oracle() {
        let c = config(vec![]);
        let d = |p, r: &Route, l| decide(p, &c, r, l, OnAbstain::Vlm, 0.5).unwrap().model;
        assert_eq!(d(Policy::Learned, &route("L1", "severity", &[], true), None), Some("cnn"));
        assert_eq!(d(Policy::Learned, &route("L2", "worst_region", &[], true), None), Some("vlm"));
        // The oracle reads the dataset's level, not the route's.
        assert_eq!(d(Policy::Oracle, &route("L2", "worst_region", &[], true), Some("L3")), Some("cnn"));
        assert!(decide(Policy::Oracle, &c, &route("L1", "severity", &[], true), None, OnAbstain::Vlm, 0.5).is_err());
    }

    #[test]
    fn best_on_val_follows_its_table_and_says_why() {
        let c = config(vec![best("L2", "region_affected", "cnn", &[("cnn", 0.79), ("vlm", 0.74)])]);
        let r = route("L2", "region_affected", &["centre"], true);
        let d = decide(Policy::BestOnVal, &c, &r, None, OnAbstain::Vlm, 0.5).unwrap();
        assert_eq!(d.model, Some("cnn"));
        assert!(d.why.contains("best on val for this kind, 0.79 vs 0.74 (vlm)"), "{}", d.why);
        // No region named: the CNN cannot be asked; no table cell: the paper's mapping.
        let d = decide(Policy::BestOnVal, &c, &route("L2", "region_affected", &[], false), None, OnAbstain::Vlm, 0.5);
        assert_eq!(d.unwrap().model, Some("vlm"));
        let d = decide(Policy::BestOnVal, &c, &route("L3", "localize", &[], true), None, OnAbstain::Vlm, 0.5).unwrap();
        assert_eq!(d.model, Some("cnn"));
        assert!(d.why.contains("no val score"));
    }

    #[test]
    fn abstentions_go_where_the_setting_says() {
        let c = config(vec![]);
        let mut r = route("L1", "severity", &[], true);
        r.abstained = true;
        r.level = None;
        r.kind = None;
        assert_eq!(decide(Policy::Learned, &c, &r, None, OnAbstain::Vlm, 0.5).unwrap().model, Some("vlm"));
        let ask = decide(Policy::BestOnVal, &c, &r, None, OnAbstain::Ask, 0.5).unwrap();
        assert!(ask.model.is_none() && ask.why.contains("rephrase"));
        // Single models answer whatever the router says.
        assert_eq!(decide(Policy::RuleOnly, &c, &r, None, OnAbstain::Ask, 0.5).unwrap().model, Some("rule"));
    }

    #[test]
    fn the_cascade_starts_with_the_cnn_only_where_it_can_answer() {
        let c = config(vec![]);
        let d = decide(
            Policy::Cascade,
            &c,
            &route("L2", "which_worse", &["top-left", "centre"], true),
            None,
            OnAbstain::Vlm,
            0.7,
        );
        assert_eq!(d.clone().unwrap().cascade_below, Some(0.7));
        assert_eq!(d.unwrap().model, Some("cnn"));
        let d = decide(Policy::Cascade, &c, &route("L4", "explain", &[], true), None, OnAbstain::Vlm, 0.7).unwrap();
        assert_eq!((d.model, d.cascade_below), (Some("vlm"), None));
    }
}
