//! Money at the edges: integer euro cents inside, decimal euros on the wire.
//!
//! cassa keeps every amount as a `u64` number of euro cents. The intermediaries and pagoPA SOAP
//! speak decimal euros with exactly two decimals (`\d+\.\d{2}`, e.g. `16.00`), OpenCity sends JSON
//! numbers (`16.5`) that are rounded `ROUND_HALF_UP` to cents, and GovPay/JPPA use JSON numbers in
//! euros. This module converts between those forms without ever going through floating-point
//! arithmetic:
//!
//! - [`parse_euros`]: the strict form intermediaries send (`16`, `16.5`, `16.00`).
//! - [`parse_euros_rounded`]: any number of decimals, rounded half-up to cents, at most 12 digits
//!   in total (10 integer digits + 2 decimals), as OpenCity validates amounts.
//! - [`from_f64_euros`]: a JSON number, via its shortest round-trip decimal representation.
//! - [`format_euros`]: cents back to the two-decimal wire form.

/// Largest number of integer digits [`parse_euros`] accepts.
const STRICT_MAX_INTEGER_DIGITS: usize = 12;

/// Largest amount [`parse_euros_rounded`] accepts, in cents: 12 digits in total, 2 of them decimals.
const ROUNDED_MAX_CENTS: u64 = 999_999_999_999;

/// Why an amount could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The amount string was empty.
    #[error("amount is empty")]
    Empty,
    /// The amount was negative (a leading `-`, or a negative number).
    #[error("amount is negative")]
    Negative,
    /// The amount contained something other than ASCII digits and one decimal point (a sign,
    /// whitespace, an exponent, a comma, a second point).
    #[error("amount may contain only digits and one decimal point")]
    InvalidCharacter,
    /// Digits were missing before or after the decimal point (`.5`, `16.`).
    #[error("amount needs digits both before and after the decimal point")]
    MissingDigits,
    /// The strict form allows at most two decimals.
    #[error("amount has more than two decimals")]
    TooManyDecimals,
    /// The amount has more digits than allowed.
    #[error("amount has too many digits")]
    TooLarge,
    /// A floating-point amount was NaN or infinite.
    #[error("amount is not a finite number")]
    NotFinite,
}

/// The integer and fractional digit runs of a decimal string, checked for shape only.
struct Decimal<'a> {
    integer: &'a str,
    fraction: &'a str,
}

fn split_decimal(s: &str) -> Result<Decimal<'_>, MoneyError> {
    if s.is_empty() {
        return Err(MoneyError::Empty);
    }
    if s.starts_with('-') {
        return Err(MoneyError::Negative);
    }
    let (integer, fraction) = match s.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (s, None),
    };
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(integer) || !fraction.is_none_or(all_digits) {
        return Err(MoneyError::InvalidCharacter);
    }
    if integer.is_empty() || fraction.is_some_and(str::is_empty) {
        return Err(MoneyError::MissingDigits);
    }
    Ok(Decimal { integer, fraction: fraction.unwrap_or("") })
}

/// Accumulates ASCII digits into `acc`, failing with [`MoneyError::TooLarge`] once above `max`.
fn accumulate(acc: u64, digits: &str, max: u64) -> Result<u64, MoneyError> {
    digits.bytes().try_fold(acc, |acc, b| {
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(u64::from(b - b'0')))
            .filter(|&acc| acc <= max)
            .ok_or(MoneyError::TooLarge)
    })
}

/// Parses the strict decimal euro form intermediaries send into cents.
///
/// Accepts ASCII digits with an optional `.` followed by one or two decimals: `16`, `16.5`,
/// `16.00`. Rejects an empty string, any sign, whitespace, more than two decimals and more than
/// 12 integer digits.
pub fn parse_euros(s: &str) -> Result<u64, MoneyError> {
    let Decimal { integer, fraction } = split_decimal(s)?;
    if fraction.len() > 2 {
        return Err(MoneyError::TooManyDecimals);
    }
    if integer.len() > STRICT_MAX_INTEGER_DIGITS {
        return Err(MoneyError::TooLarge);
    }
    let euros = accumulate(0, integer, u64::MAX / 100)?;
    let cents = match fraction.len() {
        0 => 0,
        1 => accumulate(0, fraction, 9)? * 10,
        _ => accumulate(0, fraction, 99)?,
    };
    euros.checked_mul(100).and_then(|v| v.checked_add(cents)).ok_or(MoneyError::TooLarge)
}

