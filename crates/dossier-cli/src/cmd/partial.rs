//! An output file written beside its name (`FILE.partial`) and renamed into place only when
//! complete, so that a failed or interrupted command never leaves a file that looks finished.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// A file being written as `FILE.partial`; removed when dropped before [`Partial::finish`].
pub(super) struct Partial {
    path: PathBuf,
    partial: PathBuf,
    file: File,
}

impl Partial {
    /// Creates `path.partial`.
    pub(super) fn create(path: &Path) -> anyhow::Result<Partial> {
        let mut name = path.as_os_str().to_owned();
        name.push(".partial");
        let partial = PathBuf::from(name);
        let file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        Ok(Partial {
            path: path.to_owned(),
            partial,
            file,
        })
    }

    /// The file to write to (buffer it; flush the buffer before [`Partial::finish`]).
    pub(super) fn file(&self) -> &File {
        &self.file
    }

    /// Syncs the file and renames it into place.
    pub(super) fn finish(mut self) -> anyhow::Result<()> {
        self.file
            .sync_all()
            .with_context(|| format!("writing {}", self.partial.display()))?;
        std::fs::rename(&self.partial, &self.path).with_context(|| {
            format!(
                "renaming {} to {}",
                self.partial.display(),
                self.path.display()
            )
        })?;
        self.partial = PathBuf::new();
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.partial.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
