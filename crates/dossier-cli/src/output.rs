//! Standard output for results. A failed write (a full disk, a closed file) is an error the
//! command reports and exits 1 on, never a panic; a reader that went away ends the process
//! quietly through SIGPIPE (see `main`), as for other Unix tools.

use std::io::Write as _;

/// Writes `text` to standard output and flushes it.
///
/// # Errors
/// The write failed (other than a broken pipe, which is not an error).
pub fn write(text: &str) -> anyhow::Result<()> {
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context("writing output")),
    }
}

/// Writes `value` as one pretty-printed JSON document (the shape `--json` prints).
///
/// # Errors
/// The value cannot be encoded or the write failed.
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| anyhow::Error::new(e).context("encoding JSON"))?;
    write(&format!("{text}\n"))
}

/// `println!` that returns an error instead of panicking: `outln!("{x}")?;`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::write(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that returns an error instead of panicking: `out!("{x}")?;`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(&format!($($arg)*))
    };
}
