//! Weight files of a model folder, memory-mapped: `model.safetensors`, or the shards listed by
//! `model.safetensors.index.json`. Tensors are fetched by name with the shape the architecture expects,
//! converted to the run dtype, and every failure names the tensor (and the expected shape), so a
//! mismatched checkpoint says what is wrong. Both key layouts transformers writes are accepted: the
//! published one (`model.layers.*`, `visual.*`, `lm_head.weight`) and transformers 5's internal one
//! (`model.language_model.*`, `model.visual.*`). For training, every tensor fetched becomes a candle
//! `Var` (from the files, or freshly initialised for a model trained from scratch) so the optimizer and
//! the checkpoint writer see them under their published names. Runs on the loading thread.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use std::cell::{Cell, RefCell};

use candle_core::{DType, Device, Tensor, Var};

use super::VlmError;

/// Where tensors come from.
enum Source {
    Files(MmapedSafetensors),
    /// Fresh initialisation (seeded): norms 1, biases 0, other weights N(0, std).
    Random {
        seed: u64,
        std: f64,
    },
}

/// The tensors of one model, by name.
pub struct Weights {
    source: Source,
    /// Prefix of the language model's tensors ("model." or "model.language_model.").
    text_prefix: &'static str,
    /// Prefix of the vision tower's tensors ("visual." or "model.visual.").
    vision_prefix: &'static str,
    dtype: DType,
    device: Device,
    dir: PathBuf,
    /// Parameters fetched so far (for the model card and the bench).
    loaded: Cell<usize>,
    /// When training: every tensor handed out, as a variable, under its full name.
    vars: Option<RefCell<Vec<(String, Var)>>>,
}

/// The safetensors files of a folder: one file, or the shards an index names.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, VlmError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| VlmError::io(&index, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| VlmError::file(&index, format!("not valid JSON: {e}")))?;
        let map = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| VlmError::file(&index, "has no \"weight_map\" object"))?;
        let names: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        if names.is_empty() {
            return Err(VlmError::file(&index, "lists no shard files"));
        }
        let mut files = Vec::new();
        for name in names {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(VlmError::file(&path, "is listed in model.safetensors.index.json but missing"));
            }
            files.push(path);
        }
        return Ok(files);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(VlmError::file(dir, "has neither model.safetensors nor model.safetensors.index.json"))
}

impl Weights {
    /// Map the folder's weight files; tensors are read lazily by [`Weights::get`].
    pub fn open(dir: &Path, dtype: DType, device: &Device) -> Result<Self, VlmError> {
        Self::open_files(dir, &weight_files(dir)?, dtype, device)
    }

    /// Map the given weight files of the model in `dir` (a checkpoint beside the folder's own weights).
    pub fn open_files(dir: &Path, paths: &[PathBuf], dtype: DType, device: &Device) -> Result<Self, VlmError> {
        let files = mmap(paths)?;
        let has = |name: &str| files.get(name).is_ok();
        let (text_prefix, vision_prefix) = if has("model.language_model.embed_tokens.weight") {
            ("model.language_model.", "model.visual.")
        } else {
            ("model.", "visual.")
        };
        Ok(Self {
            source: Source::Files(files),
            text_prefix,
            vision_prefix,
            dtype,
            device: device.clone(),
            dir: dir.to_path_buf(),
            loaded: Cell::new(0),
            vars: None,
        })
    }

    /// Like [`Weights::open`], but every tensor becomes a trainable variable.
    pub fn open_trainable(dir: &Path, dtype: DType, device: &Device) -> Result<Self, VlmError> {
        Ok(Self::open(dir, dtype, device)?.trainable_copy())
    }

    /// Like [`Weights::open_files`], but every tensor becomes a trainable variable.
    pub fn open_trainable_files(
        dir: &Path,
        paths: &[PathBuf],
        dtype: DType,
        device: &Device,
    ) -> Result<Self, VlmError> {
        Ok(Self::open_files(dir, paths, dtype, device)?.trainable_copy())
    }

    fn trainable_copy(mut self) -> Self {
        self.vars = Some(RefCell::new(Vec::new()));
        self
    }

    /// Freshly initialised trainable tensors (named in transformers 5's layout).
    pub fn random(seed: u64, std: f64, dtype: DType, device: &Device) -> Self {
        Self {
            source: Source::Random { seed, std },
            text_prefix: "model.language_model.",
            vision_prefix: "model.visual.",
            dtype,
            device: device.clone(),
            dir: PathBuf::from("(random initialisation)"),
            loaded: Cell::new(0),
            vars: Some(RefCell::new(Vec::new())),
        }
    }

    /// Whether tensors are variables (the model then uses ops that have a backward pass).
    pub fn trainable(&self) -> bool {
        self.vars.is_some()
    }

