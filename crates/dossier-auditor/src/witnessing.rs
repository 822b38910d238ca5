//! Submitting the auditor's checkpoints to C2SP `tlog-witness` witnesses and collecting their
//! `tlog-cosignature`s.
//!
//! For each configured witness (its `add-checkpoint` URL prefix and verifier key), the auditor
//! sends its latest checkpoint with a consistency proof from the size the witness last
//! cosigned. It starts from `old 0` and, on `409` with `text/x.tlog.size`, retries from the
//! size the witness reports. A cosignature that verifies under the witness's key is added to
//! the stored checkpoint's note. A refusal (a fork at the same size, a proof that does not
//! verify, a witness that holds a tree larger than the ledger itself, an unknown log or key) is
//! an alarm at once; a witness that cannot be reached is retried at the auditor's next step and
//! is an alarm once it has failed for longer than the configured bound.
//!
//! A witness that holds a larger tree than this auditor's checkpoint, but no larger than the
//! ledger, is normal: another auditor of the same ledger (`serve`'s embedded one beside a
//! standalone one) submitted it. It is considered current until this auditor signs a checkpoint
//! past that size, which is then submitted with the consistency proof from the witness's size.

use std::time::{Duration, Instant};

use dossier_chain::Hash;
use dossier_proofs::cosignature::{add_checkpoint_body, parse_signature_lines};
use dossier_proofs::note::NoteSignature;
use dossier_proofs::{TreeVersion, WitnessKey};

/// The media type of a witness's size in a `409` answer.
const SIZE_MEDIA_TYPE: &str = "text/x.tlog.size";

/// One witness to submit checkpoints to.
#[derive(Clone, Debug)]
pub struct WitnessConfig {
    /// The submission prefix (`<url>/add-checkpoint` is posted to).
    pub url: String,
    /// The witness's verifier key.
    pub key: WitnessKey,
}

impl WitnessConfig {
    /// Parses `URL=VKEY`.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(spec: &str) -> Result<WitnessConfig, String> {
        let (url, vkey) = spec
            .split_once('=')
            .ok_or_else(|| format!("{spec}: expected URL=VKEY"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "{url}: a witness URL starts with http:// or https://"
            ));
        }
        let key = WitnessKey::from_vkey(vkey).map_err(|e| format!("{vkey}: {e}"))?;
        Ok(WitnessConfig {
            url: url.trim_end_matches('/').to_owned(),
            key,
        })
    }
}

/// What a submission came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The witness cosigned; the line verified.
    Cosigned(NoteSignature),
    /// The witness refused the checkpoint (alarm kind suffix, detail).
    Refused(&'static str, String),
    /// The witness already holds a larger tree of this ledger (submitted by another auditor);
    /// the next checkpoint past its size is submitted from there.
    Current,
    /// The witness could not be reached or answered something unexpected (retried).
    Unreachable(String),
}

#[derive(Debug)]
struct WitnessState {
    config: WitnessConfig,
    /// The size the witness last told us it holds (or cosigned for us).
    known: u64,
    /// The size of the last checkpoint it cosigned for us.
    cosigned: u64,
    failing_since: Option<Instant>,
    unreachable_alarmed: bool,
}

/// The auditor's witnesses, their state, and the record hashes (leaves) the consistency
/// proofs are computed from.
#[derive(Debug)]
pub(crate) struct Witnessing {
    witnesses: Vec<WitnessState>,
    bound: Duration,
    client: reqwest::Client,
    /// Leaf `i` is the hash of record `i + 1`, for every record verified.
    pub leaves: Vec<Hash>,
}

/// A refusal or an unreachable witness past the bound, to raise as an alarm.
pub(crate) struct WitnessAlarm {
    pub kind: String,
    pub detail: String,
}

impl Witnessing {
    pub(crate) fn new(witnesses: Vec<WitnessConfig>, bound: Duration) -> Witnessing {
        Witnessing {
            witnesses: witnesses
                .into_iter()
                .map(|config| WitnessState {
                    config,
                    known: 0,
                    cosigned: 0,
                    failing_since: None,
                    unreachable_alarmed: false,
                })
                .collect(),
            bound,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            leaves: Vec::new(),
        }
    }

