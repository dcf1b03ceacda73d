//! A codebook adapted to a user's footage (issue 6), as a small file: the adapted levels only,
//! in f16, tied to the model it was made for.
//!
//! ```text
//! offset size  field
//!      0    4  magic "VQCB"
//!      4    1  version (1)
//!      5    1  total levels of the model (1..=16)
//!      6    2  adapted-level mask, bit l = level l (u16 LE, non-zero)
//!      8    2  codes per level K (u16 LE, 2..=65535)
//!     10    2  code dimension D (u16 LE, 1..=1024)
//!     12    8  model id (u64 LE)
//!     20    …  for each adapted level, lowest first: K × D values, f16 LE
//!    end    4  CRC32 of everything before
//! ```
//! The file's length follows from the fields: it is checked before anything is allocated.

use half::f16;

use super::codebook::Codebooks;
use super::error::StreamError;

const MAGIC: &[u8; 4] = b"VQCB";
const VERSION: u8 = 1;
const FIXED: usize = 20;

/// Adapted codebook levels for one model.
#[derive(Debug, Clone, PartialEq)]
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
    /// Their codes, `adapted.len() × size × dim`, as f16 values widened to f32.
    pub values: Vec<f32>,
}

impl CodebookPatch {
    /// The levels `adapted` of `books` (rounded to f16) for model `model_id`.
    ///
    /// # Panics
    /// If a level is out of range (a caller bug).
    pub fn new(model_id: u64, books: &Codebooks, adapted: &[usize]) -> Self {
        let mut adapted = adapted.to_vec();
        adapted.sort_unstable();
        adapted.dedup();
        let (size, dim) = (books.size(), books.dim());
        let values = adapted
            .iter()
            .flat_map(|&l| {
                assert!(l < books.levels(), "level {l} out of range");
                (0..size).flat_map(move |k| books.code(l, k).iter())
            })
            .map(|&v| f16::from_f32(v).to_f32())
            .collect();
        Self {
            model_id,
            levels: books.levels(),
            size,
            dim,
            adapted,
            values,
        }
    }

    /// A content id (the file's CRC32, with the model id folded in), for display.
    pub fn id(&self) -> u32 {
        let b = self.to_bytes();
        u32::from_le_bytes(b[b.len() - 4..].try_into().expect("four bytes"))
    }

