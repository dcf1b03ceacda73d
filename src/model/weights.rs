//! Weight files: a small header with the model's config, then a burnpack of f16 tensors.
//!
//! ```text
//! "VQW1" | u32 LE header length | header JSON {"dtype": "f16"|"f32", "config": {…}} | burnpack bytes
//! ```
//! Shipped weights are f16; training checkpoints are f32 so a resumed run loses nothing.
//! The [`ModelId`] is a hash of the whole file, so a stream records exactly which weights
//! made it and a decoder can refuse a stream made with other weights.

use std::fmt;

use burn::store::{BurnpackStore, HalfPrecisionAdapter, ModuleSnapshot};
use burn::tensor::{Bytes, Device};

use super::{VqVae, VqVaeConfig};

const MAGIC: &[u8; 4] = b"VQW1";
/// A weight file larger than this is refused before it is parsed.
pub const MAX_WEIGHTS_BYTES: usize = 64 << 20;

/// The shipped models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// The larger model, meant for WebGPU.
    Base,
    /// The small model, meant for the CPU fallback.
    Lite,
}

impl ModelKind {
    /// Every shipped model.
    pub const ALL: [ModelKind; 2] = [ModelKind::Base, ModelKind::Lite];

    /// `"base"` or `"lite"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Lite => "lite",
        }
    }

    /// The id of this model's shipped weight file (known in every build, also without the
    /// `embedded-weights` feature).
    pub fn id(self) -> ModelId {
        match self {
            Self::Base => ModelId(shipped::BASE_ID),
            Self::Lite => ModelId(shipped::LITE_ID),
        }
    }

    /// The shipped model whose weights have `id`, if any.
    pub fn from_id(id: ModelId) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.id() == id)
    }

    /// The weight file embedded in the library.
    #[cfg(feature = "embedded-weights")]
    pub fn embedded_bytes(self) -> &'static [u8] {
        match self {
            Self::Base => include_bytes!("../../weights/base.vqw"),
            Self::Lite => include_bytes!("../../weights/lite.vqw"),
        }
    }
}

/// The shipped files' ids, computed by build.rs from `weights/*.vqw`.
mod shipped {
    include!(concat!(env!("OUT_DIR"), "/model_ids.rs"));
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "base" => Ok(Self::Base),
            "lite" => Ok(Self::Lite),
            other => Err(format!("unknown model {other:?} (expected base or lite)")),
        }
    }
}

/// Identifies a set of weights: the format's id hash ([`vqc::id_of`]) of the weight file, as a
/// stream header names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelId(pub u64);

impl ModelId {
    /// The id of the weight file `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(vqc::id_of(bytes))
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Why a weight file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    /// The bytes do not start with the weight-file magic (bad input).
    #[error("not a vqcodec weight file (bad magic)")]
    BadMagic,
    /// The file is cut short or its lengths are inconsistent (bad input).
    #[error("weight file truncated or malformed: {0}")]
    Malformed(String),
    /// The file is larger than [`MAX_WEIGHTS_BYTES`] (bad input).
    #[error("weight file of {0} bytes is over the {MAX_WEIGHTS_BYTES}-byte limit")]
    TooLarge(usize),
    /// The config in the header does not describe a valid model (bad input).
    #[error("invalid model config in weight file: {0}")]
    Config(String),
    /// The bytes are not the weight file this build ships for `model` (a stale or wrong
    /// download).
    #[error("not the {model} weights this build ships (id {found}, expected {expected})")]
    NotShipped {
        /// The model asked for.
        model: &'static str,
        /// Its shipped file's id.
        expected: ModelId,
        /// The id of the bytes given.
        found: ModelId,
    },
    /// The tensors do not fit the architecture the config describes (bad input, or a
    /// weight file from another version of the model).
    #[error("weights do not match the model architecture: {0}")]
    Mismatch(String),
}

/// Storage precision of the tensors in a weight file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Half precision: shipped weights.
    F16,
    /// Single precision: training checkpoints.
    F32,
}

#[derive(serde::Serialize)]
struct Header {
    dtype: Precision,
    config: VqVaeConfig,
}

/// The header as read: the config as a JSON object first, so that fields added since v1
/// weights were written take their v1 value when absent (a v1 file hashes to the id streams
/// carry, so it is never rewritten).
#[derive(serde::Deserialize)]
struct RawHeader {
    dtype: Precision,
    config: serde_json::Map<String, serde_json::Value>,
}

