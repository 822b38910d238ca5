//! Reading what validation and publishing need from a ledger, whatever its backend.

use dossier_chain::{GenesisBody, Hash, RecordView, control, event_id};
use dossier_model::{
    DomainEvent, EntityId, KnownEntities, KnownReport, Marking, ValidatedBundle, event_type_for,
};
use uuid::Uuid;

use crate::{EventLog, LogError, PendingEvent};

/// The genesis body of the ledger, or `None` if the log is empty.
///
/// # Errors
/// If the backend fails or record 1 is not a genesis record.
pub async fn genesis<L: EventLog>(log: &L) -> Result<Option<GenesisBody>, LogError> {
    let Some(first) = log.read(1, 1).await?.into_iter().next() else {
        return Ok(None);
    };
    let view =
        RecordView::parse(&first.bytes).map_err(|e| LogError::Corrupt(format!("record 1: {e}")))?;
    if view.event_type != control::GENESIS {
        return Err(LogError::Corrupt(format!(
            "record 1 is a {}, not a ledger.genesis",
            view.event_type
        )));
    }
    serde_json::from_str(view.body.get())
        .map(Some)
        .map_err(|e| LogError::Corrupt(format!("record 1 body: {e}")))
}

/// The ledger id, or `None` if the log is empty.
///
/// # Errors
/// As [`genesis`].
pub async fn ledger_id<L: EventLog>(log: &L) -> Result<Option<Uuid>, LogError> {
    match genesis(log).await? {
        None => Ok(None),
        Some(g) => Uuid::parse_str(&g.ledger)
            .map(Some)
            .map_err(|e| LogError::Corrupt(format!("ledger id: {e}"))),
    }
}

/// The recorded event defining an entity, as `(seq, event)`, if any.
///
/// # Errors
/// If the backend fails or the stored body cannot be decoded.
pub async fn entity<L: EventLog>(
    log: &L,
    id: &EntityId,
) -> Result<Option<(u64, DomainEvent)>, LogError> {
    Ok(entity_marked(log, id)
        .await?
        .map(|(seq, _, event)| (seq, event)))
}

/// The recorded event defining an entity with its record's marking, as
/// `(seq, marking, event)`, if any.
///
/// # Errors
/// If the backend fails, or the stored marking or body cannot be decoded.
pub async fn entity_marked<L: EventLog>(
    log: &L,
    id: &EntityId,
) -> Result<Option<(u64, Marking, DomainEvent)>, LogError> {
    let event_type = event_type_for(id.kind());
    let Some(Some(entry)) = log
        .lookup(&[event_id(event_type, id.as_str())])
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let Some(record) = log.read(entry.seq, 1).await?.into_iter().next() else {
        return Err(LogError::Corrupt(format!(
            "the index points {id} at seq {}, which is not stored",
            entry.seq
        )));
    };
    let view = RecordView::parse(&record.bytes)
        .map_err(|e| LogError::Corrupt(format!("seq {}: {e}", entry.seq)))?;
    let event = DomainEvent::decode(view.event_type, view.schema, view.body.get().as_bytes())
        .map_err(|e| LogError::Corrupt(format!("seq {}: {e}", entry.seq)))?;
    let marking = view
        .marking
        .parse::<Marking>()
        .map_err(|e| LogError::Corrupt(format!("seq {}: {e}", entry.seq)))?;
    Ok(Some((entry.seq, marking, event)))
}

/// Fetches the entities a bundle refers to but does not define, with their records'
/// markings, for validation.
///
/// # Errors
/// If the backend fails or a stored record cannot be decoded.
pub async fn known_entities<L: EventLog>(
    log: &L,
    refs: &[EntityId],
) -> Result<KnownEntities, LogError> {
    let mut known = KnownEntities::default();
    for id in refs {
        let Some((_, marking, event)) = entity_marked(log, id).await? else {
            continue;
        };
        known.markings.insert(id.clone(), marking);
        add_event(log, &mut known, event).await?;
    }
    Ok(known)
}

async fn add_event<L: EventLog>(
    log: &L,
    known: &mut KnownEntities,
    event: DomainEvent,
) -> Result<(), LogError> {
    match event {
        DomainEvent::Source(s) => {
            known.sources.insert(s.id);
        }
        DomainEvent::Report(r) => {
            let text = match Hash::from_hex(&r.content_hash) {
                Ok(h) => log
                    .content(&h)
                    .await?
                    .and_then(|b| String::from_utf8(b).ok()),
                Err(_) => None,
            };
            known
                .reports
                .insert(r.id.clone(), KnownReport { report: r, text });
        }
        DomainEvent::Question(q) => {
            known.questions.insert(q.id.clone(), q);
        }
        // A recorded resolution is not marked in `resolved_forecasts`: re-publishing the
        // identical resolution must stay a no-op, and a different one is caught by the
        // publisher's content check (same event id, different body).
        DomainEvent::Claim(c) => {
            known.claims.insert(c.id.clone(), c);
        }
        DomainEvent::Assessment(a) => {
            known.assessments.insert(a.id);
        }
        DomainEvent::Reliability(_)
        | DomainEvent::Interest(_)
        | DomainEvent::Relation(_)
        | DomainEvent::Resolution(_) => {}
    }
    Ok(())
}

/// Adds what a validated bundle defines to `known` (see [`KnownEntities::remember`]).
pub fn remember(known: &mut KnownEntities, bundle: &ValidatedBundle) {
    known.remember(bundle);
}

/// The events and report texts to publish for a validated bundle.
#[must_use]
pub fn pending_events(bundle: &ValidatedBundle) -> (Vec<PendingEvent>, Vec<Vec<u8>>) {
    let events = bundle
        .events
        .iter()
        .map(|m| PendingEvent {
            event_type: m.event.event_type().to_owned(),
            schema: m.event.schema_version(),
            entity_key: m.event.entity_key(),
            marking: m.marking.as_str().to_owned(),
            body: m.event.encode_body(),
        })
        .collect();
    let texts = bundle.texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    (events, texts)
}
