//! Golden files: what the code produces, compared byte for byte with a file checked into the
//! repository (a public contract such as a test vector), and rewritten only on purpose with
//! `DOSSIER_BLESS=1`, so that every change to a contract shows up as a reviewed diff.

use std::path::Path;

/// Whether this run rewrites golden files (`DOSSIER_BLESS=1`) instead of comparing them.
pub fn blessing() -> bool {
    std::env::var_os("DOSSIER_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the file at `path`, or writes it there when [`blessing`].
///
/// Panics on a difference, naming the file, the first differing byte, both sizes, `contract`
/// (what the file pins, e.g. "the record format") and `command`, the test that rewrites it.
pub fn compare_or_bless(path: &Path, actual: &[u8], contract: &str, command: &str) {
    if blessing() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        }
        std::fs::write(path, actual).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read(path).unwrap_or_default();
    if expected != actual {
        let first = expected
            .iter()
            .zip(actual)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(actual.len()));
        panic!(
            "{} differs from what the code produces now (first difference at byte {first}; {} \
             bytes on disk, {} now).\n{contract} is a public contract: if this change is \
             intended, rewrite the file with\n    DOSSIER_BLESS=1 {command}\nand review the diff.",
            path.display(),
            expected.len(),
            actual.len()
        );
    }
}
