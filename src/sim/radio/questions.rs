//! RadioQA-sim prompts in radio-llava's format: a line saying what the image is, one of at least five
//! paraphrases of the task's question, the task's labels with their meaning as a multiple choice,
//! and "Report only the class label." Pure; runs on the `heatscope-sim-N` threads.

use super::labels::Labels;
use crate::sim::rng::Rng;
use crate::types::QuestionKind;

const MORPHOLOGY_Q: [&str; 6] = [
    "Classify the morphology of the radio emission in this image by its islands and flux peaks.",
    "How many separate emission islands and intensity peaks does this radio image show?",
    "Which island/peak morphology class describes the radio sources in this cutout?",
    "Count the connected emission islands and the brightness peaks: which class is this image?",
    "What is the component and peak class of the radio emission shown here?",
    "Assign this radio cutout to one of the island/peak morphology classes.",
];

const EXTENDED_Q: [&str; 6] = [
    "What kind of radio emission does this image contain?",
    "Classify the spatial extent of the radio sources in this cutout.",
    "Is the emission in this image compact, extended or diffuse?",
    "Which extended-source class fits this radio image best?",
    "How would you describe the extent of the radio emission shown?",
    "Sort this cutout by the extent of its radio emission.",
];

const FR_Q: [&str; 6] = [
    "Which Fanaroff-Riley class does the radio galaxy in this image belong to?",
    "Is the radio galaxy in this cutout of type FR-I or FR-II?",
    "Classify the radio galaxy shown by its Fanaroff-Riley type.",
    "Is this radio galaxy edge-darkened or edge-brightened? Give its Fanaroff-Riley class.",
    "What is the FR class of the radio galaxy here?",
    "Looking at where the radio galaxy is brightest, which Fanaroff-Riley class is it?",
];

const GALAXY_Q: [&str; 6] = [
    "Is there an extended radio galaxy in this image?",
    "Does this cutout contain an extended radio galaxy, with a core and jets or lobes?",
    "Can you see a radio galaxy with jets or lobes in this image?",
    "Does the image show an extended radio galaxy?",
    "Is any extended radio galaxy present in this field?",
    "Would you say this cutout holds an extended radio galaxy?",
];

const ARTEFACT_Q: [&str; 6] = [
    "Are there ring-shaped imaging artefacts around a bright source in this image?",
    "Does a bright source in this cutout show concentric ring artefacts?",
    "Do you see ripple rings or a sidelobe pattern around a bright source here?",
    "Is this image affected by ring artefacts left by imperfect deconvolution of a bright source?",
    "Are there artefact rings around any bright source in this field?",
    "Does the brightest source here sit inside a pattern of concentric artefact rings?",
];

const ANOMALY_Q: [&str; 6] = [
    "How unusual is the radio emission in this image?",
    "Classify this cutout as ordinary, complex or peculiar.",
    "Do the radio sources in this image look ordinary, complex or peculiar?",
    "Which anomaly class fits the sources in this image?",
    "Rate the morphology of the radio emission shown: ordinary, complex or peculiar?",
    "Is anything in this radio image out of the ordinary?",
];

/// The line that opens every RadioQA-sim question.
pub const CONTEXT: &str = "The image is a cutout of a radio-continuum survey map (total intensity, Jy/beam), shown \
     with sigma clipping and a ZScale stretch: brighter pixels are stronger emission.";

/// The paraphrases of `kind`'s question (empty for SpectrumQA kinds).
pub fn paraphrases(kind: QuestionKind) -> &'static [&'static str] {
    match kind {
        QuestionKind::Morphology => &MORPHOLOGY_Q,
        QuestionKind::Extended => &EXTENDED_Q,
        QuestionKind::Fr => &FR_Q,
        QuestionKind::Galaxy => &GALAXY_Q,
        QuestionKind::Artefact => &ARTEFACT_Q,
        QuestionKind::Anomaly => &ANOMALY_Q,
        _ => &[],
    }
}

/// The labels of `kind` with what each means, as the prompt lists them.
pub fn choices_text(kind: QuestionKind) -> &'static str {
    match kind {
        QuestionKind::Morphology => {
            "An island is a connected region of emission above 3 times the noise; a peak is a local brightness \
             maximum above 5 times the noise, at least one beam from a brighter peak. Classes: 1C-1P (one island, \
             one peak), 1C-2P (one island, two peaks), 1C-3P (one island, three peaks), 2C-2P (two islands, two \
             peaks), 2C-3P (two islands, three peaks), 3C-3P (three islands, three peaks)."
        }
        QuestionKind::Extended => {
            "Classes: COMPACT (only point-like sources), EXTENDED (a resolved source with bright structure, such as \
             a radio galaxy), DIFFUSE (faint low-surface-brightness emission several beams across), DIFFUSE-LARGE \
             (faint diffuse emission spanning at least half of the image)."
        }
        QuestionKind::Fr => {
            "Classes: FR-I (brightest near the centre, jets fading outwards: edge-darkened), FR-II (brightest at the \
             outer ends of the lobes, in hot spots: edge-brightened)."
        }
        QuestionKind::Galaxy | QuestionKind::Artefact => "Choose YES or NO.",
        QuestionKind::Anomaly => {
            "Classes: ORDINARY (compact, point-like sources only), COMPLEX (resolved or multi-peaked sources, radio \
             galaxies with straight jets or lobes, small diffuse patches), PECULIAR (rare shapes: ring-shaped \
             sources, radio galaxies with bent tails, diffuse emission spanning at least half of the image)."
        }
        _ => "",
    }
}

/// The whole prompt for paraphrase `q` of `kind`.
pub fn ask(kind: QuestionKind, q: &str) -> String {
    format!("{CONTEXT} {q} {} Report only the class label.", choices_text(kind))
}

/// One question of a scene before it gets its id and paths.
#[derive(Clone, Debug, PartialEq)]
pub struct RadioQuestion {
    pub kind: QuestionKind,
    pub text: String,
    pub answer: String,
}

/// The questions of a scene: one per task it has a label for, in [`QuestionKind::RADIO`] order. A
/// paraphrase is drawn for every task, labelled or not, so each task's text depends only on the
/// scene.
pub fn questions(labels: &Labels, rng: &mut Rng) -> Vec<RadioQuestion> {
    QuestionKind::RADIO
        .into_iter()
        .filter_map(|kind| {
            let q = rng.pick(paraphrases(kind)).copied().unwrap_or("");
            labels.get(kind).map(|answer| RadioQuestion { kind, text: ask(kind, q), answer: answer.to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_has_five_paraphrases_and_lists_all_its_labels() {
        for kind in QuestionKind::RADIO {
            let mut v = paraphrases(kind).to_vec();
            v.sort_unstable();
            v.dedup();
            assert!(v.len() >= 5, "{kind:?}");
            let text = ask(kind, v[0]);
            assert!(text.ends_with("Report only the class label."));
            for label in kind.radio_classes() {
                assert!(text.contains(label), "{kind:?} prompt lacks {label}");
            }
        }
    }
}
