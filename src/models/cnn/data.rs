//! Training examples for the CNN from a SpectrumQA-sim dataset folder: the observed grid resized to
//! the network's input and scaled to [-1, 1], with the scene's targets (L1 class, L3 box or none, L2
//! per-region affected flag and 95th percentile) read from its `meta.json`; and the label-consistent
//! augmentations (the eight flips and transposes of the square, which move the box and permute the
//! regions with the pixels). Runs on the trainer's or a worker's thread.

use std::path::{Path, PathBuf};

use crate::types::{QuestionKind, Split};

/// Regions in [`crate::types::REGIONS`] order: top-left, top-right, bottom-left, bottom-right, centre.
const FLIP_H: [usize; 5] = [1, 0, 3, 2, 4];
const FLIP_V: [usize; 5] = [2, 3, 0, 1, 4];
const TRANSPOSE: [usize; 5] = [0, 2, 1, 3, 4];

/// One scene ready for the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub scene: String,
    pub scenario: String,
    pub split: Split,
    /// `input x input`, row-major, in [-1, 1] (-20 dB -> -1, +20 dB -> +1).
    pub grid: Vec<f32>,
    pub input: usize,
    pub severity: usize,
    pub bbox: Option<[f32; 4]>,
    pub region_affected: [bool; 5],
    /// 95th-percentile I/N per region, dB.
    pub region_p95_db: [f32; 5],
    /// Where the TRUE field exceeds the protection criterion, `truth_side` a side, row-major: the
    /// dense target (every label above is a statistic of it).
    pub exceed: Vec<bool>,
    pub truth_side: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read the dataset: {0}")]
    Manifest(#[from] crate::eval::EvalError),
    #[error("scene {scene}: {message}: {path}")]
    Scene { scene: String, path: PathBuf, message: String },
}

/// Map a dB value onto the network's input range.
pub fn normalize_db(v: f32) -> f32 {
    if v.is_finite() { (v.clamp(-20.0, 20.0) + 20.0) / 20.0 - 1.0 } else { -1.0 }
}

