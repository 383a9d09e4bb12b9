//! The default VLM, models/vlm-spectrum-tiny, embedded in the binary so `cargo run --release` answers
//! with no download. Its files are written once to the user's cache folder (named by a hash of their
//! contents, written to a temporary folder and renamed, so a crash never leaves half a model) and loaded
//! from there by [`QwenVl::load`]: the same code path as real Qwen weights. Runs on a worker or the CLI.

use std::path::PathBuf;

use candle_core::{DType, Device};

use super::VlmError;
use super::model::QwenVl;

const NAME: &str = "vlm-spectrum-tiny";

macro_rules! bundled_file {
    ($name:literal) => {
        ($name, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/vlm-spectrum-tiny/", $name)).as_slice())
    };
}

const FILES: [(&str, &[u8]); 8] = [
    bundled_file!("config.json"),
    bundled_file!("model.safetensors"),
    bundled_file!("tokenizer.json"),
    bundled_file!("tokenizer_config.json"),
    bundled_file!("preprocessor_config.json"),
    bundled_file!("generation_config.json"),
    bundled_file!("chat_template.jinja"),
    bundled_file!("domain.json"),
];

/// FNV-1a over every embedded file: names the cache folder, so a new build never reads old files.
fn content_hash() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, bytes) in FILES {
        for b in name.as_bytes().iter().chain(bytes) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

/// The checksum of the bundled model's files (what a run records as the model's identity).
pub fn checksum() -> String {
    format!("{:016x}", content_hash())
}

fn cache_root() -> PathBuf {
    std::env::var_os("HEATSCOPE_CACHE")
        .or_else(|| std::env::var_os("XDG_CACHE_HOME"))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("heatscope")
}

/// The bundled model's folder on disk, written on first use.
pub fn folder() -> Result<PathBuf, VlmError> {
    let root = cache_root();
    let dir = root.join(format!("{NAME}-{:016x}", content_hash()));
    if dir.join("config.json").is_file() {
        return Ok(dir);
    }
    // Unique per process and thread: parallel first uses must not share a half-written folder.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = root.join(format!("{NAME}.partial-{}-{unique}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| VlmError::io(&tmp, e))?;
    for (name, bytes) in FILES {
        let path = tmp.join(name);
        std::fs::write(&path, bytes).map_err(|e| VlmError::io(&path, e))?;
    }
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another process won the race: its copy is identical.
        Err(_) if dir.join("config.json").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => Err(VlmError::io(&dir, e)),
    }
}

/// Load the bundled model.
pub fn load(dtype: DType, device: &Device) -> Result<QwenVl, VlmError> {
    QwenVl::load(&folder()?, dtype, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_first_uses_agree_on_one_folder() {
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(folder)).collect();
            handles.into_iter().map(|h| h.join().expect("thread").expect("folder")).collect()
        });
        assert!(dirs.windows(2).all(|w| w[0] == w[1]), "{dirs:?}");
        for (name, bytes) in FILES {
            assert_eq!(std::fs::read(dirs[0].join(name)).expect("read").len(), bytes.len(), "{name}");
        }
    }
}
