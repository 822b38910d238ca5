//! `dossier checkpoint`, `dossier prove`, `dossier check-proof` and `verify --checkpoint`:
//! signed checkpoints and Merkle proofs that outside parties check without the ledger.

use anyhow::Context as _;
use dossier_chain::{Hash, parse_public_hex};
use dossier_log::{EventLog, ledger};
use dossier_proofs::cosignature::CosignatureError;
use dossier_proofs::{
    Checkpoint, ForkEvidence, ProofBundle, Proven, SignedNote, TreeHead, TreeVersion, WitnessKey,
    checkpoint_verifier, consistency_proof, inclusion_proof, open_checkpoint, verify_quorum,
};
use serde::Serialize;

use crate::backend::Backend;
use crate::cli::{
    CheckForkArgs, CheckProofArgs, CheckpointArgs, ForkEvidenceArgs, ProveArgs, QuorumArgs,
    TilesArgs,
};
use crate::exit::{CliError, CliResult, INVALID_INPUT, VERIFY_FAILED};
use crate::home::Home;

/// A checkpoint signed now.
struct Signed {
    ledger: String,
    hashes: Vec<Hash>,
    tree: TreeHead,
    note: String,
}

/// The hash of every record (the Merkle leaves) and the ledger id, read from the log.
async fn leaves(log: &Backend) -> anyhow::Result<(String, Vec<Hash>, Vec<u64>)> {
    let genesis = ledger::genesis(log).await?.context("the ledger is empty")?;
    let mut hashes = Vec::new();
    let mut positions = Vec::new();
    dossier_log::for_each_record(log, 1, |r| -> anyhow::Result<()> {
        hashes.push(Hash::of_record(&r.bytes));
        positions.push(r.position);
        Ok(())
    })
    .await?;
    Ok((genesis.ledger, hashes, positions))
}

fn hex_path(path: &[Hash]) -> Vec<String> {
    path.iter().map(Hash::to_hex).collect()
}

async fn signed_checkpoint(home: &Home, log: &Backend, key: Option<&str>) -> CliResult<Signed> {
    let (ledger, hashes, positions) = leaves(log).await?;
    if positions
        .iter()
        .enumerate()
        .any(|(i, p)| *p != i as u64 + 1)
    {
        return Err(CliError::new(
            VERIFY_FAILED,
            anyhow::anyhow!("the ledger has gaps; run `dossier verify` before checkpointing it"),
        ));
    }
    let tree = TreeHead::from_leaves(&hashes, hashes.len() as u64).context("computing the tree")?;
    let signer = dossier_app::keys::checkpoint_signers(home, log, key)
        .await
        .map_err(super::keys::hint_refusal)?
        .swap_remove(0);
    let note = Checkpoint::new(&ledger, tree)
        .and_then(|c| c.sign_with(&signer))
        .context("signing the checkpoint")?;
    let note = with_collected_cosignatures(home, note);
    Ok(Signed {
        ledger,
        hashes,
        tree,
        note,
    })
}

/// The note with the witnesses' cosignatures the auditor collected on a checkpoint of the
/// same text (cosignatures cover the text, so they hold on this note too); unchanged when the
/// auditor has none for it.
fn with_collected_cosignatures(home: &Home, note: String) -> String {
    let Ok(status) = dossier_auditor::status(&home.auditor_path()) else {
        return note;
    };
    let (Some(stored), Ok(ours)) = (status.last_checkpoint, SignedNote::parse(&note)) else {
        return note;
    };
    match SignedNote::parse(&stored.note) {
        Ok(kept) if kept.text == ours.text && kept.signatures.len() > 1 => {
            dossier_proofs::cosignature::add_cosignatures(&note, &kept.signatures[1..])
                .unwrap_or(note)
        }
        _ => note,
    }
}