    /// The variables handed out so far, by full name (empty unless trainable).
    pub fn take_vars(&self) -> Vec<(String, Var)> {
        self.vars.as_ref().map(|v| v.borrow_mut().drain(..).collect()).unwrap_or_default()
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Parameters fetched so far.
    pub fn parameters_loaded(&self) -> usize {
        self.loaded.get()
    }

    /// Whether a tensor exists (under its full name); a random initialisation holds only what is asked.
    pub fn contains(&self, name: &str) -> bool {
        match &self.source {
            Source::Files(files) => files.get(name).is_ok(),
            Source::Random { .. } => false,
        }
    }

    /// A language-model tensor such as `layers.0.self_attn.q_proj.weight`.
    pub fn text(&self, name: &str, shape: &[usize]) -> Result<Tensor, VlmError> {
        self.get(&format!("{}{name}", self.text_prefix), shape)
    }

    /// A vision-tower tensor such as `blocks.0.attn.qkv.weight`.
    pub fn vision(&self, name: &str, shape: &[usize]) -> Result<Tensor, VlmError> {
        self.get(&format!("{}{name}", self.vision_prefix), shape)
    }

    /// A tensor by its full name, checked against the expected shape and converted to the run dtype.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, VlmError> {
        let tensor = match &self.source {
            Source::Files(files) => self.read(files, name, shape)?,
            Source::Random { seed, std } => initial(name, shape, *seed, *std, self.dtype, &self.device)?,
        };
        self.loaded.set(self.loaded.get() + tensor.elem_count());
        match &self.vars {
            None => Ok(tensor),
            Some(vars) => {
                let var = Var::from_tensor(&tensor)?;
                let t = var.as_tensor().clone();
                vars.borrow_mut().push((name.to_string(), var));
                Ok(t)
            }
        }
    }

    fn read(&self, files: &MmapedSafetensors, name: &str, shape: &[usize]) -> Result<Tensor, VlmError> {
        let view = files.get(name).map_err(|_| VlmError::MissingTensor {
            name: name.to_string(),
            expected: shape.to_vec(),
            dir: self.dir.clone(),
        })?;
        if view.shape() != shape {
            return Err(VlmError::TensorShape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let raw = files
            .load(name, &self.device)
            .map_err(|e| VlmError::TensorRead { name: name.to_string(), reason: e.to_string() })?;
        if !raw.dtype().is_float() {
            return Err(VlmError::TensorDtype { name: name.to_string(), found: format!("{:?}", raw.dtype()) });
        }
        raw.to_dtype(self.dtype).map_err(|e| VlmError::TensorRead { name: name.to_string(), reason: e.to_string() })
    }
}

/// Deterministic initial values for a tensor: norms 1, biases 0, others N(0, std) from a generator
/// seeded by the model seed and the tensor's name.
fn initial(
    name: &str,
    shape: &[usize],
    seed: u64,
    std: f64,
    dtype: DType,
    device: &Device,
) -> Result<Tensor, VlmError> {
    let n: usize = shape.iter().product();
    let is_norm = name.ends_with("norm.weight")
        || name.ends_with("norm1.weight")
        || name.ends_with("norm2.weight")
        || name.ends_with("ln_q.weight");
    let values: Vec<f32> = if is_norm {
        vec![1.0; n]
    } else if name.ends_with(".bias") {
        vec![0.0; n]
    } else {
        let mut state =
            name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            #[allow(clippy::cast_precision_loss)]
            let u = ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64;
            u
        };
        (0..n)
            .map(|_| {
                // Box-Muller.
                let (u1, u2) = (next().max(1e-300), next());
                #[allow(clippy::cast_possible_truncation)]
                let v = (std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32;
                v
            })
            .collect()
    };
    Ok(Tensor::from_vec(values, shape, device)?.to_dtype(dtype)?)
}

/// Memory-map the weight files.
///
/// This is heatscope's one `unsafe` call: safetensors files are mapped rather than read so that a
/// 15 GB checkpoint costs no copy. The mapping is only sound while nobody truncates the file under
/// us, the same contract every mmap-based loader (candle, transformers) asks of its users.
#[allow(unsafe_code)]
fn mmap(paths: &[PathBuf]) -> Result<MmapedSafetensors, VlmError> {
    for path in paths {
        check_header(path)?;
    }
    // SAFETY: the files are opened read-only and are not modified while the model is loaded.
    unsafe { MmapedSafetensors::multi(paths) }.map_err(|e| VlmError::file(&paths[0], format!("cannot be mapped: {e}")))
}

/// Reject a truncated or non-safetensors file with a message that says so, before mapping it.
fn check_header(path: &Path) -> Result<(), VlmError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| VlmError::io(path, e))?;
    let len = file.metadata().map_err(|e| VlmError::io(path, e))?.len();
    let mut head = [0u8; 8];
    if len < 8 || file.read_exact(&mut head).is_err() {
        return Err(VlmError::file(path, "is not a safetensors file (shorter than its 8-byte header length)"));
    }
    let header_len = u64::from_le_bytes(head);
    if header_len > len - 8 || header_len > 100_000_000 {
        return Err(VlmError::file(
            path,
            format!("is truncated or not a safetensors file (header of {header_len} bytes in a {len}-byte file)"),
        ));
    }
    let mut header = vec![0u8; usize::try_from(header_len).unwrap_or(0)];
    file.read_exact(&mut header).map_err(|e| VlmError::io(path, e))?;
    let value: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| VlmError::file(path, format!("has a corrupt safetensors header: {e}")))?;
    // The data must hold every tensor the header promises.
    let data_len = len - 8 - header_len;
    let end = value
        .as_object()
        .map(|o| o.values().filter_map(|t| t.get("data_offsets")?.as_array()?.get(1)?.as_u64()).max().unwrap_or(0))
        .unwrap_or(0);
    if end > data_len {
        return Err(VlmError::file(
            path,
            format!("is truncated: its header promises {end} bytes of tensor data, the file holds {data_len}"),
        ));
    }
    Ok(())
}
