//! pagoPA payment identifiers: IUV, notice number (NAV) and RF creditor reference.
//!
//! - **IUV** (*Identificativo Univoco di Versamento*): the creditor reference of a payment, what
//!   GPD calls `iuv` and pagoPA SOAP `creditorReferenceId`.
//! - **NAV** (*numero avviso*, notice number / `noticeNumber`): 18 digits printed on the payment
//!   notice, `<aux digit><2-digit code?><IUV>`:
//!
//!   | aux | NAV layout | IUV | mod-93 check digits over |
//!   |---|---|---|---|
//!   | 0 | `0` + application code (2) + base (13) + CC (2) | base + CC, 15 digits | `0` + code + base |
//!   | 1 | `1` + base (17) | base, 17 digits | none |
//!   | 2 | `2` + base (15) + CC (2) | base + CC, 17 digits | `2` + base |
//!   | 3 | `3` + segregation code (2) + base (13) + CC (2) | segregation + base + CC, 17 digits | `3` + segregation + base |
//!
//!   The check digits (CC) are the first 16 digits of the NAV read as one integer, modulo 93,
//!   written as two digits. New IUVs are aux-3 ones ([`new_iuv`]); the segregation code is
//!   assigned by pagoPA to an intermediary.
//! - **RF** (ISO 11649 creditor reference): `RF` + 2 check digits + 1–21 alphanumerics, used by some
//!   intermediaries (MyPay among them) for free-form IUVs ([`rf_reference`], [`validate_rf`]).

use std::fmt;
use std::ops::Range;

/// Length of a notice number (NAV).
pub const NOTICE_CODE_LEN: usize = 18;

/// Number of digits the mod-93 check digits are computed over.
const CHECKED_PREFIX_LEN: usize = 16;

/// Exclusive upper bound of the 13-digit base of an aux-0 or aux-3 IUV.
const BASE13_LIMIT: u64 = 10_000_000_000_000;

/// Longest RF creditor reference, `RF` and check digits included.
const RF_MAX_LEN: usize = 25;

/// Longest reference inside an RF creditor reference.
const RF_MAX_REFERENCE_LEN: usize = 21;

/// Why an identifier is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IuvError {
    /// The identifier was empty.
    #[error("identifier is empty")]
    Empty,
    /// The identifier contains characters other than ASCII digits.
    #[error("identifier may contain only digits 0-9")]
    NotDigits,
    /// The identifier has the wrong number of digits.
    #[error("expected {expected} digits, got {actual} characters")]
    Length {
        /// Number of digits required.
        expected: usize,
        /// Number of characters found.
        actual: usize,
    },
    /// A digit string is too long to be read as one `u64`.
    #[error("number has too many digits for mod-93 check digits")]
    TooLong,
    /// The aux digit is not 0, 1, 2 or 3.
    #[error("aux digit {0} is not 0, 1, 2 or 3")]
    AuxDigit(u8),
    /// The mod-93 check digits do not match.
    #[error("check digits {found:02} do not match the computed {expected:02}")]
    CheckDigits {
        /// Check digits computed from the other digits.
        expected: u8,
        /// Check digits found in the identifier.
        found: u8,
    },
    /// An application or segregation code is not a two-digit number.
    #[error("code {0} is not a two-digit number (00-99)")]
    Code(u8),
    /// An application code is required (aux 0) or not allowed (aux 1 and 2).
    #[error("aux digit {aux} {requirement}")]
    CodeUsage {
        /// The aux digit the code was given with.
        aux: u8,
        /// What that aux digit requires of the code.
        requirement: &'static str,
    },
    /// The segregation code given does not match the one the aux-3 IUV starts with.
    #[error("segregation code {given:02} does not match the IUV's {found:02}")]
    SegregationMismatch {
        /// The segregation code given.
        given: u8,
        /// The segregation code the IUV starts with.
        found: u8,
    },
    /// The base of a new IUV does not fit in 13 digits.
    #[error("IUV base {0} has more than 13 digits")]
    Base(u64),
    /// An RF creditor reference is malformed.
    #[error("invalid RF creditor reference: {0}")]
    Rf(&'static str),
    /// The RF check digits do not match.
    #[error("RF creditor reference check digits do not match")]
    RfCheckDigits,
}

