//! Scoring SpectrumQA-sim and RadioQA-sim predictions: read a manifest and a predictions file
//! (JSONL), score every question, and report per level (SpectrumQA) or per task (RadioQA), per
//! scenario, per SNR bin and overall with bootstrap intervals. Pure computation and file reading; any
//! thread.
//!
//! Definitions:
//! - **L1** (`severity`): accuracy, macro-F1 over the four [`SEVERITY_CLASSES`] (classes absent from
//!   both truth and prediction skipped; a missing or unparseable answer is a false negative of its
//!   true class), and the confusion matrix (rows = truth) with an unparsed/missing column.
//! - **L2** (`region_affected` yes/no, `which_worse` one of the two `choices`, `worst_region` one of
//!   [`REGIONS`]): accuracy, overall and per kind.
//! - **L3** (`localize`): mean IoU over questions whose reference has a box (a `none`, missing or
//!   unparseable answer scores 0), and separately the accuracy of the region-or-none decision over
//!   all L3 questions. A prediction's `box` field wins over its answer text.
//! - **L4** (`explain`): SQuAD token F1 against the reference text, and set F1 between
//!   [`concepts_in`] of the answer and the record's concepts.
//! - **Composite**: weighted mean of L1 accuracy, L2 accuracy, L3 mean IoU and L4 token F1 (default
//!   0.25 each), over the levels that have questions in the group.
//!
//! Choice answers are matched forgivingly but never guessed ([`metrics::match_option`]): the
//! normalized answer equal to an option, or else exactly one option occurring in it as whole words;
//! anything else is unparseable, counted wrong and tallied. A question with no prediction is counted
//! wrong and listed; predictions for unknown ids are listed and ignored.
//!
//! - **RadioQA-sim** (`morphology`, `extended`, `fr`, `galaxy`, `artefact`, `anomaly`; all L1 and
//!   outside the levels and composite above): per task, accuracy and support-weighted precision,
//!   recall and F1, and the confusion matrix with a "no answer" column, as radio-llava scores them;
//!   an answer [`radio_answer`] reads no label in is no answer (wrong, and a prediction of no class).
//!   See [`radio_metrics`].
//!
//! Groups are `overall`, one per scenario and one per RadioQA SNR bin (`snr 5-10`, records with a
//! `snr_bin` only, in the bins' numeric order), optionally for one split. Each number has a 95 %
//! percentile bootstrap interval from resampling the group's *scenes* (their questions are
//! correlated) with a fixed seed; the interval is widened to include the point value if needed.
//!
//! [`SEVERITY_CLASSES`]: crate::types::SEVERITY_CLASSES
//! [`REGIONS`]: crate::types::REGIONS
//! [`concepts_in`]: crate::types::concepts_in
//! [`radio_answer`]: crate::types::radio_answer

pub mod answer;
pub mod baselines;
mod error;
pub mod execute;
pub mod metrics;
pub mod predictor;
pub mod question;
pub mod radio_metrics;
mod radio_report;
mod read;
mod report;
pub mod route_analysis;
pub mod route_table;
pub mod routed;
pub mod runner;
pub mod runs;
mod score;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_radio;

pub use error::EvalError;
pub use question::{QuestionScore, score_question};
pub use radio_report::{Confusion, RadioScores, TaskScore};
pub use read::{check_images, parse_manifest, parse_predictions, read_manifest, read_predictions};
pub use report::{GroupScore, KindMetric, LevelCounts, Metric, Report, csv_field};
pub use score::{ScoreOptions, Weights, score};
