//! The advisory locks dbsplit takes, in one place: `apply` holds `(LOCK_CLASS, 0)` for its
//! transaction (for its session when the lock budget splits it in several), and `migrate` holds `(LOCK_CLASS, service_key(schema))` per service for its
//! session, so the two never wait on each other by accident.

use sha2::{Digest, Sha256};

/// The first key of every dbsplit advisory lock: "dbsp".
pub const LOCK_CLASS: i32 = 0x6462_7370;

/// The second key of `apply`'s lock.
pub const APPLY_KEY: i32 = 0;

/// The second key of a service's migration lock: a hash of the schema name, so services lock
/// independently; never [`APPLY_KEY`].
pub fn service_key(schema: &str) -> i32 {
    let digest = Sha256::digest(schema.as_bytes());
    let key = i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x7fff_ffff;
    key.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_keys_are_positive_distinct_and_stable() {
        let billing = service_key("billing");
        assert!(billing > APPLY_KEY);
        assert_eq!(billing, service_key("billing"));
        assert_ne!(billing, service_key("monolith"));
    }
}
