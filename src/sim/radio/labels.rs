//! The labels of RadioQA-sim's six tasks for one scene, from what the scene was built as (its
//! recipe) and what was measured on its noiseless model: islands, flux peaks, the brightest peak.
//! A task a scene cannot answer unambiguously gets no label (no question). The definitions, and why
//! each is true by construction, are in docs/radioqa-sim.md. Pure; runs on the `heatscope-sim-N`
//! threads.

use serde::Serialize;

use super::Recipe;
use super::measure::{self, Peak};
use super::sources::{Ctx, SNR_BINS, Sky};
use crate::types::{ANOMALY_CLASSES, EXTENDED_CLASSES, FR_CLASSES, MORPHOLOGY_CLASSES, QuestionKind, YES_NO};

/// A scene whose brightest source peaks at or above this many sigma can be asked the artefact task.
pub const ARTEFACT_NO_MIN_SNR: f64 = 100.0;

/// The (islands, peaks) of each morphology class, in [`MORPHOLOGY_CLASSES`] order.
pub const MORPHOLOGY_COUNTS: [(usize, usize); 6] = [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)];

/// The morphology class of `islands` islands holding `peaks` peaks, if it is one of the six.
pub fn morphology_class(islands: usize, peaks: usize) -> Option<&'static str> {
    MORPHOLOGY_COUNTS.iter().position(|&c| c == (islands, peaks)).map(|k| MORPHOLOGY_CLASSES[k])
}

/// What was measured on a scene's noiseless model (sources only, no artefact).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measures {
    /// 8-connected regions above 3 sigma.
    pub islands: usize,
    /// Flux peaks (above 5 sigma, a beam major apart), brightest first.
    pub peaks: Vec<Peak>,
    /// Peaks in each island, in the islands' raster order.
    pub peaks_per_island: Vec<usize>,
    /// The brightest model pixel in noise rms units.
    pub peak_snr: f64,
    /// Index into [`SNR_BINS`] of `peak_snr` (the last bin is open-ended).
    pub snr_bin: usize,
}

/// Measure the noiseless `model` of a scene.
pub fn measure(model: &[f32], ctx: &Ctx) -> Measures {
    let (label, sizes) = measure::regions(&ctx.island_mask(model), ctx.n);
    let peaks = ctx.peaks(model);
    let mut per = vec![0usize; sizes.len()];
    for p in &peaks {
        let id = label[p.y * ctx.n + p.x] as usize;
        if id > 0 {
            per[id - 1] += 1;
        }
    }
    let peak_snr = f64::from(model.iter().copied().fold(0f32, f32::max)) / ctx.rms;
    let snr_bin = SNR_BINS.iter().rposition(|&(lo, _)| peak_snr >= lo).unwrap_or(0);
    Measures { islands: sizes.len(), peaks, peaks_per_island: per, peak_snr, snr_bin }
}

/// One label per task; `None` where the scene is not asked that task.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Labels {
    pub morphology: Option<&'static str>,
    pub extended: Option<&'static str>,
    pub fr: Option<&'static str>,
    pub galaxy: Option<&'static str>,
    pub artefact: Option<&'static str>,
    pub anomaly: Option<&'static str>,
}

impl Labels {
    pub fn get(&self, kind: QuestionKind) -> Option<&'static str> {
        match kind {
            QuestionKind::Morphology => self.morphology,
            QuestionKind::Extended => self.extended,
            QuestionKind::Fr => self.fr,
            QuestionKind::Galaxy => self.galaxy,
            QuestionKind::Artefact => self.artefact,
            QuestionKind::Anomaly => self.anomaly,
            _ => None,
        }
    }
}

/// The labels of a scene built as `recipe` with sky `sky` and measures `m`.
pub fn labels(recipe: Recipe, sky: &Sky, m: &Measures, ctx: &Ctx) -> Labels {
    let (yes, no) = (Some(YES_NO[0]), Some(YES_NO[1]));
    let (compact, extended, diffuse, large) =
        (Some(EXTENDED_CLASSES[0]), Some(EXTENDED_CLASSES[1]), Some(EXTENDED_CLASSES[2]), Some(EXTENDED_CLASSES[3]));
    let (ordinary, complex, peculiar) = (Some(ANOMALY_CLASSES[0]), Some(ANOMALY_CLASSES[1]), Some(ANOMALY_CLASSES[2]));
    let morphology = match recipe {
        Recipe::Artefact | Recipe::Diffuse | Recipe::DiffuseLarge | Recipe::Shell => None,
        _ => morphology_class(m.islands, m.peaks.len()),
    };
    let single_peaked = m.peaks_per_island.iter().all(|&k| k == 1);
    let mut l = Labels { morphology, ..Labels::default() };
    match recipe {
        Recipe::Morphology(_) => {
            l.anomaly = if single_peaked && !sky.has_resolved(ctx.beam) { ordinary } else { complex };
        }
        Recipe::Compact | Recipe::Bright => {
            (l.extended, l.galaxy, l.anomaly) = (compact, no, ordinary);
        }
        Recipe::Artefact => l.artefact = yes,
        Recipe::FrI | Recipe::FrII | Recipe::BentTail => {
            (l.extended, l.galaxy) = (extended, yes);
            l.fr = Some(FR_CLASSES[usize::from(recipe == Recipe::FrII)]);
            l.anomaly = if recipe == Recipe::BentTail { peculiar } else { complex };
        }
        Recipe::Diffuse => (l.extended, l.galaxy, l.anomaly) = (diffuse, no, complex),
        Recipe::DiffuseLarge => (l.extended, l.galaxy, l.anomaly) = (large, no, peculiar),
        Recipe::Shell => (l.galaxy, l.anomaly) = (no, peculiar),
    }
    if recipe != Recipe::Artefact && m.peak_snr >= ARTEFACT_NO_MIN_SNR {
        l.artefact = no;
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_six_classes_are_their_counts() {
        for (k, &(c, p)) in MORPHOLOGY_COUNTS.iter().enumerate() {
            assert_eq!(morphology_class(c, p), Some(MORPHOLOGY_CLASSES[k]));
            assert_eq!(MORPHOLOGY_CLASSES[k], format!("{c}C-{p}P"));
        }
        assert_eq!(morphology_class(1, 4), None);
        assert_eq!(morphology_class(2, 1), None);
    }
}
