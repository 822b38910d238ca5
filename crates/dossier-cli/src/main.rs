//! `dossier`: publish intelligence reports into a hash-chained ledger, list them, and verify
//! the whole history.
//!
//! This binary is thin glue: argument parsing ([`cli`]), one module per command (rendering,
//! exit codes, interrupts). The data directory, the backend choice, bundle checking and the
//! publish flow are in `dossier-app`; the ledger logic in the library crates below it.

mod cli;
mod cmd;
mod config;
mod confirm;
mod exit;
mod interrupt;
mod output;
mod passphrase;

/// The data directory (in `dossier-app`), under the name the command modules use.
mod home {
    pub use dossier_app::Home;
}

/// The ledger's backend (in `dossier-app`), under the name the command modules use.
mod backend {
    pub use dossier_app::Backend;
}

/// mimalloc instead of the system allocator: the projector allocates and frees many small
/// values across threads, where glibc's malloc spent a fifth of a rebuild consolidating.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Behave like other Unix tools when the reader of our output goes away (`dossier log | head`):
    // end quietly on SIGPIPE instead of panicking on a failed write.
    sigpipe::reset();
    // Everything created under the data directory is private to the user (0700/0600).
    dossier_app::private_umask();
    let (args, json) = cli::parse();
    init_tracing(args.verbose);
    // Two workers: the NATS client's connection task and dossier's own work (reading, hashing)
    // then run side by side, as on the 2-core machines dossier targets.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dossier: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(exit::INTERNAL);
        }
    };
    match runtime.block_on(cmd::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            e.report(json);
            std::process::ExitCode::from(e.code)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
