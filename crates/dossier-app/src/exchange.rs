//! The exchange exports (docs/STIX.md, docs/PROV.md): the typed answers of `dossier-query`
//! for the reader's clearance, with the markings of their events and the batches that hold
//! them, handed to `dossier-exchange`'s writers. Every face (the CLI, the HTTP service) calls
//! these.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use dossier_chain::{Hash, RecordView, SealBody};
use dossier_exchange::stix::{Scope, StixWriter, Written};
use dossier_exchange::{Answered, BatchRef, Cut, event_seqs, prov};
use dossier_log::EventLog;
use dossier_model::{EntityId, Marking, Timestamp};
use dossier_query::{QueryError, Reader};

use crate::{AppError, AppResult};

/// Records read at a time while looking for the seal of a batch (a batch holds at most 1,000).
const PAGE: usize = 256;

fn query(what: &str) -> impl FnOnce(QueryError) -> AppError + '_ {
    move |source| AppError::Query {
        what: what.to_owned(),
        source,
    }
}

fn log_err(what: String) -> impl FnOnce(dossier_log::LogError) -> AppError {
    move |source| AppError::Log { what, source }
}

fn corrupt(what: String) -> AppError {
    AppError::Exchange { what }
}

fn recorded_time(view: &RecordView<'_>) -> AppResult<Timestamp> {
    Timestamp::parse(view.recorded).map_err(|e| {
        corrupt(format!(
            "record {}: recorded time {:?}: {e}",
            view.seq, view.recorded
        ))
    })
}

/// The cut an export states: the ledger's id and genesis time (record 1), the last record the
/// answers include, the as-of time and the clearance.
///
/// # Errors
/// The ledger cannot be read, or its first record is not a genesis.
pub async fn cut<L: EventLog>(
    log: &L,
    seq: u64,
    as_of: Option<&str>,
    clearance: Marking,
) -> AppResult<Cut> {
    let first = log
        .read(1, 1)
        .await
        .map_err(log_err("reading the genesis record".to_owned()))?;
    let record = first.first().ok_or(AppError::EmptyLedger)?;
    let view = RecordView::parse(&record.bytes)
        .map_err(|e| corrupt(format!("record 1 does not parse: {e}")))?;
    if view.event_type != "ledger.genesis" {
        return Err(corrupt(format!(
            "record 1 is a {}, not the ledger's genesis",
            view.event_type
        )));
    }
    Ok(Cut {
        ledger: view.ledger.to_owned(),
        genesis: recorded_time(&view)?,
        seq,
        as_of: as_of.map(str::to_owned),
        clearance,
    })
}

/// The sealed batch holding each of `seqs`: read forward from each seq not yet covered to the
/// seal after it, whose `count` gives the batch's first record.
///
/// # Errors
/// The ledger cannot be read, or a record after a seq is not a record of this format.
pub async fn batches<L: EventLog>(
    log: &L,
    seqs: &BTreeSet<u64>,
) -> AppResult<BTreeMap<u64, BatchRef>> {
    let mut found: Vec<BatchRef> = Vec::new();
    let mut out = BTreeMap::new();
    for &seq in seqs {
        if let Some(b) = found.iter().find(|b| (b.first..=b.seal).contains(&seq)) {
            out.insert(seq, b.clone());
            continue;
        }
        let mut from = seq;
        let batch = 'search: loop {
            let page = log
                .read(from, PAGE)
                .await
                .map_err(log_err(format!("reading records from seq {from}")))?;
            if page.is_empty() {
                break 'search None;
            }
            for r in &page {
                let view = RecordView::parse(&r.bytes)
                    .map_err(|e| corrupt(format!("record {} does not parse: {e}", r.position)))?;
                if view.event_type == "batch.seal" {
                    let body: SealBody = serde_json::from_str(view.body.get())
                        .map_err(|e| corrupt(format!("the seal at seq {}: {e}", r.position)))?;
                    break 'search Some(BatchRef {
                        first: r.position - u64::from(body.count),
                        seal: r.position,
                        seal_hash: Hash::of_record(&r.bytes).to_hex(),
                        recorded: recorded_time(&view)?,
                    });
                }
                from = r.position + 1;
            }
        };
        // Records past the last seal belong to no batch (docs/FORMAT.md §4): left out.
        if let Some(b) = batch {
            out.insert(seq, b.clone());
            found.push(b);
        }
    }
    Ok(out)
}

