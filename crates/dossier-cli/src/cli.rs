//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// dossier: an event-sourced, hash-chained ledger of intelligence reports.
#[derive(Debug, Parser)]
#[command(name = "dossier", version, about, long_about = None)]
pub struct Cli {
    /// Data directory holding the ledger, keys and trust root.
    /// Default: $XDG_DATA_HOME/dossier or ~/.local/share/dossier.
    #[arg(long, global = true, env = "DOSSIER_HOME", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// A configuration file (TOML). Default: config.toml in the data directory, if present.
    /// Flags win over environment variables, which win over the file.
    #[arg(long, global = true, env = "DOSSIER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Keep the ledger in NATS JetStream at this URL instead of the data directory's SQLite file.
    #[arg(long = "nats", global = true, env = "NATS_URL", value_name = "URL")]
    pub nats_url: Option<String>,

    /// JetStream connection and stream settings (used with --nats).
    #[command(flatten)]
    pub nats: NatsArgs,

    /// A file whose first line is the passphrase of encrypted key files (`/dev/fd/N` for a
    /// descriptor). DOSSIER_PASSPHRASE, if set, holds the passphrase itself and wins; without
    /// either, dossier asks on the terminal.
    #[arg(
        long,
        global = true,
        env = "DOSSIER_PASSPHRASE_FILE",
        value_name = "FILE"
    )]
    pub passphrase_file: Option<PathBuf>,

    /// Keep secret key files unencrypted without a warning (deliberately, e.g. for development).
    #[arg(long, global = true)]
    pub insecure_keys: bool,

    /// More log output on standard error (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings for a ledger on NATS JetStream.