/// Parses a decimal euro string with any number of decimals into cents, rounding
/// `ROUND_HALF_UP` as OpenCity does (`1.005` → 101, `0.004` → 0, `32.05` → 3205).
///
/// The result must fit in 12 digits including the two decimals (at most `9999999999.99`), so
/// `1234567890.12` is accepted and `123456789012.34` is not. Rejects an empty string, any sign
/// (`-0.01` is [`MoneyError::Negative`]), whitespace and exponents.
pub fn parse_euros_rounded(s: &str) -> Result<u64, MoneyError> {
    let Decimal { integer, fraction } = split_decimal(s)?;
    let euros = accumulate(0, integer, ROUNDED_MAX_CENTS / 100)?;
    let mut decimals = fraction.bytes().map(|b| u64::from(b - b'0'));
    let tenths = decimals.next().unwrap_or(0);
    let hundredths = decimals.next().unwrap_or(0);
    // Half-up only looks at the first dropped digit: ≥ 5 means the remainder is ≥ half a cent.
    let round_up = decimals.next().is_some_and(|d| d >= 5);
    let cents = euros * 100 + tenths * 10 + hundredths + u64::from(round_up);
    if cents > ROUNDED_MAX_CENTS {
        return Err(MoneyError::TooLarge);
    }
    Ok(cents)
}

/// Converts a JSON number in euros into cents (`16.5` → 1650).
///
/// The number is formatted with Rust's shortest round-trip representation (what a JSON encoder
/// wrote, e.g. `1.005`, not the binary value `1.00499…`) and then read by
/// [`parse_euros_rounded`]. NaN, infinities and negative numbers are rejected; `-0.0` is zero.
pub fn from_f64_euros(v: f64) -> Result<u64, MoneyError> {
    if !v.is_finite() {
        return Err(MoneyError::NotFinite);
    }
    if v == 0.0 {
        return Ok(0);
    }
    if v < 0.0 {
        return Err(MoneyError::Negative);
    }
    // `Display` for f64 never uses exponent notation, so the result is plain digits and a point.
    parse_euros_rounded(&v.to_string())
}

