//! The whole-database net: every relation outside the exact scope is read
//! too, but kept as a row count and one relation-level hash, so an unnamed
//! change anywhere (a cascade into another schema, a partition, a view's
//! base table, a trigger's audit table) fails the rehearsal naming the
//! relation, at the cost of one streamed read and 40 bytes per relation.
//!
//! The relation's hash is the sum, modulo 2^256, of each row's keyed hash
//! (SHA-256 of a per-rehearsal random key and the row's text): the order of
//! the rows does not matter and nothing is sorted or kept. The key is drawn
//! by the host and never leaves it, so no plugin can choose rows whose
//! hashes cancel out (an unkeyed sum could be forged by a generalized
//! birthday search); a duplicate row counts twice, unlike with XOR.

use anyhow::{Context as _, Result};
use sha2::{Digest as _, Sha256};
use std::io::Read as _;

/// The per-rehearsal key of the row hashes.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Key {
    /// 32 bytes from the operating system's random source.
    pub fn random() -> Result<Key> {
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut key))
            .context("cannot draw the whole-database net's key from /dev/urandom")?;
        Ok(Key(key))
    }

    /// A fixed key (unit tests).
    #[cfg(test)]
    pub fn fixed(byte: u8) -> Key {
        Key([byte; 32])
    }
}

/// A relation's rows as the net keeps them: how many, and their hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    pub rows: u64,
    /// The sum of the keyed row hashes, as four 64-bit limbs, most
    /// significant first.
    sum: [u64; 4],
}

impl Counted {
    /// Adds one row's text.
    pub fn add(&mut self, key: &Key, row: &[u8]) {
        let mut h = Sha256::new();
        h.update(key.0);
        h.update(row);
        self.add_hash(h.finalize().into());
        self.rows += 1;
    }

    /// Adds a 256-bit hash (big-endian) to the sum, modulo 2^256.
    fn add_hash(&mut self, hash: [u8; 32]) {
        let mut carry = false;
        for i in (0..4).rev() {
            let mut limb = [0u8; 8];
            limb.copy_from_slice(&hash[i * 8..i * 8 + 8]);
            let (s, c1) = self.sum[i].overflowing_add(u64::from_be_bytes(limb));
            let (s, c2) = s.overflowing_add(u64::from(carry));
            self.sum[i] = s;
            carry = c1 || c2;
        }
    }

    /// The count and the sum, as bytes for the state's digest.
    pub fn bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..8].copy_from_slice(&self.rows.to_be_bytes());
        for (i, limb) in self.sum.iter().enumerate() {
            out[8 + i * 8..16 + i * 8].copy_from_slice(&limb.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Counted, Key};

    fn of(key: &Key, rows: &[&str]) -> Counted {
        let mut c = Counted::default();
        for r in rows {
            c.add(key, r.as_bytes());
        }
        c
    }

    #[test]
    fn the_order_of_rows_does_not_matter_and_every_row_does() {
        let k = Key::fixed(7);
        assert_eq!(of(&k, &["(1,a)", "(2,b)", "(3,c)"]), of(&k, &["(3,c)", "(1,a)", "(2,b)"]));
        // A duplicate counts: a row inserted twice and one deleted is seen.
        assert_ne!(of(&k, &["(1,a)", "(1,a)"]), of(&k, &["(1,a)"]));
        assert_ne!(of(&k, &["(1,a)", "(1,a)"]).bytes()[8..], of(&k, &[]).bytes()[8..]);
        // The same count, other content.
        assert_ne!(of(&k, &["(1,a)", "(2,b)"]), of(&k, &["(1,a)", "(2,c)"]));
        // Another key, other hashes.
        assert_ne!(of(&k, &["(1,a)"]).bytes(), of(&Key::fixed(8), &["(1,a)"]).bytes());
    }

    #[test]
    fn the_sum_carries_across_limbs_and_wraps_at_2_to_the_256() {
        let one = {
            let mut h = [0u8; 32];
            h[31] = 1;
            h
        };
        let mut c = Counted { rows: 0, sum: [0, 0, u64::MAX, u64::MAX] };
        c.add_hash(one);
        assert_eq!(c.sum, [0, 1, 0, 0]);
        let mut c = Counted { rows: 0, sum: [u64::MAX; 4] };
        c.add_hash(one);
        assert_eq!(c.sum, [0; 4]);
    }
}
