//! A codebook adapted to a user's footage (issue 6), as a small file: the adapted levels only,
//! as quantised differences from the model's own codes, range-coded; tied to the model it was
//! made for.
//!
//! ```text
//! offset size  field
//!      0    4  magic "VQCB"
//!      4    1  version (2)
//!      5    1  total levels of the model (1..=16)
//!      6    2  adapted-level mask, bit l = level l (u16 LE, non-zero)
//!      8    2  codes per level K (u16 LE, 2..=65535)
//!     10    2  code dimension D (u16 LE, 1..=1024; the values the model's own levels code:
//!              an enhanced model's networks' values); adapted levels × K × D ≤ 2^22
//!     12    8  model id (u64 LE)
//!     20  4·A  for each of the A adapted levels, lowest first: the step s_l (f32 LE, finite, ≥ 0)
//!      …    4  payload length P (u32 LE)
//!      …    P  range-coded q values (below), level by level, code by code, value by value
//!    end    4  CRC32 of everything before
//! ```
//! An adapted code value is `trained + q · s_l` (f32), where `trained` is the model's own value
//! (of a code's first `D` values; the rest, an enhancement's, stay the model's, which are zero):
//! the file needs the model to mean anything, and [`CodebookPatch::apply`] checks it is that
//! model. Each `q` (|q| < 2^15) is coded with the binary range coder of the stream
//! (`range.rs`), models per level: a zero flag; for non-zero values a sign bit, the bit
//! length of |q| (a 4-bit tree) and the bits below the leading one, uncoded. Codes that the
//! footage did not move cost a bit each. The file's length follows from its fields and is
//! checked before anything is allocated.

use crate::codebook::Codebooks;
use crate::error::{ConfigError, StreamError};
use crate::range::{BitModel, BitTree, RangeDecoder, RangeEncoder};

const MAGIC: &[u8; 4] = b"VQCB";
const VERSION: u8 = 2;
const FIXED: usize = 20;
/// Most values a codebook file may hold (adapted levels × K × D).
pub const MAX_VALUES: usize = 1 << 22;
/// Steps per standard deviation of a level's changes: quantisation noise s²/12 is then
/// ~0.03% of the change's variance.
const STEPS_PER_RMS: f32 = 16.0;
const MAX_Q: i32 = (1 << 15) - 1;

/// Adapted codebook levels for one model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CodebookPatch {
    /// The model these codes replace codes of.
    pub model_id: u64,
    /// Levels of that model.
    pub levels: usize,
    /// Codes per level.
    pub size: usize,
    /// Code dimension.
    pub dim: usize,
    /// The adapted levels, ascending.
    pub adapted: Vec<usize>,
    /// Quantisation step of each adapted level.
    #[serde(skip)]
    pub steps: Vec<f32>,
    /// `adapted.len() × size × dim` quantised differences from the trained codes.
    #[serde(skip)]
    pub deltas: Vec<i16>,
    /// Bytes of the file (computed once).
    #[serde(skip)]
    bytes: Vec<u8>,
}

/// Steps are finite and deltas integers, so equality is total.
impl Eq for CodebookPatch {}

/// The entropy models of one level's values.
struct LevelModels {
    zero: BitModel,
    sign: BitModel,
    length: BitTree,
}

impl LevelModels {
    fn new() -> Self {
        Self {
            zero: BitModel::new(),
            sign: BitModel::new(),
            length: BitTree::new(4),
        }
    }
}

