//! Ground sampling distance for remote-sensing tiles (issues 6 and 26): 25 features of a crop's 8-bit
//! render and colour ([`features`]) through gradient-boosted trees ([`boost`]) give log10(GSD in m), with
//! one sigma calibrated on held-out scenes; trained on real imagery with scale augmentation and
//! sensor/render degradation ([`crops`], [`data`], [`train`]); the estimate over a grid of crops of a
//! whole tile ([`estimate`]); and the resolver that picks metadata or estimate and honours a user
//! override ([`resolve`]). Any thread.

pub mod boost;
pub mod crops;
pub mod data;
pub mod estimate;
pub mod features;
pub mod resolve;
pub mod train;

pub use data::{DataError, Excluded, GSD_RANGE_M, SourceImage, discover, scenes};
pub use estimate::{CropEstimate, GsdConfig, GsdError, GsdModel, TileEstimate, format_metres};
pub use resolve::{GsdSource, ResolvedGsd, SCALE_BAR_MAX_SPAN, UNCERTAIN_SIGMA, resolve};
pub use train::{DecadeRow, GsdTrainError, LosoRecord, LosoSummary, Progress, TrainOptions};