/// A question's provenance as PROV-JSON, with the marking of the question's line (what a read
/// of it is logged as).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The PROV-JSON document.
    pub document: prov::Document,
    /// The marking of the question's line.
    pub marking: Marking,
}

/// One question's belief with its provenance as a PROV-JSON document, for a reader cleared
/// for `clearance`, now or as of a recorded time (fixed-width form), optionally at a valid
/// time. `dossier why --format prov-json` and the HTTP provenance route both answer with it.
///
/// # Errors
/// The question is not visible ([`AppError::Query`] of kind not found), the views or the
/// ledger cannot be read.
pub async fn prov<L: EventLog>(
    log: &L,
    reader: &Reader,
    clearance: Marking,
    question: &str,
    as_of: Option<&str>,
    valid_at: Option<Timestamp>,
) -> AppResult<Provenance> {
    let answer = reader
        .why(clearance, question, as_of, valid_at)
        .map_err(query("reading the provenance"))?;
    let belief = &answer.answer.belief;
    let seqs = event_seqs(belief);
    let markings = reader
        .event_markings(seqs.iter().copied())
        .map_err(query("reading the markings of the provenance's events"))?;
    let batches = batches(log, &seqs).await?;
    let cut = cut(log, answer.seq, as_of, clearance).await?;
    let answered = Answered {
        belief,
        marking: answer.answer.marking,
        markings: &markings,
    };
    Ok(Provenance {
        document: prov::document(&answered, &cut, &batches),
        marking: answer.answer.marking,
    })
}

/// What a STIX export holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every question the clearance sees.
    All,
    /// One question.
    Question(String),
    /// The claims of one report.
    Report(EntityId),
}

/// Writes a STIX 2.1 bundle of `selection` for a reader cleared for `clearance`, now or as of
/// a recorded time (fixed-width form), to `out`, one question at a time (`progress` is told
/// after each: done, total).
///
/// # Errors
/// A question or report is not visible, the views or the ledger cannot be read, or writing
/// fails.
pub async fn stix<L: EventLog, W: Write>(
    log: &L,
    reader: &Reader,
    clearance: Marking,
    selection: &Selection,
    as_of: Option<&str>,
    out: W,
    mut progress: impl FnMut(u64, u64),
) -> AppResult<(W, Written)> {
    let (questions, scope, name): (Vec<String>, Scope, String) = match selection {
        Selection::All => (
            reader
                .line_index(clearance, as_of)
                .map_err(query("listing the questions"))?
                .into_iter()
                .map(|l| l.question)
                .collect(),
            Scope::All,
            "all".to_owned(),
        ),
        Selection::Question(q) => (vec![q.clone()], Scope::All, q.clone()),
        Selection::Report(r) => {
            let claims = reader
                .report_claims(clearance, r.as_str(), as_of)
                .map_err(query("reading the report's claims"))?;
            if claims.is_empty() {
                return Err(AppError::Query {
                    what: format!("exporting {r}"),
                    source: QueryError::NotPosed {
                        question: r.as_str().to_owned(),
                        as_of: as_of.map(str::to_owned),
                    },
                });
            }
            let qs: BTreeSet<String> = claims
                .into_iter()
                .map(|(_, c)| c.question.into_string())
                .collect();
            (
                qs.into_iter().collect(),
                Scope::Report(r.clone()),
                r.as_str().to_owned(),
            )
        }
    };
    let seq = match questions.first() {
        Some(q) => {
            reader
                .line(clearance, q, as_of)
                .map_err(query("reading the cut"))?
                .seq
        }
        None => reader.progress().applied,
    };
    let cut = cut(log, seq, as_of, clearance).await?;
    let write_err = |source| AppError::Io {
        what: "writing the STIX bundle".to_owned(),
        source,
    };
    let mut w = StixWriter::start(out, &cut, &name, scope).map_err(write_err)?;
    let total = questions.len() as u64;
    for (i, q) in questions.iter().enumerate() {
        let answer = reader
            .why(clearance, q, as_of, None)
            .map_err(query("reading a question's provenance"))?;
        let belief = &answer.answer.belief;
        let markings = reader
            .event_markings(event_seqs(belief))
            .map_err(query("reading the markings of the provenance's events"))?;
        let answered = Answered {
            belief,
            marking: answer.answer.marking,
            markings: &markings,
        };
        let mut failed: Option<QueryError> = None;
        let result = w.question(&answered, |report| {
            match reader.report_claims(clearance, report.as_str(), as_of) {
                Ok(claims) => Ok(claims
                    .into_iter()
                    .filter(|(_, c)| match selection {
                        Selection::Question(q) => c.question.as_str() == q,
                        Selection::All | Selection::Report(_) => true,
                    })
                    .map(|(_, c)| c.id)
                    .collect()),
                Err(e) => {
                    let msg = e.to_string();
                    failed = Some(e);
                    Err(std::io::Error::other(msg))
                }
            }
        });
        if let Some(e) = failed {
            return Err(AppError::Query {
                what: "reading a report's claims".to_owned(),
                source: e,
            });
        }
        result.map_err(write_err)?;
        progress(i as u64 + 1, total);
    }
    w.finish().map_err(write_err)
}