/// `dossier checkpoint`.
pub async fn checkpoint(home: &Home, args: &CheckpointArgs) -> CliResult {
    let log = home.open_log().await?;
    let signed = signed_checkpoint(home, &log, args.key.as_deref()).await?;
    if !args.json {
        write_out(args.out.as_deref(), &signed.note)?;
        return Ok(());
    }
    // The shape the HTTP service's checkpoint route serves.
    let cp = dossier_auditor::StoredCheckpoint {
        size: signed.tree.size,
        ledger: signed.ledger,
        root: signed.tree.root.to_hex(),
        head: signed.tree.head.to_hex(),
        note: signed.note,
        signed_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .context("formatting the time")?,
    };
    let text = serde_json::to_string_pretty(&cp).context("encoding JSON")?;
    write_out(args.out.as_deref(), &format!("{text}\n"))?;
    Ok(())
}

/// `dossier tiles --out DIR`.
pub async fn tiles(home: &Home, args: &TilesArgs) -> CliResult {
    let log = home.open_log().await?;
    let signed = signed_checkpoint(home, &log, args.key.as_deref()).await?;
    let w = dossier_app::tiles::write_tiles(&args.out, &signed.hashes, &signed.note)?;
    crate::out!(
        "wrote {} tiles and entry bundles ({} already there) and the checkpoint of {} records to {}",
        w.written,
        w.kept,
        signed.tree.size,
        args.out.display()
    )?;
    Ok(())
}

fn write_out(path: Option<&std::path::Path>, text: &str) -> anyhow::Result<()> {
    match path {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => {
            crate::out!("{text}")?;
            Ok(())
        }
    }
}

/// `dossier prove SEQ` or `dossier prove --from CHECKPOINT`.
pub async fn prove(home: &Home, args: &ProveArgs) -> CliResult {
    let log = home.open_log().await?;
    let Signed {
        ledger,
        hashes,
        note,
        ..
    } = signed_checkpoint(home, &log, args.key.as_deref()).await?;
    let bundle = match (&args.seq, &args.from) {
        (Some(seq), None) => {
            let seq = *seq;
            if seq == 0 || seq > hashes.len() as u64 {
                return Err(anyhow::anyhow!(
                    "no record {seq}: the ledger holds 1..={}",
                    hashes.len()
                )
                .into());
            }
            let record = log
                .read(seq, 1)
                .await
                .context("reading the record")?
                .into_iter()
                .next()
                .context("reading the record")?;
            let proof = inclusion_proof(&hashes, seq - 1, hashes.len() as u64)
                .context("building the proof")?;
            ProofBundle::Inclusion {
                ledger,
                seq,
                record: String::from_utf8(record.bytes).context("the record is not UTF-8")?,
                proof: hex_path(&proof),
                checkpoint: note,
            }
        }
        (None, Some(from)) => {
            let old = std::fs::read_to_string(from)
                .with_context(|| format!("reading {}", from.display()))?;
            let body = old.split("\n\n").next().unwrap_or_default();
            let old_cp = Checkpoint::parse_body(&format!("{body}\n"))
                .context("the older checkpoint is malformed")?;
            if old_cp.ledger != ledger {
                return Err(anyhow::anyhow!(
                    "the older checkpoint is for ledger {}, not {ledger}",
                    old_cp.ledger
                )
                .into());
            }
            if old_cp.tree.version != TreeVersion::CURRENT {
                return Err(anyhow::anyhow!(
                    "the older checkpoint is of tree version {} and new checkpoints are of version {}: \
                     a consistency proof needs both of one version (docs/PROOFS.md §11); \
                     prove from a version-{} checkpoint, or check the old one with `dossier verify --checkpoint`",
                    old_cp.tree.version.number(),
                    TreeVersion::CURRENT.number(),
                    TreeVersion::CURRENT.number()
                )
                .into());
            }
            let proof = consistency_proof(&hashes, old_cp.tree.size, hashes.len() as u64)
                .context("building the proof")?;
            ProofBundle::Consistency {
                ledger,
                old,
                new: note,
                proof: hex_path(&proof),
            }
        }
        _ => return Err(anyhow::anyhow!("give either SEQ or --from CHECKPOINT").into()),
    };
    let text = serde_json::to_string_pretty(&bundle).context("encoding the bundle")? + "\n";
    write_out(args.out.as_deref(), &text)?;
    Ok(())
}

