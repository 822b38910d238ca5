//! Stable identifiers and timestamps shared by the formats.

use dossier_model::Timestamp;
use uuid::Uuid;

/// The namespace of every UUIDv5 dossier derives (docs/STIX.md §2): a fixed, random UUID.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a7e_94b3_4d0a_b8e5_3c9d_71a2_f046);

/// The UUIDv5 of `name` in dossier's namespace.
#[must_use]
pub fn uuid5(name: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// A STIX identifier `TYPE--UUIDv5(name)`.
#[must_use]
pub fn stix_id(stix_type: &str, name: &str) -> String {
    format!("{stix_type}--{}", uuid5(name))
}

/// A timestamp in STIX's form: UTC, exactly three fraction digits (milliseconds, truncated).
#[must_use]
pub fn stix_time(t: Timestamp) -> String {
    let odt = t.to_offset_datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        odt.year(),
        u8::from(odt.month()),
        odt.day(),
        odt.hour(),
        odt.minute(),
        odt.second(),
        odt.millisecond()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_version_5_and_stable() {
        let a = uuid5("claim:rok-mnd/containers-2024-02");
        assert_eq!(a.get_version_num(), 5);
        assert_eq!(a, uuid5("claim:rok-mnd/containers-2024-02"));
        assert_ne!(a, uuid5("claim:rok-mnd/containers-2024-03"));
    }

    #[test]
    fn times_have_milliseconds() {
        let t = Timestamp::parse("2024-03-19T16:04:00.5Z").unwrap();
        assert_eq!(stix_time(t), "2024-03-19T16:04:00.500Z");
        let t = Timestamp::parse("2024-03-19T16:04:00Z").unwrap();
        assert_eq!(stix_time(t), "2024-03-19T16:04:00.000Z");
    }
}
