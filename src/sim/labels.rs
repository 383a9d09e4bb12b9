//! Ground truth from the TRUE field: affected share and L1 class, region statistics (L2), the
//! largest connected affected region (L3) and the dominant source with its evidence and mitigation
//! (L4). The same grid functions serve the rule baseline on the observed grid. Any thread.

use serde::Serialize;

use super::field::{SourcePart, Truth};
use super::scenario::{Layout, Scenario};
use crate::types::{REGIONS, SEVERITY_CLASSES};

/// The protection criterion: a pixel is affected when I/N exceeds -6 dB (ITU).
pub const PROTECTION_DB: f32 = -6.0;

/// "Region X is affected" when at least this share of its pixels is affected.
pub const REGION_AFFECTED_SHARE: f64 = 0.10;

/// "Which is worse" and "worst region" are asked only when the 95th percentiles differ by more.
pub const WORSE_MARGIN_DB: f64 = 1.0;

/// Connected regions smaller than this share of the scene do not count as a region for L3.
pub const MIN_REGION_SHARE: f64 = 0.002;

/// L1 class boundaries on the affected share: low < T0 <= moderate < T1 <= high < T2 <= severe.
/// Fitted once on the pooled train split (quartiles; `heatscope data thresholds` recomputes them)
/// and frozen with the generator.
pub const SEVERITY_THRESHOLDS: [f64; 3] = [0.056, 0.202, 0.503];

/// A region's 95th percentile when it has no finite pixel (written as null): the colour scale's floor.
pub const P95_FLOOR_DB: f64 = -20.0;

/// The labels the trainers read back from a written scene's `meta.json` (the `labels` object of
/// [`Labels`] as serialized).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLabels {
    pub severity: usize,
    pub region_share: [f64; 5],
    /// A null (no finite pixel in the region) reads as [`P95_FLOOR_DB`].
    pub region_p95_db: [f64; 5],
    pub region_box: Option<[f32; 4]>,
}

/// Parse a scene's `meta.json` text; the error says which field is wrong (callers add the path).
pub fn parse_stored_labels(meta_json: &str) -> Result<StoredLabels, String> {
    let meta: serde_json::Value = serde_json::from_str(meta_json).map_err(|e| format!("not JSON: {e}"))?;
    let labels = meta.get("labels").ok_or("no labels object")?;
    fn field<T: serde::de::DeserializeOwned>(labels: &serde_json::Value, key: &str) -> Result<T, String> {
        let v = labels.get(key).ok_or_else(|| format!("labels.{key} is missing"))?;
        serde_json::from_value(v.clone()).map_err(|e| format!("labels.{key}: {e}"))
    }
    let severity: usize = field(labels, "severity")?;
    if severity >= SEVERITY_CLASSES.len() {
        return Err(format!("labels.severity: {severity} is not a class index (0-{})", SEVERITY_CLASSES.len() - 1));
    }
    let share = field::<[Option<f64>; 5]>(labels, "region_share")?.map(|x| x.unwrap_or(0.0));
    if share.iter().any(|s| !(0.0..=1.0).contains(s)) {
        return Err(format!("labels.region_share: {share:?} are not shares between 0 and 1"));
    }
    let p95 = field::<[Option<f64>; 5]>(labels, "region_p95_db")?.map(|x| x.unwrap_or(P95_FLOOR_DB));
    let region_box = field(labels, "region_box")?;
    Ok(StoredLabels { severity, region_share: share, region_p95_db: p95, region_box })
}

/// L1 class index of an affected share.
pub fn severity_class(share: f64) -> usize {
    SEVERITY_THRESHOLDS.iter().take_while(|&&t| share >= t).count()
}

/// Row/column bounds [r0, r1) x [c0, c1) of each of [`REGIONS`] on an n x n grid.
pub fn region_bounds(n: usize) -> [(usize, usize, usize, usize); 5] {
    let h = n / 2;
    let q = n / 4;
    [(0, h, 0, h), (0, h, h, n), (h, n, 0, h), (h, n, h, n), (q, n - q, q, n - q)]
}

