//! The typed read API of a dossier ledger's belief views, shared by every face that serves
//! readers (the CLI today; the HTTP service next).
//!
//! A [`Reader`] answers from the projector's view store (`dossier_projector::ViewStore`) after
//! two checks, in this order:
//!
//! 1. **Trust.** The ledger must still hold, at the views' checkpoint, the record the views
//!    applied there ([`dossier_projector::check_checkpoint`], one read), and the auditor that
//!    runs on the same data directory, if any, must never have raised an alarm. Otherwise the
//!    reader refuses ([`QueryError::Distrusted`]), unless it was opened with
//!    [`Staleness::Accepted`]: then it answers from the views as they stand, says why they are
//!    not trusted ([`Freshness::Distrusted`]), and does not bring them up to date over a
//!    ledger that failed. Without an auditor, only the checkpoint record is checked.
//! 2. **Freshness.** The views are brought to the ledger's head
//!    ([`dossier_projector::refresh`]): caught up by the reader, or, where a projector serves
//!    them, waited for (up to a bound); an answer says how far behind it is (`lag`).
//!
//! Every answer is an [`Answer`]: the typed result with the cut it was given at (the last
//! record it includes and the digest of the belief lines there), the as-of and valid times
//! asked, the lag, the belief policy, and the clearance it was given for. Its JSON shape is the
//! one `dossier … --json` prints.
//!
//! **Markings.** Every query takes the reader's clearance (a TLP marking) and answers with
//! exactly the fold of the events visible at it: an event is visible if its effective marking
//! (its own, raised to that of everything it references, transitively) is at most the
//! clearance. A question not visible is answered like an unknown one; a record not visible is
//! served only as its seq and hash ([`ServedRecord::Withheld`]). See docs/BELIEFS.md.
//!
//! Errors carry a [`QueryErrorKind`] and no advice for any particular face.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dossier_beliefs::{Belief, BeliefChange, BeliefLine};
use dossier_chain::{Hash, RecordView, StoredRecord};
use dossier_log::{EventLog, LogError};
use dossier_model::{Marking, Timestamp};
use dossier_projector::{Cut, Error as ViewsError, Progress, ViewStore};
pub use dossier_projector::{LineIndex, Marked};

mod leaves;
pub use leaves::{Leaves, Tree};
use serde::{Deserialize, Serialize};

/// Whether a reader may answer from views it does not trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Staleness {
    /// Refuse to answer (the default).
    Refused,
    /// Answer from the views as they stand, saying why they are not trusted.
    Accepted,
}

/// How the views a reader answers from stand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Checked and brought up to date (or waited for: see `lag`).
    Fresh,
    /// Not trusted, answered from anyway ([`Staleness::Accepted`]): why.
    Distrusted(String),
}

/// A failed query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The ledger changed under the views, or the auditor raised an alarm on it: nothing is
    /// answered from the views.
    #[error("{0}")]
    Distrusted(String),
    /// The question was not posed (by the as-of time), or is unknown.
    #[error("{}", match as_of {
        Some(t) => format!("{question} was not posed as of {t}"),
        None => format!("no question {question} in the ledger"),
    })]
    NotPosed {
        /// The question asked for.
        question: String,
        /// The as-of time asked for.
        as_of: Option<String>,
    },
    /// The views could not be brought up to date or read.
    #[error(transparent)]
    Views(#[from] ViewsError),
    /// The auditor's verdict could not be read.
    #[error("reading the auditor's status: {0}")]
    Auditor(#[from] dossier_auditor::Error),
    /// A proof could not be built for what was asked (a seq or size outside the tree).
    #[error("no proof: {0}")]
    Proof(String),
    /// No such tile: not a C2SP tile path, beyond the checkpoint's tree, or a checkpoint of
    /// tree version 1 (tiles are of the version-2 tree).
    #[error("no such tile: {0}")]
    NoTile(String),
}

/// What kind of failure a [`QueryError`] is, for a face to choose its status or exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// The ledger failed a check (changed under the views, an alarm, a broken chain): what was
    /// stored cannot be relied on.
    Integrity,
    /// Nothing by that name (by then).
    NotFound,
    /// The views belong to another ledger.
    Mismatch,
    /// Anything else: storage, I/O.
    Internal,
}

