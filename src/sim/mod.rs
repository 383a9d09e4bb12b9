//! SpectrumQA-sim: physically grounded spectrum-interference scenes with ground truth and questions
//! at four levels. One scene = a random layout of interferers for one scenario, its true I/N field,
//! the observed map an engineer would have, the labels from the truth and the questions. Everything
//! is a pure function of (scenario, scene index, seed, grid size); any thread. The definitions are
//! written down in docs/spectrumqa-sim.md.

pub mod antenna;
mod dataset;
pub mod drill;
pub mod field;
pub mod grf;
pub mod labels;
pub mod observe;
pub mod phrasing;
pub mod propagation;
pub mod questions;
pub mod radio;
pub mod rng;
pub mod scenario;
mod triangulate;
pub mod variants;

pub use dataset::{
    DatasetOptions, DatasetSummary, PNG_RANGE_DB, SimError, map_colour, render_png, write_dataset, write_npy_f32,
};
pub use field::{SourcePart, Truth, TruthOptions, compute_truth};
pub use labels::{Labels, label};
pub use observe::{Observation, ObservationModel, observe};
pub use questions::{Question, questions};
pub use scenario::{Layout, Scenario, sample_layout};
pub use variants::{ObservationVariant, PhysicsVariant, Variants};

use crate::types::Split;
use rng::Rng;

/// Version of the generator's definitions; goes into every dataset's `dataset.json`.
pub const GENERATOR_VERSION: &str = "spectrumqa-sim 1";

/// One generated scene with everything derived from it.
#[derive(Debug, Clone)]
pub struct Scene {
    pub id: String,
    pub scenario: Scenario,
    pub index: usize,
    pub split: Split,
    pub layout: Layout,
    pub truth: Truth,
    pub observation: Observation,
    /// The campaign that made `observation` (the scenario's frozen one unless a variant was asked).
    pub observation_model: ObservationModel,
    pub labels: Labels,
    pub questions: Vec<Question>,
}

/// The split of scene `index` within its scenario: 14 of every 20 train, 3 val, 3 test, interleaved
/// so any prefix of a dataset has all three.
pub fn split_of(index: usize) -> Split {
    match index % 20 {
        0..=13 => Split::Train,
        14..=16 => Split::Val,
        _ => Split::Test,
    }
}

/// The scene id: scenario name and zero-padded index.
pub fn scene_id(scenario: Scenario, index: usize) -> String {
    format!("{}-{index:05}", scenario.name())
}

/// Generate scene `index` of `scenario` for run `seed` on a `size` x `size` grid. Scenes do not
/// depend on each other, so any subset can be made in any order.
pub fn generate_scene(scenario: Scenario, index: usize, seed: u64, size: usize) -> Scene {
    generate_scene_with(scenario, index, seed, size, Variants::FROZEN)
}

/// [`generate_scene`] under observation and physics variants (training aids; `Variants::FROZEN` is
/// the benchmark). A variant's own draws come from streams the benchmark never uses.
pub fn generate_scene_with(scenario: Scenario, index: usize, seed: u64, size: usize, variants: Variants) -> Scene {
    let stream = |part: u64| Rng::derive(seed, &[scenario as u64, index as u64, part]);
    let mut layout = sample_layout(scenario, &mut stream(0));
    let truth_options = variants.physics.apply(&mut layout, &mut stream(5));
    let truth = compute_truth(scenario, &layout, size, truth_options, &mut stream(1));
    let observation_model = variants.observation.draw(ObservationModel::for_scenario(scenario), &mut stream(4));
    let observation = observe(scenario, &layout, &truth, &observation_model, &mut stream(2));
    let labels = label(scenario, &layout, &truth);
    let questions = questions(scenario, &labels, &mut stream(3));
    Scene {
        id: scene_id(scenario, index),
        scenario,
        index,
        split: split_of(index),
        layout,
        truth,
        observation,
        observation_model,
        labels,
        questions,
    }
}
