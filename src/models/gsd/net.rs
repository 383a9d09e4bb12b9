//! The GSD network: a small plain CNN (3x3 conv + batch norm + ReLU, four stride-2 steps) on one
//! standardized luminance crop, global average pooling and a two-output head, mu = log10(GSD in m)
//! and log sigma^2, trained with the heteroscedastic Gaussian negative log-likelihood.

use candle_core::{D, Module, ModuleT, Result, Tensor};
use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, Linear, VarBuilder, batch_norm, conv2d_no_bias, linear};
use serde::{Deserialize, Serialize};

/// Architecture (saved as `config.json` beside the weights), with the calibration it ships with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GsdConfig {
    /// Crop side in pixels.
    pub input: usize,
    /// Channels of the first stride-2 stage; later stages use 2x and 4x.
    pub width: usize,
    /// mu is predicted around this log10(GSD) (the middle of the training range).
    pub mu_offset: f64,
    /// Factor on the network's sigma fitted on held-out scenes so the stated coverage holds.
    #[serde(default = "one")]
    pub sigma_scale: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for GsdConfig {
    fn default() -> Self {
        GsdConfig { input: 64, width: 16, mu_offset: 0.5, sigma_scale: 1.0 }
    }
}

impl GsdConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.input < 32 || self.input > 512 || !self.input.is_multiple_of(16) {
            return Err(format!("input {} must be a multiple of 16 in 32-512", self.input));
        }
        if self.width == 0 || self.width > 256 {
            return Err(format!("width {} is outside 1-256", self.width));
        }
        if !(self.sigma_scale > 0.0 && self.sigma_scale.is_finite() && self.mu_offset.is_finite()) {
            return Err("sigma_scale must be positive and mu_offset finite".into());
        }
        Ok(())
    }
}

/// log sigma^2 is kept in this range (sigma from 0.007 to 7 decades).
pub const LOGVAR_RANGE: (f64, f64) = (-10.0, 4.0);

#[derive(Debug, Clone)]
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    fn new(c_in: usize, c_out: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig { padding: 1, stride, ..Default::default() };
        Ok(ConvBn {
            conv: conv2d_no_bias(c_in, c_out, 3, cfg, vb.pp("conv"))?,
            bn: batch_norm(c_out, 1e-5, vb.pp("bn"))?,
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_t(&self.conv.forward(x)?, train)?.relu()
    }
}

#[derive(Debug, Clone)]
pub struct GsdNet {
    layers: Vec<ConvBn>,
    hidden: Linear,
    head: Linear,
    config: GsdConfig,
}

impl GsdNet {
    pub fn new(config: &GsdConfig, vb: VarBuilder) -> Result<Self> {
        config.validate().map_err(candle_core::Error::Msg)?;
        let w = config.width;
        // (in, out, stride): full resolution first, so the finest texture is seen before any step.
        let plan = [
            (1, w / 2, 1),
            (w / 2, w, 2),
            (w, w, 1),
            (w, 2 * w, 2),
            (2 * w, 2 * w, 1),
            (2 * w, 4 * w, 2),
            (4 * w, 4 * w, 2),
        ];
        let layers = plan
            .iter()
            .enumerate()
            .map(|(i, &(a, b, s))| ConvBn::new(a.max(1), b.max(1), s, vb.pp(format!("layers.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let c = (4 * w).max(1);
        Ok(GsdNet {
            layers,
            hidden: linear(2 * c, 32, vb.pp("hidden"))?,
            head: linear(32, 2, vb.pp("head"))?,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &GsdConfig {
        &self.config
    }

    /// `x`: (batch, 1, input, input) standardized crops -> (batch, 2): mu (log10 m) and log sigma^2
    /// (uncalibrated; [`GsdNet::config`]'s `sigma_scale` applies on top).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward_t(&h, train)?;
        }
        // Mean and standard deviation of each channel over the map: texture energy at the final scale.
        let flat = h.flatten_from(2)?;
        let mean = flat.mean(D::Minus1)?;
        let sd = (flat.broadcast_sub(&mean.unsqueeze(D::Minus1)?)?.sqr()?.mean(D::Minus1)? + 1e-6)?.sqrt()?;
        let pooled = Tensor::cat(&[mean, sd], 1)?;
        let out = self.head.forward(&self.hidden.forward(&pooled)?.relu()?)?;
        let mu = (out.narrow(1, 0, 1)? + self.config.mu_offset)?;
        let logvar = out.narrow(1, 1, 1)?.clamp(LOGVAR_RANGE.0, LOGVAR_RANGE.1)?;
        Tensor::cat(&[mu, logvar], 1)
    }
}

/// Mean heteroscedastic Gaussian NLL (constant dropped) of `out` (batch, 2) for targets `y` (batch):
/// 0.5 * (log sigma^2 + (y - mu)^2 / sigma^2), plus `mse_weight` * (y - mu)^2 so that mu keeps
/// learning on examples the network has already declared hard.
pub fn nll_loss(out: &Tensor, y: &Tensor, mse_weight: f64) -> Result<Tensor> {
    let mu = out.narrow(1, 0, 1)?.squeeze(1)?;
    let logvar = out.narrow(1, 1, 1)?.squeeze(1)?;
    let sq = (y - &mu)?.sqr()?;
    let nll = ((&logvar + (&sq * logvar.neg()?.exp()?)?)? * 0.5)?;
    (nll + (sq * mse_weight)?)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn shapes_and_nll_value() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let net = GsdNet::new(&GsdConfig::default(), VarBuilder::from_varmap(&vm, DType::F32, &dev)).expect("net");
        let x = Tensor::randn(0f32, 1.0, (3, 1, 64, 64), &dev).expect("x");
        let out = net.forward_t(&x, false).expect("forward");
        assert_eq!(out.dims(), &[3, 2]);
        // NLL of mu = 1, log var = ln 4 at y = 3: 0.5 * (ln 4 + 4 / 4).
        let out = Tensor::new(&[[1f32, 4f32.ln()]], &dev).expect("t");
        let y = Tensor::new(&[3f32], &dev).expect("t");
        let l = nll_loss(&out, &y, 0.0).expect("loss").to_scalar::<f32>().expect("scalar");
        assert!((l - 0.5 * (4f32.ln() + 1.0)).abs() < 1e-6, "{l}");
        assert!(GsdConfig { input: 40, ..Default::default() }.validate().is_err());
    }
}
