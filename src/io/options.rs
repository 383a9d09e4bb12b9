//! Limits every loader enforces before it allocates: a sample count that refuses absurd headers, and
//! a memory budget in bytes that counts every copy a load makes (the file as read, the decoder's own
//! buffer, the f32 raster and its validity mask). The budget defaults to a quarter of the machine's
//! memory; `--memory-budget` sets it for the whole process ([`set_memory_budget`]). Any thread.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::IoError;

/// The process-wide budget set from the command line; 0 = the default.
static BUDGET: AtomicU64 = AtomicU64::new(0);

/// Used when the machine's memory cannot be read.
const FALLBACK_MACHINE_BYTES: u64 = 16 << 30;

/// Limits a loader enforces before allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Largest `width * height * bands` accepted. The default (2^31 samples, 8 GiB as f32) refuses
    /// headers that claim absurd sizes; the memory budget (`max_bytes`) decides what this machine can
    /// hold (a 20000 x 20000 float32 scene, 1.6 GB, opens within a quarter of 24 GiB).
    pub max_samples: u64,
    /// Most bytes one load may hold at its peak ([`memory_budget`] by default).
    pub max_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { max_samples: 1 << 31, max_bytes: memory_budget() }
    }
}

/// Set the memory budget for every later load in this process (`--memory-budget`).
pub fn set_memory_budget(bytes: u64) {
    BUDGET.store(bytes, Ordering::Relaxed);
}

/// The memory budget: what [`set_memory_budget`] set, else a quarter of the machine's memory.
pub fn memory_budget() -> u64 {
    match BUDGET.load(Ordering::Relaxed) {
        0 => machine_memory() / 4,
        set => set,
    }
}

/// Total memory of this machine in bytes (Linux `MemTotal`; 16 GiB where it cannot be read).
pub fn machine_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            kib.checked_mul(1024)
        })
        .unwrap_or(FALLBACK_MACHINE_BYTES)
}

/// A `/proc/self/status` field given in kB (`VmRSS`, `VmHWM`), in MiB.
pub fn status_mib(status: &str, field: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.split(':').next() == Some(field))?;
    let mut words = line.split(':').nth(1)?.split_whitespace();
    let kib: f64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib / 1024.0)
}

/// This process's `field` now (Linux; None elsewhere).
pub fn own_status_mib(field: &str) -> Option<f64> {
    status_mib(&std::fs::read_to_string("/proc/self/status").ok()?, field)
}

/// Read a size such as `6G`, `6GiB`, `500MB`, `1.5g` or `1073741824` (binary units: K = 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a size like 8G, 512M or 1073741824"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown unit {other:?} in {text:?}; use K, M, G or T")),
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let bytes = (value * scale as f64) as u64;
    if !value.is_finite() || bytes < (1 << 20) {
        return Err(format!("{text:?} is too small a memory budget (at least 1M)"));
    }
    Ok(bytes)
}

/// A byte count for people: "1.5 GiB", "300 MiB".
pub fn human_bytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", b / f64::from(1u32 << 30))
    } else {
        format!("{:.0} MiB", (b / f64::from(1u32 << 20)).ceil())
    }
}

impl LoadOptions {
    /// Err when `width * height * bands` exceeds the sample limit (overflow counts as too large), or
    /// when the load would hold more than the memory budget at its peak: `held` bytes the reader
    /// holds besides the raster (the file as read, its decoded buffer), plus the f32 raster and its
    /// one-byte-a-pixel validity mask.
    pub fn check(&self, path: &Path, width: u64, height: u64, bands: u64, held: u64) -> Result<(), IoError> {
        let samples = width.checked_mul(height).and_then(|p| p.checked_mul(bands));
        let too_large =
            || IoError::TooLarge { path: path.to_path_buf(), width, height, bands, limit: self.max_samples };
        let samples = samples.filter(|&n| n <= self.max_samples).ok_or_else(too_large)?;
        let raster = samples.saturating_mul(4).saturating_add(width.saturating_mul(height));
        let needed = raster.saturating_add(held);
        if needed > self.max_bytes {
            return Err(IoError::OverBudget {
                path: path.to_path_buf(),
                needed,
                budget: self.max_bytes,
                what: format!(
                    "{width} x {height} x {bands} samples as f32: {}, plus {} the reader holds",
                    human_bytes(raster),
                    human_bytes(held)
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("1073741824"), Ok(1 << 30));
        assert!(parse_size("12 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_size("lots").is_err() && parse_size("10K").unwrap_err().contains("too small"));
        assert_eq!((human_bytes(3 << 29), human_bytes(300 << 20)), ("1.5 GiB".to_string(), "300 MiB".to_string()));
    }

    #[test]
    fn the_budget_counts_the_raster_its_mask_and_what_the_reader_holds() {
        let opts = LoadOptions { max_samples: 1 << 40, max_bytes: 100 << 20 };
        let p = Path::new("a.png");
        // 4096 x 4096 x 1: 64 MiB of f32 and 16 MiB of mask.
        assert!(opts.check(p, 4096, 4096, 1, 19 << 20).is_ok());
        let e = opts.check(p, 4096, 4096, 1, 21 << 20).unwrap_err();
        assert!(matches!(e, IoError::OverBudget { needed, .. } if needed == (101 << 20)), "{e}");
        let text = e.to_string();
        assert!(text.contains("--memory-budget") && text.contains("101 MiB") && text.ends_with("(a.png)"), "{text}");
        assert!(matches!(opts.check(p, u64::MAX, 2, 1, 0), Err(IoError::TooLarge { .. })));
        assert!(machine_memory() > 1 << 28 && LoadOptions::default().max_bytes > 0);
    }
}
