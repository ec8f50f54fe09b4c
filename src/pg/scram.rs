//! SCRAM-SHA-256 password verifiers, computed client-side so the plain text never reaches the
//! server, its logs or `pg_stat_activity`; and the check of a password against a stored
//! verifier, so an unchanged password is not reset on every apply.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// A verifier with a random salt, in the form PostgreSQL stores:
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
pub fn verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// Whether `password` is the one `stored` was made from. A stored value that is not a SCRAM
/// verifier (md5, or garbage) never matches, so the password gets set again.
pub fn matches(password: &str, stored: &str) -> bool {
    let Some(rest) = stored.strip_prefix("SCRAM-SHA-256$") else {
        return false;
    };
    let Some((params, keys)) = rest.split_once('$') else {
        return false;
    };
    let (Some((iterations, salt)), Some((stored_key, server_key))) =
        (params.split_once(':'), keys.split_once(':'))
    else {
        return false;
    };
    let (Ok(iterations), Ok(salt)) = (iterations.parse::<u32>(), STANDARD.decode(salt)) else {
        return false;
    };
    if iterations == 0 {
        return false;
    }
    let salted = salted_password(&prepare(password), &salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    let computed_stored = Sha256::digest(client_key);
    let computed_server = hmac(&salted, b"Server Key");
    STANDARD.encode(computed_stored) == stored_key && STANDARD.encode(computed_server) == server_key
}

/// SASLprep the password as libpq and the server do, falling back to the raw bytes when it
/// holds prohibited characters.
fn prepare(password: &str) -> Vec<u8> {
    match stringprep::saslprep(password) {
        Ok(prepared) => prepared.into_owned().into_bytes(),
        Err(_) => password.as_bytes().to_vec(),
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// `Hi()` of RFC 5802: PBKDF2 with HMAC-SHA-256 and one output block.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &block);
    let mut result = u.clone();
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (r, x) in result.iter_mut().zip(&u) {
            *r ^= x;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_matches_its_password_only() {
        let stored = verifier("s3cret é");
        assert!(stored.starts_with("SCRAM-SHA-256$4096:"));
        assert!(matches("s3cret é", &stored));
        assert!(!matches("s3cret", &stored));
        assert!(!matches("s3cret é", "md5abcdef"));
        assert!(!matches("x", "SCRAM-SHA-256$0:AAAA$x:y"));
        assert!(!matches("x", "SCRAM-SHA-256$garbage"));
    }
}
