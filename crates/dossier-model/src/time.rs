//! Instants and world times.
//!
//! Four times are kept distinct in dossier: *valid* time (when a fact held, a [`ValidTime`] made
//! of [`TimePoint`]s), *uttered* time (when a speaker said it), *published* and *retrieved* time
//! of a report, and *recorded* time (assigned by the ledger). All instants are [`Timestamp`]s,
//! which always serialize normalized to UTC so that reformatting an input never changes the
//! stored bytes.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The regular expression (JSON Schema dialect) that every [`TimePoint`] string matches.
pub const TIME_POINT_PATTERN: &str = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?)?)?$";

/// Why a string or number is not a valid time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The string is not an RFC 3339 date-time.
    #[error("`{input}` is not an RFC 3339 timestamp such as 2024-03-19T17:04:00+09:00: {reason}")]
    InvalidTimestamp {
        /// The rejected input.
        input: String,
        /// What the parser objected to.
        reason: String,
    },
    /// The string is neither an RFC 3339 date-time nor a `YYYY-MM-DD` date.
    #[error("`{input}` is neither a date (YYYY-MM-DD) nor an RFC 3339 timestamp: {reason}")]
    InvalidAsOf {
        /// The rejected input.
        input: String,
        /// What the parser objected to.
        reason: String,
    },
    /// The string is not one of the accepted time point forms.
    #[error(
        "`{input}` is not a time point: expected YYYY, YYYY-MM, YYYY-MM-DD or an RFC 3339 timestamp ({reason})"
    )]
    InvalidTimePoint {
        /// The rejected input.
        input: String,
        /// What the parser objected to.
        reason: String,
    },
    /// The instant lies outside the years 0000 to 9999.
    #[error("instant is outside the supported years 0000 to 9999")]
    OutOfRange,
}

/// An instant in time, always held and serialized in UTC.
///
/// Parses RFC 3339 with any offset and serializes normalized to UTC with a `Z` suffix, e.g.
/// `2024-03-19T17:04:00Z`; fractional seconds appear only when non-zero (trailing zeros
/// trimmed). Supported years are 0000 to 9999.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Parses an RFC 3339 date-time with any offset, normalizing it to UTC.
    ///
    /// # Errors
    /// Returns [`TimeError::InvalidTimestamp`] if the input is not RFC 3339.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let odt = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| TimeError::InvalidTimestamp {
            input: s.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_offset_datetime(odt).map_err(|_| TimeError::InvalidTimestamp {
            input: s.to_owned(),
            reason: "the instant is outside the years 0000 to 9999 in UTC".to_owned(),
        })
    }

    /// Parses an `--as-of` cut-off: an RFC 3339 date-time, or a bare date `YYYY-MM-DD`, which
    /// means the *end* of that day in UTC (`23:59:59.999999999Z`).
    ///
    /// # Errors
    /// Returns [`TimeError::InvalidAsOf`] if the input is neither form.
    pub fn parse_as_of(s: &str) -> Result<Self, TimeError> {
        let trimmed = s.trim();
        if let Ok(date) = parse_date(trimmed) {
            return Ok(end_of_day(date));
        }
        Self::parse(trimmed).map_err(|e| TimeError::InvalidAsOf {
            input: s.to_owned(),
            reason: match e {
                TimeError::InvalidTimestamp { reason, .. } => reason,
                other => other.to_string(),
            },
        })
    }

    /// Wraps an [`OffsetDateTime`], converting it to UTC.
    ///
    /// # Errors
    /// Returns [`TimeError::OutOfRange`] if the instant in UTC is outside the years 0000 to 9999.
    pub fn from_offset_datetime(odt: OffsetDateTime) -> Result<Self, TimeError> {
        let utc = odt
            .checked_to_offset(UtcOffset::UTC)
            .ok_or(TimeError::OutOfRange)?;
        if !(0..=9999).contains(&utc.year()) {
            return Err(TimeError::OutOfRange);
        }
        Ok(Timestamp(utc))
    }

    /// Builds a timestamp from nanoseconds since the Unix epoch (1970-01-01T00:00:00Z).
    ///
    /// # Errors
    /// Returns [`TimeError::OutOfRange`] if the instant is outside the years 0000 to 9999.
    pub fn from_unix_nanos(nanos: i128) -> Result<Self, TimeError> {
        let odt =
            OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| TimeError::OutOfRange)?;
        Self::from_offset_datetime(odt)
    }

    /// Nanoseconds since the Unix epoch (negative before 1970).
    #[must_use]
    pub fn unix_nanos(&self) -> i128 {
        self.0.unix_timestamp_nanos()
    }

    /// The instant as a UTC [`OffsetDateTime`].
    #[must_use]
    pub fn to_offset_datetime(&self) -> OffsetDateTime {
        self.0
    }
}

