//! Grounding drills: training-only maps that teach a small VLM where the five named regions are.
//!
//! A drill is a quiet map with one to three round hot spots, rendered with the same colour scale as a
//! dataset's `observed.png`, and the L2 questions SpectrumQA-sim asks about regions (affected, which is
//! worse, worst), labelled by the same region statistics ([`region_stats`]) on the drill's own grid.
//! Unlike a real scene, what separates the regions is plain to see, so a model that cannot yet look up
//! a named region gets a clean signal for it. Drills never enter a dataset or an evaluation; `train
//! vlm --drills N` mixes them into training. A pure function of (seed, index, size); any thread.

use super::labels::{PROTECTION_DB, clear_worst_region, region_stats};
use super::questions::{Question, context, region_questions};
use super::rng::Rng;
use super::scenario::Scenario;
use super::{SimError, map_colour};

/// One drill map and its questions.
#[derive(Debug, Clone)]
pub struct Drill {
    /// I/N in dB, row-major, `size` x `size`.
    pub grid: Vec<f32>,
    pub size: usize,
    /// The map as the model sees it (the dataset's colour scale).
    pub image: image::RgbImage,
    pub region_p95_db: [f64; 5],
    pub questions: Vec<Question>,
}

/// Drill `index` of the stream `seed`: background between -20 and -10 dB with 0.5 dB of pixel noise,
/// plus one to three Gaussian spots (peak -10 to +20 dB, width 1/32 to 1/8 of the side), powers added.
pub fn drill(seed: u64, index: u64, size: usize, lut: &[[u8; 4]; 256]) -> Result<Drill, SimError> {
    if !(16..=2048).contains(&size) {
        return Err(SimError::Invalid(format!("drill size {size} is outside 16-2048 pixels")));
    }
    let mut rng = Rng::derive(seed, &[0xd411, index]);
    let n = size;
    let background = 10f64.powf(rng.range(-20.0, -10.0) / 10.0);
    let spots: Vec<(f64, f64, f64, f64)> = (0..rng.int_in(1, 3))
        .map(|_| {
            let side = n as f64;
            let (x, y) = (rng.range(0.0, side), rng.range(0.0, side));
            let sigma = rng.range(side / 32.0, side / 8.0);
            (x, y, sigma, 10f64.powf(rng.range(-10.0, 20.0) / 10.0))
        })
        .collect();
    let mut grid = Vec::with_capacity(n * n);
    for r in 0..n {
        for c in 0..n {
            let (px, py) = (c as f64 + 0.5, r as f64 + 0.5);
            let power: f64 = background
                + spots
                    .iter()
                    .map(|&(x, y, s, p)| p * (-((px - x).powi(2) + (py - y).powi(2)) / (2.0 * s * s)).exp())
                    .sum::<f64>();
            grid.push((10.0 * power.log10() + 0.5 * rng.normal()) as f32);
        }
    }
    let (share, p95) = region_stats(&grid, n, PROTECTION_DB);
    let worst = clear_worst_region(&p95);
    let scenario = Scenario::ALL[rng.below(Scenario::ALL.len())];
    let questions = region_questions(&context(scenario), &share, &p95, worst, &mut rng);
    let image = to_rgb(&grid, n, lut);
    Ok(Drill { grid, size: n, image, region_p95_db: p95, questions })
}

/// The grid in a dataset's map colours ([`map_colour`]).
fn to_rgb(grid: &[f32], n: usize, lut: &[[u8; 4]; 256]) -> image::RgbImage {
    let mut img = image::RgbImage::new(n as u32, n as u32);
    for (px, &v) in img.pixels_mut().zip(grid) {
        *px = image::Rgb(map_colour(v, lut));
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::labels::WORSE_MARGIN_DB;
    use crate::types::{QuestionKind, REGIONS};

    fn lut() -> [[u8; 4]; 256] {
        crate::render::colormap::Colormap::Turbo.table()
    }

    #[test]
    fn drills_are_reproducible_and_differ_by_index() {
        let a = drill(7, 3, 64, &lut()).unwrap();
        let b = drill(7, 3, 64, &lut()).unwrap();
        assert_eq!(a.grid, b.grid);
        assert_eq!(a.image, b.image);
        assert_ne!(drill(7, 4, 64, &lut()).unwrap().grid, a.grid);
        assert!(drill(7, 3, 8, &lut()).is_err());
    }

    #[test]
    fn drill_answers_follow_the_region_statistics_of_the_drawn_map() {
        let mut worst_seen = [0usize; 5];
        for i in 0..200 {
            let d = drill(1, i, 64, &lut()).unwrap();
            assert!(d.grid.iter().all(|v| v.is_finite()));
            let (share, p95) = region_stats(&d.grid, 64, PROTECTION_DB);
            assert_eq!(p95, d.region_p95_db);
            for q in &d.questions {
                let idx = |name: &str| REGIONS.iter().position(|r| *r == name).unwrap();
                match q.kind {
                    QuestionKind::RegionAffected => {
                        let k = REGIONS.iter().position(|r| q.text.contains(&format!(" {r} "))).unwrap();
                        assert_eq!(q.answer == "yes", share[k] >= super::super::labels::REGION_AFFECTED_SHARE);
                    }
                    QuestionKind::WhichWorse => {
                        let (a, b) = (idx(&q.choices[0]), idx(&q.choices[1]));
                        assert_eq!(idx(&q.answer), if p95[a] > p95[b] { a } else { b });
                    }
                    QuestionKind::WorstRegion => {
                        let k = idx(&q.answer);
                        assert!((0..5).all(|j| j == k || p95[k] > p95[j] + WORSE_MARGIN_DB));
                        worst_seen[k] += 1;
                    }
                    other => panic!("a drill asks only L2 questions, not {other:?}"),
                }
            }
        }
        // Spots land anywhere, so every region is the worst somewhere.
        assert!(worst_seen.iter().all(|&c| c > 5), "{worst_seen:?}");
    }
}