#[derive(Debug, Args)]
pub struct NatsArgs {
    /// The ledger's name on the server: stream DOSSIER_<NAME>, subject dossier.<name>.records.
    /// [default: default]
    #[arg(long, global = true, env = "DOSSIER_LEDGER", value_name = "NAME")]
    pub ledger: Option<String>,
    /// NATS user (with --nats-password).
    #[arg(long, global = true, env = "NATS_USER", value_name = "USER")]
    pub nats_user: Option<String>,
    /// NATS password.
    #[arg(
        long,
        global = true,
        env = "NATS_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub nats_password: Option<String>,
    /// NATS token.
    #[arg(
        long,
        global = true,
        env = "NATS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub nats_token: Option<String>,
    /// NATS nkey seed.
    #[arg(
        long,
        global = true,
        env = "NATS_NKEY",
        value_name = "SEED",
        hide_env_values = true
    )]
    pub nats_nkey: Option<String>,
    /// NATS credentials file (JWT and seed).
    #[arg(long, global = true, env = "NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificate to trust (turns TLS on).
    #[arg(long, global = true, env = "NATS_CA", value_name = "FILE")]
    pub nats_ca: Option<PathBuf>,
    /// Client certificate for mutual TLS (with --nats-key).
    #[arg(
        long,
        global = true,
        env = "NATS_CERT",
        value_name = "FILE",
        requires = "nats_key"
    )]
    pub nats_cert: Option<PathBuf>,
    /// Client key for mutual TLS.
    #[arg(
        long,
        global = true,
        env = "NATS_KEY",
        value_name = "FILE",
        requires = "nats_cert"
    )]
    pub nats_key: Option<PathBuf>,
    /// Replicas of a stream dossier creates (1 for development, 3 for production).
    /// [default: 1]
    #[arg(long, global = true, env = "DOSSIER_REPLICAS")]
    pub replicas: Option<usize>,
    /// DANGEROUS: use an existing stream even if its configuration lets records be deleted,
    /// purged or dropped by limits.
    #[arg(long, global = true)]
    pub allow_unsafe_stream: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a ledger: data directory, founding key, genesis record.
    Init(InitArgs),
    /// Check report bundles exactly as `publish` would, appending nothing.
    Validate(FilesArgs),
    /// Publish report bundles (JSON files, or `-` for standard input), one batch each.
    Publish(PublishArgs),
    /// List records.
    Log(LogArgs),
    /// Show one record.
    Show(ShowArgs),
    /// Replay the whole ledger and check every hash, link, seal, signature and key.
    Verify(VerifyArgs),
    /// Write the raw log (every record exactly as stored, and the report texts its reports
    /// reference) to a file in the `dossier-export/1` format, for a backup or a move to another
    /// machine or backend. Complete and unfiltered: for administrators and auditors.
    Export(ExportArgs),
    /// Append a raw log export to this ledger (empty, or holding a verified prefix of the
    /// file), verifying every record against the pinned founding key before its batch is
    /// appended. With `--format stix`: turn a STIX 2.1 report into a draft report bundle for an
    /// analyst to complete and publish, touching no ledger.
    Import(ImportArgs),
    /// Convert a ledger of an older storage layout (SQLite, one row per record) to the current
    /// one, verifying it before and after; the old file is kept beside it. Run it while no other
    /// dossier process uses the ledger.
    Migrate(MigrateArgs),
    /// Redact a report's text: record a report.redacted event (TLP:RED: the report, the
    /// text's hash, the reason; who and when from its seal), then erase the text from the
    /// content store. Records, claims and their quotes stay (docs/FORMAT.md §5.5). Asks for
    /// confirmation on a terminal.
    Redact(RedactArgs),
    /// List, create, register, revoke and rotate producer keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Grant, revoke and list readers' access (grants are TLP:RED ledger events), and list
    /// the local log of TLP:RED reads.
    #[command(subcommand)]
    Access(AccessCommand),
    /// Current beliefs, one line per question (value, status, confidence, sources).
    Beliefs(BeliefsArgs),
    /// Why we believe what we believe about a question: the provenance tree.
    Why(QuestionArgs),
    /// How the belief on a question changed, and which event changed it.
    History(QuestionArgs),
    /// Run the projector in this process on the data directory's ledger until SIGTERM or
    /// Ctrl-C: catch up, then keep the belief views up to date as records arrive; with
    /// --listen ADDR, also the HTTP API and web page, the auditor and the notifier
    /// (docs/HTTP.md, docs/NOTIFY.md).
    Serve(ServeArgs),
    /// Run the projector as a service against a JetStream ledger (--nats) until SIGTERM.
    Projector(ServeArgs),
    /// Run the notifier until SIGTERM or Ctrl-C: deliver each change of belief that fires a
    /// watch to its webhook, signed, retried with backoff, then kept as a dead letter
    /// (docs/NOTIFY.md); `notify dead-letters` lists them and replays one.
    Notify(NotifyArgs),
    /// Add, list and remove watches: a grant's principal follows a question, or every question
    /// matching a filter, through a webhook (docs/NOTIFY.md).
    #[command(subcommand)]
    Watch(WatchCommand),
    /// Inspect or rebuild the stored belief views.
    #[command(subcommand)]
    Views(ViewsCommand),
    /// Run the whole story on a fresh ledger: init, publish the examples, list, verify, beliefs.
    Demo(DemoArgs),
    /// Sign and print a checkpoint of the ledger (C2SP tlog-checkpoint: size, Merkle root, head).
    Checkpoint(CheckpointArgs),
    /// Sign a checkpoint and write it with the ledger's tree as C2SP tlog-tiles (static files
    /// for any web server: DIR/checkpoint, DIR/tile/...); rerun to extend them.
    Tiles(TilesArgs),
    /// Write a proof bundle: record SEQ is in the ledger, or (--from) the ledger extends an older checkpoint.
    Prove(ProveArgs),
    /// Check a proof bundle offline, with no access to the ledger.
    CheckProof(CheckProofArgs),
    /// Run the continuous auditor: verify every record as it arrives, sign a checkpoint every
    /// N records or T seconds into auditor.db, and raise an alarm (exit 5) on anything that
    /// does not verify or contradicts its last checkpoint. `auditor status` reports its health.
    Auditor(AuditorArgs),
    /// Compare two signed checkpoints against this ledger; if they cannot both be true, write
    /// evidence of a forked history that anyone can check (exit 5).
    ForkEvidence(ForkEvidenceArgs),
    /// Check fork evidence offline, with only the checkpoint key.
    CheckFork(CheckForkArgs),
    /// A C2SP tlog-witness: cosign checkpoints of the logs it witnesses after checking each is
    /// consistent with the last it cosigned (`init`, `add-log`, `serve`, `status`, `vkey`).
    Witness(WitnessArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output,
    /// e.g. `dossier completions bash > /etc/bash_completion.d/dossier`.
    Completions(CompletionsArgs),
    /// Print the man page of `dossier` (roff), or with --dir write one page per command there,
    /// e.g. `dossier man --dir /usr/local/share/man/man1`.
    Man(ManArgs),
}

/// `dossier completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `dossier man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `dossier.1` and a page per command (`dossier-publish.1`, …) into this directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `dossier fork-evidence`.
#[derive(Debug, Args)]
pub struct ForkEvidenceArgs {
    /// One signed checkpoint (for example, one an auditor kept).
    pub first: PathBuf,
    /// The other (for example, the operator's current one); this ledger must match the larger.
    pub second: PathBuf,
    /// The public key that signed the checkpoints (64 hex digits, or a file holding them).
    #[arg(long, value_name = "PUBKEY|FILE")]
    pub key: String,
    /// Write the evidence to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// When the checkpoints agree, say so as JSON (evidence of a fork is JSON already).
    #[arg(long)]
    pub json: bool,
}

