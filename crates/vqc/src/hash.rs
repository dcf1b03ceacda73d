//! The id hash: FNV-1a 64 of a file's bytes. A stream header names its weights and its codebook
//! by this hash, so a decoder refuses a stream made with other weights instead of decoding
//! garbage. Not cryptographic: it tells files apart, it does not authenticate them.

/// FNV-1a 64 of `bytes`.
pub fn id_of(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_published_fnv1a64_vectors() {
        assert_eq!(super::id_of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::id_of(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::id_of(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
