//! Decoding records ahead of the applying thread: hashing, envelope and body parsing.

use dossier_chain::{Hash, RecordView, StoredRecord, control};
use dossier_model::{DomainEvent, Marking, Timestamp};

use crate::Error;

/// Whether a record is a control record (genesis, seal, key event, access grant or
/// revocation, text redaction), which changes no view.
pub(crate) fn is_control(event_type: &str) -> bool {
    event_type == control::GENESIS
        || event_type == control::SEAL
        || event_type.starts_with("key.")
        || event_type.starts_with("access.")
        // A redaction (docs/FORMAT.md §5.5) removes a text, never a claim: no view changes.
        || event_type == "report.redacted"
}

/// A record decoded off the applying thread: its hash and the envelope fields the chain
/// check needs, and for a domain event the event itself.
pub(crate) struct Decoded {
    pub(crate) hash: Hash,
    /// `hash` in hex.
    pub(crate) hex: String,
    pub(crate) seq: u64,
    pub(crate) prev: Prev,
    pub(crate) recorded: String,
    pub(crate) domain: Option<DomainPart>,
}

/// What the decoding thread found of a record's `prev`.
pub(crate) enum Prev {
    /// It is the hash of the record before it in the page, which the decoding thread hashed
    /// (so the link holds if that record was applied just before).
    Follows,
    /// Otherwise (the first record of a page, or a mismatch): `prev` as a hash, if it is one
    /// in lowercase hex (the record format).
    Hash(Option<Hash>),
}

/// The domain event of a [`Decoded`] record.
pub(crate) struct DomainPart {
    pub(crate) event: DomainEvent,
    pub(crate) recorded: Timestamp,
    pub(crate) event_type: String,
    pub(crate) schema: u32,
    /// The record's TLP 2.0 marking, as its rank (0 `TLP:CLEAR` … 4 `TLP:RED`).
    pub(crate) marking: u8,
    pub(crate) body: String,
}

/// Hashes and parses one record; `before` is the hex hash of the record before it in the page
/// (the chain check itself needs the record applied before it, see [`advance_in`]).
///
/// A domain event's envelope is parsed without scanning its body, which is then parsed once
/// ([`RecordView::parse_envelope`]); anything that path cannot do (a control record, whose body
/// the projector does not decode, or any failure) takes the full parse, which gives the errors.
fn decode(
    rec: &StoredRecord,
    before: Option<&str>,
    scratch: &mut String,
    times: &mut LastTime,
) -> Result<Decoded, Error> {
    let seq = rec.position;
    let hash = Hash::of_record(&rec.bytes);
    if let Some((view, body)) = RecordView::parse_envelope(&rec.bytes, scratch)
        && !is_control(view.event_type)
        && let Ok(d) = decoded(&view, body, hash, before, times)
    {
        return Ok(d);
    }
    let view = RecordView::parse(&rec.bytes).map_err(|e| e.to_string());
    view.and_then(|view| decoded(&view, view.body.get(), hash, before, times))
        .map_err(|reason| Error::Corrupt { seq, reason })
}

/// The recorded time parsed last: the records of a batch share theirs, so most records are
/// not parsed again.
#[derive(Default)]
struct LastTime(Option<(String, Timestamp)>);

impl LastTime {
    fn parse(&mut self, text: &str) -> Result<Timestamp, String> {
        if let Some((last, time)) = &self.0
            && last == text
        {
            return Ok(*time);
        }
        let time = Timestamp::parse(text).map_err(|e| e.to_string())?;
        self.0 = Some((text.to_owned(), time));
        Ok(time)
    }
}