impl QueryError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> QueryErrorKind {
        match self {
            QueryError::Distrusted(_) => QueryErrorKind::Integrity,
            QueryError::NotPosed { .. } | QueryError::NoTile(_) => QueryErrorKind::NotFound,
            QueryError::Views(
                ViewsError::BrokenChain { .. }
                | ViewsError::Corrupt { .. }
                | ViewsError::Rewritten { .. }
                | ViewsError::Log(LogError::Corrupt(_)),
            ) => QueryErrorKind::Integrity,
            QueryError::Views(ViewsError::Mismatch { .. }) => QueryErrorKind::Mismatch,
            QueryError::Views(_) | QueryError::Auditor(_) | QueryError::Proof(_) => {
                QueryErrorKind::Internal
            }
        }
    }
}

/// One answer with where it was cut from the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Answer_{T}")]
pub struct Answer<T> {
    /// The recorded time asked for (fixed-width form), if any.
    pub as_of: Option<String>,
    /// The valid (world) time asked for, if any.
    pub valid_at: Option<Timestamp>,
    /// The cut: the last record the answer includes.
    pub seq: u64,
    /// The digest of the belief lines at the cut (`None` for lines folded at a valid time).
    pub digest: Option<String>,
    /// How many records the views stand behind the ledger's head.
    pub lag: u64,
    /// The belief policy the views were built with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The clearance the answer was given for: it holds nothing marked above it.
    pub clearance: Marking,
    /// The answer itself.
    #[serde(flatten)]
    pub answer: T,
}

/// Every question's line (or, at a valid time, its belief folded then).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Beliefs {
    /// One per question, sorted by question id.
    pub beliefs: BeliefList,
}

/// The lines of [`Beliefs`]: stored lines, or beliefs folded at a valid time.
///
/// Both are a JSON array. A belief at a valid time holds its `provenance` and a stored line
/// never does, so an array is read as beliefs at a valid time when its items are that, and as
/// lines otherwise; an empty array reads as empty lines (the envelope's `valid_at` says which
/// was asked).
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum BeliefList {
    /// The stored lines (no valid time asked), each with its marking.
    Lines(Vec<Marked<BeliefLine>>),
    /// Each question's belief at the valid time asked, with its line's marking.
    AtValidTime(Vec<Marked<Belief>>),
}

impl<'de> Deserialize<'de> for BeliefList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Every field of a line is also a field of a belief, so a belief would read as a line:
        // try the larger shape first.
        let items = serde_json::Value::deserialize(d)?;
        if let Ok(beliefs) = Vec::<Marked<Belief>>::deserialize(&items)
            && !beliefs.is_empty()
        {
            return Ok(Self::AtValidTime(beliefs));
        }
        Vec::<Marked<BeliefLine>>::deserialize(&items)
            .map(Self::Lines)
            .map_err(serde::de::Error::custom)
    }
}

/// One question's belief with its provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Why {
    /// The marking of the belief: that of the question's line (see [`Marked`]).
    pub marking: Marking,
    /// The belief.
    pub belief: Belief,
}

/// One question's changes of belief.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct History {
    /// The question.
    pub question: String,
    /// Its changes, in sequence order, each with the marking of the event that caused it.
    pub changes: Vec<Marked<BeliefChange>>,
}

/// Answers queries from the views of one ledger (see the crate documentation).
#[derive(Debug)]
pub struct Reader {
    views: ViewStore,
    progress: Progress,
    freshness: Freshness,
}

/// Where a reader finds what it needs.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The view store.
    pub views: PathBuf,
    /// The auditor's store on the same data directory, if one may exist there.
    pub auditor: Option<PathBuf>,
    /// How long to wait for a projector that serves the views to reach the head.
    pub wait: Duration,
}

/// Why not to trust the ledger, according to the auditor at `path` (its alarms), if any.
fn auditor_alarm(path: &Path) -> Result<Option<String>, QueryError> {
    if !path.is_file() {
        return Ok(None);
    }
    let (count, latest) = dossier_auditor::alarms(path)?;
    if count == 0 {
        return Ok(None);
    }
    let latest = latest.map_or_else(String::new, |a| {
        let at = a.seq.map(|s| format!(" at seq {s}")).unwrap_or_default();
        format!("; the latest: {}{at}: {}", a.kind, a.detail)
    });
    Ok(Some(format!(
        "the auditor raised {count} alarm(s) on this ledger{latest}"
    )))
}