/// Formats cents as decimal euros with exactly two decimals, the SOAP form `\d+\.\d{2}`
/// (`1600` → `16.00`, `5` → `0.05`).
pub fn format_euros(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_accepts_zero_one_or_two_decimals() {
        assert_eq!(parse_euros("16"), Ok(1600));
        assert_eq!(parse_euros("16.5"), Ok(1650));
        assert_eq!(parse_euros("16.00"), Ok(1600));
        assert_eq!(parse_euros("0.05"), Ok(5));
        assert_eq!(parse_euros("0"), Ok(0));
        assert_eq!(parse_euros("007.10"), Ok(710));
        assert_eq!(parse_euros("999999999999.99"), Ok(99_999_999_999_999));
    }

    #[test]
    fn strict_rejects_signs_whitespace_and_malformed() {
        assert_eq!(parse_euros(""), Err(MoneyError::Empty));
        assert_eq!(parse_euros("-1.00"), Err(MoneyError::Negative));
        assert_eq!(parse_euros("+1.00"), Err(MoneyError::InvalidCharacter));
        assert_eq!(parse_euros(" 1.00"), Err(MoneyError::InvalidCharacter));
        assert_eq!(parse_euros("1.00\n"), Err(MoneyError::InvalidCharacter));
        assert_eq!(parse_euros("1,00"), Err(MoneyError::InvalidCharacter));
        assert_eq!(parse_euros("1.0.0"), Err(MoneyError::InvalidCharacter));
        assert_eq!(parse_euros("1e2"), Err(MoneyError::InvalidCharacter));
        assert_eq!(parse_euros("١٢"), Err(MoneyError::InvalidCharacter));
        assert_eq!(parse_euros(".50"), Err(MoneyError::MissingDigits));
        assert_eq!(parse_euros("16."), Err(MoneyError::MissingDigits));
        assert_eq!(parse_euros("."), Err(MoneyError::MissingDigits));
    }

    #[test]
    fn strict_rejects_more_than_two_decimals_or_twelve_integer_digits() {
        assert_eq!(parse_euros("16.000"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse_euros("1234567890123"), Err(MoneyError::TooLarge));
        assert_eq!(parse_euros("99999999999999999999999.00"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn rounded_rounds_half_up_to_cents() {
        assert_eq!(parse_euros_rounded("1.005"), Ok(101));
        assert_eq!(parse_euros_rounded("0.004"), Ok(0));
        assert_eq!(parse_euros_rounded("0.0049999"), Ok(0));
        assert_eq!(parse_euros_rounded("0.005"), Ok(1));
        assert_eq!(parse_euros_rounded("32.05"), Ok(3205));
        assert_eq!(parse_euros_rounded("16.5"), Ok(1650));
        assert_eq!(parse_euros_rounded("16"), Ok(1600));
        assert_eq!(parse_euros_rounded("0.995"), Ok(100));
        assert_eq!(parse_euros_rounded("2.675000000000000001"), Ok(268));
    }

    #[test]
    fn rounded_limits_amount_to_twelve_digits_in_total() {
        assert_eq!(parse_euros_rounded("1234567890.12"), Ok(123_456_789_012));
        assert_eq!(parse_euros_rounded("9999999999.99"), Ok(999_999_999_999));
        assert_eq!(parse_euros_rounded("123456789012.34"), Err(MoneyError::TooLarge));
        assert_eq!(parse_euros_rounded("9999999999.995"), Err(MoneyError::TooLarge));
        assert_eq!(parse_euros_rounded("99999999999999999999999999"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn rounded_rejects_negative_and_malformed() {
        assert_eq!(parse_euros_rounded("-0.01"), Err(MoneyError::Negative));
        assert_eq!(parse_euros_rounded(""), Err(MoneyError::Empty));
        assert_eq!(parse_euros_rounded("1.5e3"), Err(MoneyError::InvalidCharacter));
        assert_eq!(parse_euros_rounded(" 1.5"), Err(MoneyError::InvalidCharacter));
        assert_eq!(parse_euros_rounded("1."), Err(MoneyError::MissingDigits));
    }

    #[test]
    fn json_numbers_convert_via_their_decimal_form() {
        assert_eq!(from_f64_euros(16.5), Ok(1650));
        assert_eq!(from_f64_euros(16.0), Ok(1600));
        assert_eq!(from_f64_euros(1.005), Ok(101));
        assert_eq!(from_f64_euros(0.1 + 0.2), Ok(30));
        assert_eq!(from_f64_euros(32.05), Ok(3205));
        assert_eq!(from_f64_euros(0.0), Ok(0));
        assert_eq!(from_f64_euros(-0.0), Ok(0));
        assert_eq!(from_f64_euros(1e-9), Ok(0));
        assert_eq!(from_f64_euros(9_999_999_999.99), Ok(999_999_999_999));
    }

    #[test]
    fn json_numbers_reject_nan_infinite_negative_and_huge() {
        assert_eq!(from_f64_euros(f64::NAN), Err(MoneyError::NotFinite));
        assert_eq!(from_f64_euros(f64::INFINITY), Err(MoneyError::NotFinite));
        assert_eq!(from_f64_euros(f64::NEG_INFINITY), Err(MoneyError::NotFinite));
        assert_eq!(from_f64_euros(-0.01), Err(MoneyError::Negative));
        assert_eq!(from_f64_euros(1e300), Err(MoneyError::TooLarge));
    }

    #[test]
    fn formats_exactly_two_decimals() {
        assert_eq!(format_euros(1600), "16.00");
        assert_eq!(format_euros(5), "0.05");
        assert_eq!(format_euros(0), "0.00");
        assert_eq!(format_euros(123_450), "1234.50");
        assert_eq!(format_euros(u64::MAX), "184467440737095516.15");
    }

    #[test]
    fn format_then_parse_round_trips() {
        for cents in [0, 1, 99, 100, 1650, 123_456_789_012] {
            assert_eq!(parse_euros(&format_euros(cents)), Ok(cents));
            assert_eq!(parse_euros_rounded(&format_euros(cents)), Ok(cents));
        }
    }
}