/// `dossier auditor`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditorArgs {
    /// `status` or `checkpoint` (default: run the auditor).
    #[command(subcommand)]
    pub command: Option<AuditorCommand>,
    /// Sign a checkpoint every N verified records (at the next batch boundary).
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub every: u64,
    /// Sign a checkpoint every SECS seconds when there are new records.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Catch up, check, sign a checkpoint, report and exit.
    #[arg(long)]
    pub once: bool,
    /// Key id to sign checkpoints with (default: the data directory's producer key).
    #[arg(long, value_name = "KEY_ID")]
    pub key: Option<String>,
    /// The founding public key to pin (64 hex digits, or a file). Default: root.pub.
    #[arg(long, value_name = "KEY|FILE")]
    pub trust: Option<String>,
    /// On start, re-read the records up to the last checkpoint and check they still hash to
    /// its root (finds records changed in place behind the auditor's back).
    #[arg(long)]
    pub rescan: bool,
    /// While running, re-read and check the checkpointed records every SECS seconds.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub rescan_interval: Option<u64>,
    /// No progress lines (alarms and errors are still printed).
    #[arg(long)]
    pub quiet: bool,
    /// Submit each checkpoint to this C2SP tlog-witness and collect its cosignature:
    /// `URL=VKEY`, the witness's submission prefix and verifier key (repeat for each witness).
    /// A refusal is an alarm.
    #[arg(long = "witness", value_name = "URL=VKEY", value_parser = witness_config)]
    pub witnesses: Vec<dossier_auditor::WitnessConfig>,
    /// Raise an alarm when a witness has been unreachable for this many seconds.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub witness_bound: u64,
}

fn witness_config(s: &str) -> Result<dossier_auditor::WitnessConfig, String> {
    dossier_auditor::WitnessConfig::parse(s)
}

/// `dossier auditor …`.
#[derive(Debug, Subcommand)]
pub enum AuditorCommand {
    /// The auditor's health and last checkpoint, from auditor.db (exit 5 if any alarm was raised).
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print (or write) the last checkpoint the auditor signed, for `dossier verify --checkpoint`.
    Checkpoint {
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// As JSON: the signed note with its size, ledger, root, head and signing time (the
        /// shape of the HTTP service's checkpoint route).
        #[arg(long)]
        json: bool,
    },
}

/// `dossier checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Key id to sign with: the ledger's log key (or its founding key while it has none;
    /// default: such a key kept in this directory).
    #[arg(long, value_name = "KEY_ID")]
    pub key: Option<String>,
    /// Write the checkpoint to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// As JSON: the signed note with its size, ledger, root, head and signing time (the shape
    /// of the HTTP service's checkpoint route).
    #[arg(long)]
    pub json: bool,
}

/// `dossier tiles`.
#[derive(Debug, Args)]
pub struct TilesArgs {
    /// Key id to sign the checkpoint with (default: the data directory's producer key).
    #[arg(long, value_name = "KEY_ID")]
    pub key: Option<String>,
    /// The directory to write into (created if missing; tiles written before are kept).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `dossier prove`.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The record to prove present.
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    pub seq: Option<u64>,
    /// Prove that the ledger extends this older signed checkpoint.
    #[arg(long, value_name = "CHECKPOINT_FILE")]
    pub from: Option<PathBuf>,
    /// Key id to sign the current checkpoint with: the ledger's log key (or its founding key
    /// while it has none; default: such a key kept in this directory).
    #[arg(long, value_name = "KEY_ID")]
    pub key: Option<String>,
    /// Write the bundle to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `dossier check-proof`.
#[derive(Debug, Args)]
pub struct CheckProofArgs {
    /// The proof bundle (from `dossier prove`).
    pub file: PathBuf,
    /// The pinned log keys.
    #[command(flatten)]
    pub log_keys: PinnedLogKeys,
    /// The verdict as JSON (one document; a failed check is reported on standard error as for
    /// any failure).
    #[arg(long)]
    pub json: bool,
    /// Witnesses whose cosignatures count towards the quorum.
    #[command(flatten)]
    pub witnesses: QuorumArgs,
}

/// `dossier check-fork`.
#[derive(Debug, Args)]
pub struct CheckForkArgs {
    /// The fork evidence (from `dossier fork-evidence`).
    pub file: PathBuf,
    /// The pinned log keys.
    #[command(flatten)]
    pub log_keys: PinnedLogKeys,
    /// The verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The log keys `check-proof` and `check-fork` pin.
#[derive(Debug, Args, Clone)]
pub struct PinnedLogKeys {
    /// The pinned log key that signs the ledger's checkpoints (64 hex digits, or a file holding
    /// them); repeat it across a rotation of the log key (the old key and the new): each
    /// checkpoint must be signed by one of them.
    #[arg(
        long = "log-key",
        visible_alias = "key",
        value_name = "PUBKEY|FILE",
        required = true
    )]
    pub key: Vec<String>,
}