impl Reader {
    /// Checks the views against the ledger and the auditor, brings them up to date, and opens
    /// them for answering (see the crate documentation).
    ///
    /// # Errors
    /// [`QueryError::Distrusted`] (unless `staleness` accepts it); failures of the views, the
    /// ledger or the auditor's store.
    pub async fn open<L: EventLog>(
        log: &L,
        sources: &Sources,
        staleness: Staleness,
    ) -> Result<Reader, QueryError> {
        let path = &sources.views;
        let alarm = || match &sources.auditor {
            Some(a) => auditor_alarm(a),
            None => Ok(None),
        };
        // The usual case, in one look at the views, the head and the head's record: the views
        // stand at the head, unchanged.
        if let Some(progress) = dossier_projector::at_head(log, path).await {
            let freshness = match alarm()? {
                None => Freshness::Fresh,
                Some(why) if staleness == Staleness::Accepted => Freshness::Distrusted(why),
                Some(why) => return Err(QueryError::Distrusted(why)),
            };
            return Ok(Reader {
                views: ViewStore::open(path)?,
                progress,
                freshness,
            });
        }
        let distrust = match dossier_projector::check_checkpoint(log, path).await {
            Ok(()) => alarm()?,
            // The ledger itself no longer reads as stored (a damaged batch row): as distrusted
            // as a rewritten one.
            Err(e @ (ViewsError::Rewritten { .. } | ViewsError::Log(LogError::Corrupt(_)))) => {
                Some(e.to_string())
            }
            Err(e) => return Err(e.into()),
        };
        let (progress, freshness) = match distrust {
            None => (
                dossier_projector::refresh(log, path, sources.wait).await?,
                Freshness::Fresh,
            ),
            Some(why) => match staleness {
                Staleness::Accepted => (
                    dossier_projector::status(log, path).await?,
                    Freshness::Distrusted(why),
                ),
                Staleness::Refused => return Err(QueryError::Distrusted(why)),
            },
        };
        Ok(Reader {
            views: ViewStore::open(path)?,
            progress,
            freshness,
        })
    }

    /// How the views stand.
    #[must_use]
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    /// Where the views stand against the ledger.
    #[must_use]
    pub fn progress(&self) -> Progress {
        self.progress
    }

    fn answer<T>(
        &self,
        clearance: Marking,
        cut: Cut,
        as_of: Option<&str>,
        valid_at: Option<Timestamp>,
        answer: T,
    ) -> Result<Answer<T>, QueryError> {
        Ok(Answer {
            as_of: as_of.map(str::to_owned),
            valid_at,
            seq: cut.seq,
            digest: Some(cut.digest),
            lag: self.progress.lag(),
            policy: self.views.policy()?,
            clearance,
            answer,
        })
    }

    /// Every question's line now or as of a recorded time (fixed-width form), or each
    /// question's belief at a valid time.
    ///
    /// # Errors
    /// The views cannot be read.
    pub fn beliefs(
        &self,
        clearance: Marking,
        as_of: Option<&str>,
        valid_at: Option<Timestamp>,
    ) -> Result<Answer<Beliefs>, QueryError> {
        let (cut, lines) = self.views.beliefs_at_cut(clearance, as_of)?;
        let Some(at) = valid_at else {
            let beliefs = BeliefList::Lines(lines);
            return self.answer(clearance, cut, as_of, None, Beliefs { beliefs });
        };
        let mut folded = Vec::with_capacity(lines.len());
        for line in &lines {
            let q = line.item.question.id.as_str();
            if let Some(b) = self.views.belief_view(clearance, q, as_of, Some(at))? {
                folded.push(Marked {
                    marking: line.marking,
                    item: b,
                });
            }
        }
        let mut a = self.answer(
            clearance,
            cut,
            as_of,
            Some(at),
            Beliefs {
                beliefs: BeliefList::AtValidTime(folded),
            },
        )?;
        // Beliefs folded at a valid time are not the stored lines the digest is of.
        a.digest = None;
        Ok(a)
    }