/// Share of affected pixels and 95th-percentile value (dB) in each region.
pub fn region_stats(grid: &[f32], n: usize, threshold: f32) -> ([f64; 5], [f64; 5]) {
    let mut share = [0.0; 5];
    let mut p95 = [0.0; 5];
    for (k, (r0, r1, c0, c1)) in region_bounds(n).into_iter().enumerate() {
        let mut vals: Vec<f32> = Vec::with_capacity((r1 - r0) * (c1 - c0));
        for r in r0..r1 {
            vals.extend_from_slice(&grid[r * n + c0..r * n + c1]);
        }
        share[k] = vals.iter().filter(|&&v| v > threshold).count() as f64 / vals.len().max(1) as f64;
        vals.sort_by(f32::total_cmp);
        // At the grid's own precision (f32), so the label reads back exactly from meta.json.
        p95[k] = crate::stats::quantile::of_sorted_f32(&vals, 0.95).map_or(f64::NAN, |v| f64::from(v as f32));
    }
    (share, p95)
}

/// Largest 8-connected component of `mask`: (pixel count, normalized box [x0, y0, x1, y1]).
pub fn largest_component(mask: &[bool], n: usize) -> Option<(usize, [f32; 4])> {
    let mut seen = vec![false; n * n];
    let mut best: Option<(usize, [f32; 4])> = None;
    let mut stack = Vec::new();
    for start in 0..n * n {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut count, mut r0, mut r1, mut c0, mut c1) = (0usize, n, 0usize, n, 0usize);
        while let Some(i) = stack.pop() {
            count += 1;
            let (r, c) = (i / n, i % n);
            (r0, r1, c0, c1) = (r0.min(r), r1.max(r), c0.min(c), c1.max(c));
            for dr in -1isize..=1 {
                for dc in -1isize..=1 {
                    let (rr, cc) = (r as isize + dr, c as isize + dc);
                    if rr < 0 || cc < 0 || rr >= n as isize || cc >= n as isize {
                        continue;
                    }
                    let j = rr as usize * n + cc as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if best.is_none_or(|(b, _)| count > b) {
            let f = n as f32;
            best = Some((count, [c0 as f32 / f, r0 as f32 / f, (c1 + 1) as f32 / f, (r1 + 1) as f32 / f]));
        }
    }
    best
}

/// The L3 answer for a mask: the largest region's box, or `None` when it is under [`MIN_REGION_SHARE`].
pub fn region_box(mask: &[bool], n: usize) -> Option<[f32; 4]> {
    largest_component(mask, n).filter(|(count, _)| *count as f64 >= MIN_REGION_SHARE * (n * n) as f64).map(|(_, b)| b)
}

/// Everything the questions need about one scene, from its true field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Labels {
    pub affected_share: f64,
    pub severity: usize,
    pub region_share: [f64; 5],
    pub region_p95_db: [f64; 5],
    /// Region with the highest 95th percentile, if it beats the next one by [`WORSE_MARGIN_DB`].
    pub worst_region: Option<usize>,
    pub region_box: Option<[f32; 4]>,
    /// Share of the affected pixels (or, when nothing is affected, of the strongest 5 %) where main
    /// lobes, side lobes or terrestrial cells contribute the most power.
    pub source_shares: [f64; 3],
    pub dominant: SourcePart,
    pub source: String,
    pub evidence: String,
    pub mitigation: String,
    /// Share of affected pixels at sea (coastal scenario).
    pub affected_at_sea: f64,
}

pub fn label(scenario: Scenario, layout: &Layout, truth: &Truth) -> Labels {
    let n = truth.size;
    let mask: Vec<bool> = truth.in_db.iter().map(|&v| v > PROTECTION_DB).collect();
    let affected = mask.iter().filter(|&&m| m).count();
    let affected_share = affected as f64 / (n * n) as f64;
    let severity = severity_class(affected_share);
    let (region_share, region_p95_db) = region_stats(&truth.in_db, n, PROTECTION_DB);
    let worst_region = clear_worst_region(&region_p95_db);
    let box_ = region_box(&mask, n);

    // Where to attribute power: affected pixels, or the strongest 5 % when none is affected.
    let selected: Vec<usize> = if affected > 0 {
        (0..n * n).filter(|&i| mask[i]).collect()
    } else {
        let mut idx: Vec<usize> = (0..n * n).collect();
        idx.sort_by(|&a, &b| truth.in_db[b].total_cmp(&truth.in_db[a]));
        idx.truncate((n * n / 20).max(1));
        idx
    };
    // Each selected pixel votes for the category contributing most of its power.
    let mut votes = [0usize; 3];
    for &i in &selected {
        let p = [truth.parts[0][i], truth.parts[1][i], truth.parts[2][i]];
        let k = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(2);
        votes[k] += 1;
    }
    let total = votes.iter().sum::<usize>().max(1) as f64;
    let source_shares = votes.map(|v| v as f64 / total);
    let dominant = match (0..3).max_by_key(|&k| (votes[k], 3 - k)) {
        Some(0) => SourcePart::MainLobe,
        Some(1) => SourcePart::SideLobe,
        _ => SourcePart::Terrestrial,
    };
    let affected_at_sea =
        if affected == 0 { 0.0 } else { selected.iter().filter(|&&i| !truth.land[i]).count() as f64 / affected as f64 };
    let word = layout.platform.kind.source_word();
    let largest_share = box_.map_or(0.0, |b| f64::from((b[2] - b[0]) * (b[3] - b[1])));
    let (source, evidence, mitigation) = match dominant {
        SourcePart::MainLobe => (
            format!("{word} main beam"),
            if largest_share > 0.25 { "wide smooth footprint" } else { "beam edge gradient" },
            mitigation(SourcePart::MainLobe, severity),
        ),
        SourcePart::SideLobe => {
            (format!("{word} side lobe"), "weak widespread floor", mitigation(SourcePart::SideLobe, severity))
        }
        SourcePart::Terrestrial => (
            "terrestrial co-channel cell".to_string(),
            if scenario == Scenario::HapsCoastal && affected_at_sea >= 0.25 {
                "coastal spillover"
            } else {
                "localized hotspots"
            },
            mitigation(SourcePart::Terrestrial, severity),
        ),
    };
    Labels {
        affected_share,
        severity,
        region_share,
        region_p95_db,
        worst_region,
        region_box: box_,
        source_shares,
        dominant,
        source,
        evidence: evidence.to_string(),
        mitigation: mitigation.to_string(),
        affected_at_sea,
    }
}

/// The mitigation an answer names for a dominant source at an L1 class: steer a strong main beam,
/// else lower its power; suppress side lobes; for terrestrial cells an exclusion zone (severe),
/// downtilt (high) or another channel.
pub fn mitigation(source: SourcePart, severity: usize) -> &'static str {
    match (source, severity) {
        (SourcePart::MainLobe, s) if s >= 2 => "beam steering",
        (SourcePart::MainLobe, _) => "power control",
        (SourcePart::SideLobe, _) => "sidelobe suppression",
        (SourcePart::Terrestrial, 3) => "exclusion zone",
        (SourcePart::Terrestrial, 2) => "antenna downtilt",
        (SourcePart::Terrestrial, _) => "channel reassignment",
    }
}

