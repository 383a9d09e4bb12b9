//! The CNN of the SpectrumQA comparison: a ResNet-18 family on the observed grid with heads for L1
//! severity, the L3 box (with "none") and L2 regions. Training, calibration, decoding into answers and
//! saliency build on [`SpectrumResNet`]; see issue 5. Any thread that owns the model.

mod calibrate;
pub(crate) mod data;
mod decode;
pub mod domain;
mod eval_conv;
mod loss;
pub mod network;
mod predictor;
pub(crate) mod resnet;
pub mod torchvision;
pub(crate) mod train;

pub use calibrate::{
    Calibration, ECE_BINS, L3Source, ReliabilityBin, confidences, ece, fit_calibration, fit_temperature, nll,
    reliability_svg,
};
pub use data::{DataError, Example, load_examples, normalize_db, resize};
pub use decode::{CnnModel, CnnReading};
pub use domain::{DomainModel, DomainVerdict};
pub use loss::{Batch, LEVEL_UNIT_DB, LossParts, bce_with_logits, corners, loss, make_batch};
pub use network::{CnnNet, Heads, RawOutput};
pub use predictor::CnnPredictor;
pub use resnet::{CnnConfig, CnnOutput, SpectrumResNet};
pub use torchvision::{IMPORT_FILE, ImportSpec, TorchResNet};
pub use train::{
    EpochReport, Scores, TrainError, TrainEvent, TrainOptions, TrainState, evaluate, load_model, load_weights,
    mask_box, train, write_f16,
};