/// `--witness VKEY … --quorum N`: require N valid C2SP tlog-cosignatures from distinct given
/// witnesses on the (newest) checkpoint.
#[derive(Debug, Args, Clone, Default)]
pub struct QuorumArgs {
    /// A witness's verifier key `name+id+base64(0x04 || key)` (repeat for each witness).
    #[arg(long = "witness", value_name = "VKEY")]
    pub witness: Vec<String>,
    /// Cosignatures required from distinct witnesses given (default: all of them).
    #[arg(long, value_name = "N", requires = "witness")]
    pub quorum: Option<usize>,
}

/// `dossier witness`.
#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// The witness's directory (its key and witness.db). Default: DATA_DIR/witness.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: WitnessCommand,
}

/// `dossier witness …`.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Create the witness's directory (0700) and Ed25519 key (0600, encrypted with the
    /// passphrase of DOSSIER_PASSPHRASE, DOSSIER_PASSPHRASE_FILE or --passphrase-file, or
    /// asked for with --encrypt-keys); print its verifier key.
    Init {
        /// The witness's name (its cosignatures' key name, e.g. witness.example.org/w1).
        #[arg(long)]
        name: String,
        /// Encrypt the key file with a passphrase (asked for on the terminal unless
        /// DOSSIER_PASSPHRASE or DOSSIER_PASSPHRASE_FILE gives it; either of those alone also
        /// encrypts).
        #[arg(long)]
        encrypt_keys: bool,
    },
    /// Witness a log: its origin (`dossier.<ledger id>` for a dossier ledger) and the key that
    /// signs its checkpoints.
    AddLog {
        /// The log's origin line.
        origin: String,
        /// The checkpoint key: a signed-note vkey `name+id+base64(0x01 || key)` named as the
        /// origin, or the Ed25519 public key (64 hex digits, or a file holding them).
        #[arg(value_name = "VKEY|PUBKEY|FILE")]
        key: String,
    },
    /// Serve `POST /add-checkpoint` (C2SP tlog-witness) until SIGTERM or Ctrl-C.
    Serve {
        /// Address to listen on (port 0 picks a free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:7380", value_name = "ADDR")]
        listen: String,
    },
    /// The logs witnessed and the latest size cosigned for each.
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the witness's verifier key (`name+id+base64(0x04 || key)`).
    Vkey,
    /// Write an encrypted backup (with the key-file passphrase: DOSSIER_PASSPHRASE,
    /// DOSSIER_PASSPHRASE_FILE or a prompt) of the witness's key file and a consistent copy of
    /// witness.db; it may be taken while the witness serves. Keep it away from the witness.
    Backup {
        /// The backup file to create (it must not exist).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Restore a backup made by `witness backup` into the witness's directory, which must hold
    /// no witness: the witness resumes at the sizes it had cosigned.
    Restore {
        /// The backup file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Parses `--as-of`: RFC 3339, or a bare date meaning the end of that day (UTC); returns the
/// fixed-width recorded-time form the views compare against.
fn as_of(s: &str) -> Result<String, String> {
    let t = dossier_model::Timestamp::parse_as_of(s).map_err(|e| e.to_string())?;
    Ok(dossier_chain::format_recorded(t.to_offset_datetime()))
}

/// `dossier beliefs`.
#[derive(Debug, Args)]
pub struct BeliefsArgs {
    /// What we believed as of this recorded time: RFC 3339, or a date (the end of that day, UTC).
    #[arg(long, value_name = "TIME", value_parser = as_of)]
    pub as_of: Option<String>,
    /// The beliefs about the world at this valid time: RFC 3339, or a date (the end of that
    /// day, UTC). Each question's view is computed from its stored events (slower than the
    /// stored lines: about a millisecond per question).
    #[arg(long, value_name = "TIME", value_parser = valid_at)]
    pub at: Option<dossier_model::Timestamp>,
    /// As JSON (one line per question: its judgment without provenance; with `--at`, the full
    /// views).
    #[arg(long)]
    pub json: bool,
    /// Answer as a reader cleared for this marking would be answered: only what is marked at
    /// or below it (an event referencing something marked higher counts as marked that high).
    /// Default: everything (TLP:RED), as the data directory's owner sees it.
    #[arg(long, value_name = "MARKING", default_value = "TLP:RED")]
    pub clearance: dossier_model::Marking,
    /// Answer from the views as they stand even if the ledger changed under them or the
    /// auditor raised an alarm (a warning is printed; the views are not brought up to date).
    #[arg(long)]
    pub stale_ok: bool,
}

/// `dossier why` and `dossier history`.
#[derive(Debug, Args)]
pub struct QuestionArgs {
    /// The question id (`question:dprk-russia/containers-shipped`; the `question:` prefix may be left out).
    pub question: String,
    /// As of this recorded time: RFC 3339, or a date (the end of that day, UTC).
    #[arg(long, value_name = "TIME", value_parser = as_of)]
    pub as_of: Option<String>,
    /// (`why` only) The belief about the world at this valid time: RFC 3339, or a date (the
    /// end of that day, UTC). Computed from the stored events of the question's view (up to
    /// --as-of).
    #[arg(long, value_name = "TIME", value_parser = valid_at)]
    pub at: Option<dossier_model::Timestamp>,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
    /// (`why` only) Print the provenance in this exchange format instead: `prov-json`, W3C
    /// PROV-JSON (docs/PROV.md).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<WhyFormat>,
    /// Answer as a reader cleared for this marking would be answered: only what is marked at
    /// or below it (an event referencing something marked higher counts as marked that high).
    /// Default: everything (TLP:RED), as the data directory's owner sees it.
    #[arg(long, value_name = "MARKING", default_value = "TLP:RED")]
    pub clearance: dossier_model::Marking,
    /// Answer from the views as they stand even if the ledger changed under them or the
    /// auditor raised an alarm (a warning is printed; the views are not brought up to date).
    #[arg(long)]
    pub stale_ok: bool,
}

/// The exchange formats of `dossier why`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WhyFormat {
    /// W3C PROV-JSON (docs/PROV.md).
    ProvJson,
}

fn valid_at(s: &str) -> Result<dossier_model::Timestamp, String> {
    dossier_model::Timestamp::parse_as_of(s).map_err(|e| e.to_string())
}

/// `dossier serve` and `dossier projector`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Records applied per transaction.
    #[arg(long, default_value_t = dossier_projector::PAGE as u32, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub page: u32,
    /// No progress lines (errors are still printed).
    #[arg(long)]
    pub quiet: bool,
    /// Also serve the HTTP API on this address (e.g. 127.0.0.1:8080), authenticating against
    /// the ledger's access grants (`dossier access grant`), and run the auditor (when a producer
    /// key is configured) and the notifier (`dossier notify`) in the same process.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// With --listen: the largest request body accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = dossier_http::DEFAULT_BODY_LIMIT, requires = "listen")]
    pub body_limit: usize,
    /// With --listen: serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires_all = ["listen", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// With --tls-cert: the server's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With --tls-cert: verify client certificates against this CA (PEM) and authenticate them
    /// by their access grants (`dossier access grant --cert`): mutual TLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// With --listen: ready (`/readyz`) while the views are at most N records behind the head.
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "listen")]
    pub ready_lag: u64,
}

