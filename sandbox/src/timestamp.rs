//! Timestamps: RFC 3339 UTC with microseconds (`2025-01-02T03:04:05.123456Z`), everywhere.

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

const STORED: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
const DISPLAYED: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[hour repr:12]:[minute] [period] - [month repr:short] [day], [year]");

/// The current time, as stored and sent.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// `at` as stored and sent.
pub fn format(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC).format(STORED).unwrap_or_default()
}

/// A stored timestamp as people read it: `03:04 PM - Jan 02, 2025` (UTC); empty if unreadable.
pub fn human(stored: &str) -> String {
    PrimitiveDateTime::parse(stored, STORED)
        .ok()
        .and_then(|at| at.assume_utc().format(DISPLAYED).ok())
        .unwrap_or_default()
}

/// Microseconds since the Unix epoch.
pub fn unix_now_micros() -> u64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).try_into().unwrap_or_default()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    OffsetDateTime::now_utc().unix_timestamp().try_into().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    #[test]
    fn stored_and_human_forms() {
        let stored = super::format(datetime!(2025-01-02 15:04:05.123456 UTC));
        assert_eq!(stored, "2025-01-02T15:04:05.123456Z");
        assert_eq!(super::human(&stored), "03:04 PM - Jan 02, 2025");
        assert_eq!(super::human("garbage"), "");
    }
}
