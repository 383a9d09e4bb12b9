//! Ground sampling distance for remote-sensing tiles (issue 6): a small CNN that predicts
//! mu = log10(GSD in m) and log sigma^2 from one crop ([`net`]), trained on real imagery with scale
//! augmentation and sensor/render degradation ([`crops`], [`data`], [`train`]), its sigma scaled on
//! held-out scenes; the estimate over a grid of crops of a whole tile ([`estimate`]); and the
//! resolver that picks metadata or estimate and honours a user override ([`resolve`]). Any thread.

pub mod crops;
pub mod data;
pub mod estimate;
pub mod net;
pub mod resolve;
pub mod train;

pub use data::{DataError, Excluded, GSD_RANGE_M, SourceImage, discover, scenes};
pub use estimate::{CropEstimate, GsdError, GsdModel, TileEstimate, format_metres};
pub use net::{GsdConfig, GsdNet, nll_loss};
pub use resolve::{GsdSource, ResolvedGsd, UNCERTAIN_SIGMA, resolve};
pub use train::{GsdTrainError, LosoRecord, LosoSummary, Progress, TrainOptions};
