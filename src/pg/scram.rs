//! SCRAM-SHA-256 password verifiers, computed on the client.
//!
//! `ALTER ROLE ... PASSWORD '<verifier>'` stores a verifier as it is, so the plain-text password
//! never reaches the server, its logs or `pg_stat_activity`. The format is PostgreSQL's
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802 and RFC 7677, base64),
//! with the password prepared by SASLprep when it can be, as the server does. This module only
//! computes and compares; it never logs a password.
//! See <https://www.postgresql.org/docs/current/catalog-pg-authid.html>.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

const PREFIX: &str = "SCRAM-SHA-256$";

/// The verifier of `password` for `salt` and `iterations`, in PostgreSQL's stored format.
pub fn verifier(password: &str, salt: &[u8], iterations: u32) -> String {
    let (stored_key, server_key) = keys(password, salt, iterations);
    format!(
        "{PREFIX}{iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

/// A verifier of `password` with a fresh random 16-byte salt and PostgreSQL's default 4096
/// iterations, as `ALTER ROLE ... PASSWORD` would store it.
pub fn random_verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// Whether `stored` (a `pg_authid.rolpassword` value) is a SCRAM-SHA-256 verifier of
/// `password`. Anything else, an MD5 hash or a malformed value included, does not match.
pub fn matches(password: &str, stored: &str) -> bool {
    let Some(parsed) = Stored::parse(stored) else {
        return false;
    };
    let (stored_key, server_key) = keys(password, &parsed.salt, parsed.iterations);
    stored_key.as_slice() == parsed.stored_key && server_key.as_slice() == parsed.server_key
}

/// The parts of a stored verifier.
struct Stored {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Stored {
    fn parse(stored: &str) -> Option<Stored> {
        let rest = stored.strip_prefix(PREFIX)?;
        let (iterations_salt, keys) = rest.split_once('$')?;
        let (iterations, salt) = iterations_salt.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        let decode = |text: &str| STANDARD.decode(text).ok();
        Some(Stored {
            iterations: iterations.parse().ok().filter(|n| *n > 0)?,
            salt: decode(salt)?,
            stored_key: decode(stored_key)?,
            server_key: decode(server_key)?,
        })
    }
}

/// StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword,
/// "Server Key").
fn keys(password: &str, salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32]) {
    // The server applies SASLprep and falls back to the raw bytes when the password has
    // prohibited characters (src/common/saslprep.c); do the same so the verifiers agree.
    let prepared = stringprep::saslprep(password)
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| password.to_string());
    let salted = salted_password(prepared.as_bytes(), salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    (stored_key, hmac(&salted, b"Server Key"))
}

/// Hi() of RFC 5802: PBKDF2 with HMAC-SHA-256 and one output block.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let keyed = Hmac::<Sha256>::new_from_slice(password).expect("HMAC accepts keys of any size");
    let mut mac = keyed.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut block: [u8; 32] = mac.finalize().into_bytes().into();
    let mut result = block;
    for _ in 1..iterations {
        let mut mac = keyed.clone();
        mac.update(&block);
        block = mac.finalize().into_bytes().into();
        result.iter_mut().zip(block).for_each(|(r, b)| *r ^= b);
    }
    result
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any size");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_has_postgres_format_and_is_deterministic_for_a_salt() {
        let salt = b"0123456789abcdef";
        let v = verifier("correct horse", salt, 4096);
        assert!(
            v.starts_with("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"),
            "{v}"
        );
        assert_eq!(v, verifier("correct horse", salt, 4096));
        assert_ne!(v, verifier("correct horse", salt, 4097));
        assert!(!v.contains("correct horse"));
    }

    /// The password, salt and iterations of RFC 7677's example; the keys were computed
    /// independently with Python's `hashlib.pbkdf2_hmac` and `hmac`.
    #[test]
    fn keys_agree_with_the_rfc_7677_example() {
        let salt = STANDARD
            .decode("W22ZaJ0SNY7soEsUEjb6gQ==")
            .expect("valid base64");
        let v = verifier("pencil", &salt, 4096);
        assert_eq!(
            v,
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
    }

    #[test]
    fn matches_recomputes_with_the_stored_salt_and_iterations() {
        let stored = random_verifier("s3cret");
        assert!(stored.starts_with("SCRAM-SHA-256$4096:"));
        assert!(matches("s3cret", &stored));
        assert!(!matches("s3cret ", &stored));
        assert!(!matches("other", &stored));
        let few = verifier("s3cret", b"salt", 2);
        assert!(matches("s3cret", &few));
        // SASLprep maps a non-breaking space to a space, as the server does.
        assert!(matches("a b", &verifier("a\u{a0}b", b"salt", 2)));
        for malformed in [
            "",
            "md5abcdef",
            "SCRAM-SHA-256$x:c2FsdA==$a:b",
            "SCRAM-SHA-256$0:c2FsdA==$YQ==:YQ==",
            "SCRAM-SHA-256$4096:c2FsdA==",
        ] {
            assert!(!matches("s3cret", malformed), "{malformed}");
        }
    }
}
