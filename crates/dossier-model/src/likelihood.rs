//! ICD 203 likelihood bands and the versioned mapping from verbal wording to band.
//!
//! Analysts and sources express probability in words ("highly likely", "expected"). dossier keeps
//! the wording verbatim and also records the [`Icd203Band`] it maps to, together with the version
//! of the mapping that was used ([`MAPPING_VERSION`]), so that a later change to the table never
//! silently reinterprets recorded claims.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The first wording → band table, [`WORDING_TABLE`].
pub const MAPPING_V1: &str = "dossier-icd203/1";

/// The second table: every wording of [`MAPPING_V1`] with the same band, and the wordings of
/// [`WORDING_TABLE_V2`].
pub const MAPPING_V2: &str = "dossier-icd203/2";

/// The newest mapping, the one [`band_for_wording`] implements.
///
/// A new version only adds wordings: an entry's band never changes, so a claim stamped with an
/// older version means the same under every later one.
pub const MAPPING_VERSION: &str = MAPPING_V2;

/// The mapping versions this build knows, oldest first.
pub const MAPPING_VERSIONS: [&str; 2] = [MAPPING_V1, MAPPING_V2];

/// A likelihood band of US Intelligence Community Directive 203 (Analytic Standards).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Icd203Band {
    /// Almost no chance / remote: 01–05 %.
    AlmostNoChance,
    /// Very unlikely / highly improbable: 05–20 %.
    VeryUnlikely,
    /// Unlikely / improbable: 20–45 %.
    Unlikely,
    /// Roughly even chance / roughly even odds: 45–55 %.
    RoughlyEvenChance,
    /// Likely / probable: 55–80 %.
    Likely,
    /// Very likely / highly probable: 80–95 %.
    VeryLikely,
    /// Almost certain / nearly certain: 95–99 %.
    AlmostCertain,
}

impl Icd203Band {
    /// All bands, from least to most likely.
    pub const ALL: [Icd203Band; 7] = [
        Icd203Band::AlmostNoChance,
        Icd203Band::VeryUnlikely,
        Icd203Band::Unlikely,
        Icd203Band::RoughlyEvenChance,
        Icd203Band::Likely,
        Icd203Band::VeryLikely,
        Icd203Band::AlmostCertain,
    ];

    /// The serialized name of the band (`"very_likely"`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Icd203Band::AlmostNoChance => "almost_no_chance",
            Icd203Band::VeryUnlikely => "very_unlikely",
            Icd203Band::Unlikely => "unlikely",
            Icd203Band::RoughlyEvenChance => "roughly_even_chance",
            Icd203Band::Likely => "likely",
            Icd203Band::VeryLikely => "very_likely",
            Icd203Band::AlmostCertain => "almost_certain",
        }
    }

    /// The ICD 203 probability range of the band, in percent (low, high).
    #[must_use]
    pub const fn percent_range(self) -> (u8, u8) {
        match self {
            Icd203Band::AlmostNoChance => (1, 5),
            Icd203Band::VeryUnlikely => (5, 20),
            Icd203Band::Unlikely => (20, 45),
            Icd203Band::RoughlyEvenChance => (45, 55),
            Icd203Band::Likely => (55, 80),
            Icd203Band::VeryLikely => (80, 95),
            Icd203Band::AlmostCertain => (95, 99),
        }
    }
}

impl fmt::Display for Icd203Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The wording → band table of mapping [`MAPPING_V1`]: the ICD 203 terms and common
/// synonyms, in lower case with single spaces.
pub const WORDING_TABLE: &[(&str, Icd203Band)] = &[
    ("almost no chance", Icd203Band::AlmostNoChance),
    ("remote", Icd203Band::AlmostNoChance),
    ("remote chance", Icd203Band::AlmostNoChance),
    ("very unlikely", Icd203Band::VeryUnlikely),
    ("highly unlikely", Icd203Band::VeryUnlikely),
    ("highly improbable", Icd203Band::VeryUnlikely),
    ("very improbable", Icd203Band::VeryUnlikely),
    ("unlikely", Icd203Band::Unlikely),
    ("improbable", Icd203Band::Unlikely),
    ("improbably", Icd203Band::Unlikely),
    ("roughly even chance", Icd203Band::RoughlyEvenChance),
    ("roughly even odds", Icd203Band::RoughlyEvenChance),
    ("even chance", Icd203Band::RoughlyEvenChance),
    ("likely", Icd203Band::Likely),
    ("probable", Icd203Band::Likely),
    ("probably", Icd203Band::Likely),
    ("expected", Icd203Band::Likely),
    ("very likely", Icd203Band::VeryLikely),
    ("highly likely", Icd203Band::VeryLikely),
    ("highly probable", Icd203Band::VeryLikely),
    ("very probable", Icd203Band::VeryLikely),
    ("almost certain", Icd203Band::AlmostCertain),
    ("almost certainly", Icd203Band::AlmostCertain),
    ("nearly certain", Icd203Band::AlmostCertain),
    ("nearly certainly", Icd203Band::AlmostCertain),
];

