//! The scorer's pure per-question and per-table metrics: SQuAD token F1, set F1, box IoU, macro-F1
//! over a confusion matrix, the forgiving multiple-choice answer matcher and percentile intervals.
//! No state, no I/O; any thread.

use std::collections::{BTreeSet, HashMap};

/// SQuAD answer normalization: lowercase, drop ASCII punctuation, drop the articles a/an/the, collapse
/// whitespace to single spaces.
pub fn squad_normalize(s: &str) -> String {
    let lowered = s.to_lowercase();
    let no_punct: String = lowered.chars().filter(|c| !c.is_ascii_punctuation()).collect();
    no_punct.split_whitespace().filter(|w| !matches!(*w, "a" | "an" | "the")).collect::<Vec<_>>().join(" ")
}

/// SQuAD token F1 between a predicted and a reference answer: F1 of the overlap of their normalized
/// token multisets. Both empty after normalization -> 1; exactly one empty -> 0.
pub fn token_f1(pred: &str, truth: &str) -> f64 {
    let p = squad_normalize(pred);
    let t = squad_normalize(truth);
    let p: Vec<&str> = p.split_whitespace().collect();
    let t: Vec<&str> = t.split_whitespace().collect();
    if p.is_empty() || t.is_empty() {
        return if p.is_empty() && t.is_empty() { 1.0 } else { 0.0 };
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for w in &t {
        *counts.entry(w).or_insert(0) += 1;
    }
    let mut common = 0usize;
    for w in &p {
        if let Some(c) = counts.get_mut(w)
            && *c > 0
        {
            *c -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / p.len() as f64;
    let recall = common as f64 / t.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// F1 between two sets of labels (duplicates ignored). Both empty -> 1; exactly one empty -> 0.
pub fn set_f1(pred: &[String], truth: &[String]) -> f64 {
    let p: BTreeSet<&str> = pred.iter().map(String::as_str).collect();
    let t: BTreeSet<&str> = truth.iter().map(String::as_str).collect();
    if p.is_empty() || t.is_empty() {
        return if p.is_empty() && t.is_empty() { 1.0 } else { 0.0 };
    }
    let common = p.intersection(&t).count();
    if common == 0 {
        return 0.0;
    }
    2.0 * common as f64 / (p.len() + t.len()) as f64
}

/// Intersection over union of two normalized boxes `[x0, y0, x1, y1]`. A zero-area box has IoU 1 with
/// an identical box and 0 with anything else.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f64 {
    if a == b {
        return 1.0;
    }
    let [ax0, ay0, ax1, ay1] = a.map(f64::from);
    let [bx0, by0, bx1, by1] = b.map(f64::from);
    let area_a = (ax1 - ax0).max(0.0) * (ay1 - ay0).max(0.0);
    let area_b = (bx1 - bx0).max(0.0) * (by1 - by0).max(0.0);
    if !(area_a > 0.0 && area_b > 0.0) {
        return 0.0;
    }
    let w = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
    let h = (ay1.min(by1) - ay0.max(by0)).max(0.0);
    let inter = w * h;
    let union = area_a + area_b - inter;
    if union > 0.0 { (inter / union).clamp(0.0, 1.0) } else { 0.0 }
}

/// Macro-F1 over the four classes of a confusion matrix (rows = truth, columns = prediction).
pub fn macro_f1(confusion: &[[usize; 4]; 4]) -> f64 {
    macro_f1_with_unanswered(confusion, &[0; 4])
}

/// Macro-F1 where `unanswered[c]` questions of true class `c` got no usable prediction: they are
/// false negatives of their class and false positives of none. Classes absent from both truth and
/// prediction are skipped; with no class left the result is 0.
pub fn macro_f1_with_unanswered(confusion: &[[usize; 4]; 4], unanswered: &[usize; 4]) -> f64 {
    let mut sum = 0.0;
    let mut classes = 0usize;
    for c in 0..4 {
        let tp = confusion[c][c];
        let row: usize = confusion[c].iter().sum::<usize>() + unanswered[c];
        let col: usize = confusion.iter().map(|r| r[c]).sum();
        if row == 0 && col == 0 {
            continue;
        }
        classes += 1;
        // 2tp / (2tp + fp + fn) = 2tp / (row + col).
        sum += 2.0 * tp as f64 / (row + col) as f64;
    }
    if classes == 0 { 0.0 } else { sum / classes as f64 }
}

/// Words of an answer or option for matching: lowercase, hyphens and underscores read as spaces,
/// split at anything that is not a letter or digit, `center` read as `centre`.
fn match_words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| if w == "center" { "centre".to_string() } else { w.to_string() })
        .collect()
}

/// The trimmed, lowercased answer with trailing punctuation stripped, hyphens/underscores as spaces,
/// whitespace collapsed and `center` spelled `centre`: what must equal an option for an exact match.
fn normalize_choice(s: &str) -> String {
    let lowered = s.trim().to_lowercase().replace(['-', '_'], " ");
    let trimmed = lowered.trim_end_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
    trimmed.split_whitespace().map(|w| if w == "center" { "centre" } else { w }).collect::<Vec<_>>().join(" ")
}

/// Which of `options` an answer names, forgiving phrasing but never guessing: the normalized answer
/// equal to a normalized option is that option; otherwise, when exactly one option occurs in the
/// answer as whole words, it is that one; otherwise `None` (unparseable).
pub fn match_option(answer: &str, options: &[&str]) -> Option<usize> {
    let norm = normalize_choice(answer);
    if let Some(i) = options.iter().position(|o| !o.trim().is_empty() && normalize_choice(o) == norm) {
        return Some(i);
    }
    let words = match_words(answer);
    let mut found = None;
    for (i, option) in options.iter().enumerate() {
        let ow = match_words(option);
        if ow.is_empty() || ow.len() > words.len() {
            continue;
        }
        if words.windows(ow.len()).any(|w| w == ow.as_slice()) {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    found
}

/// The central `level` percentile interval of `samples` (sorted in place), with linear interpolation
/// between order statistics. NaNs are ignored; no finite samples -> (0, 0).
pub fn percentile_interval(samples: &mut [f64], level: f64) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let finite: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return (0.0, 0.0);
    }
    let tail = ((1.0 - level.clamp(0.0, 1.0)) / 2.0).max(0.0);
    (quantile(&finite, tail), quantile(&finite, 1.0 - tail))
}

/// The `q` quantile of sorted, non-empty `v` by heatscope's one convention (`stats::quantile`).
fn quantile(v: &[f64], q: f64) -> f64 {
    crate::stats::quantile::of_sorted(v, q).unwrap_or(0.0)
}

/// McNemar's exact test of two models on the same questions: `b` questions only the first got
/// right, `c` only the second. The two-sided p-value of b against Binomial(b + c, 1/2) (1 when they
/// never differ). Computed in log space, so it holds for hundreds of thousands of questions.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // ln C(n, i) - n ln 2, summed over i <= k with the log-sum-exp trick.
    let mut ln_choose = 0.0f64;
    let mut terms = Vec::with_capacity(k + 1);
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        terms.push(ln_choose - n as f64 * std::f64::consts::LN_2);
    }
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln();
    (2.0 * tail.exp()).min(1.0)
}

