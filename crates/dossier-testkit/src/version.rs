//! The `nats-server --version` output and the minimum version the project supports.

use std::fmt;

/// A `major.minor.patch` server version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

/// The oldest server the JetStream backend supports: atomic batch publish arrived in 2.12.
pub const MIN_VERSION: Version = Version {
    major: 2,
    minor: 12,
    patch: 0,
};

impl Version {
    /// Parses the output of `nats-server --version` (`nats-server: v2.15.1`), or a bare
    /// `2.15.1` / `v2.15.1`. Pre-release and build suffixes (`-beta.1`, `+abc`) are ignored.
    pub fn parse(output: &str) -> Option<Version> {
        output.split_whitespace().find_map(|word| {
            let word = word.strip_prefix('v').unwrap_or(word);
            let core = word.split(['-', '+']).next().unwrap_or(word);
            let mut parts = core.split('.');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            let patch = parts.next()?.parse().ok()?;
            parts.next().is_none().then_some(Version {
                major,
                minor,
                patch,
            })
        })
    }

    /// True if this version is [`MIN_VERSION`] or later.
    pub fn is_supported(self) -> bool {
        self >= MIN_VERSION
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}