/// The wordings [`MAPPING_V2`] adds to [`WORDING_TABLE`]: phrases analysts commonly write that
/// map to one band without doubt. Phrases that sit between bands are left out on purpose —
/// "most likely" (likely or very likely?), "possibly", "may", "could", "might" (no band at
/// all) — so that validation warns about them instead of guessing.
pub const WORDING_TABLE_V2: &[(&str, Icd203Band)] = &[
    ("almost certainly not", Icd203Band::AlmostNoChance),
    ("probably not", Icd203Band::Unlikely),
    ("likely not", Icd203Band::Unlikely),
    ("not likely", Icd203Band::Unlikely),
    ("very probably", Icd203Band::VeryLikely),
    ("virtually certain", Icd203Band::AlmostCertain),
    ("virtually certainly", Icd203Band::AlmostCertain),
];

/// Lower case, single inner spaces, no outer whitespace.
fn normalize(wording: &str) -> String {
    wording
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn lookup(table: &[(&str, Icd203Band)], normalized: &str) -> Option<Icd203Band> {
    table
        .iter()
        .find(|(w, _)| *w == normalized)
        .map(|&(_, band)| band)
}

/// Maps a verbal likelihood expression to its ICD 203 band under mapping [`MAPPING_VERSION`].
///
/// Matching ignores case, leading and trailing whitespace, and runs of inner whitespace.
/// Returns `None` for wording in neither [`WORDING_TABLE`] nor [`WORDING_TABLE_V2`].
#[must_use]
pub fn band_for_wording(wording: &str) -> Option<Icd203Band> {
    mapped(wording).map(|(band, _)| band)
}

/// The band of a wording and the oldest mapping version that knows it: [`MAPPING_V1`] for a
/// wording of [`WORDING_TABLE`], [`MAPPING_V2`] for one of [`WORDING_TABLE_V2`], `None` for
/// wording neither knows.
///
/// Claims are stamped with this version, so a claim whose wording `/1` already knew is
/// stamped `/1` now as before, and publishing it again stays a no-op.
#[must_use]
pub fn mapped(wording: &str) -> Option<(Icd203Band, &'static str)> {
    let normalized = normalize(wording);
    lookup(WORDING_TABLE, &normalized)
        .map(|band| (band, MAPPING_V1))
        .or_else(|| lookup(WORDING_TABLE_V2, &normalized).map(|band| (band, MAPPING_V2)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn maps_icd203_terms_and_synonyms() {
        assert_eq!(
            band_for_wording("highly likely"),
            Some(Icd203Band::VeryLikely)
        );
        assert_eq!(
            band_for_wording("  Highly  LIKELY "),
            Some(Icd203Band::VeryLikely)
        );
        assert_eq!(band_for_wording("expected"), Some(Icd203Band::Likely));
        assert_eq!(band_for_wording("Remote"), Some(Icd203Band::AlmostNoChance));
        assert_eq!(
            band_for_wording("roughly even odds"),
            Some(Icd203Band::RoughlyEvenChance)
        );
        assert_eq!(
            band_for_wording("highly improbable"),
            Some(Icd203Band::VeryUnlikely)
        );
        assert_eq!(
            band_for_wording("nearly certain"),
            Some(Icd203Band::AlmostCertain)
        );
        assert_eq!(band_for_wording("might"), None);
        assert_eq!(band_for_wording(""), None);
    }

    #[test]
    fn every_band_is_reachable_and_ranges_are_ordered() {
        for band in Icd203Band::ALL {
            assert!(WORDING_TABLE.iter().any(|&(_, b)| b == band), "{band}");
            let (lo, hi) = band.percent_range();
            assert!(lo < hi);
        }
        for pair in Icd203Band::ALL.windows(2) {
            assert_eq!(pair[0].percent_range().1, pair[1].percent_range().0);
        }
        for (w, _) in WORDING_TABLE {
            assert_eq!(*w, w.to_lowercase());
        }
    }

    #[test]
    fn version_2_only_adds_wordings() {
        for (w, band) in WORDING_TABLE {
            assert_eq!(mapped(w), Some((*band, MAPPING_V1)), "{w}");
        }
        for (w, band) in WORDING_TABLE_V2 {
            assert!(
                lookup(WORDING_TABLE, w).is_none(),
                "{w} is already in version 1"
            );
            assert_eq!(mapped(w), Some((*band, MAPPING_V2)), "{w}");
            assert_eq!(*w, w.to_lowercase());
        }
        assert_eq!(
            mapped("Probably  NOT"),
            Some((Icd203Band::Unlikely, MAPPING_V2))
        );
        assert_eq!(mapped("most likely"), None);
        assert_eq!(
            mapped("almost certain"),
            Some((Icd203Band::AlmostCertain, MAPPING_V1))
        );
    }

    #[test]
    fn band_serializes_snake_case() {
        assert_eq!(
            serde_json::to_string(&Icd203Band::RoughlyEvenChance).unwrap(),
            "\"roughly_even_chance\""
        );
    }
}