/// Bilinear resize of a square grid (pixel centres aligned, edges clamped).
pub fn resize(grid: &[f32], n: usize, m: usize) -> Vec<f32> {
    if n == m {
        return grid.to_vec();
    }
    let scale = n as f32 / m as f32;
    let mut out = Vec::with_capacity(m * m);
    for r in 0..m {
        let y = ((r as f32 + 0.5) * scale - 0.5).clamp(0.0, (n - 1) as f32);
        let (y0, fy) = (y.floor() as usize, y.fract());
        let y1 = (y0 + 1).min(n - 1);
        for c in 0..m {
            let x = ((c as f32 + 0.5) * scale - 0.5).clamp(0.0, (n - 1) as f32);
            let (x0, fx) = (x.floor() as usize, x.fract());
            let x1 = (x0 + 1).min(n - 1);
            let top = grid[y0 * n + x0] * (1.0 - fx) + grid[y0 * n + x1] * fx;
            let bottom = grid[y1 * n + x0] * (1.0 - fx) + grid[y1 * n + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// Read every scene of `dataset` (manifest order, one example per scene).
pub fn load_examples(dataset: &Path, input: usize) -> Result<Vec<Example>, DataError> {
    let records = crate::eval::read_manifest(&dataset.join("manifest.jsonl"))?;
    let mut out: Vec<Example> = Vec::new();
    for r in &records {
        if r.kind != QuestionKind::Severity || out.iter().any(|e| e.scene == r.scene) {
            continue;
        }
        let err =
            |path: &Path, message: String| DataError::Scene { scene: r.scene.clone(), path: path.into(), message };
        let meta_path = dataset.join(&r.images.meta);
        let text = std::fs::read_to_string(&meta_path).map_err(|e| err(&meta_path, e.to_string()))?;
        let labels = crate::sim::labels::parse_stored_labels(&text).map_err(|m| err(&meta_path, m))?;
        // One square band, or an error naming the scene and the file.
        let load_square = |rel: &str| -> Result<crate::types::Raster, DataError> {
            let path = dataset.join(rel);
            let raster =
                crate::io::load(&path, &crate::io::LoadOptions::default()).map_err(|e| err(&path, e.to_string()))?;
            if raster.width != raster.height || raster.bands.len() != 1 {
                let found = format!("expected one square band, found {} x {}", raster.width, raster.height);
                return Err(err(&path, found));
            }
            Ok(raster)
        };
        let raster = load_square(&r.images.observed)?;
        let n = raster.width;
        let band: Vec<f32> = raster.bands[0].iter().map(|&v| normalize_db(v)).collect();
        let truth = load_square(&r.images.truth)?;
        out.push(Example {
            scene: r.scene.clone(),
            scenario: r.scenario.clone(),
            split: r.split,
            grid: resize(&band, n, input),
            input,
            severity: labels.severity,
            bbox: labels.region_box,
            region_affected: labels.region_share.map(|s| s >= crate::sim::labels::REGION_AFFECTED_SHARE),
            region_p95_db: labels.region_p95_db.map(|x| x as f32),
            exceed: truth.bands[0].iter().map(|&v| v > crate::sim::labels::PROTECTION_DB).collect(),
            truth_side: truth.width,
        });
    }
    Ok(out)
}

impl Example {
    /// An example straight from a generated scene, with `grid` (the scene's size, as given) as input.
    pub fn from_scene(scene: &crate::sim::Scene, grid: Vec<f32>) -> Example {
        Example {
            scene: scene.id.clone(),
            scenario: scene.scenario.name().into(),
            split: scene.split,
            grid,
            input: scene.truth.size,
            severity: scene.labels.severity,
            bbox: scene.labels.region_box,
            region_affected: scene.labels.region_share.map(|x| x >= crate::sim::labels::REGION_AFFECTED_SHARE),
            region_p95_db: scene.labels.region_p95_db.map(|x| x as f32),
            exceed: scene.truth.in_db.iter().map(|&v| v > crate::sim::labels::PROTECTION_DB).collect(),
            truth_side: scene.truth.size,
        }
    }

    /// The exceedance target on an `m x m` grid: the share of true pixels above the criterion in each
    /// cell (each true pixel belongs to the cell its centre falls in).
    pub fn mask_target(&self, m: usize) -> Vec<f32> {
        let n = self.truth_side;
        let mut hits = vec![0f32; m * m];
        let mut count = vec![0f32; m * m];
        for r in 0..n {
            let cr = r * m / n;
            for c in 0..n {
                let k = cr * m + c * m / n;
                count[k] += 1.0;
                hits[k] += f32::from(u8::from(self.exceed[r * n + c]));
            }
        }
        // A cell no pixel falls in (m > n) takes its nearest pixel.
        (0..m * m)
            .map(|k| {
                if count[k] > 0.0 {
                    hits[k] / count[k]
                } else {
                    let (r, c) = ((k / m) * n / m, (k % m) * n / m);
                    f32::from(u8::from(self.exceed[r * n + c]))
                }
            })
            .collect()
    }

    /// Mirror left-right: pixels, box, regions and mask move together.
    pub fn flip_h(&self) -> Example {
        let bbox = self.bbox.map(|b| [1.0 - b[2], b[1], 1.0 - b[0], b[3]]);
        self.with(|n, i| (i / n) * n + (n - 1 - i % n), bbox, FLIP_H)
    }

    /// Mirror top-bottom.
    pub fn flip_v(&self) -> Example {
        let bbox = self.bbox.map(|b| [b[0], 1.0 - b[3], b[2], 1.0 - b[1]]);
        self.with(|n, i| (n - 1 - i / n) * n + i % n, bbox, FLIP_V)
    }

    /// Swap rows and columns (mirror on the main diagonal).
    pub fn transpose(&self) -> Example {
        let bbox = self.bbox.map(|b| [b[1], b[0], b[3], b[2]]);
        self.with(|n, i| (i % n) * n + i / n, bbox, TRANSPOSE)
    }

    /// One of the eight symmetries of the square (0 = identity), by bits: transpose, flip_v, flip_h.
    pub fn symmetry(&self, k: u8) -> Example {
        let mut e = self.clone();
        if k & 4 != 0 {
            e = e.transpose();
        }
        if k & 2 != 0 {
            e = e.flip_v();
        }
        if k & 1 != 0 {
            e = e.flip_h();
        }
        e
    }

    /// The example with both squares re-indexed by `source(side, i)` (where output pixel `i` comes from).
    fn with(&self, source: fn(usize, usize) -> usize, bbox: Option<[f32; 4]>, perm: [usize; 5]) -> Example {
        let (n, t) = (self.input, self.truth_side);
        Example {
            grid: (0..n * n).map(|i| self.grid[source(n, i)]).collect(),
            exceed: (0..t * t).map(|i| self.exceed[source(t, i)]).collect(),
            bbox,
            region_affected: perm.map(|k| self.region_affected[k]),
            region_p95_db: perm.map(|k| self.region_p95_db[k]),
            ..self.clone()
        }
    }
}

/// Examples from generated 32-pixel scenes (all scenarios in turn, seed 5) with their observed grids,
/// for the model's tests.
#[cfg(test)]
pub(crate) fn observed_examples(range: std::ops::Range<usize>) -> Vec<Example> {
    range
        .map(|i| {
            let s = crate::sim::generate_scene(crate::sim::Scenario::ALL[i % 3], i, 5, 32);
            let grid = s.observation.in_db.iter().map(|&v| normalize_db(v)).collect();
            Example::from_scene(&s, grid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::labels::{PROTECTION_DB, REGION_AFFECTED_SHARE, region_box, region_stats};

    /// An example whose grid is a scene's TRUE field (in dB), so its labels can be recomputed after a flip.
    fn truth_example(index: usize) -> Example {
        let s = crate::sim::generate_scene(crate::sim::Scenario::HapsCoastal, index, 3, 32);
        Example::from_scene(&s, s.truth.in_db.clone())
    }

    #[test]
    fn augmented_labels_equal_labels_recomputed_from_the_augmented_field() {
        for index in 0..6 {
            let e = truth_example(index);
            for k in 0..8 {
                let a = e.symmetry(k);
                let (share, p95) = region_stats(&a.grid, 32, PROTECTION_DB);
                assert_eq!(a.region_affected, share.map(|x| x >= REGION_AFFECTED_SHARE), "symmetry {k}");
                for (got, want) in a.region_p95_db.iter().zip(p95) {
                    assert!((f64::from(*got) - want).abs() < 1e-4, "symmetry {k}");
                }
                let mask: Vec<bool> = a.grid.iter().map(|&v| v > PROTECTION_DB).collect();
                assert_eq!(a.exceed, mask, "symmetry {k}: the exceedance mask moves with the pixels");
                match (a.bbox, region_box(&mask, 32)) {
                    (Some(x), Some(y)) => {
                        assert!(x.iter().zip(y).all(|(p, q)| (p - q).abs() < 1e-6), "symmetry {k}: {x:?} vs {y:?}")
                    }
                    (None, None) => {}
                    other => panic!("symmetry {k}: {other:?}"),
                }
            }
            assert_eq!(e.flip_h().flip_h(), e);
            assert_eq!(e.transpose().transpose(), e);
        }
    }

    #[test]
    fn examples_load_from_a_written_dataset_and_bad_metadata_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let opts = crate::sim::DatasetOptions {
            scenarios: crate::sim::Scenario::ALL.to_vec(),
            scenes: 2,
            seed: 9,
            size: 32,
            variants: Default::default(),
            threads: 2,
        };
        let lut = [[0u8; 4]; 256];
        crate::sim::write_dataset(dir.path(), &opts, &lut, &|_, _| true).unwrap();
        let ex = load_examples(dir.path(), 64).unwrap();
        assert_eq!(ex.len(), 6);
        let scene = crate::sim::generate_scene(crate::sim::Scenario::GeoRural, 1, 9, 32);
        let e = ex.iter().find(|e| e.scene == scene.id).unwrap();
        assert_eq!(e.severity, scene.labels.severity);
        assert_eq!(e.bbox, scene.labels.region_box);
        assert_eq!(e.grid.len(), 64 * 64);
        assert!(e.grid.iter().all(|v| (-1.0..=1.0).contains(v)));
        let want: Vec<bool> = scene.truth.in_db.iter().map(|&v| v > PROTECTION_DB).collect();
        assert_eq!((e.truth_side, &e.exceed), (32, &want));
        let small = load_examples(dir.path(), 32).unwrap();
        let s = small.iter().find(|e| e.scene == scene.id).unwrap();
        assert_eq!(s.grid, scene.observation.in_db.iter().map(|&v| normalize_db(v)).collect::<Vec<_>>());

        let meta = dir.path().join(format!("scenes/{}/meta.json", scene.id));
        std::fs::write(&meta, "{\"labels\": {}}").unwrap();
        let msg = load_examples(dir.path(), 32).unwrap_err().to_string();
        assert!(
            msg.contains(&scene.id) && msg.contains("labels") && msg.contains("severity") && msg.contains("meta.json"),
            "{msg}"
        );
    }

    #[test]
    fn mask_target_is_the_exceeding_share_of_each_cell() {
        let mut e = truth_example(0);
        e.truth_side = 4;
        e.exceed = [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]].concat().iter().map(|&v| v == 1).collect();
        assert_eq!(e.mask_target(2), vec![0.75, 0.0, 0.0, 0.5]);
        assert_eq!(e.mask_target(4), e.exceed.iter().map(|&b| f32::from(u8::from(b))).collect::<Vec<_>>());
        assert_eq!(e.mask_target(1), vec![5.0 / 16.0]);
        assert_eq!(e.mask_target(8)[0..2], [1.0, 1.0]);
    }

    #[test]
    fn resize_and_normalize() {
        let g: Vec<f32> = (0..16).map(|i| i as f32).collect();
        assert_eq!(resize(&g, 4, 4), g);
        let half = resize(&g, 4, 2);
        assert_eq!(half, vec![2.5, 4.5, 10.5, 12.5]);
        assert_eq!(normalize_db(-20.0), -1.0);
        assert_eq!(normalize_db(20.0), 1.0);
        assert_eq!(normalize_db(0.0), 0.0);
        assert_eq!(normalize_db(f32::NAN), -1.0);
        assert_eq!(normalize_db(99.0), 1.0);
    }
}
