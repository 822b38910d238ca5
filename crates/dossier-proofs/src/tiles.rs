//! The tree served as C2SP `tlog-tiles` (<https://c2sp.org/tlog-tiles>, `docs/PROOFS.md` §8):
//! static files any monitor can fetch to recompute roots and proofs with standard tooling.
//!
//! Tiles have height 8: a tile holds up to 256 consecutive hashes of one level of the version-2
//! (SHA-256) tree. The `n`-th tile at tile level `l` is the list, for `i` from 0 to its width
//! minus one, of `MTH(D[(n * 256 + i) * 256^l : (n * 256 + i + 1) * 256^l])` (32 bytes each):
//! level 0 holds leaf hashes, level 1 the roots of full 256-leaf subtrees, and so on. A full
//! tile has 256 hashes and never changes; the rightmost tile of a level is partial (`.p/<W>`,
//! 1 to 255 hashes). Entry bundles hold the entries themselves: each leaf (a 32-byte record
//! hash) preceded by its length as a big-endian 16-bit integer (`00 20`).

use dossier_chain::Hash;

use crate::merkle::{Leaves, ProofError, TreeVersion};

/// Tile height: each tile covers 8 levels of the tree.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes (or entries) in a full tile: 2^8.
pub const TILE_WIDTH: u64 = 256;

/// Which kind of tile: hashes at a tile level, or an entry bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// Hashes at tile level `0..=63` (tree level `8 * level`).
    Hashes(u8),
    /// An entry bundle (the leaves, length-prefixed).
    Entries,
}

/// One tile or entry bundle: its kind, index within its level, and width (1 to 256).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    /// Hashes at a level, or entries.
    pub kind: TileKind,
    /// The tile's index `N` within its level.
    pub index: u64,
    /// The number of hashes or entries: 256 for a full tile, 1 to 255 for a partial one.
    pub width: u16,
}

