//! Compile-time fingerprint arithmetic for the native rule.
//!
//! `#[derive(Message)]` hashes the type name and the field names (in
//! declaration order) with SHA-256 at macro time, then folds in each field
//! type's [`Field::TYPE_HASH`](super::Field::TYPE_HASH) with [`combine`] in a
//! `const`. Field types therefore count by what they *are* (an alias of
//! `u32` hashes as `u32`; a nested message by its own fingerprint), and
//! reordering, renaming or retyping a field changes the fingerprint.

/// FNV-1a over `s`, finished with a SplitMix64 avalanche.
pub const fn hash_str(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    avalanche(h)
}

/// Folds `parts`, in order, into `base`.
pub const fn combine(base: u64, parts: &[u64]) -> u64 {
    let mut h = avalanche(base);
    let mut i = 0;
    while i < parts.len() {
        h = avalanche(h ^ parts[i].rotate_left(17)).wrapping_add(i as u64 + 1);
        i += 1;
    }
    avalanche(h)
}

const fn avalanche(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_matters() {
        assert_ne!(combine(1, &[2, 3]), combine(1, &[3, 2]));
        assert_ne!(combine(1, &[2]), combine(1, &[2, 0]));
        assert_ne!(hash_str("u32"), hash_str("i32"));
    }
}
