//! The radio morphology CNN, the vision-only specialist of the radio-llava comparison: a small
//! ResNet on a cutout's display stretch and significance (`input.rs`, `net.rs`) answering the six
//! RadioQA tasks at once, trained from a RadioQA-sim dataset (`data.rs`, `train.rs`), one temperature
//! per task, and the loaded model answering cutouts and datasets (`model.rs`). Any thread that owns it.

mod data;
mod input;
mod model;
mod net;
mod train;

pub use data::{RadioDataError, RadioExample, RadioLoad, class_of, load_radio_examples};
pub use input::radio_input;
pub use model::{MAX_ISLANDS, MIN_PEAK_SIGMA, RadioCnn, RadioReading, TaskReading, describe};
pub use net::{RadioConfig, RadioNet, TASKS, outputs, task_span};
pub use train::{
    RadioCalibration, RadioEpoch, RadioEvent, RadioTrainState, accuracy, calibrate, load_net, logits_of, train,
};
