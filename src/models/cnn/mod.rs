//! The CNN of the SpectrumQA comparison: a ResNet-18 family on the observed grid with heads for L1
//! severity, the L3 box (with "none") and L2 regions. Training, calibration, decoding into answers and
//! saliency build on [`SpectrumResNet`]; see issue 5. Any thread that owns the model.

mod data;
mod resnet;

pub use data::{DataError, Example, load_examples, normalize_db, resize};
pub use resnet::{CnnConfig, CnnOutput, SpectrumResNet};
