//! A binary adaptive range coder with integer probabilities.
//!
//! Every symbol in a vqcodec stream is coded as a sequence of binary decisions, each with an
//! adaptive [`BitModel`]: a 15-bit probability of a zero that moves towards each coded bit by a
//! shift whose size grows with the number of bits the model has seen (fast at first, then
//! steady). All arithmetic is on integers, so encoder and decoder agree on every machine.
//!
//! The coder is the carry-less-on-read, carry-propagating-on-write design of LZMA's range
//! coder: a 32-bit range, a 33-bit `low`, one cached byte and a count of pending `0xFF` bytes.
//! `docs/bitstream.md` specifies it exactly.

/// Bits of probability precision.
pub const PROB_BITS: u32 = 15;
/// Probability scale: a [`BitModel`] holds P(bit = 0) · 2^15.
pub const PROB_ONE: u32 = 1 << PROB_BITS;
const TOP: u32 = 1 << 24;
/// Most zero bytes a decoder reads past the end of a payload that [`RangeEncoder::finish`]
/// wrote: it may leave out that many trailing zeros. More is a cut or damaged payload.
pub const TRAILING_ZEROS: usize = 4;

/// An adaptive probability for one binary decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitModel {
    p0: u16,
    seen: u16,
}

impl Default for BitModel {
    fn default() -> Self {
        Self::new()
    }
}

impl BitModel {
    /// Even odds, no history.
    pub const fn new() -> Self {
        Self {
            p0: (PROB_ONE / 2) as u16,
            seen: 0,
        }
    }

    /// P(bit = 0) scaled by 2^15, always in 1..2^15.
    pub fn p0(self) -> u32 {
        u32::from(self.p0)
    }

    /// Adaptation shift: `⌊log2(seen + 2)⌋`, at most [`MAX_SHIFT`] — 1 for the first two bits,
    /// 2 up to the sixth, …: about a running average while the model has seen little (many
    /// contexts learn their statistics within a frame), then an exponential window of 64.
    #[inline]
    fn shift(self) -> u32 {
        u32::from(SHIFTS[usize::from(self.seen)])
    }

    #[inline]
    fn update(&mut self, bit: bool) {
        let s = self.shift();
        let p = u32::from(self.p0);
        let p = if bit {
            p - (p >> s)
        } else {
            p + ((PROB_ONE - p) >> s)
        };
        // the shifts keep p in 1..PROB_ONE: p − p>>s ≥ 1 for p ≥ 1, p + (2^15−p)>>s < 2^15
        self.p0 = p as u16;
        // counting stops where the shift does: only the shift reads it
        self.seen += u16::from(self.seen < SEEN_CAP);
    }

    /// Cost of coding `bit` with this model, in bits (encoder-side estimate).
    #[inline]
    pub fn cost(self, bit: bool) -> f32 {
        let p = if bit { PROB_ONE - self.p0() } else { self.p0() };
        COST.get()[(p >> (PROB_BITS - COST_BITS)) as usize]
    }
}

const COST_BITS: u32 = 8;

/// The largest adaptation shift (an exponential window of `2^6` bits).
const MAX_SHIFT: u32 = 6;

/// Bits counted per model: from here on the shift is [`MAX_SHIFT`].
const SEEN_CAP: u16 = (1 << MAX_SHIFT) - 2;

/// The shift after `seen` bits, `⌊log2(seen + 2)⌋`, as a table (a bit scan or compares per
/// decision cost the decoder 23% / 14% on a busy clip, measured).
static SHIFTS: [u8; SEEN_CAP as usize + 1] = {
    let mut t = [0u8; SEEN_CAP as usize + 1];
    let mut n = 0;
    while n <= SEEN_CAP as usize {
        t[n] = (usize::BITS - 1 - (n + 2).leading_zeros()) as u8;
        n += 1;
    }
    t
};

/// −log2(p) for p in 256 steps (index 0 stands for the smallest probability).
struct CostTable(std::sync::OnceLock<[f32; 1 << COST_BITS]>);

impl CostTable {
    fn get(&self) -> &[f32; 1 << COST_BITS] {
        self.0.get_or_init(|| {
            let mut t = [0f32; 1 << COST_BITS];
            for (i, v) in t.iter_mut().enumerate() {
                let p = (i as f64 + 0.5) / f64::from(1u32 << COST_BITS);
                *v = -p.log2() as f32;
            }
            t
        })
    }
}

static COST: CostTable = CostTable(std::sync::OnceLock::new());

/// Writes binary decisions into bytes.
#[derive(Debug, Clone)]
pub struct RangeEncoder {
    low: u64,
    range: u32,
    cache: u8,
    pending: u64,
    out: Vec<u8>,
}

