//! Models (CNN, VLM, GSD, router) live here; this is the only module that uses candle.
//! Today it holds the compute-device choice that the UI reports and the CNN's network (`cnn`).

pub mod checkpoint;
pub mod cnn;
pub mod cnn_radio;
mod device;
pub(crate) mod gemm;
pub mod gsd;
pub mod optim;
pub mod router;
pub mod vlm;

pub use device::{ComputeDevice, compute_device};
