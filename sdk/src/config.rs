//! Reading tenant and service configuration documents (JSON objects) and collecting every
//! problem as a field error, so `validate-config` reports all of them at once.

use crate::{Error, FieldError, field_error};
use serde_json::{Map, Value};

/// A configuration document being read; problems accumulate instead of failing fast.
#[derive(Debug)]
pub struct ConfigReader {
    prefix: &'static str,
    object: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl ConfigReader {
    /// Parses `json`; `prefix` (`tenant` or `service`) starts every field path in errors.
    pub fn parse(prefix: &'static str, json: &str) -> Self {
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(object)) => Self { prefix, object, errors: Vec::new() },
            Ok(_) => Self::broken(prefix, "must be a JSON object"),
            Err(e) => Self::broken(prefix, &format!("is not valid JSON: {e}")),
        }
    }

    fn broken(prefix: &'static str, message: &str) -> Self {
        Self { prefix, object: Map::new(), errors: vec![field_error(prefix, message)] }
    }

    fn path(&self, field: &str) -> String {
        format!("{}.{field}", self.prefix)
    }

    /// A required, non-empty string field.
    pub fn required_str(&mut self, field: &str) -> String {
        match self.object.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                self.errors.push(field_error(self.path(field), "is required"));
                String::new()
            }
            Some(_) => {
                self.errors.push(field_error(self.path(field), "must be a string"));
                String::new()
            }
        }
    }

    /// An optional string field.
    pub fn optional_str(&mut self, field: &str) -> Option<String> {
        match self.object.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.errors.push(field_error(self.path(field), "must be a string"));
                None
            }
        }
    }

    /// A required `http(s)` URL field, returned without a trailing slash.
    pub fn required_url(&mut self, field: &str) -> String {
        let url = self.required_str(field);
        if url.is_empty() {
            return url;
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            self.errors.push(field_error(self.path(field), "must be an http(s) URL"));
        }
        url.trim_end_matches('/').to_owned()
    }

    /// An optional `http(s)` URL field, `default` when absent, returned without a trailing slash.
    pub fn url_or(&mut self, field: &str, default: &str) -> String {
        if self.optional_str(field).is_none() {
            return default.trim_end_matches('/').to_owned();
        }
        self.required_url(field)
    }

    /// An optional boolean field, `default` when absent.
    pub fn bool_or(&mut self, field: &str, default: bool) -> bool {
        match self.object.get(field) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.errors.push(field_error(self.path(field), "must be true or false"));
                default
            }
        }
    }

    /// An optional field that, when present, must match `check`.
    pub fn optional_checked(&mut self, field: &str, check: impl Fn(&str) -> Result<(), String>) -> Option<String> {
        let value = self.optional_str(field)?;
        if let Err(message) = check(&value) {
            self.errors.push(field_error(self.path(field), message));
        }
        Some(value)
    }

    /// A required field that must match `check`, which says what is wrong.
    pub fn required_checked(&mut self, field: &str, check: impl Fn(&str) -> Result<(), String>) -> String {
        let value = self.required_str(field);
        if !value.is_empty()
            && let Err(message) = check(&value)
        {
            self.errors.push(field_error(self.path(field), message));
        }
        value
    }

    /// Records a problem found by the caller.
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let path = self.path(field);
        self.errors.push(field_error(path, message));
    }

    /// The problems found so far.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// `Ok(())` when nothing was wrong, else `invalid-config` with every problem, merged with
    /// those of `other` readers.
    pub fn finish(self, others: impl IntoIterator<Item = ConfigReader>) -> Result<(), Error> {
        let mut errors = self.errors;
        for other in others {
            errors.extend(other.errors);
        }
        if errors.is_empty() { Ok(()) } else { Err(Error::InvalidConfig(errors)) }
    }
}

/// Checks an 11-digit fiscal code of a body (codice fiscale numerico / partita IVA).
pub fn check_body_fiscal_code(value: &str) -> Result<(), String> {
    if value.len() == 11 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("must be 11 digits".to_owned())
    }
}

/// Checks an IBAN: country code, check digits (ISO 13616 mod 97) and length; spaces allowed.
pub fn check_iban(value: &str) -> Result<(), String> {
    let iban: String = value.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let bytes = iban.as_bytes();
    if !(15..=34).contains(&bytes.len())
        || !bytes[..2].iter().all(u8::is_ascii_uppercase)
        || !bytes[2..4].iter().all(u8::is_ascii_digit)
        || !bytes.iter().all(u8::is_ascii_alphanumeric)
    {
        return Err("is not an IBAN".to_owned());
    }
    if bytes.starts_with(b"IT") && bytes.len() != 27 {
        return Err("an Italian IBAN has 27 characters".to_owned());
    }
    let mut remainder = 0u32;
    for &b in bytes[4..].iter().chain(&bytes[..4]) {
        let value = if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 };
        remainder = if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 };
    }
    if remainder == 1 { Ok(()) } else { Err("has wrong check digits".to_owned()) }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn checks_iban_check_digits() {
        check_iban("IT60X0542811101000000123456").unwrap();
        check_iban("IT60 X054 2811 1010 0000 0123 456").unwrap();
        check_iban("GB82WEST12345698765432").unwrap();
        assert!(check_iban("IT61X0542811101000000123456").is_err());
        assert!(check_iban("IT60X054281110100000012345").is_err());
        assert!(check_iban("not an iban").is_err());
    }

    #[test]
    fn collects_every_problem_with_its_path() {
        let mut tenant = ConfigReader::parse("tenant", r#"{"base_url": "ftp://x", "fiscal_code": "123"}"#);
        tenant.required_url("base_url");
        tenant.required_checked("fiscal_code", check_body_fiscal_code);
        tenant.required_str("name");
        let Err(Error::InvalidConfig(errors)) = tenant.finish([]) else { panic!("expected invalid-config") };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["tenant.base_url", "tenant.fiscal_code", "tenant.name"]);
    }

    #[test]
    fn rejects_a_document_that_is_not_an_object() {
        let reader = ConfigReader::parse("service", "[1]");
        assert_eq!(reader.errors().len(), 1);
        let mut ok = ConfigReader::parse("service", r#"{"a": "b"}"#);
        assert_eq!(ok.required_str("a"), "b");
        ok.finish([]).unwrap();
    }
}