/// A parsed record, with `body` its body's text, as [`Decoded`].
fn decoded(
    view: &RecordView<'_>,
    body: &str,
    hash: Hash,
    before: Option<&str>,
    times: &mut LastTime,
) -> Result<Decoded, String> {
    let domain = if is_control(view.event_type) {
        None
    } else {
        Some(DomainPart {
            event: DomainEvent::decode(view.event_type, view.schema, body.as_bytes())
                .map_err(|e| e.to_string())?,
            recorded: times.parse(view.recorded)?,
            event_type: view.event_type.to_owned(),
            schema: view.schema,
            marking: marking_rank(&view.marking)?,
            body: body.to_owned(),
        })
    };
    let prev = if before == Some(view.prev) {
        Prev::Follows
    } else {
        let lower_hex = view
            .prev
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        Prev::Hash(Hash::from_hex(view.prev).ok().filter(|_| lower_hex))
    };
    Ok(Decoded {
        hash,
        hex: hash.to_hex(),
        seq: view.seq,
        prev,
        recorded: view.recorded.to_owned(),
        domain,
    })
}

/// Decodes records in order, each with the hash of the one before it.
struct Decoder {
    /// The hex hash of the record decoded last, if it decoded.
    before: Option<String>,
    /// The envelope being parsed (see [`RecordView::parse_envelope`]).
    scratch: String,
    times: LastTime,
}

impl Decoder {
    fn new() -> Decoder {
        Decoder {
            before: None,
            scratch: String::new(),
            times: LastTime::default(),
        }
    }

    fn decode(&mut self, rec: &StoredRecord) -> Result<Decoded, Error> {
        let d = decode(
            rec,
            self.before.as_deref(),
            &mut self.scratch,
            &mut self.times,
        );
        match &d {
            Ok(d) => {
                let before = self.before.get_or_insert_with(String::new);
                before.clear();
                before.push_str(&d.hex);
            }
            Err(_) => self.before = None,
        }
        d
    }
}

/// Records decoded per message between the decoding and the applying thread.
const DECODE_CHUNK: usize = 128;

/// Calls `f` with every record of `page` in order and its [`decode`]d form. Pages of more than
/// one chunk are decoded (hashing, JSON) on a second thread while `f` applies the records
/// before; `f` returning an error stops both.
pub(crate) fn for_each_decoded(
    page: &[StoredRecord],
    mut f: impl FnMut(&StoredRecord, Result<Decoded, Error>) -> Result<(), Error>,
) -> Result<(), Error> {
    if page.len() <= DECODE_CHUNK {
        let mut decoder = Decoder::new();
        return page.iter().try_for_each(|rec| f(rec, decoder.decode(rec)));
    }
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Result<Decoded, Error>>>(64);
        let thread = std::thread::Builder::new().name("views-decode".into());
        let spawned = thread.spawn_scoped(scope, move || {
            let mut decoder = Decoder::new();
            for chunk in page.chunks(DECODE_CHUNK) {
                let decoded = chunk.iter().map(|rec| decoder.decode(rec)).collect();
                if tx.send(decoded).is_err() {
                    break; // the applying side stopped
                }
            }
        });
        if spawned.is_err() {
            // No thread to be had: decode here.
            let mut decoder = Decoder::new();
            return page.iter().try_for_each(|rec| f(rec, decoder.decode(rec)));
        }
        for chunk in page.chunks(DECODE_CHUNK) {
            let decoded = rx.recv().map_err(|_| Error::Corrupt {
                seq: chunk[0].position,
                reason: "the decoding thread stopped".into(),
            })?;
            for (rec, d) in chunk.iter().zip(decoded) {
                f(rec, d)?;
            }
        }
        Ok(())
    })
}

/// The rank of a record's marking label, from 0 (`TLP:CLEAR`) to 4 (`TLP:RED`), the order of
/// [`Marking::ALL`]; a label that is not one of the five is an error (nobody may be served such
/// a record).
fn marking_rank(label: &str) -> Result<u8, String> {
    Marking::ALL
        .iter()
        .position(|m| m.as_str() == label)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| format!("marking {label:?} is not a TLP 2.0 label"))
}