impl Default for RangeEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RangeEncoder {
    /// An empty coder.
    pub fn new() -> Self {
        Self {
            low: 0,
            range: u32::MAX,
            cache: 0,
            pending: 1,
            out: Vec::new(),
        }
    }

    #[inline]
    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000 || self.low >= 1 << 32 {
            let carry = (self.low >> 32) as u8;
            let mut byte = self.cache;
            loop {
                self.out.push(byte.wrapping_add(carry));
                byte = 0xFF;
                self.pending -= 1;
                if self.pending == 0 {
                    break;
                }
            }
            self.cache = ((self.low >> 24) & 0xFF) as u8;
        }
        self.pending += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    /// Codes `bit` with `model` and adapts the model.
    #[inline]
    pub fn encode(&mut self, model: &mut BitModel, bit: bool) {
        let bound = (self.range >> PROB_BITS) * model.p0();
        if bit {
            self.low += u64::from(bound);
            self.range -= bound;
        } else {
            self.range = bound;
        }
        model.update(bit);
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Codes `n` bits of `value` (most significant first) at even odds, without a model.
    pub fn encode_direct(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            self.range >>= 1;
            if (value >> i) & 1 == 1 {
                self.low += u64::from(self.range);
            }
            while self.range < TOP {
                self.range <<= 8;
                self.shift_low();
            }
        }
    }

    /// Bytes written so far, an upper bound on the final size ([`RangeEncoder::finish`] may
    /// write fewer).
    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
    pub fn len(&self) -> usize {
        self.out.len() + self.pending as usize + 4
    }

    /// True before anything was coded.
    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.out.is_empty() && self.low == 0
    }

    /// Flushes and returns the bytes.
    ///
    /// Any value in `[low, low + range)` decodes to the same decisions. The flush writes the one
    /// with the most trailing zero bits — a multiple of 2^32 when the interval holds one, else
    /// of 2^24, which it always holds (`range` ≥ 2^24) — and drops up to [`TRAILING_ZEROS`]
    /// zero bytes from the end: a decoder reads zeros past the end of its input. Three or four
    /// bytes shorter than flushing all of `low` (3.4 on average, measured), which matters for
    /// the many tiny payloads of delta frames that copy almost everything.
    pub fn finish(mut self) -> Vec<u8> {
        let end = self.low + u64::from(self.range);
        for bits in [32, 24] {
            let mask = (1u64 << bits) - 1;
            let v = (self.low + mask) & !mask;
            if v < end {
                self.low = v;
                break;
            }
        }
        for _ in 0..5 {
            self.shift_low();
        }
        // the first byte is always the initial cache (0); the decoder skips it
        self.out.remove(0);
        // the decoder reads 4 bytes ahead of the last one a decision needed: at most that many
        // can be left for it to read as zeros
        for _ in 0..TRAILING_ZEROS {
            if self.out.last() != Some(&0) {
                break;
            }
            self.out.pop();
        }
        self.out
    }
}

/// Reads binary decisions back. Past the end of its input it reads zero bytes and counts
/// them, so a damaged or truncated payload decodes to *some* symbols without panicking; the
/// caller checks [`RangeDecoder::overrun`].
#[derive(Debug, Clone)]
pub struct RangeDecoder<'a> {
    input: &'a [u8],
    pos: usize,
    range: u32,
    code: u32,
    overrun: usize,
}

impl<'a> RangeDecoder<'a> {
    /// Starts decoding `input` (as returned by [`RangeEncoder::finish`]).
    pub fn new(input: &'a [u8]) -> Self {
        let mut d = Self {
            input,
            pos: 0,
            range: u32::MAX,
            code: 0,
            overrun: 0,
        };
        for _ in 0..4 {
            d.code = (d.code << 8) | u32::from(d.next_byte());
        }
        d
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        match self.input.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => {
                self.overrun += 1;
                0
            }
        }
    }

    /// Decodes one bit with `model` and adapts the model.
    #[inline]
    pub fn decode(&mut self, model: &mut BitModel) -> bool {
        let bound = (self.range >> PROB_BITS) * model.p0();
        let bit = if self.code < bound {
            self.range = bound;
            false
        } else {
            self.code -= bound;
            self.range -= bound;
            true
        };
        model.update(bit);
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(self.next_byte());
        }
        bit
    }

    /// Decodes `n` bits coded with [`RangeEncoder::encode_direct`].
    pub fn decode_direct(&mut self, n: u32) -> u32 {
        let mut v = 0;
        for _ in 0..n {
            self.range >>= 1;
            let bit = self.code >= self.range;
            if bit {
                self.code -= self.range;
            }
            v = (v << 1) | u32::from(bit);
            while self.range < TOP {
                self.range <<= 8;
                self.code = (self.code << 8) | u32::from(self.next_byte());
            }
        }
        v
    }

    /// Zero bytes read past the end of the input. A payload the encoder wrote needs at most
    /// [`TRAILING_ZEROS`] of them (the zeros its flush left out), so a larger count means the
    /// payload was cut or damaged.
    pub fn overrun(&self) -> usize {
        self.overrun
    }
}