/// The difference of two paired accuracies, `(c - b) / n` (second minus first, `b` and `c` as in
/// [`mcnemar_exact`], `n` questions both answered), with its 95 % Wald interval for paired proportions.
pub fn paired_difference(b: usize, c: usize, n: usize) -> (f64, f64, f64) {
    if n == 0 {
        return (0.0, 0.0, 0.0);
    }
    let (b, c, n) = (b as f64, c as f64, n as f64);
    let d = (c - b) / n;
    let se = ((b + c) - (c - b).powi(2) / n).max(0.0).sqrt() / n;
    (d, d - 1.96 * se, d + 1.96 * se)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn squad_normalization_and_token_f1() {
        assert_eq!(squad_normalize("  The Beam-steering, an   answer! "), "beamsteering answer");
        assert!(close(token_f1("The beam steering helps", "beam steering"), 0.8));
        assert_eq!(token_f1("beam steering", "Beam steering."), 1.0);
        assert_eq!(token_f1("", "the"), 1.0, "both empty after normalization");
        assert_eq!(token_f1("", "power control"), 0.0);
        assert_eq!(token_f1("exclusion zone", "power control"), 0.0);
        // Multisets: "power power" vs "power control": overlap 1, p = 1/2, r = 1/2.
        assert!(close(token_f1("power power", "power control"), 0.5));
    }

    #[test]
    fn set_f1_counts_distinct_labels() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(set_f1(&[], &[]), 1.0);
        assert_eq!(set_f1(&s(&["a"]), &[]), 0.0);
        assert!(close(set_f1(&s(&["a", "b", "b"]), &s(&["b", "c", "d"])), 2.0 / 5.0));
        assert_eq!(set_f1(&s(&["b", "a"]), &s(&["a", "b"])), 1.0);
    }

    #[test]
    fn iou_on_known_boxes() {
        assert!(close(iou([0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75]), 1.0 / 7.0));
        assert_eq!(iou([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]), 1.0);
        assert_eq!(iou([0.0, 0.0, 0.2, 0.2], [0.5, 0.5, 0.9, 0.9]), 0.0);
        assert!(close(iou([0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.5, 1.0]), 0.5));
        // Degenerate boxes: 1 only when identical.
        assert_eq!(iou([0.3, 0.3, 0.3, 0.3], [0.3, 0.3, 0.3, 0.3]), 1.0);
        assert_eq!(iou([0.3, 0.3, 0.3, 0.3], [0.0, 0.0, 1.0, 1.0]), 0.0);
        assert_eq!(iou([0.3, 0.3, 0.3, 0.5], [0.3, 0.3, 0.3, 0.6]), 0.0);
    }

    #[test]
    fn macro_f1_on_a_known_confusion() {
        // Rows = truth. Class 0: tp 2, row 3, col 3 -> 4/6. Class 1: tp 1, row 3, col 2 -> 2/5.
        // Class 2: tp 0, predicted once -> 0. Class 3: absent from truth and prediction -> skipped.
        let m = [[2, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
        assert!(close(macro_f1(&m), (4.0 / 6.0 + 2.0 / 5.0 + 0.0) / 3.0));
        let perfect = [[3, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]];
        assert_eq!(macro_f1(&perfect), 1.0);
        assert_eq!(macro_f1(&[[0; 4]; 4]), 0.0);
        // An unanswered question of class 1 is a false negative: class 1 F1 = 2*2/(2*2+1) = 0.8.
        assert!(close(macro_f1_with_unanswered(&perfect, &[0, 1, 0, 0]), (1.0 + 0.8 + 1.0) / 3.0));
        // Only unanswered questions: the class counts, with F1 0.
        assert_eq!(macro_f1_with_unanswered(&[[0; 4]; 4], &[0, 0, 2, 0]), 0.0);
    }

    #[test]
    fn forgiving_matching_never_guesses() {
        let sev = ["low", "moderate", "high", "severe"];
        assert_eq!(match_option("Severity: HIGH.", &sev), Some(2));
        assert_eq!(match_option("  Moderate ", &sev), Some(1));
        assert_eq!(match_option("high or severe", &sev), None);
        assert_eq!(match_option("highest", &sev), None);
        assert_eq!(match_option("", &sev), None);
        let regions = ["top-left", "top-right", "bottom-left", "bottom-right", "centre"];
        assert_eq!(match_option("top_left", &regions), Some(0));
        assert_eq!(match_option("The CENTER.", &regions), Some(4));
        assert_eq!(match_option("It is the bottom-right quadrant", &regions), Some(3));
        assert_eq!(match_option("top", &regions), None);
        assert_eq!(match_option("top left, then bottom right", &regions), None);
        assert_eq!(match_option("No.", &["yes", "no"]), Some(1));
        assert_eq!(match_option("yes, no", &["yes", "no"]), None);
    }

    #[test]
    fn percentile_intervals() {
        let mut v: Vec<f64> = (0..=100).rev().map(f64::from).collect();
        let (lo, hi) = percentile_interval(&mut v, 0.95);
        assert!(close(lo, 2.5) && close(hi, 97.5), "{lo} {hi}");
        assert_eq!(percentile_interval(&mut [0.7; 5], 0.95), (0.7, 0.7));
        assert_eq!(percentile_interval(&mut [], 0.95), (0.0, 0.0));
        assert_eq!(percentile_interval(&mut [f64::NAN, 0.5], 0.95), (0.5, 0.5));
    }

    #[test]
    fn mcnemar_matches_the_binomial_tail() {
        // b = 10, c = 2: 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 158 / 4096.
        assert!((mcnemar_exact(10, 2) - 158.0 / 4096.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert!((mcnemar_exact(0, 5) - 2.0 / 32.0).abs() < 1e-12);
        // Large counts stay finite and small.
        let p = mcnemar_exact(50_000, 51_000);
        assert!(p > 0.0 && p < 0.01, "{p}");
        let (d, lo, hi) = paired_difference(10, 2, 100);
        assert!((d + 0.08).abs() < 1e-12 && lo < d && d < hi && hi < 0.0);
    }
}
