//! Picks the candle device models run on: CUDA when built with the `cuda` feature and a GPU answers,
//! the CPU otherwise. Called once on a worker or at start-up; the UI shows [`ComputeDevice::label`].

use candle_core::Device;

/// The device models run on, with a human-readable description.
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    pub device: Device,
    /// E.g. "CPU (2 threads)" or "CUDA GPU 0".
    pub label: String,
    /// Why a GPU is not used, when the build could have used one.
    pub fallback_reason: Option<String>,
}

/// Choose the device: `HEATSCOPE_DEVICE=cpu` forces the CPU; otherwise CUDA 0 when available.
pub fn compute_device() -> ComputeDevice {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let cpu = |reason: Option<String>| ComputeDevice {
        device: Device::Cpu,
        label: format!("CPU ({threads} threads)"),
        fallback_reason: reason,
    };
    if std::env::var("HEATSCOPE_DEVICE").is_ok_and(|v| v.eq_ignore_ascii_case("cpu")) {
        return cpu(None);
    }
    if cfg!(feature = "cuda") {
        match Device::new_cuda(0) {
            Ok(device) => ComputeDevice { device, label: "CUDA GPU 0".into(), fallback_reason: None },
            Err(e) => cpu(Some(format!("CUDA unavailable: {e}"))),
        }
    } else {
        cpu(None)
    }
}