impl CodebookPatch {
    /// The levels `adapted` of `books` as changes from `trained` (the model's own codebooks),
    /// quantised, for model `model_id`: of each code's values that the model's levels code
    /// ([`CodebookPatch::values_per_code`]; a scalar enhancement's values are not the levels'
    /// to change).
    ///
    /// # Panics
    /// If a level is out of range or the two codebooks differ in shape (caller bugs).
    pub fn new(model_id: u64, books: &Codebooks, trained: &Codebooks, adapted: &[usize]) -> Self {
        assert_eq!(
            (books.levels(), books.size(), books.dim()),
            (trained.levels(), trained.size(), trained.dim()),
            "adapted and trained codebooks must have one shape"
        );
        let mut adapted = adapted.to_vec();
        adapted.sort_unstable();
        adapted.dedup();
        let (size, full, dim) = (books.size(), books.dim(), Self::values_per_code(trained));
        let per_level = size * dim;
        let (mut steps, mut deltas) = (Vec::new(), Vec::with_capacity(adapted.len() * per_level));
        for &l in &adapted {
            assert!(l < books.levels(), "level {l} out of range");
            let range = l * size * full..(l + 1) * size * full;
            let diff: Vec<f32> = books.data()[range.clone()]
                .chunks_exact(full)
                .zip(trained.data()[range].chunks_exact(full))
                .flat_map(|(a, t)| a[..dim].iter().zip(&t[..dim]).map(|(a, t)| a - t))
                .collect();
            let rms = (diff.iter().map(|d| f64::from(d * d)).sum::<f64>() / diff.len() as f64)
                .sqrt() as f32;
            let step = if rms > 0.0 && rms.is_finite() {
                rms / STEPS_PER_RMS
            } else {
                0.0
            };
            steps.push(step);
            deltas.extend(diff.iter().map(|&d| {
                if step == 0.0 {
                    0
                } else {
                    ((d / step).round() as i32).clamp(-MAX_Q, MAX_Q) as i16
                }
            }));
        }
        let mut patch = Self {
            model_id,
            levels: books.levels(),
            size,
            dim,
            adapted,
            steps,
            deltas,
            bytes: Vec::new(),
        };
        patch.bytes = patch.encode();
        patch
    }

    /// The codebook's id: [`crate::id_of`] its file's bytes (as a model's id is of its weight
    /// file). A stream header names it; 0 in a header means "the model's own
    /// codebooks".
    pub fn id(&self) -> u64 {
        crate::id_of(&self.bytes)
    }

    /// Bytes of the file.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// The adapted values of level `adapted[i]`, given that level's trained values.
    pub fn level_values(&self, i: usize, trained: &[f32]) -> Vec<f32> {
        let per_level = self.size * self.dim;
        let step = self.steps[i];
        trained
            .iter()
            .zip(&self.deltas[i * per_level..(i + 1) * per_level])
            .map(|(&t, &q)| t + f32::from(q) * step)
            .collect()
    }

    /// The values of each code a patch of `books` carries: a model refined by scalar
    /// coefficients (every level its networks' own: [`Codebooks::base_levels`]) codes only its
    /// networks' values with its levels ([`Codebooks::net_dim`]; the rest of each code is
    /// zero); any other model, every value.
    pub fn values_per_code(books: &Codebooks) -> usize {
        let (net, dim) = (books.net_dim(), books.dim());
        // every code zero past the networks' values (an enhancement trained with the rest, whose
        // codes are not, also reads as all base levels: it gets every value)
        let scalar =
            books.base_levels() == books.levels() && books.codes_zero_from(net, books.levels());
        if scalar { net } else { dim }
    }

