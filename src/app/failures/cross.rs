//! The cross-scenario matrix: for models trained on one scenario (their run's model identity says
//! which, from `train cnn --scenario` / `train vlm --scenario`), each model family's 3 x 3 table of
//! a metric, trained on (rows) x tested on (columns, the report's scenario groups), with each
//! cell's drop from its row's diagonal, and in how many of the six directions the VLM drops less
//! than the CNN (the SpectrumQA paper's transfer claim: 5 of 6). Pure functions; the window draws
//! them.

use crate::eval::predictor::ModelIdentity;
use crate::sim::Scenario;

/// The metrics the matrix can show: the report's key and a heading (the paper's three, and L2
/// accuracy, the level both of heatscope's model families answer).
pub const METRICS: [(&str, &str); 4] =
    [("l1", "L1 acc"), ("l2", "L2 acc"), ("l3_iou", "L3 IoU"), ("l4_concept_f1", "L4 concept F1")];

/// The families compared side by side.
pub const FAMILIES: [&str; 2] = ["cnn", "vlm"];

/// One family's matrix of one metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub family: &'static str,
    /// [trained on][tested on], in [`Scenario::ALL`] order; None where no run or no question.
    pub cells: [[Option<f64>; 3]; 3],
    /// The letter of the run each row comes from.
    pub runs: [Option<char>; 3],
}

impl Matrix {
    /// A cell's drop from its row's diagonal (negative: worse off its training scenario).
    pub fn drop(&self, trained: usize, tested: usize) -> Option<f64> {
        Some(self.cells[trained][tested]? - self.cells[trained][trained]?)
    }

    /// Whether any row has a run.
    pub fn any(&self) -> bool {
        self.runs.iter().any(Option::is_some)
    }
}

/// Each family's matrix of `metric` from `runs` (letter, model, report), the first run per family
/// and training scenario counting; families without such a run are left out.
pub fn matrices(runs: &[(char, &ModelIdentity, &serde_json::Value)], metric: &str) -> Vec<Matrix> {
    FAMILIES
        .iter()
        .map(|&family| {
            let mut m = Matrix { family, cells: [[None; 3]; 3], runs: [None; 3] };
            for (i, scenario) in Scenario::ALL.iter().enumerate() {
                let Some((letter, _, report)) = runs
                    .iter()
                    .find(|(_, model, _)| model.kind == family && model.trained_on.as_deref() == Some(scenario.name()))
                else {
                    continue;
                };
                m.runs[i] = Some(*letter);
                for (j, tested) in Scenario::ALL.iter().enumerate() {
                    let groups = report["groups"].as_array();
                    let group = groups.and_then(|g| g.iter().find(|g| g["name"] == tested.name()));
                    m.cells[i][j] = group.and_then(|g| {
                        let v = &g[metric];
                        (v["n"].as_u64().unwrap_or(0) > 0).then(|| v["value"].as_f64()).flatten()
                    });
                }
            }
            m
        })
        .filter(Matrix::any)
        .collect()
}

/// Of the six off-diagonal directions both families have, in how many the VLM drops less than the
/// CNN: (fewer, compared).
pub fn vlm_drops_less(cnn: &Matrix, vlm: &Matrix) -> (usize, usize) {
    let mut fewer = 0;
    let mut compared = 0;
    for i in 0..3 {
        for j in (0..3).filter(|&j| j != i) {
            if let (Some(c), Some(v)) = (cnn.drop(i, j), vlm.drop(i, j)) {
                compared += 1;
                fewer += usize::from(v > c);
            }
        }
    }
    (fewer, compared)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(kind: &str, trained_on: Option<&str>) -> ModelIdentity {
        ModelIdentity {
            kind: kind.into(),
            name: "m".into(),
            checksum: None,
            trained_on: trained_on.map(str::to_string),
        }
    }

    /// A report with `l1` per scenario group.
    fn report(values: [f64; 3]) -> serde_json::Value {
        let groups: Vec<serde_json::Value> = Scenario::ALL
            .iter()
            .zip(values)
            .map(|(s, v)| serde_json::json!({"name": s.name(), "l1": {"value": v, "lo": v, "hi": v, "n": 10}}))
            .collect();
        serde_json::json!({ "groups": groups })
    }

    #[test]
    fn runs_fill_their_rows_and_the_drops_are_counted() {
        let names = Scenario::ALL.map(Scenario::name);
        let ids: Vec<ModelIdentity> = names
            .iter()
            .map(|s| identity("cnn", Some(s)))
            .chain(names.iter().map(|s| identity("vlm", Some(s))))
            .chain([identity("cnn", None)])
            .collect();
        // CNN rows drop 0.2 off the diagonal; VLM rows drop 0.1, except one direction that drops 0.3.
        let reports = [
            report([0.8, 0.6, 0.6]),
            report([0.6, 0.8, 0.6]),
            report([0.6, 0.6, 0.8]),
            report([0.7, 0.6, 0.6]),
            report([0.4, 0.7, 0.6]),
            report([0.6, 0.6, 0.7]),
            report([0.1, 0.1, 0.1]),
        ];
        let letters = ['A', 'B', 'C', 'D', 'E', 'F', 'G'];
        let runs: Vec<(char, &ModelIdentity, &serde_json::Value)> =
            letters.iter().zip(&ids).zip(&reports).map(|((l, m), r)| (*l, m, r)).collect();
        let m = matrices(&runs, "l1");
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].family, m[0].runs), ("cnn", [Some('A'), Some('B'), Some('C')]));
        assert_eq!(m[1].cells[1], [Some(0.4), Some(0.7), Some(0.6)]);
        assert!((m[0].drop(0, 1).unwrap() + 0.2).abs() < 1e-12);
        assert_eq!(vlm_drops_less(&m[0], &m[1]), (5, 6));
        // A metric no group has leaves the cells empty, and runs without a training scenario add nothing.
        let none = matrices(&runs, "l4_concept_f1");
        assert!(none[0].cells.iter().flatten().all(Option::is_none));
        assert_eq!(vlm_drops_less(&none[0], &none[1]), (0, 0));
        assert!(matrices(&runs[6..], "l1").is_empty());
    }
}
