//! The fixed-width recorded-time format.
//!
//! Recorded times are always written as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC, nine fraction
//! digits, 30 bytes), so that comparing two of them as byte strings compares them as times.

use time::{OffsetDateTime, UtcOffset, format_description::FormatItem, macros::format_description};

/// Length in bytes of a recorded time.
pub const RECORDED_LEN: usize = 30;

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

/// Formats an instant as a recorded time (converted to UTC).
#[must_use]
pub fn format_recorded(t: OffsetDateTime) -> String {
    let utc = t.to_offset(UtcOffset::UTC);
    // Formatting a valid OffsetDateTime with a four-digit year cannot fail; years outside
    // 0..=9999 are clamped by the caller's clock, so fall back to the epoch defensively.
    utc.format(FORMAT)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000000Z".to_owned())
}

/// Parses a recorded time written by [`format_recorded`]; `None` if it is not exactly that form.
#[must_use]
pub fn parse_recorded(text: &str) -> Option<OffsetDateTime> {
    if text.len() != RECORDED_LEN {
        return None;
    }
    time::PrimitiveDateTime::parse(text, FORMAT)
        .ok()
        .map(|p| p.assume_utc())
}

/// Cheap structural check of the fixed format (digits and separators in place).
pub(crate) fn looks_like_recorded(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != RECORDED_LEN {
        return false;
    }
    b.iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        10 => *c == b'T',
        13 | 16 => *c == b':',
        19 => *c == b'.',
        29 => *c == b'Z',
        _ => c.is_ascii_digit(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trip_and_order() {
        let a = format_recorded(datetime!(2024-03-19 17:04:00.5 +01:00));
        assert_eq!(a, "2024-03-19T16:04:00.500000000Z");
        assert!(looks_like_recorded(&a));
        assert_eq!(
            parse_recorded(&a),
            Some(datetime!(2024-03-19 16:04:00.5 UTC))
        );
        let b = format_recorded(datetime!(2024-03-19 16:04:01 UTC));
        assert!(a < b);
        assert!(!looks_like_recorded("2024-03-19T16:04:00Z"));
    }
}