    /// `base` (the model's own codebooks) with the adapted levels replaced (each code's first
    /// [`CodebookPatch::values_per_code`] values).
    ///
    /// # Errors
    /// [`ConfigError::CodebookModel`] when the patch is for another model,
    /// [`ConfigError::Codebooks`] for another shape.
    pub fn apply(&self, model_id: u64, base: &Codebooks) -> Result<Codebooks, ConfigError> {
        if model_id != self.model_id {
            return Err(ConfigError::CodebookModel {
                codebook: self.model_id,
                model: model_id,
            });
        }
        let per_code = Self::values_per_code(base);
        if (base.levels(), base.size(), per_code) != (self.levels, self.size, self.dim) {
            return Err(ConfigError::Codebooks {
                got: format!("{}x{}x{}", self.levels, self.size, self.dim),
                expected: format!("{}x{}x{per_code}", base.levels(), base.size()),
            });
        }
        let (full, dim) = (base.dim(), self.dim);
        let mut data = base.data().to_vec();
        for (i, &l) in self.adapted.iter().enumerate() {
            let range = l * self.size * full..(l + 1) * self.size * full;
            let trained: Vec<f32> = data[range.clone()]
                .chunks_exact(full)
                .flat_map(|c| c[..dim].iter().copied())
                .collect();
            let values = self.level_values(i, &trained);
            for (code, v) in data[range]
                .chunks_exact_mut(full)
                .zip(values.chunks_exact(dim))
            {
                code[..dim].copy_from_slice(v);
            }
        }
        Ok(Codebooks::new(self.levels, self.size, full, data)?.keep_motion(base))
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    fn encode(&self) -> Vec<u8> {
        let mask: u16 = self.adapted.iter().map(|&l| 1u16 << l).sum();
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        b.push(VERSION);
        b.push(self.levels as u8);
        b.extend_from_slice(&mask.to_le_bytes());
        b.extend_from_slice(&(self.size as u16).to_le_bytes());
        b.extend_from_slice(&(self.dim as u16).to_le_bytes());
        b.extend_from_slice(&self.model_id.to_le_bytes());
        for s in &self.steps {
            b.extend_from_slice(&s.to_le_bytes());
        }
        let per_level = self.size * self.dim;
        let mut enc = RangeEncoder::new();
        for i in 0..self.adapted.len() {
            let mut m = LevelModels::new();
            for &q in &self.deltas[i * per_level..(i + 1) * per_level] {
                let q = i32::from(q);
                enc.encode(&mut m.zero, q == 0);
                if q != 0 {
                    enc.encode(&mut m.sign, q < 0);
                    let a = q.unsigned_abs();
                    let len = 32 - a.leading_zeros(); // 1..=15
                    m.length.encode(&mut enc, len);
                    if len > 1 {
                        enc.encode_direct(a & ((1 << (len - 1)) - 1), len - 1);
                    }
                }
            }
        }
        let payload = enc.finish();
        b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        b.extend_from_slice(&payload);
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Reads a codebook file (untrusted bytes).
    ///
    /// # Errors
    /// [`StreamError`]: not a codebook file, another version, fields out of range, a length
    /// that does not match the fields, a CRC mismatch, or a payload that does not decode.
    pub fn parse(bytes: &[u8]) -> Result<Self, StreamError> {
        let bad = |m: String| Err(StreamError::Malformed(m));
        if bytes.len() < FIXED + 4 || &bytes[..4] != MAGIC {
            return bad("not a vqcodec codebook file (no VQCB magic)".into());
        }
        if bytes[4] != VERSION {
            return Err(StreamError::Unsupported(format!(
                "codebook file version {} (this decoder reads version {VERSION})",
                bytes[4]
            )));
        }
        let u16_at = |i: usize| usize::from(u16::from_le_bytes([bytes[i], bytes[i + 1]]));
        let levels = usize::from(bytes[5]);
        let mask = u16_at(6);
        let (size, dim) = (u16_at(8), u16_at(10));
        let model_id = u64::from_le_bytes(bytes[12..20].try_into().expect("eight bytes"));
        if !(1..=16).contains(&levels) || !(2..=65535).contains(&size) || !(1..=1024).contains(&dim)
        {
            return bad(format!(
                "codebook of {levels} levels × {size} codes × {dim} values"
            ));
        }
        if mask == 0 || mask >> levels != 0 {
            return bad(format!(
                "adapted-level mask {mask:#06x} for {levels} levels"
            ));
        }
        let adapted: Vec<usize> = (0..levels).filter(|l| mask & (1 << l) != 0).collect();
        let count = adapted.len() * size * dim;
        if count > MAX_VALUES {
            return Err(StreamError::LimitExceeded {
                what: "codebook values".into(),
                value: count as u64,
                max: MAX_VALUES as u64,
            });
        }
        let at = FIXED + 4 * adapted.len();
        if bytes.len() < at + 8 {
            return bad(format!("codebook file of {} bytes is cut", bytes.len()));
        }
        let payload_len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four")) as usize;
        let expected = (at + 8).checked_add(payload_len);
        if expected != Some(bytes.len()) {
            return bad(format!(
                "codebook file is {} bytes, its fields say {}",
                bytes.len(),
                at + 8 + payload_len
            ));
        }
        let body = &bytes[..bytes.len() - 4];
        let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("four bytes"));
        if crc32fast::hash(body) != crc {
            return bad("the codebook file is damaged (CRC mismatch)".into());
        }
        let steps: Vec<f32> = bytes[FIXED..at]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("four")))
            .collect();
        if steps.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
            return bad("a codebook step is negative or not finite".into());
        }
        let payload = &bytes[at + 4..bytes.len() - 4];
        let mut dec = RangeDecoder::new(payload);
        let mut deltas = Vec::with_capacity(count);
        let per_level = size * dim;
        for _ in 0..adapted.len() {
            let mut m = LevelModels::new();
            for _ in 0..per_level {
                if dec.decode(&mut m.zero) {
                    deltas.push(0);
                    continue;
                }
                let negative = dec.decode(&mut m.sign);
                let len = m.length.decode(&mut dec);
                if !(1..=15).contains(&len) {
                    return bad(format!("codebook value of {len} bits"));
                }
                let rest = if len > 1 {
                    dec.decode_direct(len - 1)
                } else {
                    0
                };
                let a = ((1u32 << (len - 1)) | rest) as i32;
                deltas.push(if negative { -a } else { a } as i16);
            }
            if dec.overrun() > crate::range::TRAILING_ZEROS {
                return bad("the codebook's values run past its payload".into());
            }
        }
        Ok(Self {
            model_id,
            levels,
            size,
            dim,
            adapted,
            steps,
            deltas,
            bytes: bytes.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books() -> Codebooks {
        let (l, k, d) = (3, 8, 4);
        let data = (0..l * k * d).map(|i| (i as f32 * 0.37).sin()).collect();
        Codebooks::new(l, k, d, data).unwrap()
    }

    /// `books()` with level 1 moved: most codes a little, one a lot, one not at all.
    fn moved() -> Codebooks {
        let mut changed = books().data().to_vec();
        for (i, v) in changed[32..64].iter_mut().enumerate() {
            *v += match i / 4 {
                0 => 0.0,
                1 => 3.0,
                _ => 0.05 * (i as f32).cos(),
            };
        }
        Codebooks::new(3, 8, 4, changed).unwrap()
    }

    #[test]
    fn round_trips_and_applies_only_the_adapted_levels() {
        let (base, adapted) = (books(), moved());
        let patch = CodebookPatch::new(42, &adapted, &base, &[1]);
        let bytes = patch.to_bytes();
        assert_eq!(bytes.len(), patch.byte_len());
        assert!(
            bytes.len() < 20 + 4 + 8 * 4 * 2,
            "smaller than f16: {} bytes",
            bytes.len()
        );
        let back = CodebookPatch::parse(&bytes).unwrap();
        assert_eq!(back, patch);
        assert_eq!(back.id(), patch.id());
        let applied = back.apply(42, &base).unwrap();
        assert_eq!(&applied.data()[..32], &base.data()[..32]);
        assert_eq!(&applied.data()[64..], &base.data()[64..]);
        assert_eq!(
            &applied.data()[32..36],
            &base.data()[32..36],
            "an unmoved code"
        );
        let step = patch.steps[0];
        for (a, b) in applied.data()[32..64].iter().zip(&adapted.data()[32..64]) {
            assert!(
                (a - b).abs() <= step * 0.5 + 1e-6,
                "{a} vs {b} (step {step})"
            );
        }
    }

    /// `books()` and `moved()` widened by two values a code, zero in every code (a model refined
    /// by scalar coefficients: all three levels its networks' own), or, with `levels < 3`,
    /// nonzero in the levels from `levels` on (an enhancement with levels of its own).
    fn widened(b: &Codebooks, levels: usize) -> Codebooks {
        let data: Vec<f32> = b
            .data()
            .chunks_exact(4)
            .enumerate()
            .flat_map(|(c, v)| {
                let extra = if c / 8 >= levels { 0.5 } else { 0.0 };
                v.iter().copied().chain([extra, -extra])
            })
            .collect();
        Codebooks::new(3, 8, 6, data)
            .unwrap()
            .with_enhancement(levels, 4)
            .unwrap()
    }

    #[test]
    fn a_scalar_enhanced_models_patch_carries_its_networks_values_only() {
        let (base, adapted) = (widened(&books(), 3), widened(&moved(), 3));
        assert_eq!(CodebookPatch::values_per_code(&base), 4);
        let patch = CodebookPatch::new(42, &adapted, &base, &[1]);
        // the same file as the narrow model's patch, bar nothing: the zeros are not carried
        let narrow = CodebookPatch::new(42, &moved(), &books(), &[1]);
        assert_eq!(patch.to_bytes(), narrow.to_bytes());
        let applied = CodebookPatch::parse(&patch.to_bytes())
            .unwrap()
            .apply(42, &base)
            .unwrap();
        let plain = narrow.apply(42, &books()).unwrap();
        for (wide, thin) in applied
            .data()
            .chunks_exact(6)
            .zip(plain.data().chunks_exact(4))
        {
            assert_eq!(&wide[..4], thin);
            assert_eq!(&wide[4..], &[0.0, 0.0]);
        }
        assert_eq!(applied.net_dim(), 4, "the enhancement kept");
        // a narrow patch does not fit a model whose levels code every value, nor the reverse
        let rvq = widened(&books(), 2);
        assert_eq!(CodebookPatch::values_per_code(&rvq), 6);
        // every level marked the networks' own, but codes that are not zero past their values
        // (an enhancement trained with the rest): every value
        let joint = Codebooks::new(3, 8, 6, rvq.data().to_vec())
            .unwrap()
            .with_enhancement(3, 4)
            .unwrap();
        assert_eq!(CodebookPatch::values_per_code(&joint), 6);
        assert!(patch.apply(42, &rvq).is_err());
        assert!(narrow.apply(42, &base).is_ok());
        assert!(
            CodebookPatch::new(42, &rvq, &rvq, &[2])
                .apply(42, &base)
                .is_err()
        );
    }

    #[test]
    fn foreign_damaged_or_short_files_are_refused() {
        let patch = CodebookPatch::new(42, &moved(), &books(), &[0, 1]);
        let bytes = patch.to_bytes();
        assert!(patch.apply(7, &books()).is_err(), "another model");
        let mut bad = bytes.clone();
        bad[bytes.len() - 6] ^= 1;
        assert!(CodebookPatch::parse(&bad).is_err(), "CRC");
        assert!(
            CodebookPatch::parse(&bytes[..bytes.len() - 1]).is_err(),
            "cut"
        );
        assert!(CodebookPatch::parse(b"VQCV not a codebook file at all").is_err());
        let mut huge = bytes.clone();
        huge[5] = 16;
        huge[6..8].copy_from_slice(&u16::MAX.to_le_bytes()); // 16 levels
        huge[8..10].copy_from_slice(&u16::MAX.to_le_bytes()); // of 65535 codes
        huge[10..12].copy_from_slice(&1024u16.to_le_bytes()); // of 1024 values
        assert!(
            matches!(
                CodebookPatch::parse(&huge),
                Err(StreamError::LimitExceeded { .. })
            ),
            "value count checked before allocating"
        );
        let mut long = bytes.clone();
        long[24..28].copy_from_slice(&u32::MAX.to_le_bytes()); // payload length
        assert!(CodebookPatch::parse(&long).is_err(), "payload length");
        let mut mask = bytes.clone();
        mask[6] = 0b1000; // level 3 of 3
        assert!(
            CodebookPatch::parse(&mask).is_err(),
            "mask beyond the levels"
        );
        let mut old = bytes;
        old[4] = 1;
        assert!(matches!(
            CodebookPatch::parse(&old),
            Err(StreamError::Unsupported(_))
        ));
    }
}