/// Why a tile path or request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// The path is not a C2SP tile path.
    #[error("not a tile path: {0}")]
    BadPath(&'static str),
    /// The tile holds hashes the tree of this size does not have (yet).
    #[error("the tree of {size} entries has no such tile")]
    Beyond {
        /// The tree size.
        size: u64,
    },
    /// The leaves available do not cover the tree.
    #[error(transparent)]
    Tree(#[from] ProofError),
}

/// 256^level, or `None` beyond 2^64.
fn span(level: u8) -> Option<u64> {
    1u64.checked_shl(TILE_HEIGHT * u32::from(level))
}

impl Tile {
    /// Whether the tile is full (256 wide).
    #[must_use]
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    fn level(&self) -> u8 {
        match self.kind {
            TileKind::Hashes(l) => l,
            TileKind::Entries => 0,
        }
    }

    /// The path below the log's prefix: `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`,
    /// with `N` in zero-padded groups of three digits, all but the last prefixed with `x`.
    #[must_use]
    pub fn path(&self) -> String {
        let level = match self.kind {
            TileKind::Hashes(l) => l.to_string(),
            TileKind::Entries => "entries".to_owned(),
        };
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let digits: Vec<String> = groups
            .iter()
            .rev()
            .enumerate()
            .map(|(i, g)| {
                if i + 1 == groups.len() {
                    format!("{g:03}")
                } else {
                    format!("x{g:03}")
                }
            })
            .collect();
        let mut out = format!("tile/{level}/{}", digits.join("/"));
        if !self.is_full() {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Parses a path as [`Tile::path`] writes it (strictly: no leading zeros in `L` or `W`,
    /// three digits per group, `x` on all groups but the last, no redundant leading `x000`).
    ///
    /// # Errors
    /// [`TileError::BadPath`].
    pub fn parse(path: &str) -> Result<Tile, TileError> {
        let rest = path
            .strip_prefix("tile/")
            .ok_or(TileError::BadPath("a tile path starts with tile/"))?;
        let (level, rest) = rest
            .split_once('/')
            .ok_or(TileError::BadPath("tile/<L>/<N>"))?;
        let kind = if level == "entries" {
            TileKind::Entries
        } else {
            let l = parse_decimal(level, 63).ok_or(TileError::BadPath(
                "the level is a decimal from 0 to 63 without leading zeros",
            ))?;
            TileKind::Hashes(u8::try_from(l).map_err(|_| TileError::BadPath("level"))?)
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((i, w)) => {
                let w = parse_decimal(w, 255)
                    .filter(|w| *w >= 1)
                    .ok_or(TileError::BadPath(
                        "a partial width is a decimal from 1 to 255 without leading zeros",
                    ))?;
                (
                    i,
                    u16::try_from(w).map_err(|_| TileError::BadPath("width"))?,
                )
            }
            None => (rest, 256),
        };
        let groups: Vec<&str> = index_part.split('/').collect();
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *g
            } else {
                g.strip_prefix('x').ok_or(TileError::BadPath(
                    "all but the last index group start with x",
                ))?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(TileError::BadPath("index groups are three digits"));
            }
            if i == 0 && !last && digits == "000" {
                return Err(TileError::BadPath("the index has a leading x000 group"));
            }
            let d: u64 = digits.parse().map_err(|_| TileError::BadPath("digits"))?;
            index = index
                .checked_mul(1000)
                .and_then(|v| v.checked_add(d))
                .ok_or(TileError::BadPath("the index is too large"))?;
        }
        Ok(Tile { kind, index, width })
    }

    /// The entries (leaf indices) the tile spans, `start..end`, or `None` beyond 2^64.
    fn leaf_range(&self) -> Option<(u64, u64)> {
        let s = span(self.level())?;
        let first = self.index.checked_mul(TILE_WIDTH)?;
        let start = first.checked_mul(s)?;
        let end = first.checked_add(u64::from(self.width))?.checked_mul(s)?;
        Some((start, end))
    }

    /// Whether the tree of `size` entries has this tile: every hash (or entry) it holds is of
    /// a subtree within the first `size` leaves. Partial tiles of older, smaller trees are
    /// available too (C2SP requires those of every size a checkpoint was made at).
    #[must_use]
    pub fn within(&self, size: u64) -> bool {
        self.width >= 1
            && u64::from(self.width) <= TILE_WIDTH
            && self.leaf_range().is_some_and(|(_, end)| end <= size)
    }

    /// The tile's bytes, computed from `leaves` for the tree of `size` entries (version 2):
    /// `width` hashes of 32 bytes, or for an entry bundle `width` times `00 20 || leaf`.
    ///
    /// # Errors
    /// [`TileError::Beyond`] if the tree of `size` does not have the tile;
    /// [`TileError::Tree`] if `size` exceeds the leaves available.
    pub fn data<L: Leaves + ?Sized>(&self, leaves: &L, size: u64) -> Result<Vec<u8>, TileError> {
        if size > leaves.len() {
            return Err(ProofError::SizeBeyondLeaves {
                size,
                len: leaves.len(),
            }
            .into());
        }
        if !self.within(size) {
            return Err(TileError::Beyond { size });
        }
        let (start, _) = self.leaf_range().ok_or(TileError::Beyond { size })?;
        let width = u64::from(self.width);
        let mut out = Vec::with_capacity(usize::from(self.width) * 34);
        match self.kind {
            TileKind::Entries => {
                for i in start..start + width {
                    out.extend_from_slice(&32u16.to_be_bytes());
                    out.extend_from_slice(&leaves.leaf(i).0);
                }
            }
            TileKind::Hashes(level) => {
                let s = span(level).ok_or(TileError::Beyond { size })?;
                for i in 0..width {
                    let a = start + i * s;
                    let h: Hash = leaves.subtree_root(TreeVersion::V2Sha256, a, a + s);
                    out.extend_from_slice(&h.0);
                }
            }
        }
        Ok(out)
    }
}

fn parse_decimal(text: &str, max: u64) -> Option<u64> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
        || text.len() > 3
    {
        return None;
    }
    text.parse().ok().filter(|v| *v <= max)
}

/// Every tile and entry bundle of the tree of `size` entries: at each tile level, the full
/// tiles and the partial one (if its width is not 0), then the entry bundles likewise. Empty
/// tiles are never listed; a tree of size 0 has none.
#[must_use]
pub fn tiles_of(size: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    let mut push_level = |kind: TileKind, count: u64| {
        let full = count / TILE_WIDTH;
        for index in 0..full {
            out.push(Tile {
                kind,
                index,
                width: 256,
            });
        }
        let partial = count % TILE_WIDTH;
        if partial > 0 {
            out.push(Tile {
                kind,
                index: full,
                width: u16::try_from(partial).unwrap_or(255),
            });
        }
    };
    for level in 0..=63u8 {
        let Some(s) = span(level) else { break };
        let count = size / s;
        if count == 0 {
            break;
        }
        push_level(TileKind::Hashes(level), count);
    }
    push_level(TileKind::Entries, size);
    out
}
