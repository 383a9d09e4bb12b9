//! Image statistics for display ranges: computed on worker threads. (A band above [`STORE_LIMIT`]
//! valid values keeps no copy of them: a range or histogram not asked for in advance costs the UI
//! thread one pass over the band, once.)
//!
//! [`band_stats`] makes one [`BandStats`] per band (nodata tallies, moments, exact quantiles, a
//! histogram, ZScale limits); [`BandStats::range`] turns it into the colormap's lo/hi for a
//! [`RangeMode`]. [`downsample_to_fit`] shrinks images beyond the GPU's texture limit, and
//! [`sigma_clip`] estimates the noise of radio images.

mod band;
mod clip;
pub mod contour;
mod downsample;
mod from_band;
mod histogram;
pub mod quantile;
mod range;
pub mod region;
mod sort;
mod sorted;
pub mod sources;
#[cfg(test)]
mod tests;
mod zscale;

pub use band::{BandStats, STORE_LIMIT, band_stats};
pub use clip::sigma_clip;
pub use downsample::{StreamedOverview, downsample_factor, downsample_to_fit, downsampled_meta, window_mean};
pub use histogram::{HISTOGRAM_BINS, Histogram};
pub use range::{RangeMode, widen};
pub use zscale::{ZScaleParams, zscale};