/// Computes the mod-93 check digits of a digit string: the string read as one decimal integer
/// (it must fit in a `u64`), modulo 93. Format the result with two digits (`{:02}`).
pub fn mod93_check_digits(digits: &str) -> Result<u8, IuvError> {
    ensure_digits(digits)?;
    let value: u64 = digits.parse().map_err(|_| IuvError::TooLong)?;
    u8::try_from(value % 93).map_err(|_| IuvError::TooLong)
}

/// A parsed notice number (NAV).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NoticeCode {
    aux_digit: u8,
    code: Option<u8>,
    iuv: String,
}

impl NoticeCode {
    /// The aux digit, 0–3.
    pub fn aux_digit(&self) -> u8 {
        self.aux_digit
    }

    /// The application code (aux 0) or segregation code (aux 3); `None` for aux 1 and 2.
    pub fn code(&self) -> Option<u8> {
        self.code
    }

    /// The IUV: 15 digits for aux 0, 17 otherwise.
    pub fn iuv(&self) -> &str {
        &self.iuv
    }
}

/// Formats the 18-digit notice number.
impl fmt::Display for NoticeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.aux_digit {
            0 => write!(f, "0{:02}{}", self.code.unwrap_or(0), self.iuv),
            aux => write!(f, "{aux}{}", self.iuv),
        }
    }
}

fn ensure_digits(s: &str) -> Result<(), IuvError> {
    if s.is_empty() {
        return Err(IuvError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IuvError::NotDigits);
    }
    Ok(())
}

fn ensure_digits_len(s: &str, expected: usize) -> Result<(), IuvError> {
    ensure_digits(s)?;
    if s.len() != expected {
        return Err(IuvError::Length { expected, actual: s.chars().count() });
    }
    Ok(())
}

/// A sub-range of a string already checked to be ASCII digits of sufficient length.
fn digits_at(s: &str, range: Range<usize>) -> Result<&str, IuvError> {
    let expected = range.end;
    s.get(range).ok_or(IuvError::Length { expected, actual: s.len() })
}

fn two_digits(s: &str, range: Range<usize>) -> Result<u8, IuvError> {
    digits_at(s, range)?.parse().map_err(|_| IuvError::NotDigits)
}

/// Parses and validates an 18-digit notice number: digits only, aux digit 0–3 and, for aux 0, 2
/// and 3, the mod-93 check digits.
pub fn parse_notice_code(nav: &str) -> Result<NoticeCode, IuvError> {
    ensure_digits_len(nav, NOTICE_CODE_LEN)?;
    let aux_digit = two_digits(nav, 0..1)?;
    if aux_digit > 3 {
        return Err(IuvError::AuxDigit(aux_digit));
    }
    if aux_digit != 1 {
        let expected = mod93_check_digits(digits_at(nav, 0..CHECKED_PREFIX_LEN)?)?;
        let found = two_digits(nav, CHECKED_PREFIX_LEN..NOTICE_CODE_LEN)?;
        if expected != found {
            return Err(IuvError::CheckDigits { expected, found });
        }
    }
    let (code, iuv) = match aux_digit {
        0 => (Some(two_digits(nav, 1..3)?), digits_at(nav, 3..NOTICE_CODE_LEN)?),
        3 => (Some(two_digits(nav, 1..3)?), digits_at(nav, 1..NOTICE_CODE_LEN)?),
        _ => (None, digits_at(nav, 1..NOTICE_CODE_LEN)?),
    };
    Ok(NoticeCode { aux_digit, code, iuv: iuv.to_owned() })
}

/// Extracts the IUV from a valid notice number (aux 0: drop 3 digits; aux 1–3: drop 1).
pub fn iuv_from_notice_code(nav: &str) -> Result<String, IuvError> {
    parse_notice_code(nav).map(|notice| notice.iuv)
}

