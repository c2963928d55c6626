//! Times as the contract carries them — RFC 3339 in UTC, whole seconds, `Z` suffix
//! (`2026-11-28T08:15:00Z`) — read from the many shapes intermediaries send: an offset or none,
//! fractions of a second, a bare date.
//!
//! A time without an offset means different things per intermediary: pagoPA's services run in
//! UTC, the Italian regional intermediaries write local time. [`Naive`] says which, and
//! [`Naive::Rome`] applies the Italian rule (CET, CEST from the last Sunday of March to the
//! last Sunday of October, switching at 01:00 UTC).

/// How to read a time written without an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naive {
    /// As UTC.
    Utc,
    /// As Italian civil time (Europe/Rome).
    Rome,
}

/// Seconds since the Unix epoch of a contract timestamp or any shape [`to_timestamp`] reads.
pub fn epoch_seconds(text: &str, naive: Naive) -> Result<i64, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a date-time");
    let (date, rest) = text.split_at(text.find(['T', 't', ' ']).unwrap_or(text.len()));
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let month: u32 = parts.next().and_then(|p| p.parse().ok()).filter(|m| (1..=12).contains(m)).ok_or_else(bad)?;
    let day: u32 = parts.next().and_then(|p| p.parse().ok()).filter(|d| (1..=31).contains(d)).ok_or_else(bad)?;
    let days = days_from_civil(year, month, day);
    if rest.is_empty() {
        let local = days * 86_400;
        return Ok(local - offset_of_local(local, naive));
    }
    let rest = &rest[1..];
    // The clock part ends where an offset starts.
    let (clock, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let clock = clock.split('.').next().unwrap_or_default();
    let mut hms = clock.split(':');
    let hour: i64 = hms.next().and_then(|p| p.parse().ok()).filter(|h| *h < 24).ok_or_else(bad)?;
    let minute: i64 = hms.next().and_then(|p| p.parse().ok()).filter(|m| *m < 60).ok_or_else(bad)?;
    let second: i64 = match hms.next() {
        Some(s) => s.parse().ok().filter(|s| *s < 61).ok_or_else(bad)?,
        None => 0,
    };
    let local = days * 86_400 + hour * 3_600 + minute * 60 + second;
    match offset {
        None => Ok(local - offset_of_local(local, naive)),
        Some("Z" | "z") => Ok(local),
        Some(offset) => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let digits: String = offset[1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return Err(bad());
            }
            let hours: i64 = digits[..2].parse().map_err(|_| bad())?;
            let minutes: i64 = digits[2..].parse().map_err(|_| bad())?;
            Ok(local - sign * (hours * 3_600 + minutes * 60))
        }
    }
}

/// Reads an intermediary's date-time (RFC 3339 with any offset, with or without fractions, a
/// time without an offset read as `naive` says, or a bare date meaning its midnight) as a
/// contract timestamp.
pub fn to_timestamp(text: &str, naive: Naive) -> Result<String, String> {
    epoch_seconds(text, naive).map(format)
}

/// Writes seconds since the Unix epoch as a contract timestamp.
pub fn format(epoch: i64) -> String {
    let (days, secs) = (epoch.div_euclid(86_400), epoch.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3_600, secs / 60 % 60, secs % 60)
}

/// The civil date and time in Rome of seconds since the epoch, as `YYYY-MM-DDTHH:MM:SS`.
pub fn rome_local(epoch: i64) -> String {
    let local = epoch + rome_offset(epoch);
    let mut text = format(local);
    text.pop();
    text
}

/// The current time as a contract timestamp.
pub fn now() -> String {
    format(now_epoch())
}

/// Seconds since the Unix epoch now.
pub fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Rome's offset from UTC, in seconds, at `epoch` (UTC).
pub fn rome_offset(epoch: i64) -> i64 {
    let (year, _, _) = civil_from_days(epoch.div_euclid(86_400));
    let starts = last_sunday(year, 3) * 86_400 + 3_600;
    let ends = last_sunday(year, 10) * 86_400 + 3_600;
    if (starts..ends).contains(&epoch) { 7_200 } else { 3_600 }
}

fn offset_of_local(local: i64, naive: Naive) -> i64 {
    match naive {
        Naive::Utc => 0,
        // The offset in force an hour or two earlier in UTC; an ambiguous autumn hour reads as
        // the first one.
        Naive::Rome => rome_offset(local - 7_200),
    }
}

/// Days since the epoch of the last Sunday of `month` in `year`.
fn last_sunday(year: i64, month: u32) -> i64 {
    let last = days_from_civil(year, month, 31);
    // 1970-01-01 was a Thursday: weekday 0 = Sunday.
    let weekday = (last + 4).rem_euclid(7);
    last - weekday
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn reads_every_shape_intermediaries_send() {
        for (text, naive, expected) in [
            ("2026-11-28T08:15:00Z", Naive::Utc, "2026-11-28T08:15:00Z"),
            ("2026-11-28T08:15:00.123Z", Naive::Utc, "2026-11-28T08:15:00Z"),
            ("2025-06-08T10:14:58+02:00", Naive::Utc, "2025-06-08T08:14:58Z"),
            ("2025-06-08T10:14:58-0130", Naive::Utc, "2025-06-08T11:44:58Z"),
            ("2026-11-28T08:15:00.408", Naive::Utc, "2026-11-28T08:15:00Z"),
            ("2026-11-28T09:15:00", Naive::Rome, "2026-11-28T08:15:00Z"),
            ("2026-07-01T12:00:00", Naive::Rome, "2026-07-01T10:00:00Z"),
            ("2026-07-01", Naive::Rome, "2026-06-30T22:00:00Z"),
            ("2024-02-29T00:00", Naive::Utc, "2024-02-29T00:00:00Z"),
            ("1999-12-31 23:59:59", Naive::Utc, "1999-12-31T23:59:59Z"),
        ] {
            assert_eq!(to_timestamp(text, naive).unwrap(), expected, "{text}");
        }
        for bad in ["", "yesterday", "2026-13-01", "2026-11-28T25:00:00Z", "2026-11-28T08:15:00+2"] {
            assert!(to_timestamp(bad, Naive::Utc).is_err(), "{bad}");
        }
    }

    #[test]
    fn rome_switches_to_summer_time_on_the_last_sundays_of_march_and_october() {
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        let at = |t: &str| epoch_seconds(t, Naive::Utc).unwrap();
        assert_eq!(rome_offset(at("2026-03-29T00:59:59Z")), 3_600);
        assert_eq!(rome_offset(at("2026-03-29T01:00:00Z")), 7_200);
        assert_eq!(rome_offset(at("2026-10-25T00:59:59Z")), 7_200);
        assert_eq!(rome_offset(at("2026-10-25T01:00:00Z")), 3_600);
        assert_eq!(rome_local(at("2026-11-28T08:15:00Z")), "2026-11-28T09:15:00");
    }

    #[test]
    fn formats_and_reads_back_across_centuries() {
        for epoch in [-86_400 * 365 * 70, 0, 951_782_400, 4_102_444_799] {
            assert_eq!(epoch_seconds(&format(epoch), Naive::Utc).unwrap(), epoch);
        }
    }
}
