//! The set digest: a hash of which resources a node holds, updated in O(changed resources).
//!
//! A delta response carries only what changed, so checking that the node ends up holding exactly the
//! server's set by reassembling and hashing the whole document would cost every node O(document) per
//! patch. Instead both sides keep the XOR over resources of SHA-256(`"<name>\n<resource hash>"`): XOR
//! is its own inverse and order-free, so replacing a resource is one XOR out and one XOR in, and two
//! sets with the same digest are (up to a SHA-256 collision) the same set of (name, hash) pairs.

use sha2::{Digest, Sha256};

/// The XOR over a set of resources of SHA-256(`"<name>\n<hash>"`); the empty set's digest is zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetDigest([u8; 32]);

// === impl SetDigest ===

impl SetDigest {
    /// The digest of the empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The digest of every `(name, hash)` pair of `resources`.
    pub fn of<'a>(resources: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut digest = Self::new();
        for (name, hash) in resources {
            digest.toggle(name, hash);
        }
        digest
    }

    /// Adds resource `name` with content hash `hash` if absent from the set, removes it if present:
    /// replacing a resource is `toggle(name, old)` then `toggle(name, new)`.
    pub fn toggle(&mut self, name: &str, hash: &str) {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update(hash.as_bytes());
        for (d, b) in self.0.iter_mut().zip(h.finalize()) {
            *d ^= b;
        }
    }

    /// Lowercase hex, as carried in `DiscoveryResponse.set_digest`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for SetDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_free_and_self_inverse() {
        let a = SetDigest::of([("agent/a", "01"), ("rule/r", "02")]);
        let b = SetDigest::of([("rule/r", "02"), ("agent/a", "01")]);
        assert_eq!(a, b);
        let mut c = a;
        c.toggle("agent/a", "01");
        assert_eq!(c, SetDigest::of([("rule/r", "02")]));
        c.toggle("rule/r", "02");
        assert_eq!(c, SetDigest::new());
        assert_eq!(c.to_hex(), "0".repeat(64));
        // The name and the hash are separated: moving the boundary changes the digest.
        assert_ne!(SetDigest::of([("ab", "c")]), SetDigest::of([("a", "bc")]));
    }
}