    /// Submits the checkpoint note (of `size` records, text `text`) to every witness that has
    /// not cosigned it yet, `ledger` being the ledger's head (a witness holding a larger tree
    /// was shown another history). Returns the cosignature lines collected and the alarms to
    /// raise.
    pub(crate) async fn submit(
        &mut self,
        note: &str,
        text: &str,
        size: u64,
        ledger: u64,
    ) -> (Vec<NoteSignature>, Vec<WitnessAlarm>) {
        let mut lines = Vec::new();
        let mut alarms = Vec::new();
        for i in 0..self.witnesses.len() {
            if self.witnesses[i].cosigned >= size && self.witnesses[i].cosigned > 0 {
                continue;
            }
            let outcome = self.submit_one(i, note, text, size, ledger).await;
            let w = &mut self.witnesses[i];
            match outcome {
                Outcome::Cosigned(line) => {
                    w.cosigned = size;
                    w.known = size;
                    w.failing_since = None;
                    w.unreachable_alarmed = false;
                    lines.push(line);
                }
                Outcome::Current => {
                    w.failing_since = None;
                    w.unreachable_alarmed = false;
                }
                Outcome::Refused(kind, detail) => {
                    w.failing_since = None;
                    alarms.push(WitnessAlarm {
                        kind: format!("witness:{kind}"),
                        detail: format!(
                            "witness {} ({}): {detail}",
                            w.config.key.name(),
                            w.config.url
                        ),
                    });
                }
                Outcome::Unreachable(detail) => {
                    let since = *w.failing_since.get_or_insert_with(Instant::now);
                    tracing::warn!(target: "dossier_auditor", witness = %w.config.url, "witness unreachable: {detail}");
                    if since.elapsed() >= self.bound && !w.unreachable_alarmed {
                        w.unreachable_alarmed = true;
                        alarms.push(WitnessAlarm {
                            kind: "witness:unreachable".into(),
                            detail: format!(
                                "witness {} ({}) unreachable for {}s: {detail}",
                                w.config.key.name(),
                                w.config.url,
                                since.elapsed().as_secs()
                            ),
                        });
                    }
                }
            }
        }
        (lines, alarms)
    }

    async fn submit_one(
        &mut self,
        i: usize,
        note: &str,
        text: &str,
        size: u64,
        ledger: u64,
    ) -> Outcome {
        // At most: one try, one retry from the size a 409 reports.
        for _ in 0..2 {
            let old = self.witnesses[i].known;
            if old > ledger {
                return Outcome::Refused(
                    "ahead",
                    format!(
                        "the witness holds a tree of {old} records of this log, larger than the ledger's {ledger}: another history was shown to it"
                    ),
                );
            }
            if old > size {
                return Outcome::Current;
            }
            let proof = if old == 0 || old == size {
                Vec::new()
            } else {
                match TreeVersion::V2Sha256.consistency_proof(&self.leaves, old, size) {
                    Ok(p) => p,
                    Err(e) => return Outcome::Unreachable(format!("consistency proof: {e}")),
                }
            };
            let body = add_checkpoint_body(old, &proof, note);
            let w = &self.witnesses[i];
            let url = format!("{}/add-checkpoint", w.config.url);
            let resp = match self.client.post(&url).body(body).send().await {
                Ok(r) => r,
                Err(e) => return Outcome::Unreachable(e.to_string()),
            };
            let status = resp.status().as_u16();
            let size_answer = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(SIZE_MEDIA_TYPE));
            let answer = match resp.text().await {
                Ok(t) => t,
                Err(e) => return Outcome::Unreachable(e.to_string()),
            };
            match status {
                200 => {
                    let Ok(lines) = parse_signature_lines(&answer) else {
                        return Outcome::Unreachable(format!("malformed answer: {answer:?}"));
                    };
                    let mine: Vec<_> = lines
                        .into_iter()
                        .filter(|l| w.config.key.is_signer_of(l))
                        .collect();
                    let Some(line) = mine.into_iter().next() else {
                        return Outcome::Unreachable("no cosignature by the witness's key".into());
                    };
                    return match w.config.key.verify_line(text, &line) {
                        Ok(_) => Outcome::Cosigned(line),
                        Err(e) => Outcome::Unreachable(e.to_string()),
                    };
                }
                409 if size_answer => {
                    let Some(current) = answer
                        .strip_suffix('\n')
                        .and_then(|s| s.parse::<u64>().ok())
                    else {
                        return Outcome::Unreachable(format!("malformed size: {answer:?}"));
                    };
                    self.witnesses[i].known = current;
                }
                409 => return Outcome::Refused("fork", answer.trim().to_owned()),
                422 => return Outcome::Refused("inconsistent", answer.trim().to_owned()),
                403 | 404 => return Outcome::Refused("unknown", answer.trim().to_owned()),
                _ => {
                    return Outcome::Unreachable(format!("HTTP {status}: {}", answer.trim()));
                }
            }
        }
        Outcome::Unreachable("the witness's size kept changing".into())
    }
}
