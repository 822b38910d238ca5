//! `dossier tiles`: the ledger's tree written as C2SP `tlog-tiles` static files
//! (`docs/PROOFS.md` §8) that any web server can serve: `<dir>/checkpoint` and every tile and
//! entry bundle of the checkpoint's tree at its C2SP path under `<dir>/tile/`.
//!
//! Writing into a directory written before adds what the larger tree needs: full tiles that
//! exist are compared, never rewritten (a differing one means the history changed, and nothing
//! is written); the partial tiles of earlier sizes stay, as C2SP asks of the sizes a checkpoint
//! was published at. The checkpoint is written last, each file through a temporary name and a
//! rename, so a server never shows a checkpoint whose tiles are missing.

use std::path::Path;

use dossier_chain::Hash;
use dossier_proofs::{Tile, tiles_of};

use crate::{AppError, AppResult};

/// What [`write_tiles`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TilesWritten {
    /// Tiles and entry bundles written now.
    pub written: usize,
    /// Full tiles already there and equal (not rewritten).
    pub kept: usize,
}

fn write_file(path: &Path, bytes: &[u8]) -> AppResult<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| AppError::io(format!("creating {}", parent.display()), e))?;
    let part = path.with_extension("part");
    std::fs::write(&part, bytes)
        .map_err(|e| AppError::io(format!("writing {}", part.display()), e))?;
    std::fs::rename(&part, path)
        .map_err(|e| AppError::io(format!("renaming {} into place", path.display()), e))
}

/// Writes the tiles of the tree over `leaves` (the record hashes, all of them: the tree is of
/// their number) and the signed checkpoint `note` of that tree into `dir`.
///
/// # Errors
/// [`AppError::TileDiffers`] if a tile in `dir` differs from the ledger's (nothing written);
/// [`AppError::Io`].
pub fn write_tiles(dir: &Path, leaves: &[Hash], note: &str) -> AppResult<TilesWritten> {
    let size = leaves.len() as u64;
    let tiles: Vec<Tile> = tiles_of(size);
    let mut out = TilesWritten::default();
    let mut todo = Vec::new();
    for t in tiles {
        let path = dir.join(t.path());
        let data = t.data(leaves, size).map_err(|e| AppError::Exchange {
            what: format!("computing {}: {e}", t.path()),
        })?;
        match std::fs::read(&path) {
            Ok(old) if old == data => out.kept += 1,
            Ok(_) => {
                return Err(AppError::TileDiffers {
                    path: path.display().to_string(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => todo.push((path, data)),
            Err(e) => return Err(AppError::io(format!("reading {}", path.display()), e)),
        }
    }
    for (path, data) in todo {
        write_file(&path, &data)?;
        out.written += 1;
    }
    write_file(&dir.join("checkpoint"), note.as_bytes())?;
    Ok(out)
}