    /// `base` with the adapted levels replaced.
    ///
    /// # Errors
    /// [`StreamError::Unsupported`] when the patch is for another model or shape.
    pub fn apply(&self, model_id: u64, base: &Codebooks) -> Result<Codebooks, StreamError> {
        if model_id != self.model_id {
            return Err(StreamError::Unsupported(format!(
                "the codebook was made for model {:016x}, not {model_id:016x}",
                self.model_id
            )));
        }
        if (base.levels(), base.size(), base.dim()) != (self.levels, self.size, self.dim) {
            return Err(StreamError::Unsupported(format!(
                "the codebook is {}x{}x{}, the model's is {}x{}x{}",
                self.levels,
                self.size,
                self.dim,
                base.levels(),
                base.size(),
                base.dim()
            )));
        }
        let mut data = base.data().to_vec();
        let per_level = self.size * self.dim;
        for (i, &l) in self.adapted.iter().enumerate() {
            data[l * per_level..(l + 1) * per_level]
                .copy_from_slice(&self.values[i * per_level..(i + 1) * per_level]);
        }
        Codebooks::new(self.levels, self.size, self.dim, data)
            .map_err(|e| StreamError::Malformed(e.to_string()))
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mask: u16 = self.adapted.iter().map(|&l| 1u16 << l).sum();
        let mut b = Vec::with_capacity(FIXED + self.values.len() * 2 + 4);
        b.extend_from_slice(MAGIC);
        b.push(VERSION);
        b.push(self.levels as u8);
        b.extend_from_slice(&mask.to_le_bytes());
        b.extend_from_slice(&(self.size as u16).to_le_bytes());
        b.extend_from_slice(&(self.dim as u16).to_le_bytes());
        b.extend_from_slice(&self.model_id.to_le_bytes());
        for v in &self.values {
            b.extend_from_slice(&f16::from_f32(*v).to_le_bytes());
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Reads a codebook file (untrusted bytes).
    ///
    /// # Errors
    /// [`StreamError`]: not a codebook file, another version, fields out of range, a length
    /// that does not match the fields, or a CRC mismatch.
    pub fn parse(bytes: &[u8]) -> Result<Self, StreamError> {
        if bytes.len() < FIXED + 4 || &bytes[..4] != MAGIC {
            return Err(StreamError::Malformed(
                "not a vqcodec codebook file (no VQCB magic)".into(),
            ));
        }
        if bytes[4] != VERSION {
            return Err(StreamError::Version(u16::from(bytes[4])));
        }
        let u16_at = |i: usize| usize::from(u16::from_le_bytes([bytes[i], bytes[i + 1]]));
        let levels = usize::from(bytes[5]);
        let mask = u16_at(6);
        let (size, dim) = (u16_at(8), u16_at(10));
        let model_id = u64::from_le_bytes(bytes[12..20].try_into().expect("eight bytes"));
        if !(1..=16).contains(&levels) || !(2..=65535).contains(&size) || !(1..=1024).contains(&dim)
        {
            return Err(StreamError::Malformed(format!(
                "codebook of {levels} levels × {size} codes × {dim} values"
            )));
        }
        if mask == 0 || mask >> levels != 0 {
            return Err(StreamError::Malformed(format!(
                "adapted-level mask {mask:#06x} for {levels} levels"
            )));
        }
        let adapted: Vec<usize> = (0..levels).filter(|l| mask & (1 << l) != 0).collect();
        let count = adapted.len() * size * dim;
        let expected = FIXED + count * 2 + 4;
        if bytes.len() != expected {
            return Err(StreamError::Malformed(format!(
                "codebook file is {} bytes, its fields say {expected}",
                bytes.len()
            )));
        }
        let body = &bytes[..expected - 4];
        let crc = u32::from_le_bytes(bytes[expected - 4..].try_into().expect("four bytes"));
        if crc32fast::hash(body) != crc {
            return Err(StreamError::Malformed(
                "the codebook file is damaged (CRC mismatch)".into(),
            ));
        }
        let values: Vec<f32> = body[FIXED..]
            .chunks_exact(2)
            .map(|h| f16::from_le_bytes([h[0], h[1]]).to_f32())
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(StreamError::Malformed(
                "the codebook holds a non-finite value".into(),
            ));
        }
        Ok(Self {
            model_id,
            levels,
            size,
            dim,
            adapted,
            values,
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

    #[test]
    fn round_trips_and_applies_only_the_adapted_levels() {
        let base = books();
        let mut changed = base.data().to_vec();
        for v in &mut changed[32..64] {
            *v += 0.5; // level 1
        }
        let adapted = Codebooks::new(3, 8, 4, changed).unwrap();
        let patch = CodebookPatch::new(42, &adapted, &[1]);
        let bytes = patch.to_bytes();
        assert_eq!(bytes.len(), 20 + 8 * 4 * 2 + 4);
        let back = CodebookPatch::parse(&bytes).unwrap();
        assert_eq!(back, patch);
        let applied = back.apply(42, &base).unwrap();
        assert_eq!(&applied.data()[..32], &base.data()[..32]);
        assert_eq!(&applied.data()[64..], &base.data()[64..]);
        for (a, b) in applied.data()[32..64].iter().zip(&adapted.data()[32..64]) {
            assert!((a - b).abs() < 1e-3, "f16 keeps ~3 decimals: {a} vs {b}");
        }
    }

    #[test]
    fn foreign_damaged_or_short_files_are_refused() {
        let patch = CodebookPatch::new(42, &books(), &[0, 2]);
        let bytes = patch.to_bytes();
        assert!(patch.apply(7, &books()).is_err(), "another model");
        let mut bad = bytes.clone();
        bad[30] ^= 1;
        assert!(CodebookPatch::parse(&bad).is_err(), "CRC");
        assert!(
            CodebookPatch::parse(&bytes[..bytes.len() - 1]).is_err(),
            "cut"
        );
        assert!(CodebookPatch::parse(b"VQCV not a codebook file at all").is_err());
        let mut huge = bytes.clone();
        huge[8..10].copy_from_slice(&u16::MAX.to_le_bytes()); // claims 65535 codes
        assert!(
            CodebookPatch::parse(&huge).is_err(),
            "length checked before allocating"
        );
        let mut mask = bytes;
        mask[6] = 0b1000; // level 3 of 3
        assert!(
            CodebookPatch::parse(&mask).is_err(),
            "mask beyond the levels"
        );
    }
}
