//! Configurations encrypted at rest. With `secrets_key` set, every tenant and service
//! configuration is stored as `sealed:v1:<base64 of nonce ‖ ciphertext>`: ChaCha20-Poly1305 under
//! the key, a fresh 96-bit nonce per write, and the row's table and id as associated data, so a
//! sealed value copied to another row does not open. Rows written before the key was set are
//! read as they are and sealed at their next write.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

use super::StoreError;

/// What a sealed value starts with.
pub const SEALED: &str = "sealed:v1:";

/// Seals and opens configurations with the key from the environment.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(…)")
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Sealer {
    /// A sealer with `key`: base64 of 32 bytes (`openssl rand -base64 32`).
    pub fn from_base64(key: &str) -> Result<Self, String> {
        let bytes = B64.decode(key.trim()).map_err(|_| "secrets_key is not base64".to_owned())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| format!("secrets_key must be 32 bytes (base64 of them), not {}", v.len()))?;
        Ok(Self { cipher: ChaCha20Poly1305::new(&bytes.into()) })
    }

    /// `plain` sealed for the row `context`.
    pub fn seal(&self, plain: &str, context: &str) -> Result<String, StoreError> {
        let nonce = Nonce::generate();
        let sealed = self
            .cipher
            .encrypt(&nonce, Payload { msg: plain.as_bytes(), aad: context.as_bytes() })
            .map_err(|_| StoreError::Corrupt("cannot seal a configuration".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED}{}", B64.encode(out)))
    }

    /// The plain text of the value `stored` of the row `context`.
    pub fn open(&self, stored: &str, context: &str) -> Result<String, StoreError> {
        let Some(sealed) = stored.strip_prefix(SEALED) else { return Ok(stored.to_owned()) };
        let bad =
            || StoreError::Corrupt(format!("the sealed configuration of {context} does not open with secrets_key"));
        let bytes = B64.decode(sealed).map_err(|_| bad())?;
        if bytes.len() < 12 {
            return Err(bad());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce = Nonce::try_from(nonce).map_err(|_| bad())?;
        let plain =
            self.cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: context.as_bytes() }).map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

/// Opens `stored` without a sealer: plain values pass, sealed ones are an error that says why.
pub fn open_without_key(stored: &str, context: &str) -> Result<String, StoreError> {
    if stored.starts_with(SEALED) {
        return Err(StoreError::Corrupt(format!(
            "the configuration of {context} is sealed, and no secrets_key is set"
        )));
    }
    Ok(stored.to_owned())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::from_base64(&B64.encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_for_its_row() {
        let secret = r#"{"api_key":"s3cr3t"}"#;
        let sealed = sealer(1).seal(secret, "tenants/a").unwrap();
        assert!(sealed.starts_with(SEALED) && !sealed.contains("s3cr3t"), "{sealed}");
        assert_ne!(sealed, sealer(1).seal(secret, "tenants/a").unwrap(), "a fresh nonce each time");
        assert_eq!(sealer(1).open(&sealed, "tenants/a").unwrap(), secret);
        assert!(sealer(2).open(&sealed, "tenants/a").is_err(), "another key");
        assert!(sealer(1).open(&sealed, "tenants/b").is_err(), "another row");
        assert!(open_without_key(&sealed, "tenants/a").is_err());
        assert_eq!(sealer(1).open(secret, "tenants/a").unwrap(), secret, "a row from before the key");
    }

    #[test]
    fn a_key_that_is_not_32_bytes_of_base64_is_refused() {
        assert!(Sealer::from_base64("short").is_err());
        assert!(Sealer::from_base64(&B64.encode([0u8; 16])).unwrap_err().contains("32 bytes"));
    }
}