/// A binary tree of [`BitModel`]s coding values of `bits` bits (an index into a codebook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitTree {
    bits: u32,
    nodes: Vec<BitModel>,
}

impl BitTree {
    /// A tree for values `0..2^bits`.
    pub fn new(bits: u32) -> Self {
        Self {
            bits,
            nodes: vec![BitModel::new(); 1 << bits],
        }
    }

    /// Codes `value` (< 2^bits).
    #[inline]
    pub fn encode(&mut self, enc: &mut RangeEncoder, value: u32) {
        let mut node = 1usize;
        for i in (0..self.bits).rev() {
            let bit = (value >> i) & 1 == 1;
            enc.encode(&mut self.nodes[node], bit);
            node = (node << 1) | usize::from(bit);
        }
    }

    /// Decodes a value.
    #[inline]
    pub fn decode(&mut self, dec: &mut RangeDecoder<'_>) -> u32 {
        let mut node = 1usize;
        for _ in 0..self.bits {
            let bit = dec.decode(&mut self.nodes[node]);
            node = (node << 1) | usize::from(bit);
        }
        (node - (1 << self.bits)) as u32
    }

    /// Estimated cost of coding `value`, in bits.
    #[inline]
    pub fn cost(&self, value: u32) -> f32 {
        let mut node = 1usize;
        let mut c = 0.0;
        for i in (0..self.bits).rev() {
            let bit = (value >> i) & 1 == 1;
            c += self.nodes[node].cost(bit);
            node = (node << 1) | usize::from(bit);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skewed_bits_round_trip_and_compress() {
        // a deterministic skewed source: ~5% ones
        let mut x = 12345u32;
        let bits: Vec<bool> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x % 20 == 0
            })
            .collect();
        let mut enc = RangeEncoder::new();
        let mut m = BitModel::new();
        for &b in &bits {
            enc.encode(&mut m, b);
        }
        let bytes = enc.finish();
        // entropy of p=0.05 is 0.286 bits/bit
        assert!(
            bytes.len() * 8 < (bits.len() as f64 * 0.30) as usize,
            "{}",
            bytes.len()
        );
        let mut dec = RangeDecoder::new(&bytes);
        let mut m = BitModel::new();
        for &b in &bits {
            assert_eq!(dec.decode(&mut m), b);
        }
        assert!(dec.overrun() <= TRAILING_ZEROS);
    }

    /// Every payload length from nothing to a few hundred decisions, skewed and even, direct
    /// bits too: the short flush decodes to the same decisions, never needs more than
    /// `TRAILING_ZEROS` implied zeros, and is shorter than flushing all of `low` (4 bytes).
    #[test]
    fn the_short_flush_decodes_exactly_and_saves_bytes() {
        let mut x = 987_654_321u32;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let (mut saved, mut payloads) = (0usize, 0usize);
        for n in 0..400 {
            for odds in [2u32, 7, 64] {
                let bits: Vec<(bool, bool)> = (0..n)
                    .map(|_| (rand() % odds == 0, rand() % 9 == 0))
                    .collect();
                let mut enc = RangeEncoder::new();
                let mut m = BitModel::new();
                for &(b, direct) in &bits {
                    if direct {
                        enc.encode_direct(u32::from(b), 1);
                    } else {
                        enc.encode(&mut m, b);
                    }
                }
                // what the old flush wrote: all of `low`, every byte but the initial cache
                let full = enc.len() - 1;
                let bytes = enc.finish();
                assert!(bytes.len() <= full);
                saved += full - bytes.len();
                payloads += 1;
                let mut dec = RangeDecoder::new(&bytes);
                let mut m = BitModel::new();
                for &(b, direct) in &bits {
                    let got = if direct {
                        dec.decode_direct(1) == 1
                    } else {
                        dec.decode(&mut m)
                    };
                    assert_eq!(got, b, "{n} decisions, odds 1/{odds}");
                }
                assert!(dec.overrun() <= TRAILING_ZEROS, "{}", dec.overrun());
                if n == 0 {
                    assert!(bytes.is_empty(), "nothing coded, nothing written");
                }
            }
        }
        // three zero bytes always, a fourth when the interval's value has a zero top byte
        let mean = saved as f64 / payloads as f64;
        assert!(mean >= 3.0, "{mean:.2} bytes saved per payload");
    }
}