/// Parses exactly `YYYY-MM-DD`.
fn parse_date(s: &str) -> Result<Date, String> {
    let bytes = s.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err("expected YYYY-MM-DD".to_owned());
    }
    let year = parse_digits(&s[0..4])?;
    let month = parse_month(&s[5..7])?;
    let day = parse_digits(&s[8..10])?;
    let day = u8::try_from(day).map_err(|_| "day out of range".to_owned())?;
    Date::from_calendar_date(year, month, day).map_err(|e| e.to_string())
}

/// Parses a fixed-width run of ASCII digits.
fn parse_digits(s: &str) -> Result<i32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is not a number"));
    }
    s.parse::<i32>().map_err(|e| e.to_string())
}

/// Parses a two-digit month `01`..`12`.
fn parse_month(s: &str) -> Result<Month, String> {
    let n = parse_digits(s)?;
    u8::try_from(n)
        .ok()
        .and_then(|n| Month::try_from(n).ok())
        .ok_or_else(|| format!("month `{s}` is not between 01 and 12"))
}

/// The first instant of a day, in UTC.
fn start_of_day(date: Date) -> Timestamp {
    Timestamp(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc())
}

/// The last representable instant of a day, in UTC (`23:59:59.999999999`).
fn end_of_day(date: Date) -> Timestamp {
    Timestamp(PrimitiveDateTime::new(date, time::macros::time!(23:59:59.999_999_999)).assume_utc())
}

/// Writes a UTC timestamp as RFC 3339 with `Z`, fractional seconds only when non-zero.
fn write_rfc3339(odt: OffsetDateTime, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(
        f,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        odt.year(),
        u8::from(odt.month()),
        odt.day(),
        odt.hour(),
        odt.minute(),
        odt.second()
    )?;
    let nanos = odt.nanosecond();
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        write!(f, ".{}", digits.trim_end_matches('0'))?;
    }
    f.write_str("Z")
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_rfc3339(self.0, f)
    }
}

impl FromStr for Timestamp {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::Timestamp").into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "An RFC 3339 timestamp with any offset, e.g. 2024-03-19T17:04:00+09:00; stored normalized to UTC"
        })
    }
}

/// The precision of a [`TimePoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimePrecision {
    /// A whole year, written `YYYY`.
    Year,
    /// A calendar month, written `YYYY-MM`.
    Month,
    /// A calendar day (UTC), written `YYYY-MM-DD`.
    Day,
    /// An exact instant, written as an RFC 3339 timestamp.
    Instant,
}

/// A point in world time with a given precision: `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or an RFC 3339
/// date-time.
///
/// A time point covers an interval: [`start`](TimePoint::start) is its first instant and
/// [`end`](TimePoint::end) its last (`2023-07` covers 2023-07-01T00:00:00Z to
/// 2023-07-31T23:59:59.999999999Z). Dates are read as UTC. It serializes as written, except that
/// date-times are normalized to UTC like [`Timestamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimePoint {
    start: Timestamp,
    precision: TimePrecision,
}