/// Builds the notice number for an IUV, validating the IUV's check digits where the aux digit
/// has them.
///
/// `code` is the application code for aux 0 (required), must be `None` for aux 1 and 2, and for
/// aux 3 may be `None` or the segregation code, which must equal the IUV's first two digits.
pub fn notice_code_from_iuv(aux_digit: u8, code: Option<u8>, iuv: &str) -> Result<String, IuvError> {
    if let Some(code) = code.filter(|&c| c > 99) {
        return Err(IuvError::Code(code));
    }
    let nav = match (aux_digit, code) {
        (0, Some(app)) => {
            ensure_digits_len(iuv, 15)?;
            format!("0{app:02}{iuv}")
        }
        (0, None) => {
            return Err(IuvError::CodeUsage { aux: 0, requirement: "requires an application code" });
        }
        (1 | 2, Some(_)) => {
            return Err(IuvError::CodeUsage {
                aux: aux_digit,
                requirement: "takes no application or segregation code",
            });
        }
        (1..=3, _) => {
            ensure_digits_len(iuv, 17)?;
            if let Some(given) = code {
                let found = two_digits(iuv, 0..2)?;
                if given != found {
                    return Err(IuvError::SegregationMismatch { given, found });
                }
            }
            format!("{aux_digit}{iuv}")
        }
        (aux, _) => return Err(IuvError::AuxDigit(aux)),
    };
    parse_notice_code(&nav)?;
    Ok(nav)
}

/// Creates a 17-digit aux-3 IUV: segregation code (2 digits) + `base` (13 digits, zero padded)
/// + mod-93 check digits over `"3"` + segregation code + base.
pub fn new_iuv(segregation_code: u8, base: u64) -> Result<String, IuvError> {
    if segregation_code > 99 {
        return Err(IuvError::Code(segregation_code));
    }
    if base >= BASE13_LIMIT {
        return Err(IuvError::Base(base));
    }
    let body = format!("{segregation_code:02}{base:013}");
    let check = mod93_check_digits(&format!("3{body}"))?;
    Ok(format!("{body}{check:02}"))
}

/// An aux-3 IUV derived from `key` (the creditor's id of the debt, cassa's IUD): the segregation
/// code, 13 digits of a stable hash (FNV-1a, 64 bits) of the key — of `key#attempt` for later
/// attempts — and the check digits. The same key always gives the same IUV, so a create sent
/// again sends the IUV the first one sent, and a connector that chooses IUVs needs no state;
/// `attempt` moves on past an IUV some other debt holds.
pub fn derived_iuv(segregation_code: u8, key: &str, attempt: u32) -> Result<String, IuvError> {
    let seed = if attempt == 0 { key.to_owned() } else { format!("{key}#{attempt}") };
    let hash = seed
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    new_iuv(segregation_code, hash % BASE13_LIMIT)
}

/// Creates the 18-digit notice number of [`new_iuv`]: `"3"` + that IUV.
pub fn new_notice_code(segregation_code: u8, base: u64) -> Result<String, IuvError> {
    new_iuv(segregation_code, base).map(|iuv| format!("3{iuv}"))
}

/// Remainder modulo 97 of the digit string obtained by replacing each letter of `chars` with its
/// number (A/a = 10 … Z/z = 35). Reduced digit by digit, which equals the piecewise reduction of
/// ISO 7064 and never overflows.
fn mod97(chars: impl Iterator<Item = char>) -> Result<u32, IuvError> {
    let mut remainder = 0u32;
    for c in chars {
        let value = c.to_digit(36).ok_or(IuvError::Rf("reference may contain only letters and digits"))?;
        remainder = if value < 10 { (remainder * 10 + value) % 97 } else { (remainder * 100 + value) % 97 };
    }
    Ok(remainder)
}

fn check_rf_reference(reference: &str) -> Result<(), IuvError> {
    if reference.is_empty() {
        return Err(IuvError::Rf("reference is empty"));
    }
    if !reference.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(IuvError::Rf("reference may contain only letters and digits"));
    }
    if reference.len() > RF_MAX_REFERENCE_LEN {
        return Err(IuvError::Rf("reference is longer than 21 characters"));
    }
    Ok(())
}

/// Builds an ISO 11649 creditor reference: `RF` + two check digits + `reference` (1–21 ASCII
/// letters and digits, kept as given; letters count case-insensitively).
pub fn rf_reference(reference: &str) -> Result<String, IuvError> {
    check_rf_reference(reference)?;
    let remainder = mod97(reference.chars().chain("RF00".chars()))?;
    Ok(format!("RF{:02}{reference}", 98 - remainder))
}