/// The region with the highest 95th percentile, if it beats the next one by more than
/// [`WORSE_MARGIN_DB`] (otherwise "worst region" is not asked).
pub fn clear_worst_region(p95: &[f64; 5]) -> Option<usize> {
    let mut order: Vec<usize> = (0..5).collect();
    order.sort_by(|&a, &b| p95[b].total_cmp(&p95[a]));
    (p95[order[0]] - p95[order[1]] > WORSE_MARGIN_DB).then_some(order[0])
}

/// Index of the region with the highest 95th percentile.
pub fn highest_region(p95: &[f64; 5]) -> usize {
    (0..5).max_by(|&a, &b| p95[a].total_cmp(&p95[b])).unwrap_or(4)
}

/// The L4 answer sentence (the reference and the rule baseline fill the same template).
pub fn explanation_text(source: &str, evidence: &str, severity: usize, region: usize, mitigation: &str) -> String {
    format!(
        "The {source} dominates the interference: {evidence}, {} severity, worst in the {} region. Mitigation: {mitigation}.",
        SEVERITY_CLASSES[severity], REGIONS[region]
    )
}

impl Labels {
    /// The L4 reference answer.
    pub fn explanation(&self) -> String {
        // `worst_region`, when set, is the unique highest region, so this is the same region.
        explanation_text(
            &self.source,
            &self.evidence,
            self.severity,
            highest_region(&self.region_p95_db),
            &self.mitigation,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_labels_read_back_what_a_scene_writes_and_name_what_is_wrong() {
        let scene = crate::sim::generate_scene(Scenario::LeoUrban, 3, 7, 32);
        let text = serde_json::json!({"id": scene.id, "labels": scene.labels}).to_string();
        let got = parse_stored_labels(&text).unwrap();
        assert_eq!(got.severity, scene.labels.severity);
        assert_eq!(got.region_share, scene.labels.region_share);
        assert_eq!(got.region_p95_db, scene.labels.region_p95_db);
        assert_eq!(got.region_box, scene.labels.region_box);

        let with = |labels: serde_json::Value| parse_stored_labels(&serde_json::json!({"labels": labels}).to_string());
        let ok = serde_json::json!({"severity": 1, "region_share": [0.0, 0.5, 1.0, null, 0.2],
            "region_p95_db": [null, 3.0, -1.5, 0.0, 2.0], "region_box": null});
        let l = with(ok.clone()).unwrap();
        assert_eq!(l.region_p95_db[0], P95_FLOOR_DB, "a null percentile is the floor");
        assert_eq!((l.region_share[3], l.region_box), (0.0, None));
        for (key, bad, says) in [
            ("severity", serde_json::json!(7), "not a class index"),
            ("severity", serde_json::Value::Null, "severity"),
            ("region_p95_db", serde_json::json!([1.0, 2.0, 3.0, 4.0]), "5"),
            ("region_share", serde_json::json!([0.0, 0.5, 1.5, 0.0, 0.0]), "between 0 and 1"),
            ("region_box", serde_json::json!([1, 2]), "4"),
        ] {
            let mut v = ok.clone();
            v[key] = bad;
            let e = with(v).unwrap_err();
            assert!(e.contains(says), "{key}: {e}");
        }
        assert!(parse_stored_labels("{\"labels\": {}}").unwrap_err().contains("severity"));
        assert!(parse_stored_labels("not json").is_err());
    }

    #[test]
    fn severity_classes_follow_the_thresholds() {
        assert_eq!(severity_class(0.0), 0);
        assert_eq!(severity_class(SEVERITY_THRESHOLDS[0]), 1);
        assert_eq!(severity_class(SEVERITY_THRESHOLDS[2] - 1e-9), 2);
        assert_eq!(severity_class(1.0), 3);
    }

    #[test]
    fn largest_component_uses_8_connectivity_and_boxes_it() {
        let n = 8;
        let mut m = vec![false; n * n];
        for (r, c) in [(1, 1), (2, 2), (3, 3), (6, 6)] {
            m[r * n + c] = true;
        }
        let (count, b) = largest_component(&m, n).unwrap();
        assert_eq!(count, 3);
        assert_eq!(b, [0.125, 0.125, 0.5, 0.5]);
        assert!(largest_component(&[false; 64], 8).is_none());
        // One pixel of 64 is above the minimum share, of 1 M pixels it is not.
        assert!(region_box(&m, n).is_some());
    }

    #[test]
    fn region_statistics_count_quadrants_and_centre() {
        let n = 8;
        let grid: Vec<f32> = (0..n * n).map(|i| if i / n < 4 && i % n < 4 { 0.0 } else { -20.0 }).collect();
        let (share, p95) = region_stats(&grid, n, PROTECTION_DB);
        assert_eq!(share, [1.0, 0.0, 0.0, 0.0, 0.25]);
        assert_eq!(p95[0], 0.0);
        assert_eq!(p95[1], -20.0);
        assert_eq!(p95[4], 0.0);
    }
}