    /// The digest of the lines a reader cleared for `clearance` is served now (the `digest` of
    /// [`Reader::beliefs`], without reading the lines).
    ///
    /// # Errors
    /// The views cannot be read.
    pub fn digest(&self, clearance: Marking) -> Result<String, QueryError> {
        Ok(self.views.cut(clearance, None)?.digest)
    }

    /// Each visible question's text and the last change of its belief visible at the
    /// clearance, now or as of a recorded time (fixed-width form), for searching and sorting a
    /// list of lines (see [`ViewStore::line_index`]).
    ///
    /// # Errors
    /// The views cannot be read.
    pub fn line_index(
        &self,
        clearance: Marking,
        as_of: Option<&str>,
    ) -> Result<Vec<LineIndex>, QueryError> {
        Ok(self.views.line_index(clearance, as_of)?)
    }

    /// One question's line (its judgment without provenance, as in [`Reader::beliefs`]), now or
    /// as of a recorded time.
    ///
    /// # Errors
    /// [`QueryError::NotPosed`]; the views cannot be read.
    pub fn line(
        &self,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
    ) -> Result<Answer<Marked<BeliefLine>>, QueryError> {
        let (cut, line) = self.views.line_at_cut(clearance, question, as_of)?;
        let line = line.ok_or_else(|| QueryError::NotPosed {
            question: question.to_owned(),
            as_of: as_of.map(str::to_owned),
        })?;
        self.answer(clearance, cut, as_of, None, line)
    }

    /// One question's belief with provenance, now or as of a recorded time, optionally at a
    /// valid time.
    ///
    /// # Errors
    /// [`QueryError::NotPosed`]; the views cannot be read.
    pub fn why(
        &self,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
        valid_at: Option<Timestamp>,
    ) -> Result<Answer<Why>, QueryError> {
        let (cut, belief) = self
            .views
            .belief_at_cut(clearance, question, as_of, valid_at)?;
        let Marked {
            marking,
            item: belief,
        } = belief.ok_or_else(|| QueryError::NotPosed {
            question: question.to_owned(),
            as_of: as_of.map(str::to_owned),
        })?;
        self.answer(clearance, cut, as_of, valid_at, Why { marking, belief })
    }

    /// One question's changes of belief, all of them or those recorded by a time.
    ///
    /// # Errors
    /// [`QueryError::NotPosed`]; the views cannot be read.
    pub fn history(
        &self,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
    ) -> Result<Answer<History>, QueryError> {
        let (cut, changes) = self.views.history_at_cut(clearance, question, as_of)?;
        let changes = changes.ok_or_else(|| QueryError::NotPosed {
            question: question.to_owned(),
            as_of: as_of.map(str::to_owned),
        })?;
        self.answer(
            clearance,
            cut,
            as_of,
            None,
            History {
                question: question.to_owned(),
                changes,
            },
        )
    }

    /// The changes of belief a reader cleared for `clearance` sees, caused by records after seq
    /// `after`, in sequence order; about `max` at most, never splitting one record's changes
    /// (see [`ViewStore::changes_since`]). A follower resuming from the last seq it received
    /// misses nothing and receives nothing twice.
    ///
    /// # Errors
    /// The views cannot be read.
    pub fn changes_since(
        &self,
        clearance: Marking,
        after: u64,
        max: usize,
    ) -> Result<Vec<Marked<BeliefChange>>, QueryError> {
        Ok(self.views.changes_since(clearance, after, max)?)
    }

    /// A record as a reader cleared for `clearance` may be served it: whole, if its marking is
    /// at most the clearance (for a domain event, its effective marking, as the views applied
    /// it; for any other record, the marking its envelope states), else only its seq and hash.
    /// A domain event the views have not applied yet (beyond their checkpoint) is withheld: its
    /// effective marking is not known yet.
    ///
    /// # Errors
    /// The views cannot be read.
    pub fn served_record(
        &self,
        clearance: Marking,
        record: &StoredRecord,
    ) -> Result<ServedRecord, QueryError> {
        let effective = self.views.effective_marking(record.position)?;
        Ok(serve(clearance, record, effective))
    }