/// Validates an ISO 11649 creditor reference: at most 25 characters, `RF` (either case), two
/// check digits, 1–21 letters (either case) and digits, and the rearranged number mod 97 = 1.
pub fn validate_rf(s: &str) -> Result<(), IuvError> {
    if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(IuvError::Rf("may contain only letters and digits"));
    }
    if s.len() > RF_MAX_LEN {
        return Err(IuvError::Rf("longer than 25 characters"));
    }
    let (head, reference) = s.split_at_checked(4).ok_or(IuvError::Rf("shorter than 5 characters"))?;
    let (prefix, check) = head.split_at_checked(2).ok_or(IuvError::Rf("shorter than 5 characters"))?;
    if !prefix.eq_ignore_ascii_case("RF") {
        return Err(IuvError::Rf("does not start with RF"));
    }
    if !check.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IuvError::Rf("check digits are not two digits"));
    }
    check_rf_reference(reference)?;
    if mod97(reference.chars().chain(head.chars()))? != 1 {
        return Err(IuvError::RfCheckDigits);
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    /// Valid notice numbers from GATEWAYS.md §8: (NAV, aux, code, IUV).
    const VALID_NAVS: &[(&str, u8, Option<u8>, &str)] = &[
        ("347164993070184562", 3, Some(47), "47164993070184562"),
        ("301000000000123468", 3, Some(1), "01000000000123468"),
        ("303000000004610406", 3, Some(3), "03000000004610406"),
        ("001550000000024427", 0, Some(1), "550000000024427"),
        ("004040400002427826", 0, Some(4), "040400002427826"),
        ("004040000002146431", 0, Some(4), "040000002146431"),
        ("001110000000000164", 0, Some(1), "110000000000164"),
    ];

    #[test]
    fn mod93_matches_documented_examples() {
        assert_eq!(mod93_check_digits("3471649930701845"), Ok(62));
        assert_eq!(mod93_check_digits("3010000000001234"), Ok(68));
        assert_eq!(mod93_check_digits("0015500000000244"), Ok(27));
        assert_eq!(mod93_check_digits("93"), Ok(0));
        assert_eq!(mod93_check_digits("18446744073709551615"), Ok(15));
    }

    #[test]
    fn mod93_rejects_non_digits_empty_and_overflow() {
        assert_eq!(mod93_check_digits(""), Err(IuvError::Empty));
        assert_eq!(mod93_check_digits("12a4"), Err(IuvError::NotDigits));
        assert_eq!(mod93_check_digits("-12"), Err(IuvError::NotDigits));
        assert_eq!(mod93_check_digits("18446744073709551616"), Err(IuvError::TooLong));
    }

    #[test]
    fn parses_documented_valid_notice_codes() {
        for &(nav, aux, code, iuv) in VALID_NAVS {
            let notice = parse_notice_code(nav).unwrap();
            assert_eq!(notice.aux_digit(), aux, "{nav}");
            assert_eq!(notice.code(), code, "{nav}");
            assert_eq!(notice.iuv(), iuv, "{nav}");
            assert_eq!(notice.to_string(), nav);
            assert_eq!(iuv_from_notice_code(nav).unwrap(), iuv);
        }
    }

    #[test]
    fn rejects_documented_public_samples_with_wrong_check_digits() {
        assert_eq!(parse_notice_code("311111111112222222"), Err(IuvError::CheckDigits { expected: 47, found: 22 }));
        assert_eq!(parse_notice_code("302012387654312384"), Err(IuvError::CheckDigits { expected: 86, found: 84 }));
        assert_eq!(parse_notice_code("302012387654312385"), Err(IuvError::CheckDigits { expected: 86, found: 85 }));
        assert!(parse_notice_code("311111111112222247").is_ok());
        assert!(parse_notice_code("302012387654312386").is_ok());
    }

    #[test]
    fn rejects_wrong_length_non_digits_and_unknown_aux() {
        assert_eq!(parse_notice_code("00100000000000012"), Err(IuvError::Length { expected: 18, actual: 17 }));
        assert_eq!(parse_notice_code(""), Err(IuvError::Empty));
        assert_eq!(parse_notice_code("34716499307018456a"), Err(IuvError::NotDigits));
        assert_eq!(parse_notice_code("34716499307018456\u{e9}"), Err(IuvError::NotDigits));
        assert_eq!(parse_notice_code("447164993070184562"), Err(IuvError::AuxDigit(4)));
        assert_eq!(parse_notice_code("947164993070184562"), Err(IuvError::AuxDigit(9)));
    }

    #[test]
    fn aux_1_has_no_check_digits_and_aux_2_does() {
        let notice = parse_notice_code("112345678901234567").unwrap();
        assert_eq!(notice.aux_digit(), 1);
        assert_eq!(notice.code(), None);
        assert_eq!(notice.iuv(), "12345678901234567");

        let cc = mod93_check_digits("2123456789012345").unwrap();
        let nav = format!("2123456789012345{cc:02}");
        let notice = parse_notice_code(&nav).unwrap();
        assert_eq!(notice.aux_digit(), 2);
        assert_eq!(notice.code(), None);
        assert_eq!(notice.iuv(), &nav[1..]);
        let wrong = format!("2123456789012345{:02}", (cc + 1) % 93);
        assert!(matches!(parse_notice_code(&wrong), Err(IuvError::CheckDigits { .. })));
    }

    #[test]
    fn notice_code_from_iuv_round_trips_documented_vectors() {
        for &(nav, aux, code, iuv) in VALID_NAVS {
            assert_eq!(notice_code_from_iuv(aux, code, iuv).unwrap(), nav);
            if aux == 3 {
                assert_eq!(notice_code_from_iuv(3, None, iuv).unwrap(), nav);
            }
        }
        assert_eq!(notice_code_from_iuv(1, None, "12345678901234567").unwrap(), "112345678901234567");
    }

    #[test]
    fn notice_code_from_iuv_validates_check_digits_and_codes() {
        assert_eq!(
            notice_code_from_iuv(3, None, "11111111112222222"),
            Err(IuvError::CheckDigits { expected: 47, found: 22 })
        );
        assert_eq!(
            notice_code_from_iuv(3, Some(48), "47164993070184562"),
            Err(IuvError::SegregationMismatch { given: 48, found: 47 })
        );
        assert_eq!(
            notice_code_from_iuv(0, Some(2), "550000000024427"),
            Err(IuvError::CheckDigits { expected: 67, found: 27 })
        );
        assert!(matches!(notice_code_from_iuv(0, None, "550000000024427"), Err(IuvError::CodeUsage { aux: 0, .. })));
        assert!(matches!(
            notice_code_from_iuv(2, Some(1), "12345678901234567"),
            Err(IuvError::CodeUsage { aux: 2, .. })
        ));
        assert_eq!(notice_code_from_iuv(0, Some(100), "550000000024427"), Err(IuvError::Code(100)));
        assert_eq!(notice_code_from_iuv(4, None, "12345678901234567"), Err(IuvError::AuxDigit(4)));
        assert_eq!(
            notice_code_from_iuv(3, None, "4716499307018456"),
            Err(IuvError::Length { expected: 17, actual: 16 })
        );
    }

    #[test]
    fn new_iuv_matches_documented_vectors() {
        assert_eq!(new_iuv(47, 1_649_930_701_845).unwrap(), "47164993070184562");
        assert_eq!(new_iuv(1, 1234).unwrap(), "01000000000123468");
        assert_eq!(new_notice_code(1, 1234).unwrap(), "301000000000123468");
        assert_eq!(new_notice_code(3, 46_104).unwrap(), "303000000004610406");
    }

    #[test]
    fn new_iuv_round_trips_through_the_notice_code() {
        for (seg, base) in [(0, 0), (1, 1), (47, 9_999_999_999_999), (99, 4_242_424_242)] {
            let iuv = new_iuv(seg, base).unwrap();
            assert_eq!(iuv.len(), 17);
            let nav = new_notice_code(seg, base).unwrap();
            let notice = parse_notice_code(&nav).unwrap();
            assert_eq!(notice.aux_digit(), 3);
            assert_eq!(notice.code(), Some(seg));
            assert_eq!(notice.iuv(), iuv);
            assert_eq!(notice_code_from_iuv(3, Some(seg), &iuv).unwrap(), nav);
        }
    }

    #[test]
    fn new_iuv_rejects_out_of_range_inputs() {
        assert_eq!(new_iuv(100, 1), Err(IuvError::Code(100)));
        assert_eq!(new_iuv(1, 10_000_000_000_000), Err(IuvError::Base(10_000_000_000_000)));
        assert_eq!(new_notice_code(1, u64::MAX), Err(IuvError::Base(u64::MAX)));
    }

    #[test]
    fn rf_reference_matches_the_iso_example() {
        assert_eq!(rf_reference("539007547034").unwrap(), "RF18539007547034");
        assert_eq!(rf_reference("567483937849450550875").unwrap(), "RF78567483937849450550875");
        assert_eq!(rf_reference("040000000000000004063").unwrap(), "RF17040000000000000004063");
        assert_eq!(rf_reference("w9").unwrap(), "RF45w9");
        assert_eq!(rf_reference("W9").unwrap(), "RF45W9");
    }

    #[test]
    fn rf_reference_rejects_bad_references() {
        assert!(matches!(rf_reference(""), Err(IuvError::Rf(_))));
        assert!(matches!(rf_reference("1234567890123456789012"), Err(IuvError::Rf(_))));
        assert!(matches!(rf_reference("12 34"), Err(IuvError::Rf(_))));
        assert!(matches!(rf_reference("12-34"), Err(IuvError::Rf(_))));
        assert!(matches!(rf_reference("\u{e0}1"), Err(IuvError::Rf(_))));
    }

    #[test]
    fn validates_documented_rf_vectors() {
        assert_eq!(validate_rf("RF18539007547034"), Ok(()));
        assert_eq!(validate_rf("RF17040000000000000004063"), Ok(()));
        assert_eq!(validate_rf("RF45w9"), Ok(()));
        assert_eq!(validate_rf("rf45W9"), Ok(()));
        assert_eq!(validate_rf("RF23567483937849450550875"), Err(IuvError::RfCheckDigits));
        assert_eq!(validate_rf("RF78567483937849450550875"), Ok(()));
    }

    #[test]
    fn validate_rf_rejects_malformed_strings() {
        assert_eq!(validate_rf("RF19539007547034"), Err(IuvError::RfCheckDigits));
        assert!(matches!(validate_rf("RF18"), Err(IuvError::Rf(_))));
        assert!(matches!(validate_rf(""), Err(IuvError::Rf(_))));
        assert!(matches!(validate_rf("XX18539007547034"), Err(IuvError::Rf(_))));
        assert!(matches!(validate_rf("RFa8539007547034"), Err(IuvError::Rf(_))));
        assert!(matches!(validate_rf("RF18 539007547034"), Err(IuvError::Rf(_))));
        assert!(matches!(validate_rf("RF170400000000000000040631"), Err(IuvError::Rf(_))));
        assert!(matches!(validate_rf("R\u{e9}18539"), Err(IuvError::Rf(_))));
    }

    #[test]
    fn rf_reference_round_trips_through_validation() {
        for reference in ["1", "ABC", "abc123", "MYPAY2024000000000001", "0"] {
            let rf = rf_reference(reference).unwrap();
            assert_eq!(validate_rf(&rf), Ok(()), "{rf}");
        }
    }

    #[test]
    fn a_derived_iuv_is_stable_valid_and_moves_on_per_attempt() {
        let first = derived_iuv(1, "0452545f07e84ed6a5d3f1bb2b6c1b29", 0).unwrap();
        assert_eq!(first, derived_iuv(1, "0452545f07e84ed6a5d3f1bb2b6c1b29", 0).unwrap());
        assert!(first.starts_with("01"));
        assert_eq!(iuv_from_notice_code(&format!("3{first}")).unwrap(), first);
        assert_ne!(first, derived_iuv(1, "0452545f07e84ed6a5d3f1bb2b6c1b29", 1).unwrap());
        assert_ne!(first, derived_iuv(1, "0452545f07e84ed6a5d3f1bb2b6c1b2a", 0).unwrap());
    }
}