/// One question's answer with the markings of its events, owned.
struct Owned {
    answer: dossier_query::Answer<dossier_query::Why>,
    markings: dossier_exchange::Markings,
}

impl Owned {
    fn read(
        reader: &Reader,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
    ) -> AppResult<Owned> {
        let answer = reader
            .why(clearance, question, as_of, None)
            .map_err(query("reading a question's provenance"))?;
        let markings = reader
            .event_markings(event_seqs(&answer.answer.belief))
            .map_err(query("reading the markings of the provenance's events"))?;
        Ok(Owned { answer, markings })
    }

    fn answered(&self) -> Answered<'_> {
        Answered {
            belief: &self.answer.answer.belief,
            marking: self.answer.answer.marking,
            markings: &self.markings,
        }
    }
}

/// Writes one MISP event per report (`report`, or every report the clearance sees), as JSON
/// Lines, for a reader cleared for `clearance`, now or as of a recorded time; `progress` is
/// told after each event (done, total). Returns the number of events.
///
/// # Errors
/// The report is not visible, the views or the ledger cannot be read, or writing fails.
pub async fn misp<L: EventLog, W: Write>(
    log: &L,
    reader: &Reader,
    clearance: Marking,
    report: Option<&EntityId>,
    as_of: Option<&str>,
    mut out: W,
    mut progress: impl FnMut(u64, u64),
) -> AppResult<(W, u64)> {
    let reports: Vec<String> = match report {
        Some(r) => vec![r.as_str().to_owned()],
        None => {
            let mut all = BTreeSet::new();
            let questions = reader
                .line_index(clearance, as_of)
                .map_err(query("listing the questions"))?;
            for q in questions {
                let owned = Owned::read(reader, clearance, &q.question, as_of)?;
                all.extend(
                    dossier_exchange::claims(&owned.answer.answer.belief)
                        .filter_map(|c| c.report.as_ref().map(|r| r.id.as_str().to_owned())),
                );
            }
            all.into_iter().collect()
        }
    };
    let seq = reader.progress().applied;
    let cut = cut(log, seq, as_of, clearance).await?;
    let write_err = |source| AppError::Io {
        what: "writing the MISP events".to_owned(),
        source,
    };
    let total = reports.len() as u64;
    let mut written = 0;
    for r in &reports {
        let claims = reader
            .report_claims(clearance, r, as_of)
            .map_err(query("reading the report's claims"))?;
        if claims.is_empty() {
            return Err(AppError::Query {
                what: format!("exporting {r}"),
                source: QueryError::NotPosed {
                    question: r.clone(),
                    as_of: as_of.map(str::to_owned),
                },
            });
        }
        let questions: BTreeSet<String> = claims
            .iter()
            .map(|(_, c)| c.question.as_str().to_owned())
            .collect();
        let answers = questions
            .iter()
            .map(|q| Owned::read(reader, clearance, q, as_of))
            .collect::<AppResult<Vec<Owned>>>()?;
        let mut items: Vec<(Answered<'_>, &dossier_beliefs::ClaimView)> = Vec::new();
        for owned in &answers {
            let a = owned.answered();
            items.extend(
                dossier_exchange::claims(a.belief)
                    .filter(|c| c.report.as_ref().is_some_and(|rep| rep.id.as_str() == r))
                    .map(|c| (a, c)),
            );
        }
        items.sort_by_key(|(_, c)| c.event.seq);
        let Some(view) = items.first().and_then(|(_, c)| c.report.clone()) else {
            continue;
        };
        let event = dossier_exchange::misp::event(&cut, &view, &items);
        serde_json::to_writer(&mut out, &event).map_err(|e| write_err(e.into()))?;
        out.write_all(b"\n").map_err(write_err)?;
        written += 1;
        progress(written, total);
    }
    out.flush().map_err(write_err)?;
    Ok((out, written))
}