    /// The effective marking of each of the domain events at `seqs`, as the views applied them
    /// (events the views do not hold are left out). The exports mark each object they write
    /// with the markings of the events it comes from.
    ///
    /// # Errors
    /// The views cannot be read.
    pub fn event_markings(
        &self,
        seqs: impl IntoIterator<Item = u64>,
    ) -> Result<std::collections::BTreeMap<u64, Marking>, QueryError> {
        Ok(self
            .views
            .effective_markings_of(seqs)?
            .into_iter()
            .collect())
    }

    /// The marking of the visible report that names the text `content_hash` (hex), if a report
    /// naming it is visible at `clearance`: the text may then be served, under that marking.
    ///
    /// # Errors
    /// The views cannot be read.
    pub fn text_marking(
        &self,
        clearance: Marking,
        content_hash: &str,
    ) -> Result<Option<Marking>, QueryError> {
        Ok(self.views.text_marking(clearance, content_hash)?)
    }

    /// The claims quoting a report that the clearance sees, recorded by `as_of` if given
    /// (fixed-width form), in seq order, with their seqs.
    ///
    /// # Errors
    /// The views cannot be read.
    pub fn report_claims(
        &self,
        clearance: Marking,
        report: &str,
        as_of: Option<&str>,
    ) -> Result<Vec<(u64, dossier_model::Claim)>, QueryError> {
        Ok(self.views.report_claims(clearance, report, as_of)?)
    }

    /// [`Reader::served_record`] of each of `records` (in seq order), with the effective
    /// markings of the whole range read at once.
    ///
    /// # Errors
    /// The views cannot be read.
    pub fn served_records(
        &self,
        clearance: Marking,
        records: &[StoredRecord],
    ) -> Result<Vec<ServedRecord>, QueryError> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(Vec::new());
        };
        let markings = self
            .views
            .effective_markings(first.position, last.position)?;
        Ok(records
            .iter()
            .map(|r| {
                let effective = markings
                    .binary_search_by_key(&r.position, |(seq, _)| *seq)
                    .ok()
                    .map(|i| markings[i].1);
                serve(clearance, r, effective)
            })
            .collect())
    }
}

/// A record as a reader cleared for `clearance` may be served it, given the effective marking
/// the views applied it with, if any (see [`Reader::served_record`]).
fn serve(clearance: Marking, record: &StoredRecord, effective: Option<Marking>) -> ServedRecord {
    let hash = Hash::of_record(&record.bytes);
    let withheld = || ServedRecord::Withheld {
        seq: record.position,
        hash: hash.to_hex(),
    };
    let Ok(view) = RecordView::parse(&record.bytes) else {
        return withheld();
    };
    let stated = view.marking.parse::<Marking>().ok();
    let marking = match effective {
        Some(m) => Some(m),
        None if is_domain(view.event_type) => None,
        None => stated,
    };
    let (Some(marking), Ok(text)) = (marking, std::str::from_utf8(&record.bytes)) else {
        return withheld();
    };
    if marking > clearance {
        return withheld();
    }
    ServedRecord::Visible {
        seq: record.position,
        hash: hash.to_hex(),
        recorded: view.recorded.to_owned(),
        event_type: view.event_type.to_owned(),
        marking,
        record: text.to_owned(),
    }
}

/// Whether a record type is a domain event (the belief views apply it), rather than a control
/// record of the chain or of access.
fn is_domain(event_type: &str) -> bool {
    dossier_model::event::EVENT_TYPES.contains(&event_type)
}

/// One record as served to a reader (see [`Reader::served_record`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "served", rename_all = "snake_case")]
pub enum ServedRecord {
    /// The reader may see it.
    Visible {
        /// Its sequence number.
        seq: u64,
        /// Its record hash (hex).
        hash: String,
        /// Its recorded time, as stored.
        recorded: String,
        /// Its type.
        event_type: String,
        /// Its effective marking (for a domain event: raised to that of what it references).
        marking: Marking,
        /// Its exact stored bytes (records are UTF-8 JSON).
        record: String,
    },
    /// Above the reader's clearance: only what anyone may see of any record.
    Withheld {
        /// Its sequence number.
        seq: u64,
        /// Its record hash (hex).
        hash: String,
    },
}