/// `dossier check-proof FILE --key PUBKEY`: offline, no ledger needed.
pub fn check_proof(args: &CheckProofArgs) -> CliResult {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let keys = args
        .log_keys
        .key
        .iter()
        .map(|k| read_key(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bundle = ProofBundle::parse(&text).map_err(|e| {
        anyhow::Error::new(e).context(format!("{} is not a proof bundle", args.file.display()))
    })?;
    let checked = bundle.check_pinned(&keys).map_err(|e| {
        if e.is_verdict() {
            CliError::new(VERIFY_FAILED, anyhow::anyhow!("proof FAILED: {e}"))
        } else {
            anyhow::Error::new(e)
                .context(format!("{} is not a proof bundle", args.file.display()))
                .into()
        }
    })?;
    let cosigned_by = check_quorum(bundle.checkpoint(), &args.witnesses)?;
    if args.json {
        #[derive(Serialize)]
        #[serde(tag = "proof", rename_all = "snake_case")]
        enum Checked<'a> {
            Inclusion {
                ok: bool,
                ledger: &'a str,
                seq: u64,
                leaf: String,
                size: u64,
                cosigned_by: &'a [String],
            },
            Consistency {
                ok: bool,
                ledger: &'a str,
                old_size: u64,
                new_size: u64,
                cosigned_by: &'a [String],
            },
        }
        let doc = match &checked {
            Proven::Inclusion {
                ledger,
                seq,
                leaf,
                size,
            } => Checked::Inclusion {
                ok: true,
                ledger,
                seq: *seq,
                leaf: leaf.to_string(),
                size: *size,
                cosigned_by: &cosigned_by,
            },
            Proven::Consistency {
                ledger,
                old_size,
                new_size,
            } => Checked::Consistency {
                ok: true,
                ledger,
                old_size: *old_size,
                new_size: *new_size,
                cosigned_by: &cosigned_by,
            },
        };
        crate::output::json(&doc)?;
        return Ok(());
    }
    match checked {
        Proven::Inclusion {
            ledger,
            seq,
            leaf,
            size,
        } => crate::outln!(
            "ok: record {seq} (hash {leaf}) is in ledger {ledger} as of the signed checkpoint of {size} records"
        )?,
        Proven::Consistency {
            ledger,
            old_size,
            new_size,
        } => crate::outln!(
            "ok: ledger {ledger} at {new_size} records extends its signed checkpoint of {old_size} records"
        )?,
    }
    if !cosigned_by.is_empty() {
        crate::outln!("ok: cosigned by {}", cosigned_by.join(", "))?;
    }
    Ok(())
}

/// With `--witness VKEY … [--quorum N]`: requires N (default: all given) valid C2SP
/// tlog-cosignatures by distinct given witnesses on the checkpoint note, and returns their
/// names; without witnesses, nothing is required and the list is empty.
///
/// # Errors
/// A malformed witness key or quorum (exit 3), too few cosignatures (exit 5).
pub fn check_quorum(note: &str, args: &QuorumArgs) -> CliResult<Vec<String>> {
    if args.witness.is_empty() {
        return Ok(Vec::new());
    }
    let keys = args
        .witness
        .iter()
        .map(|v| WitnessKey::from_vkey(v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CliError::new(INVALID_INPUT, anyhow::anyhow!("--witness: {e}")))?;
    let quorum = args.quorum.unwrap_or(keys.len());
    let note = SignedNote::parse(note).context("the checkpoint is not a signed note")?;
    verify_quorum(&note, &keys, quorum).map_err(|e| match e {
        CosignatureError::BadQuorum { .. } => CliError::new(INVALID_INPUT, anyhow::anyhow!(e)),
        e => CliError::new(VERIFY_FAILED, anyhow::anyhow!("witness quorum FAILED: {e}")),
    })
}

/// What `dossier verify --checkpoint FILE` found: one verdict, printed as a line of text or
/// inside `verify --json`'s document.
#[derive(Debug, Serialize)]
pub struct CheckpointVerdict {
    /// The checkpoint file.
    pub file: String,
    /// The ledger extends the checkpoint.
    pub ok: bool,
    /// Records the checkpoint covers, when its body could be read (signed or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Records the ledger holds.
    pub ledger_records: u64,
    /// What was found, in one sentence.
    pub verdict: String,
}

/// For `dossier verify --checkpoint FILE`: does the ledger still match a checkpoint an auditor
/// kept? The checkpoint must be signed by a key the (verified) ledger allowed to sign
/// checkpoints at its size (`keys`: every key of the ledger; docs/PROOFS.md §5), and by the
/// `pinned` log key if one is given.
///
/// What happened to the ledger is said first: a ledger shorter than the checkpoint lost
/// records, whether or not the key that signed the checkpoint is still registered in what
/// remains (the truncation may have removed its registration).
///
/// # Errors
/// Reading the ledger failed; a checkpoint that does not hold is a verdict, not an error.
pub async fn check_against(
    log: &Backend,
    file: &str,
    note: &str,
    keys: &[dossier_app::keys::KeyInfo],
    pinned: Option<ed25519_dalek::VerifyingKey>,
) -> anyhow::Result<CheckpointVerdict> {
    let (ledger, hashes, _) = leaves(log).await?;
    let held = hashes.len() as u64;
    let verdict = |ok: bool, size: Option<u64>, verdict: String| CheckpointVerdict {
        file: file.to_owned(),
        ok,
        size,
        ledger_records: held,
        verdict,
    };
    let body = match note_ledger_and_size(note) {
        Ok(b) => b,
        Err(e) => return Ok(verdict(false, None, format!("{e:#}"))),
    };
    let (named, size) = body;
    if named != ledger {
        return Ok(verdict(
            false,
            Some(size),
            format!("the checkpoint is for ledger {named}, not for this ledger {ledger}"),
        ));
    }
    // The key that signed it, among the ledger's keys (allowed or not) and the pinned one.
    let mut opened = None;
    let candidates = keys
        .iter()
        .map(|k| parse_public_hex(&k.public).map(|p| (Some(k), p)))
        .chain(pinned.map(|p| Ok((None, p))))
        .collect::<Result<Vec<_>, _>>()?;
    for (info, public) in candidates {
        if let Ok(cp) = open_checkpoint(note, &checkpoint_verifier(&ledger, public)?) {
            opened = Some((cp, info, public));
            break;
        }
    }
    if size > held {
        let signature = if opened.is_some() {
            String::new()
        } else {
            "; its signature cannot be checked: no key registered in the records that remain \
             signed it (its registration may be among the removed records)"
                .to_owned()
        };
        return Ok(verdict(
            false,
            Some(size),
            format!(
                "the checkpoint covers {size} records but the ledger holds only {held}: records were removed{signature}"
            ),
        ));
    }
    let Some((cp, signer, public)) = opened else {
        return Ok(verdict(
            false,
            Some(size),
            format!("the checkpoint is not signed by any key registered in ledger {ledger}"),
        ));
    };
    if let Some(p) = pinned
        && p != public
    {
        return Ok(verdict(
            false,
            Some(size),
            "the checkpoint is not signed by the pinned log key".to_owned(),
        ));
    }
    let allowed = dossier_app::keys::checkpoint_keys_at(keys, size);
    let Some(signer) = signer else {
        return Ok(verdict(
            false,
            Some(size),
            "the checkpoint is signed by the pinned log key, which is not registered in this ledger"
                .to_owned(),
        ));
    };
    if !allowed.iter().any(|k| k.key == signer.key) {
        let state = match signer.revoked_seq {
            Some(r) if r <= size => format!(", revoked at seq {r}"),
            _ if signer.registered_seq > size => {
                format!(", registered only at seq {}", signer.registered_seq)
            }
            _ => String::new(),
        };
        return Ok(verdict(
            false,
            Some(size),
            format!(
                "the checkpoint is signed by key {} ({}{state}), which may not sign checkpoints at size {size}: the ledger's log key signs them (the founding key while it has none)",
                signer.key, signer.role
            ),
        ));
    }
    // A checkpoint made before tree version 2 is checked in its own version (PROOFS.md §11).
    let now = TreeHead::from_leaves_in(cp.tree.version, &hashes, size)?;
    if now.root != cp.tree.root || now.head != cp.tree.head {
        return Ok(verdict(
            false,
            Some(size),
            format!(
                "the first {size} records no longer match the signed checkpoint: the history was rewritten"
            ),
        ));
    }
    Ok(verdict(
        true,
        Some(size),
        format!("the ledger extends the signed checkpoint of {size} records"),
    ))
}

/// A public key given as 64 hex digits or as a file holding them.
pub(crate) fn read_key(key: &str) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    let text = if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        key.to_owned()
    } else {
        std::fs::read_to_string(key).with_context(|| format!("reading key {key}"))?
    };
    parse_public_hex(&text).context("the key is not an Ed25519 public key")
}