/// `dossier notify`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NotifyArgs {
    /// `dead-letters` (default: run the notifier).
    #[command(subcommand)]
    pub command: Option<NotifyCommand>,
    /// Attempts before a delivery becomes a dead letter.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// The wait after a first failed attempt, in milliseconds; it doubles after each further
    /// one (up to 5 minutes), less a random part of up to half.
    #[arg(long, default_value_t = 1000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub retry_base_ms: u64,
    /// No progress lines (dead letters and errors are still printed).
    #[arg(long)]
    pub quiet: bool,
}

/// `dossier notify …`.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Show or set the allow-list of webhook URL prefixes (docs/NOTIFY.md): with PREFIX
    /// arguments (http(s) URLs: scheme, host, port and a path prefix) watches may deliver only
    /// under them; with --clear, the default applies again (any URL except addresses inside
    /// private networks). A watch whose URL is not allowed is refused, and never delivered to.
    Allow {
        /// The allowed prefixes, replacing the list, e.g. https://hooks.example.org/.
        #[arg(value_name = "PREFIX", conflicts_with = "clear")]
        prefixes: Vec<String>,
        /// Remove every prefix: the default policy.
        #[arg(long)]
        clear: bool,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the deliveries that failed every attempt, or with --replay ID queue one again
    /// (due now, its attempts counted afresh; the same webhook-id and body).
    DeadLetters {
        /// The dead letter to replay (its id, as listed).
        #[arg(long, value_name = "ID")]
        replay: Option<i64>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What fires a watch (`dossier watch add --on`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TriggerArg {
    /// Every change of belief.
    Change,
    /// The belief became disputed.
    Disputed,
    /// A forecast was resolved.
    Resolved,
    /// The numeric value moved by more than --by (a number of the question's units, or a
    /// percentage of the value before, e.g. 10%).
    Moved,
}

/// `dossier watch`.
#[derive(Debug, Subcommand)]
pub enum WatchCommand {
    /// Add a watch for the principal of an active grant (its clearance is stored with the
    /// watch); prints its secret, once.
    Add {
        /// The grant whose principal watches (`dossier access list` shows them).
        #[arg(long, value_name = "GRANT")]
        grant: String,
        /// The webhook's URL (http or https).
        #[arg(long, value_name = "URL")]
        url: String,
        /// The question to follow (default: every question).
        #[arg(long, value_name = "QUESTION")]
        question: Option<String>,
        /// What fires it.
        #[arg(long, value_enum, default_value = "change")]
        on: TriggerArg,
        /// With `--on moved`: the threshold, e.g. `5` (units) or `10%` (of the value before).
        #[arg(long, value_name = "N|N%", required_if_eq("on", "moved"))]
        by: Option<String>,
        /// As JSON (the watch and its secret).
        #[arg(long)]
        json: bool,
    },
    /// List the watches (of one principal with --principal).
    List {
        /// Only this principal's.
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
        /// As JSON (one array).
        #[arg(long)]
        json: bool,
    },
    /// Remove a watch, with its queued deliveries and dead letters.
    Remove {
        /// The watch id.
        id: String,
    },
}

/// `dossier views`.
#[derive(Debug, Subcommand)]
pub enum ViewsCommand {
    /// Where the stored views stand: checkpoint, head, lag, digest (reads only).
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the views from sequence 1 aside, then swap them in (readers are never blocked).
    Rebuild {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `dossier init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// A name for the ledger.
    #[arg(long, default_value = "dossier")]
    pub name: String,
    /// Name of the founding producer (written into every record it signs).
    #[arg(long, default_value = "founder")]
    pub producer: String,
    /// Encrypt the founding key's file with a passphrase (asked for on the terminal unless
    /// DOSSIER_PASSPHRASE or DOSSIER_PASSPHRASE_FILE gives it; either of those alone also
    /// encrypts).
    #[arg(long)]
    pub encrypt_keys: bool,
    /// Give the ledger key roles from its start: also register a producer key (named as
    /// --producer, this directory's producer key from then on) and a log key (named `log`,
    /// which signs checkpoints), signed by the founding key, which then only administers.
    #[arg(long)]
    pub roles: bool,
    /// As JSON (one document: the ledger and its founding key).
    #[arg(long)]
    pub json: bool,
}

/// Bundle files.
#[derive(Debug, Args)]
pub struct FilesArgs {
    /// Bundle files; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `dossier publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Bundles to publish.
    #[command(flatten)]
    pub files: FilesArgs,
    /// Key id to sign with: the ledger's log key (or its founding key while it has none;
    /// default: such a key kept in this directory).
    #[arg(long, value_name = "KEY_ID")]
    pub key: Option<String>,
}

/// `dossier log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only records of this type (`claim.recorded`) or type family (`claim`).
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Vec<String>,
    /// First sequence number.
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// Last sequence number.
    #[arg(long)]
    pub to: Option<u64>,
    /// At most this many records.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Include batch seals.
    #[arg(long)]
    pub seals: bool,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// `dossier show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Sequence number.
    pub seq: u64,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
    /// The exact stored bytes, nothing else.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
}

/// Arguments of `dossier migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The founding public key to pin (64 hex digits, or a file holding them).
    /// Default: the data directory's root.pub, written by `dossier init`.
    #[arg(long, value_name = "KEY|FILE")]
    pub trust: Option<String>,
    /// JetStream: the ledger name to copy a per-record stream into (a new stream of the batch
    /// layout; the old stream is kept, read only).
    #[arg(long, value_name = "LEDGER", conflicts_with = "texts")]
    pub to: Option<String>,
    /// JetStream: recreate the ledger's texts stream without deny_delete (streams created before
    /// redaction existed deny it, so their texts cannot be erased): every text copied aside and
    /// checked, the stream created again and the texts copied back, those whose redaction is
    /// recorded left out. Stop producers first and use credentials that may create and delete
    /// streams (the admin's); a run killed midway is finished by the next.
    #[arg(long)]
    pub texts: bool,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `dossier export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The raw log: sealed batches and report texts (`dossier-export/1`, docs/FORMAT.md §7.4).
    Log,
    /// A STIX 2.1 bundle of what the clearance sees (docs/STIX.md).
    Stix,
    /// MISP events, one per report, as JSON Lines (docs/STIX.md §8).
    Misp,
}

/// Arguments of `dossier export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// The first seq (the first record of a batch). Default: 1. A file that starts later
    /// carries its key context (a signed checkpoint of the seqs before it and the key batches
    /// its seals depend on), so it verifies offline (`dossier import --check-only`); it is
    /// imported only onto a ledger that holds the seqs before it.
    #[arg(long, value_name = "SEQ")]
    pub from: Option<u64>,
    /// (log, from past seq 1) The key that signs the key context's checkpoint (a key id): one
    /// the ledger allows to sign checkpoints at that size, its log key (the founding key while
    /// it has none). Default: the first such key whose secret this data directory keeps.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// The last seq: the export ends at the last seal at or before it. Default: the head.
    #[arg(long, value_name = "SEQ")]
    pub to: Option<u64>,
    /// The file to write (written beside it and renamed into place when complete).
    /// Default: standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print what was written as JSON (on standard error when the export goes to standard
    /// output).
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// (stix) Only this question (`question:…`; the prefix may be left out).
    #[arg(long, value_name = "QUESTION", conflicts_with_all = ["report", "all"])]
    pub question: Option<String>,
    /// (stix, misp) Only the claims of this report (`report:…`).
    #[arg(long, value_name = "REPORT", conflicts_with = "all")]
    pub report: Option<String>,
    /// (stix, misp) Everything the clearance sees (the default).
    #[arg(long)]
    pub all: bool,
    /// (stix, misp) As of this recorded time: RFC 3339, or a date (the end of that day, UTC).
    #[arg(long, value_name = "TIME", value_parser = as_of)]
    pub as_of: Option<String>,
    /// (stix, misp) Export only what a reader cleared for this marking sees (the read API's rule).
    /// Default: everything (TLP:RED), as the data directory's owner sees it.
    #[arg(long, value_name = "MARKING", default_value = "TLP:RED")]
    pub clearance: dossier_model::Marking,
}

/// What `dossier import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// A raw log export (`dossier-export/1`), appended to this ledger after verification.
    Log,
    /// A STIX 2.1 bundle holding a report: written out as a draft report bundle for an analyst
    /// to complete and publish; the ledger is not touched (docs/STIX.md §9).
    Stix,
}

/// Arguments of `dossier import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export file, or the STIX bundle (`-` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The format of FILE.
    #[arg(long, value_enum, default_value = "log")]
    pub format: ImportFormat,
    /// (stix) The file to write the draft bundle to. Default: standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// (stix) The STIX id of the report to draft, when the bundle holds several.
    #[arg(long, value_name = "REPORT")]
    pub report: Option<String>,
    /// The founding public key to pin (64 hex digits, or a file holding them).
    /// Default: the data directory's root.pub; an import into a new data directory pins the
    /// key given here.
    #[arg(long, value_name = "KEY|FILE")]
    pub trust: Option<String>,
    /// (log) Only verify the file, offline, writing nothing: its container, every record of its
    /// range and, for a range starting past seq 1, its key context (checkpoint, signer,
    /// inclusion proofs), pinned to the founding key.
    #[arg(long)]
    pub check_only: bool,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `dossier verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The founding public key to pin (64 hex digits, or a file holding them).
    /// Default: the data directory's root.pub, written by `dossier init`.
    #[arg(long, value_name = "KEY|FILE")]
    pub trust: Option<String>,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Also check that the ledger still extends this signed checkpoint (kept by an auditor);
    /// it must be signed by a key the ledger allowed to sign checkpoints at its size: a log key
    /// registered and not revoked by then (the founding key while the ledger had none;
    /// docs/PROOFS.md §5).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// With --checkpoint: the pinned log public key (64 hex digits, or a file holding them)
    /// that must have signed it.
    #[arg(long, value_name = "PUBKEY|FILE", requires = "checkpoint")]
    pub log_key: Option<String>,
    /// Witnesses whose cosignatures on the checkpoint count towards the quorum (with
    /// --checkpoint).
    #[command(flatten)]
    pub witnesses: QuorumArgs,
}

/// `dossier keys`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys the ledger knows, with their role and state.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a key and register it in the ledger with a role (docs/FORMAT.md §5.3), signed by
    /// a key of this directory able to administer the ledger (the producer key if it may, else
    /// the founding key or an admin key kept here; or `--key`).
    Register {
        /// Name of the key's holder.
        #[arg(long)]
        name: String,
        /// Register this public key (64 hex digits) instead of creating one here.
        #[arg(long, value_name = "HEX")]
        public: Option<String>,
        /// What the key may do: `admin` (register and revoke keys, grant access), `producer`
        /// (publish), `log` (sign checkpoints).
        #[arg(long, default_value = "producer", value_parser = parsed::<dossier_chain::Role>)]
        role: dossier_chain::Role,
        /// Make the new key this data directory's producer key.
        #[arg(long)]
        use_it: bool,
        /// Sign the registration with this key (an admin or the founding key kept here).
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// Encrypt the new key's file with a passphrase (as `init --encrypt-keys`).
        #[arg(long)]
        encrypt_keys: bool,
        /// As JSON (one document).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: seals it signs after this are rejected by verification, and its secret in
    /// this directory is destroyed. Signed by a key able to administer the ledger; refused for
    /// the last key able to administer it, for the founding key unless the founding key signs,
    /// and (with key roles) for the last admin key unless the founding key signs; asks for
    /// confirmation on a terminal.
    Revoke {
        /// Key id.
        key: String,
        /// Why (recorded in the revocation).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Sign the revocation with this key (an admin or the founding key kept here).
        #[arg(long = "key", value_name = "KEY")]
        signer: Option<String>,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long)]
        yes: bool,
        /// As JSON (one document).
        #[arg(long)]
        json: bool,
    },
    /// Write an encrypted backup of this directory's key files (of keys not revoked), pinned
    /// root, producer choice and auditor's store (a consistent copy), with the key-file passphrase (DOSSIER_PASSPHRASE,
    /// DOSSIER_PASSPHRASE_FILE or a prompt). Keep it away from the data directory.
    Backup {
        /// The backup file to create (it must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// As JSON (one document).
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup made by `keys backup` into this data directory, beside the same ledger
    /// (the ledger file copied back, or the same --nats and --ledger): the pinned root, the
    /// producer choice, the key files and the auditor's store not already here. Secrets of keys
    /// revoked since the backup are destroyed at once.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// As JSON (one document).
        #[arg(long)]
        json: bool,
    },
    /// Replace a key (the producer key, or `--key`): register a new key with its role and revoke
    /// it in one batch (signed by it if it may administer the ledger, else by a key here that may).
    Rotate {
        /// Name for the new key (default: the current key's name).
        #[arg(long)]
        name: Option<String>,
        /// The key to replace (default: the producer key), e.g. the log key; the new key has
        /// its role.
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// Encrypt the new key's file with a passphrase (as `init --encrypt-keys`; a new key
        /// replacing an encrypted one is always encrypted).
        #[arg(long)]
        encrypt_keys: bool,
        /// As JSON (one document).
        #[arg(long)]
        json: bool,
    },
}

/// A value through its `FromStr`, the error as clap shows it.
fn parsed<T: std::str::FromStr>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| e.to_string())
}

/// `dossier access`.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Grant access: records an access.granted event (TLP:RED) sealed by the producer key and
    /// prints the bearer token once (the ledger keeps only its SHA-256).
    Grant {
        /// The principal's name.
        name: String,
        /// What the grant allows.
        #[arg(long, value_name = "reader|producer|auditor|admin", value_parser = parsed::<dossier_access::Role>)]
        role: dossier_access::Role,
        /// The most restrictive marking the holder may see, e.g. TLP:AMBER. Required for a
        /// reader; producer, auditor and admin imply (and accept only) TLP:RED.
        #[arg(long, value_name = "TLP", value_parser = parsed::<dossier_model::Marking>)]
        clearance: Option<dossier_model::Marking>,
        /// When the grant expires: a duration (90d, 12h, 30m), an RFC 3339 instant, or
        /// `never`.
        #[arg(long, value_name = "WHEN", default_value = "90d", value_parser = parsed::<dossier_access::Expiry>)]
        expires: dossier_access::Expiry,
        /// Authenticate by this client certificate (PEM) for mutual TLS instead of a token:
        /// the grant holds the SHA-256 of its SubjectPublicKeyInfo.
        #[arg(long, value_name = "FILE.pem")]
        cert: Option<PathBuf>,
        /// Print the grant (and its token) as one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a grant: records an access.revoked event; its credential stops authenticating
    /// on every node once they read it.
    Revoke {
        /// The grant id (32 hex digits, as `dossier access list` shows).
        grant: String,
        /// Why (recorded in the ledger).
        #[arg(long)]
        reason: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the grants recorded in the ledger with their state (active, expired, revoked).
    List {
        /// As JSON (one array).
        #[arg(long)]
        json: bool,
    },
    /// List the local access log: who read TLP:RED material through this data directory's
    /// service, when, and what.
    Log {
        /// Only entries at or after this instant (RFC 3339).
        #[arg(long, value_name = "TIME", value_parser = parsed::<dossier_model::Timestamp>)]
        since: Option<dossier_model::Timestamp>,
        /// At most this many entries.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// As JSON (one array).
        #[arg(long)]
        json: bool,
    },
}

/// `dossier demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo ledger (must not hold one). Default: a new temporary directory,
    /// kept afterwards so you can explore it.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Parses the command line, taking an environment variable that is set but empty as unset
/// (`NATS_URL= dossier log` uses the embedded ledger, as if `NATS_URL` were not there), as
/// shells and most tools do.
///
/// Also says whether the command asked for JSON (`--json`), so that an error is reported as
/// JSON too.
pub fn parse() -> (Cli, bool) {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let mut command = Cli::command();
    let empty: Vec<clap::Id> = command
        .get_arguments()
        .filter(|a| {
            a.get_env()
                .is_some_and(|name| std::env::var_os(name).is_some_and(|v| v.is_empty()))
        })
        .map(|a| a.get_id().clone())
        .collect();
    for id in empty {
        command = command.mut_arg(id, |a| a.env(None));
    }
    let matches = command.get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (cli, wants_json(&matches))
}

/// Whether the (sub)command given has `--json` set.
fn wants_json(matches: &clap::ArgMatches) -> bool {
    let mut m = matches;
    loop {
        if let Ok(Some(true)) = m.try_get_one::<bool>("json") {
            return true;
        }
        match m.subcommand() {
            Some((_, sub)) => m = sub,
            None => return false,
        }
    }
}

/// `dossier redact`.
#[derive(Debug, Args)]
pub struct RedactArgs {
    /// The report's id (`report:…`).
    pub report: String,
    /// Why (recorded in the redaction, TLP:RED).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// As JSON (one document).
    #[arg(long)]
    pub json: bool,
}