impl TimePoint {
    /// Parses a time point in one of the accepted forms.
    ///
    /// # Errors
    /// Returns [`TimeError::InvalidTimePoint`] if the input is in none of them or names an
    /// impossible date.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let invalid = |reason: String| TimeError::InvalidTimePoint {
            input: s.to_owned(),
            reason,
        };
        match s.len() {
            4 => {
                let year = parse_digits(s).map_err(invalid)?;
                let date = Date::from_calendar_date(year, Month::January, 1)
                    .map_err(|e| invalid(e.to_string()))?;
                Ok(TimePoint::new(start_of_day(date), TimePrecision::Year))
            }
            7 if s.as_bytes()[4] == b'-' => {
                let year = parse_digits(&s[0..4]).map_err(invalid)?;
                let month = parse_month(&s[5..7]).map_err(invalid)?;
                let date =
                    Date::from_calendar_date(year, month, 1).map_err(|e| invalid(e.to_string()))?;
                Ok(TimePoint::new(start_of_day(date), TimePrecision::Month))
            }
            10 => {
                let date = parse_date(s).map_err(invalid)?;
                Ok(TimePoint::new(start_of_day(date), TimePrecision::Day))
            }
            _ => {
                let ts = Timestamp::parse(s).map_err(|e| match e {
                    TimeError::InvalidTimestamp { reason, .. } => invalid(reason),
                    other => invalid(other.to_string()),
                })?;
                Ok(TimePoint::new(ts, TimePrecision::Instant))
            }
        }
    }

    /// Builds an exact-instant time point.
    #[must_use]
    pub fn instant(ts: Timestamp) -> Self {
        TimePoint::new(ts, TimePrecision::Instant)
    }

    fn new(start: Timestamp, precision: TimePrecision) -> Self {
        TimePoint { start, precision }
    }

    /// The precision the time point was written with.
    #[must_use]
    pub fn precision(&self) -> TimePrecision {
        self.precision
    }

    /// The first instant covered.
    #[must_use]
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The last instant covered (for an exact instant, the instant itself).
    #[must_use]
    pub fn end(&self) -> Timestamp {
        let date = self.start.0.date();
        let (year, month) = (date.year(), date.month());
        let last_day = match self.precision {
            TimePrecision::Instant => return self.start,
            TimePrecision::Day => Ok(date),
            TimePrecision::Month => Date::from_calendar_date(year, month, month.length(year)),
            TimePrecision::Year => Date::from_calendar_date(year, Month::December, 31),
        }
        .unwrap_or(date);
        end_of_day(last_day)
    }
}

impl fmt::Display for TimePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = self.start.0.date();
        match self.precision {
            TimePrecision::Year => write!(f, "{:04}", date.year()),
            TimePrecision::Month => write!(f, "{:04}-{:02}", date.year(), u8::from(date.month())),
            TimePrecision::Day => write!(
                f,
                "{:04}-{:02}-{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            ),
            TimePrecision::Instant => write_rfc3339(self.start.0, f),
        }
    }
}

impl FromStr for TimePoint {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for TimePoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimePoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for TimePoint {
    fn schema_name() -> Cow<'static, str> {
        "TimePoint".into()
    }

    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::TimePoint").into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": TIME_POINT_PATTERN,
            "description": "A world time of some precision: YYYY, YYYY-MM, YYYY-MM-DD (UTC) or an RFC 3339 timestamp",
            "examples": ["2023", "2023-07", "2024-03-19", "2024-03-19T17:04:00+09:00"]
        })
    }
}

/// The world time a claim is about: from a time point, until a time point, or both.
///
/// At least one bound must be set, and `from.start()` must not be after `until.end()`; both are
/// checked by bundle validation (see [`ValidTime::check`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ValidTime {
    /// The start of the period (inclusive: from the first instant of this time point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<TimePoint>,
    /// The end of the period (inclusive: up to the last instant of this time point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<TimePoint>,
}

impl ValidTime {
    /// The first instant covered, if bounded below.
    #[must_use]
    pub fn start(&self) -> Option<Timestamp> {
        self.from.map(|p| p.start())
    }

    /// The last instant covered, if bounded above.
    #[must_use]
    pub fn end(&self) -> Option<Timestamp> {
        self.until.map(|p| p.end())
    }