/// The ledger id a checkpoint note names on its first line.
fn note_ledger(note: &str) -> anyhow::Result<String> {
    Ok(note_ledger_and_size(note)?.0)
}

/// The ledger id and tree size a checkpoint note's body states, its signatures unchecked.
fn note_ledger_and_size(note: &str) -> anyhow::Result<(String, u64)> {
    let body = note.split("\n\n").next().unwrap_or_default();
    let cp = Checkpoint::parse_body(&format!("{body}\n")).context("not a dossier checkpoint")?;
    Ok((cp.ledger, cp.tree.size))
}

/// `dossier fork-evidence FIRST SECOND --key K`.
pub async fn fork_evidence(home: &Home, args: &ForkEvidenceArgs) -> CliResult {
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
    };
    let (first, second) = (read(&args.first)?, read(&args.second)?);
    let ledger = note_ledger(&first)?;
    let verifier = checkpoint_verifier(&ledger, read_key(&args.key)?).context("the ledger id")?;
    let log = home.open_log().await?;
    let (_, hashes, _) = leaves(&log).await?;
    match ForkEvidence::find(&first, &second, &verifier, &hashes) {
        Ok(None) => {
            if args.json {
                crate::output::json(&serde_json::json!({ "consistent": true, "ledger": ledger }))?;
            } else {
                crate::outln!("consistent: the two checkpoints describe one history")?;
            }
            Ok(())
        }
        Ok(Some(evidence)) => {
            let kind = evidence
                .check(&verifier)
                .map_err(|e| anyhow::anyhow!("the evidence does not check: {e}"))?;
            let text =
                serde_json::to_string_pretty(&evidence).context("encoding the evidence")? + "\n";
            write_out(args.out.as_deref(), &text)?;
            Err(CliError::new(
                VERIFY_FAILED,
                anyhow::anyhow!(
                    "FORKED history: the two signed checkpoints cannot both be true ({kind:?})"
                ),
            ))
        }
        Err(e) => Err(anyhow::anyhow!("cannot compare the checkpoints: {e}").into()),
    }
}

/// `dossier check-fork FILE --key K`: exit 0 if the evidence proves a fork.
pub fn check_fork(args: &CheckForkArgs) -> CliResult {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let evidence: ForkEvidence = serde_json::from_str(&text)
        .with_context(|| format!("{} is not fork evidence", args.file.display()))?;
    let ledger = note_ledger(&evidence.first)?;
    let mut verdict = Err(anyhow::anyhow!("no log key given"));
    for key in &args.log_keys.key {
        let verifier = checkpoint_verifier(&ledger, read_key(key)?).context("the ledger id")?;
        verdict = evidence.check(&verifier).map_err(anyhow::Error::new);
        if verdict.is_ok() {
            break;
        }
    }
    match verdict {
        Ok(kind) => {
            if args.json {
                crate::output::json(&serde_json::json!({
                    "holds": true,
                    "ledger": ledger,
                    "kind": format!("{kind:?}"),
                }))?;
            } else {
                crate::outln!(
                    "the evidence holds: ledger {ledger} has a forked history ({kind:?})"
                )?;
            }
            Ok(())
        }
        Err(e) => Err(CliError::new(
            VERIFY_FAILED,
            anyhow::anyhow!("the evidence does not hold: {e}"),
        )),
    }
}