/// Config fields added after v1, with the value that v1 weights mean.
const V1_DEFAULTS: [(&str, bool); 2] = [("linear_path", false), ("latent_metric", false)];

/// A parsed weight file.
#[derive(Debug, Clone)]
pub struct Weights {
    config: VqVaeConfig,
    precision: Precision,
    bytes: Vec<u8>,
    pack_offset: usize,
    id: ModelId,
}

impl Weights {
    /// Parses `bytes` as the shipped weights of `kind`: the file must be the very one this
    /// build was made with (its [`ModelId`] is checked), as when a browser fetches it.
    ///
    /// # Errors
    /// [`WeightsError::NotShipped`] for another file (another version, or the other model),
    /// else as [`Weights::from_bytes`].
    pub fn shipped(kind: ModelKind, bytes: Vec<u8>) -> Result<Self, WeightsError> {
        let found = ModelId::of(&bytes);
        if found != kind.id() {
            return Err(WeightsError::NotShipped {
                model: kind.name(),
                expected: kind.id(),
                found,
            });
        }
        Self::from_bytes(bytes)
    }

    /// Parses a weight file (does not build the model yet; see [`Weights::load`]).
    ///
    /// # Errors
    /// [`WeightsError`] for a file that is not a weight file, is truncated, too large, or
    /// holds an invalid config.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, WeightsError> {
        if bytes.len() > MAX_WEIGHTS_BYTES {
            return Err(WeightsError::TooLarge(bytes.len()));
        }
        if bytes.len() < 8 || &bytes[..4] != MAGIC {
            return Err(WeightsError::BadMagic);
        }
        let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        let end = 8usize
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| WeightsError::Malformed(format!("config length {len} past the end")))?;
        let RawHeader {
            dtype: precision,
            mut config,
        } = serde_json::from_slice(&bytes[8..end])
            .map_err(|e| WeightsError::Config(e.to_string()))?;
        for (key, value) in V1_DEFAULTS {
            config.entry(key).or_insert(serde_json::Value::Bool(value));
        }
        for key in ["motion_range", "post_filter", "enhance_dims"] {
            config.entry(key).or_insert(serde_json::Value::from(0));
        }
        let config: VqVaeConfig = serde_json::from_value(serde_json::Value::Object(config))
            .map_err(|e| WeightsError::Config(e.to_string()))?;
        config.validate().map_err(WeightsError::Config)?;
        let id = ModelId::of(&bytes);
        Ok(Self {
            config,
            precision,
            bytes,
            pack_offset: end,
            id,
        })
    }

    /// The weights embedded for `kind`.
    ///
    /// # Panics
    /// Never for a correctly built crate: a test checks every embedded file parses.
    #[cfg(feature = "embedded-weights")]
    pub fn embedded(kind: ModelKind) -> Self {
        Self::from_bytes(kind.embedded_bytes().to_vec()).expect("embedded weights should parse")
    }

    /// Serialises `model` (built from `config`) with f16 tensors, as shipped.
    ///
    /// # Errors
    /// [`WeightsError::Mismatch`] if burn cannot collect the module's tensors.
    pub fn from_model(config: &VqVaeConfig, model: &VqVae) -> Result<Self, WeightsError> {
        Self::from_model_with(config, model, Precision::F16)
    }

    /// Serialises `model` with tensors stored at `precision`.
    ///
    /// # Errors
    /// [`WeightsError::Mismatch`] if burn cannot collect the module's tensors.
    pub fn from_model_with(
        config: &VqVaeConfig,
        model: &VqVae,
        precision: Precision,
    ) -> Result<Self, WeightsError> {
        let mut store = BurnpackStore::from_bytes(None);
        if precision == Precision::F16 {
            store = store.with_to_adapter(half_adapter());
        }
        model
            .save_into(&mut store)
            .map_err(|e| WeightsError::Mismatch(e.to_string()))?;
        let pack = store
            .get_bytes()
            .map_err(|e| WeightsError::Mismatch(e.to_string()))?;
        let header = Header {
            dtype: precision,
            config: config.clone(),
        };
        let json = serde_json::to_vec(&header).map_err(|e| WeightsError::Config(e.to_string()))?;
        let mut bytes = Vec::with_capacity(8 + json.len() + pack.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&json);
        bytes.extend_from_slice(&pack);
        Self::from_bytes(bytes)
    }

    /// Builds the model on `device` and loads the tensors into it.
    ///
    /// # Errors
    /// [`WeightsError::Mismatch`] if a tensor is missing, extra or of the wrong shape.
    pub fn load(&self, device: &Device) -> Result<VqVae, WeightsError> {
        let mut model = self.config.init(device);
        let pack = Bytes::from_bytes_vec(self.bytes[self.pack_offset..].to_vec());
        let mut store = BurnpackStore::from_bytes(Some(pack));
        if self.precision == Precision::F16 {
            store = store.with_from_adapter(half_adapter());
        }
        let result = model
            .load_from(&mut store)
            .map_err(|e| WeightsError::Mismatch(e.to_string()))?;
        if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
            return Err(WeightsError::Mismatch(format!(
                "errors {:?}, missing {:?}, unused {:?}",
                result.errors, result.missing, result.unused
            )));
        }
        Ok(model)
    }

    /// The RVQ codebooks, read from the file on the host (no device, no model): what the
    /// format crate reconstructs latents with, with the model's fine-motion maps when it has
    /// them.
    ///
    /// # Errors
    /// [`WeightsError::Mismatch`] if the file holds no codebook tensor of the config's shape, or
    /// its config names motion maps the file does not hold in the right shape.
    pub fn codebooks(&self) -> Result<vqc::Codebooks, WeightsError> {
        let pack = Bytes::from_bytes_vec(self.bytes[self.pack_offset..].to_vec());
        let mut store = BurnpackStore::from_bytes(Some(pack));
        let c = &self.config;
        let books = read_f32(&mut store, "quantizer.codebooks", |data| {
            vqc::Codebooks::new(c.levels, c.codebook_size, c.code_dim, data)
        })?;
        let books = if c.motion_range == 0 {
            books
        } else {
            let ops = read_f32(&mut store, "motion", |data| {
                vqc::MotionOps::new(c.motion_range as u8, c.code_dim, &data)
            })?;
            books
                .with_motion(ops)
                .map_err(|e| WeightsError::Mismatch(format!("motion: {e}")))?
        };
        // the leading levels, whose codes are zero in the enhancement's values, are the
        // networks'; the encoder opens the others by quality
        let books = if c.enhance_dims == 0 {
            books
        } else {
            let d0 = c.net_dim();
            let base = (0..c.levels)
                .take_while(|&l| {
                    (0..c.codebook_size).all(|k| {
                        let code = books.code(l, k);
                        code[d0..].iter().all(|&v| v == 0.0)
                    })
                })
                .count();
            // none such (an enhancement trained with the rest): nothing to gate
            let base = if base == 0 { c.levels } else { base };
            books
                .with_enhancement(base, d0)
                .map_err(|e| WeightsError::Mismatch(format!("enhancement: {e}")))?
        };
        if !c.latent_metric {
            return Ok(books);
        }
        let metric = read_f32(&mut store, "metric", Ok)?;
        books
            .with_metric(&metric)
            .map_err(|e| WeightsError::Mismatch(format!("metric: {e}")))
    }

    /// The model config from the header.
    pub fn config(&self) -> &VqVaeConfig {
        &self.config
    }

    /// Storage precision of the tensors.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The id derived from the file's bytes.
    pub fn id(&self) -> ModelId {
        self.id
    }

    /// The whole file.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The tensor `name` of `store` as `f32` values, made into `T` by `make`; every failure is a
/// [`WeightsError::Mismatch`] naming the tensor.
fn read_f32<T>(
    store: &mut BurnpackStore,
    name: &str,
    make: impl FnOnce(Vec<f32>) -> Result<T, vqc::ConfigError>,
) -> Result<T, WeightsError> {
    use burn::store::ModuleStore;
    let mismatch = |e: String| WeightsError::Mismatch(format!("{name}: {e}"));
    let tensor = store
        .get_tensor(name)
        .map_err(|e| mismatch(e.to_string()))?
        .ok_or_else(|| mismatch("missing".into()))?;
    let data = burn::store::bridge::to_data(tensor)
        .map_err(|e| mismatch(e.to_string()))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| mismatch(format!("{e:?}")))?;
    make(data).map_err(|e| mismatch(e.to_string()))
}

fn half_adapter() -> HalfPrecisionAdapter {
    HalfPrecisionAdapter::new().with_module("ResidualQuantizer")
}