    /// Checks that at least one bound is set and that the period is not reversed.
    ///
    /// # Errors
    /// Returns a human-readable reason when the period is empty or reversed.
    pub fn check(&self) -> Result<(), String> {
        match (&self.from, &self.until) {
            (None, None) => Err("valid time needs `from`, `until` or both".to_owned()),
            (Some(from), Some(until)) if from.start() > until.end() => Err(format!(
                "valid time is reversed: `from` {from} starts after `until` {until} ends"
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn timestamp_normalizes_to_utc() {
        let t = ts("2024-03-20T02:04:00+09:00");
        assert_eq!(t.to_string(), "2024-03-19T17:04:00Z");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2024-03-19T17:04:00Z\""
        );
        let back: Timestamp = serde_json::from_str("\"2024-03-19T17:04:00Z\"").unwrap();
        assert_eq!(back, t);
        assert_eq!(
            ts("2024-03-19T17:04:00.250+00:00").to_string(),
            "2024-03-19T17:04:00.25Z"
        );
        assert_eq!(
            ts("2024-03-19T17:04:00.000Z").to_string(),
            "2024-03-19T17:04:00Z"
        );
        assert!(ts("2024-03-19T17:04:00-05:00") > ts("2024-03-19T17:04:00Z"));
    }

    #[test]
    fn timestamp_rejects_garbage() {
        for bad in [
            "2024-03-19",
            "2024-03-19T17:04Z",
            "yesterday",
            "2024-02-30T00:00:00Z",
            "",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<Timestamp>("\"2024-13-01T00:00:00Z\"").unwrap_err();
        assert!(
            err.to_string().contains("not an RFC 3339 timestamp"),
            "{err}"
        );
    }

    #[test]
    fn unix_nanos_round_trip() {
        let t = ts("2024-03-19T17:04:00.123456789Z");
        assert_eq!(Timestamp::from_unix_nanos(t.unix_nanos()).unwrap(), t);
        assert_eq!(
            Timestamp::from_unix_nanos(0).unwrap().to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(i128::MAX),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            Timestamp::from_unix_nanos(-100_000_000_000 * 1_000_000_000),
            Err(TimeError::OutOfRange)
        );
    }

    #[test]
    fn as_of_date_means_end_of_day_utc() {
        let t = Timestamp::parse_as_of("2024-03-01").unwrap();
        assert_eq!(t.to_string(), "2024-03-01T23:59:59.999999999Z");
        assert!(t < ts("2024-03-02T00:00:00Z"));
        assert_eq!(
            Timestamp::parse_as_of("2024-03-01T12:00:00+01:00")
                .unwrap()
                .to_string(),
            "2024-03-01T11:00:00Z"
        );
        assert!(matches!(
            Timestamp::parse_as_of("2024-02-30"),
            Err(TimeError::InvalidAsOf { .. })
        ));
        assert!(Timestamp::parse_as_of("March").is_err());
    }

    #[test]
    fn time_point_start_end_for_each_precision() {
        let cases = [
            (
                "2024",
                "2024-01-01T00:00:00Z",
                "2024-12-31T23:59:59.999999999Z",
            ),
            (
                "2023-07",
                "2023-07-01T00:00:00Z",
                "2023-07-31T23:59:59.999999999Z",
            ),
            (
                "2024-02",
                "2024-02-01T00:00:00Z",
                "2024-02-29T23:59:59.999999999Z",
            ),
            (
                "2023-02",
                "2023-02-01T00:00:00Z",
                "2023-02-28T23:59:59.999999999Z",
            ),
            (
                "2024-03-19",
                "2024-03-19T00:00:00Z",
                "2024-03-19T23:59:59.999999999Z",
            ),
            (
                "2024-03-19T17:04:00Z",
                "2024-03-19T17:04:00Z",
                "2024-03-19T17:04:00Z",
            ),
            (
                "9999",
                "9999-01-01T00:00:00Z",
                "9999-12-31T23:59:59.999999999Z",
            ),
        ];
        for (input, start, end) in cases {
            let p = TimePoint::parse(input).unwrap();
            assert_eq!(p.start().to_string(), start, "{input}");
            assert_eq!(p.end().to_string(), end, "{input}");
            assert_eq!(p.to_string(), input);
        }
        assert_eq!(
            TimePoint::parse("2023").unwrap().precision(),
            TimePrecision::Year
        );
        assert_eq!(
            TimePoint::parse("2023-07").unwrap().precision(),
            TimePrecision::Month
        );
    }

    #[test]
    fn time_point_normalizes_datetimes_and_rejects_bad_forms() {
        let p: TimePoint = serde_json::from_str("\"2024-03-20T02:04:00+09:00\"").unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            "\"2024-03-19T17:04:00Z\""
        );
        for bad in [
            "24",
            "2023-13",
            "2023-00",
            "2023-7",
            "2023-02-29",
            "20x3",
            "2023/07",
            "+2023",
            "2023-07-01T",
        ] {
            assert!(TimePoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn valid_time_checks() {
        let p = |s: &str| Some(TimePoint::parse(s).unwrap());
        assert!(
            ValidTime {
                from: None,
                until: None
            }
            .check()
            .is_err()
        );
        assert!(
            ValidTime {
                from: p("2023-07"),
                until: None
            }
            .check()
            .is_ok()
        );
        assert!(
            ValidTime {
                from: p("2023-07"),
                until: p("2023-07")
            }
            .check()
            .is_ok()
        );
        assert!(
            ValidTime {
                from: p("2024-03-19"),
                until: p("2024-03")
            }
            .check()
            .is_ok()
        );
        assert!(
            ValidTime {
                from: p("2024-04"),
                until: p("2024-03")
            }
            .check()
            .is_err()
        );
        let err = serde_json::from_str::<ValidTime>(r#"{"from":"2023","to":"2024"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `to`"), "{err}");
    }
}
