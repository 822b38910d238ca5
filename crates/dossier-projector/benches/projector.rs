//! The projector on a large generated ledger, against the targets of DESIGN.md §10
//! (rebuild of 1M events ≤ 10 s; a belief query with provenance p99 ≤ 5 ms).
//!
//! - **Ledger**: N domain events (default 1,000,000) of real `dossier_model` entities, encoded
//!   with [`DomainEvent::encode_body`] and appended with [`Publisher::publish_all`] (optimistic,
//!   batches of 999 events + seal). Per 1M events: 1,000 sources with reliability assessments
//!   (and ~250 re-assessments), 10,000 questions (boolean, quantity, categorical, forecast, in
//!   topics of 100), ~990 reports (one per batch, each about one topic), ~960k claims (a pool of
//!   12 speakers per question, 20% relayed by an outlet, denials on boolean questions), and
//!   supersessions (same speaker, same question), disputes, corroborations (with
//!   independence), retractions (by the speaker or by a later report), assessments and
//!   forecast resolutions. Entity counts scale with N, so the density per question stays the
//!   same at every size.
//! - **Rebuild**: [`dossier_projector::rebuild`] of the whole ledger into a fresh store, in a
//!   child process doing nothing else: time, events/s, peak RSS (VmHWM, which includes the
//!   ledger pages read through SQLite's memory map), peak anonymous memory (RssAnon, sampled)
//!   and the store's size.
//! - **Fold only** (`--fold-only LEDGER`): decodes a ledger into memory, then times folding it
//!   into a projection engine alone (no store), to see the engine's share of a rebuild.
//! - **Queries**: [`ViewStore::belief`] with full provenance on random questions, now and as
//!   of random recorded times, and [`ViewStore::history`]: p50, p95, p99 and max.
//!
//! Usage: `cargo bench -p dossier-projector --bench projector [-- --events N] [--queries K]`;
//! `-- --store PATH` queries an existing store without rebuilding.
//! With `DOSSIER_BENCH_CACHE=DIR` the generated ledger is kept as `DIR/ledger-N.db` and reused
//! by later runs.
//!
//! `-- --mixed` marks the ledger's reports and their claims and assessments with mixed markings
//! (per batch: 20% TLP:CLEAR, 20% TLP:GREEN, 40% TLP:AMBER, 20% TLP:RED; sources and questions
//! TLP:CLEAR), so that the projector keeps four clearance levels (`ledger-N-mixed.db` in the
//! cache); `-- --clearance TLP:GREEN` asks the queries as a reader with that clearance (default
//! TLP:RED).

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dossier_log::{PendingEvent, Publisher, SqliteLog};
use dossier_model::{
    Admiralty, Assessment, Claim, ClaimValue, Confidence, Credibility, DomainEvent, EntityId,
    ForecastResolution, Icd203Band, Independence, Likelihood, MAPPING_VERSION, Marking, Qualifier,
    Question, QuestionKind, Quote, Relation, RelationKind, ReliabilityAssessment, Report, Source,
    SourceKind, Stance, TimePoint, Timestamp, ValidTime,
};
use dossier_projector::ViewStore;

/// The allocator the `dossier` binary uses (see crates/dossier-cli/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events per batch (a seal makes it 1,000 records).
const BATCH: usize = 999;
/// Questions per topic; a report is about one topic.
const TOPIC: usize = 100;
/// Speakers who talk about a given question.
const POOL: usize = 12;

// ----- a small deterministic generator -----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn id(s: &str) -> EntityId {
    EntityId::parse(s).unwrap()
}

fn source_id(i: usize) -> EntityId {
    id(&format!("source:bench/s{i}"))
}

fn question_id(i: usize) -> EntityId {
    id(&format!("question:bench/t{}/q{i}", i / TOPIC))
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn month(m: usize) -> TimePoint {
    TimePoint::parse(&format!("{:04}-{:02}", 2019 + m / 12, m % 12 + 1)).unwrap()
}

fn pending(ev: &DomainEvent, marking: Marking) -> PendingEvent {
    PendingEvent {
        event_type: ev.event_type().to_owned(),
        schema: DomainEvent::SCHEMA_VERSION,
        entity_key: ev.entity_key(),
        marking: marking.as_str().to_owned(),
        body: ev.encode_body(),
    }
}

/// The marking of batch `i`'s events: TLP:GREEN throughout, or with `mixed`, TLP:CLEAR for the
/// first batches (sources and questions) and then per batch 20% CLEAR, 20% GREEN, 40% AMBER,
/// 20% RED. A report's claims are marked as the report, so markings stay monotone but for
/// relations and assessments reaching claims of more restricted batches (their effective
/// marking is raised).
fn batch_marking(i: usize, setup_batches: usize, mixed: bool) -> Marking {
    if !mixed {
        return Marking::Green;
    }
    if i < setup_batches {
        return Marking::Clear;
    }
    let mut r = Rng(0x3a2c_0000 + i as u64);
    match r.below(10) {
        0 | 1 => Marking::Clear,
        2 | 3 => Marking::Green,
        4..=7 => Marking::Amber,
        _ => Marking::Red,
    }
}

#[derive(Default)]
struct Counts {
    by_type: std::collections::BTreeMap<&'static str, usize>,
    relations: std::collections::BTreeMap<&'static str, usize>,
}

/// What the generator remembers about one question.
#[derive(Default)]
struct QState {
    /// (claim id, speaker, value key) of every claim, in order.
    claims: Vec<(EntityId, usize, i64)>,
    /// Unresolved forecast claims.
    open_forecasts: Vec<EntityId>,
}

struct Gen {
    rng: Rng,
    sources: usize,
    questions: usize,
    out: Vec<DomainEvent>,
    counts: Counts,
    qs: Vec<QState>,
    last_by_speaker: HashMap<(usize, usize), EntityId>,
    reassessed: Vec<usize>,
}

impl Gen {
    fn push(&mut self, ev: DomainEvent) {
        *self.counts.by_type.entry(ev.event_type()).or_default() += 1;
        if let DomainEvent::Relation(r) = &ev {
            *self.counts.relations.entry(r.kind.as_str()).or_default() += 1;
        }
        self.out.push(ev);
    }

    fn kind(q: usize) -> usize {
        q % 4
    }

    fn speaker(&mut self, q: usize) -> usize {
        let k = self.rng.below(POOL);
        (q * 131 + k * 17 + 1) % self.sources
    }

    fn setup(&mut self) {
        for i in 0..self.sources {
            let kind = match i % 10 {
                0 => SourceKind::Outlet,
                1 | 2 => SourceKind::Government,
                3..=5 => SourceKind::Organisation,
                _ => SourceKind::Person,
            };
            self.push(DomainEvent::Source(Source {
                id: source_id(i),
                name: format!("Bench source {i}"),
                kind,
                aliases: Vec::new(),
                affiliation: None,
                description: Some(format!("Generated source number {i}")),
            }));
            self.reliability(i, 0);
        }
        for q in 0..self.questions {
            let kind = match Self::kind(q) {
                0 => QuestionKind::Boolean,
                1 => QuestionKind::Quantity {
                    unit: "containers".into(),
                },
                2 => QuestionKind::Categorical {
                    categories: vec!["rail".into(), "sea".into(), "road".into()],
                },
                _ => QuestionKind::Forecast {
                    event: Some(format!("Event {q} happens")),
                    window: Some(ValidTime {
                        from: Some(month(72)),
                        until: Some(month(83)),
                    }),
                },
            };
            self.push(DomainEvent::Question(Question {
                id: question_id(q),
                text: format!("Generated question {q} of topic {}?", q / TOPIC),
                kind,
                about: None,
            }));
        }
    }

    fn reliability(&mut self, s: usize, n: usize) {
        const RATINGS: [Admiralty; 6] = [
            Admiralty::A,
            Admiralty::B,
            Admiralty::C,
            Admiralty::D,
            Admiralty::E,
            Admiralty::F,
        ];
        let rating = RATINGS[self.rng.below(6)];
        self.push(DomainEvent::Reliability(ReliabilityAssessment {
            id: id(&format!("reliability:bench/s{s}-{n}")),
            source: source_id(s),
            rating,
            scope: None,
            rationale: Some(format!("Track record review {n}")),
        }));
    }

    /// One report and its claims, relations, assessments and resolutions: `budget` events.
    fn report(&mut self, r: usize, budget: usize) {
        let start = self.out.len();
        let topics = self.questions.div_ceil(TOPIC);
        let topic = r % topics;
        let rid = id(&format!("report:bench/r{r}"));
        let m = r * 72 / (self.questions / 10).max(1) % 72; // valid months advance with the reports
        let published = ts(&format!(
            "{:04}-{:02}-15T09:00:00Z",
            2019 + m / 12,
            m % 12 + 1
        ));
        let text = format!("Generated report {r} about topic {topic}.");
        self.push(DomainEvent::Report(Report {
            id: rid.clone(),
            publisher: format!("Bench outlet {}", r % 37),
            title: format!("Report {r} on topic {topic}"),
            published,
            retrieved: published,
            url: Some(format!("https://example.invalid/reports/{r}")),
            language: "en".into(),
            marking: Marking::Green,
            content_hash: blake3::hash(text.as_bytes()).to_hex().to_string(),
            text_chars: 200 * budget as u64,
        }));
        if self.rng.chance(0.25) {
            let s = self.rng.below(self.sources);
            self.reassessed[s] += 1;
            let n = self.reassessed[s];
            self.reliability(s, n);
        }
        let q_lo = topic * TOPIC;
        let q_hi = (q_lo + TOPIC).min(self.questions);
        let mut j = 0;
        // A claim or an assessment adds at most two events; the last slots get plain claims.
        while self.out.len() - start + 2 < budget {
            let q = q_lo + self.rng.below(q_hi - q_lo);
            // A few assessments (and forecast resolutions) per report.
            if j % 200 == 199 {
                self.assessment(r, j, q);
            } else {
                self.claim(r, j, q, &rid, m, published, true);
            }
            j += 1;
        }
        // Now and then, a report retracts an earlier claim of its topic.
        if self.out.len() - start < budget && self.rng.chance(0.5) {
            let q = q_lo + self.rng.below(q_hi - q_lo);
            if let Some((c, _, _)) = self.qs[q].claims.first().cloned() {
                self.relation(RelationKind::Retracts, &rid, c, None, "Correction issued");
            }
        }
        while self.out.len() - start < budget {
            let q = q_lo + self.rng.below(q_hi - q_lo);
            self.claim(r, j, q, &rid, m, published, false);
            j += 1;
        }
    }

    fn assessment(&mut self, r: usize, j: usize, q: usize) {
        let aid = id(&format!("assessment:bench/r{r}/a{j}"));
        let based_on: Vec<EntityId> = self.qs[q]
            .claims
            .iter()
            .rev()
            .take(2)
            .map(|c| c.0.clone())
            .collect();
        let (value, likelihood) = match Self::kind(q) {
            1 => (
                Some(ClaimValue::Quantity {
                    value: (1000 + q * 37 % 9000) as f64,
                    qualifier: Qualifier::Approximately,
                    unit: None,
                }),
                None,
            ),
            2 => (Some(ClaimValue::Category("rail".into())), None),
            _ => (None, Some(Icd203Band::Likely)),
        };
        let confidence =
            [Confidence::Low, Confidence::Moderate, Confidence::High][self.rng.below(3)];
        self.push(DomainEvent::Assessment(Assessment {
            id: aid.clone(),
            question: question_id(q),
            value,
            likelihood,
            confidence,
            rationale: format!("Analyst judgment {j} of report {r}"),
            based_on,
        }));
        // Forecast questions: the assessment resolves one open forecast.
        if Self::kind(q) == 3 && !self.qs[q].open_forecasts.is_empty() {
            let k = self.rng.below(self.qs[q].open_forecasts.len());
            let forecast = self.qs[q].open_forecasts.swap_remove(k);
            let outcome = self.rng.chance(0.7);
            self.push(DomainEvent::Resolution(ForecastResolution {
                forecast,
                outcome,
                by: aid,
                note: Some("Observed".into()),
            }));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn claim(
        &mut self,
        r: usize,
        j: usize,
        q: usize,
        rid: &EntityId,
        m: usize,
        uttered: Timestamp,
        related: bool,
    ) {
        let cid = id(&format!("claim:bench/r{r}/c{j}"));
        let speaker = self.speaker(q);
        let via = self
            .rng
            .chance(0.2)
            .then(|| self.rng.below(self.sources / 10) * 10);
        let kind = Self::kind(q);
        // (stance, value, value key for agreement)
        let (stance, value, key) = match kind {
            0 => {
                if self.rng.chance(0.25) {
                    (Stance::Denies, None, 0)
                } else {
                    (Stance::Asserts, Some(ClaimValue::Boolean(true)), 1)
                }
            }
            1 => {
                if self.rng.chance(0.02) {
                    (Stance::Denies, None, -1)
                } else {
                    let base = (1000 + q * 37 % 9000) as i64;
                    let step = [-1i64, 0, 0, 0, 1][self.rng.below(5)];
                    let v = base + step * base / 10 + (m as i64) * 10;
                    if self.rng.chance(0.1) {
                        (
                            Stance::Asserts,
                            Some(ClaimValue::Range {
                                low: (v - 100) as f64,
                                high: (v + 100) as f64,
                                unit: None,
                            }),
                            v + 1_000_000,
                        )
                    } else {
                        let qualifier = [
                            Qualifier::Exact,
                            Qualifier::Approximately,
                            Qualifier::AtLeast,
                            Qualifier::AtMost,
                        ][self.rng.below(4)];
                        (
                            Stance::Asserts,
                            Some(ClaimValue::Quantity {
                                value: v as f64,
                                qualifier,
                                unit: Some("containers".into()),
                            }),
                            v,
                        )
                    }
                }
            }
            2 => {
                let c = [0usize, 0, 0, 1, 1, 2][self.rng.below(6)];
                (
                    Stance::Asserts,
                    Some(ClaimValue::Category(["rail", "sea", "road"][c].into())),
                    c as i64,
                )
            }
            _ => {
                let yes = self.rng.chance(0.7);
                (
                    Stance::Forecasts,
                    Some(ClaimValue::Boolean(yes)),
                    i64::from(yes),
                )
            }
        };
        let valid_time = if kind == 3 {
            Some(ValidTime {
                from: Some(month(72)),
                until: Some(month(83)),
            })
        } else {
            Some(ValidTime {
                from: Some(month(m)),
                until: Some(month(m)),
            })
        };
        let likelihood = (kind == 3).then(|| Likelihood {
            wording: "likely".into(),
            band: Some(Icd203Band::Likely),
            mapping: Some(MAPPING_VERSION.into()),
        });
        let sentence = format!("Speaker {speaker} on question {q}, statement {j}.");
        let start = (j * 60) as u64;
        let credibility = Credibility::new(1 + self.rng.below(6) as u8).unwrap();
        self.push(DomainEvent::Claim(Claim {
            id: cid.clone(),
            report: Some(rid.clone()),
            question: question_id(q),
            speaker: source_id(speaker),
            via: via.map(source_id),
            stance,
            value,
            valid_time,
            uttered: Some(uttered),
            quote: Quote {
                start,
                end: start + sentence.chars().count() as u64,
                text: sentence,
            },
            credibility,
            likelihood,
        }));
        // Relations to earlier claims.
        let prior = self
            .last_by_speaker
            .get(&(q, speaker))
            .cloned()
            .filter(|_| related);
        if let Some(old) = prior {
            if self.rng.chance(0.011) {
                self.relation(RelationKind::Supersedes, &cid, old, None, "Revised figure");
            } else if self.rng.chance(0.0005) {
                self.relation(
                    RelationKind::Retracts,
                    &cid,
                    old,
                    None,
                    "Withdrawn by the speaker",
                );
            }
        }
        let n = self.qs[q].claims.len();
        if n > 0 && related {
            if stance == Stance::Denies && kind == 0 && self.rng.chance(0.07) {
                // A denial disputes an earlier assertion by someone else.
                for _ in 0..5 {
                    let (c, s, k) = self.qs[q].claims[self.rng.below(n)].clone();
                    if s != speaker && k == 1 {
                        self.relation(RelationKind::Disputes, &cid, c, None, "Denied");
                        break;
                    }
                }
            } else if stance != Stance::Denies && self.rng.chance(0.006) {
                for _ in 0..5 {
                    let (c, s, k) = self.qs[q].claims[self.rng.below(n)].clone();
                    if s != speaker && k == key {
                        let ind = [
                            Independence::Independent,
                            Independence::Independent,
                            Independence::SamePrimarySource,
                            Independence::Unknown,
                        ][self.rng.below(4)];
                        self.relation(
                            RelationKind::Corroborates,
                            &cid,
                            c,
                            Some(ind),
                            "Same account",
                        );
                        break;
                    }
                }
            }
        }
        if kind == 3 {
            self.qs[q].open_forecasts.push(cid.clone());
        }
        self.qs[q].claims.push((cid.clone(), speaker, key));
        self.last_by_speaker.insert((q, speaker), cid);
    }

    fn relation(
        &mut self,
        kind: RelationKind,
        from: &EntityId,
        to: EntityId,
        independence: Option<Independence>,
        note: &str,
    ) {
        self.push(DomainEvent::Relation(Relation {
            kind,
            from: from.clone(),
            to,
            independence,
            note: Some(note.into()),
        }));
    }
}

/// The batches of a ledger of `n` domain events, and how many of them the setup (sources,
/// questions, reliability) fills.
fn generate(n: usize) -> (Vec<Vec<DomainEvent>>, usize, Counts) {
    let sources = (n / 1000).max(20);
    let questions = (n / 100).max(TOPIC);
    let mut g = Gen {
        rng: Rng(0x00D0_551E),
        sources,
        questions,
        out: Vec::new(),
        counts: Counts::default(),
        qs: (0..questions).map(|_| QState::default()).collect(),
        last_by_speaker: HashMap::new(),
        reassessed: vec![0; sources],
    };
    g.setup();
    g.out.truncate(n);
    let mut batches: Vec<Vec<DomainEvent>> = std::mem::take(&mut g.out)
        .chunks(BATCH)
        .map(<[DomainEvent]>::to_vec)
        .collect();
    let setup_batches = batches.len();
    let mut total: usize = batches.iter().map(Vec::len).sum();
    let mut r = 0;
    while total < n {
        let budget = (n - total).min(BATCH);
        g.report(r, budget);
        let b = std::mem::take(&mut g.out);
        total += b.len();
        batches.push(b);
        r += 1;
    }
    (batches, setup_batches, g.counts)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Writes a ledger of `n` events at `path` (via a temporary file, renamed when complete).
fn build_ledger(path: &Path, n: usize, mixed: bool) {
    let started = Instant::now();
    let (batches, setup_batches, counts) = generate(n);
    let gen_time = started.elapsed();
    let tmp = path.with_extension("partial");
    for stale in [
        tmp.clone(),
        tmp.with_extension("partial-wal"),
        tmp.with_extension("partial-shm"),
    ] {
        let _ = std::fs::remove_file(stale);
    }
    {
        let log = SqliteLog::open(&tmp).unwrap();
        let signer = dossier_log::conformance::founder();
        let rt = rt();
        let ledger = rt.block_on(dossier_log::conformance::init(&log));
        let owned: Vec<(Vec<PendingEvent>, Vec<Vec<u8>>)> = batches
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let m = batch_marking(i, setup_batches, mixed);
                (b.iter().map(|e| pending(e, m)).collect(), Vec::new())
            })
            .collect();
        drop(batches);
        let p = Publisher::new(&log, &signer, ledger).optimistic(true);
        rt.block_on(p.publish_all(owned)).unwrap();
    }
    // Fold the WAL into the file so that the ledger is one file.
    {
        let conn = rusqlite::Connection::open(&tmp).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    std::fs::rename(&tmp, path).unwrap();
    println!(
        "generated {n} events in {:.1} s (entities {:.1} s, append {:.1} s): {}; relations: {}",
        started.elapsed().as_secs_f64(),
        gen_time.as_secs_f64(),
        (started.elapsed() - gen_time).as_secs_f64(),
        counts
            .by_type
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        counts
            .relations
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
}

use dossier_testkit::{peak_rss_kib, run_self_child};

/// In the child: rebuilds and prints `seconds applied peak_kib peak_anon_kib`.
///
/// The peak RSS (VmHWM) counts the pages of the ledger that SQLite reads through a memory map
/// (file-backed, shared with the page cache); the peak of anonymous memory (the process's own:
/// engine, buffers, SQLite's cache) is sampled every 20 ms.
fn rebuild_child(ledger: &Path, store: &Path) {
    let sampler = dossier_testkit::AnonPeak::start();
    let log = SqliteLog::open(ledger).unwrap();
    // As `dossier views rebuild` does (`Backend::for_folding`).
    log.map_reads().unwrap();
    let started = Instant::now();
    let progress = rt()
        .block_on(dossier_projector::rebuild(&log, store))
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let anon = sampler.stop();
    println!("{secs} {} {} {anon}", progress.applied, peak_rss_kib());
}

/// `--fold-only LEDGER`: decodes the whole ledger into memory, then times folding it into a
/// projection engine alone (no store), to see the engine's share of a rebuild.
fn fold_only(ledger: &Path) {
    use dossier_chain::RecordView;
    use dossier_log::EventLog as _;
    let log = SqliteLog::open(ledger).unwrap();
    log.map_reads().unwrap();
    let rt = rt();
    let mut events = Vec::new();
    let mut from = 1;
    loop {
        let page = rt.block_on(log.read(from, 32_768)).unwrap();
        if page.is_empty() {
            break;
        }
        from += page.len() as u64;
        for rec in page {
            let view = RecordView::parse(&rec.bytes).unwrap();
            if let Ok(event) =
                DomainEvent::decode(view.event_type, view.schema, view.body.get().as_bytes())
            {
                let recorded = dossier_model::Timestamp::parse(view.recorded).unwrap();
                events.push((rec.position, recorded, event));
            }
        }
    }
    let started = Instant::now();
    let cpu_before = thread_cpu_secs();
    let mut engine = dossier_beliefs::Engine::for_projection();
    if std::env::var_os("NO_RESERVE").is_none() {
        engine.reserve(events.len());
    }
    let mut changes = 0;
    for (seq, recorded, event) in &events {
        changes += engine
            .apply(dossier_beliefs::Recorded {
                seq: *seq,
                hash: "00",
                recorded: *recorded,
                event,
            })
            .len();
    }
    println!(
        "folded {} events in {:.2} s ({:.2} s CPU), {changes} changes",
        events.len(),
        started.elapsed().as_secs_f64(),
        thread_cpu_secs() - cpu_before
    );
}

/// CPU time of the calling thread (user + system), from /proc (Linux; 0 elsewhere).
fn thread_cpu_secs() -> f64 {
    cpu_secs("/proc/thread-self/stat")
}

/// CPU time of the whole process, all threads (user + system), from /proc (Linux; 0 elsewhere).
fn process_cpu_secs() -> f64 {
    cpu_secs("/proc/self/stat")
}

/// User + system CPU time from a /proc `stat` file.
fn cpu_secs(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the command name (which ends with the last ')'): utime and stime are the
    // 12th and 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn percentiles(mut d: Vec<Duration>) -> [f64; 4] {
    d.sort();
    let at = |p: f64| {
        d[((d.len() as f64 * p).ceil() as usize).clamp(1, d.len()) - 1].as_secs_f64() * 1e3
    };
    [
        at(0.50),
        at(0.95),
        at(0.99),
        d[d.len() - 1].as_secs_f64() * 1e3,
    ]
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// `--follow-prepare LEDGER DIR N`: copies LEDGER into DIR, rebuilds its views there, then
/// publishes N events posing new questions (batches of 999 + seal) that the views have not
/// applied; `--follow-child DIR` then times the projector catching up on them, as a projector
/// following a live ledger does (to compare its rate with a rebuild's).
fn follow_prepare(ledger: &Path, dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let copy = dir.join("ledger.db");
    std::fs::copy(ledger, &copy).unwrap();
    let log = SqliteLog::open(&copy).unwrap();
    rt().block_on(async {
        use dossier_log::EventLog as _;
        let t0 = Instant::now();
        dossier_projector::rebuild(&log, &dir.join("views.db"))
            .await
            .unwrap();
        println!("views rebuilt in {:.1} s", t0.elapsed().as_secs_f64());
        let ledger = dossier_log::ledger::genesis(&log)
            .await
            .unwrap()
            .unwrap()
            .ledger;
        let mut batches = Vec::new();
        for (b, start) in (0..n).step_by(999).enumerate() {
            let questions: Vec<serde_json::Value> = (start..n.min(start + 999))
                .map(|i| {
                    serde_json::json!({
                        "id": format!("question:follow/{i}"),
                        "text": format!("Followed question {i}: {}?", "a".repeat(420)),
                        "kind": { "type": "boolean" }
                    })
                })
                .collect();
            let bundle =
                serde_json::json!({ "version": 1, "marking": "TLP:CLEAR", "questions": questions });
            let name = format!("follow {b}");
            let parsed =
                dossier_model::parse_bundle(&name, &serde_json::to_vec(&bundle).unwrap()).unwrap();
            let v =
                dossier_model::validate(&name, parsed, &dossier_model::KnownEntities::default())
                    .unwrap();
            batches.push(dossier_log::ledger::pending_events(&v));
        }
        let signer = dossier_log::conformance::founder();
        Publisher::new(&log, &signer, ledger.parse().unwrap())
            .publish_all(batches)
            .await
            .unwrap();
        println!(
            "published {n} events; head {}",
            log.head().await.unwrap().seq
        );
    });
}

fn follow_child(dir: &Path, page: Option<usize>) {
    let log = SqliteLog::open(&dir.join("ledger.db")).unwrap();
    let views = dir.join("views.db");
    rt().block_on(async {
        let before = ViewStore::open(&views)
            .unwrap()
            .checkpoint()
            .unwrap()
            .map_or(0, |c| c.seq);
        let (t0, cpu0) = (Instant::now(), process_cpu_secs());
        let mut projector = dossier_projector::Projector::open(&log, &views)
            .await
            .unwrap();
        println!(
            "opened at seq {before} in {:.2} s, {:.2} s CPU (a restart; {:?})",
            t0.elapsed().as_secs_f64(),
            process_cpu_secs() - cpu0,
            projector.restored()
        );
        if let Some(page) = page {
            projector.set_page_size(page);
        }
        let (t0, cpu0) = (Instant::now(), process_cpu_secs());
        let p = projector.catch_up(&log).await.unwrap();
        let s = t0.elapsed().as_secs_f64();
        println!(
            "then caught up {} records in {s:.2} s, {:.2} s CPU: {:.0} records/s",
            p.applied - before,
            process_cpu_secs() - cpu0,
            (p.applied - before) as f64 / s
        );
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--follow-prepare") {
        follow_prepare(
            Path::new(&args[i + 1]),
            Path::new(&args[i + 2]),
            args[i + 3].parse().unwrap(),
        );
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--follow-child") {
        let page = args
            .iter()
            .position(|a| a == "--page")
            .and_then(|i| args.get(i + 1)?.parse().ok());
        follow_child(Path::new(&args[i + 1]), page);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--rebuild-child") {
        rebuild_child(Path::new(&args[i + 1]), Path::new(&args[i + 2]));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--fold-only") {
        fold_only(Path::new(&args[i + 1]));
        return;
    }
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1)?.parse::<usize>().ok())
    };
    let n = arg("--events").unwrap_or(1_000_000);
    let mixed = args.iter().any(|a| a == "--mixed");
    let clearance: Marking = args
        .iter()
        .position(|a| a == "--clearance")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(Marking::Red);
    let queries = arg("--queries").unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();

    // `--store PATH`: query an existing store (built by an earlier run) without rebuilding,
    // e.g. to compare two builds' query latency on the same data in the same minute.
    let given_store = args
        .iter()
        .position(|a| a == "--store")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let ledger: PathBuf = match std::env::var_os("DOSSIER_BENCH_CACHE") {
        Some(cache) => {
            let cache = PathBuf::from(cache);
            std::fs::create_dir_all(&cache).unwrap();
            cache.join(if mixed {
                format!("ledger-{n}-mixed.db")
            } else {
                format!("ledger-{n}.db")
            })
        }
        None => dir.path().join("ledger.db"),
    };
    if given_store.is_some() {
        println!("querying the given store; no rebuild");
    } else if ledger.is_file() {
        println!("using cached ledger {}", ledger.display());
    } else {
        build_ledger(&ledger, n, mixed);
    }
    let ledger_mb = std::fs::metadata(&ledger).map_or(0.0, |m| m.len() as f64 / 1e6);

    // Rebuild in a child process, for its peak memory.
    let rebuilt = given_store.is_none();
    let (store, secs, records, peak_kib, anon_kib) = match given_store {
        Some(store) => (store, f64::NAN, 0, 0, 0),
        None => {
            let store = dir.path().join("views.db");
            let line = run_self_child(&[
                std::ffi::OsStr::new("--rebuild-child"),
                ledger.as_os_str(),
                store.as_os_str(),
            ]);
            let mut f = line.split_whitespace();
            let secs: f64 = f.next().unwrap().parse().unwrap();
            let records: u64 = f.next().unwrap().parse().unwrap();
            let peak_kib: u64 = f.next().unwrap().parse().unwrap();
            let anon_kib: u64 = f.next().unwrap().parse().unwrap();
            (store, secs, records, peak_kib, anon_kib)
        }
    };
    let store_mb = std::fs::metadata(&store).unwrap().len() as f64 / 1e6;

    // A projector restarting on the rebuilt store restores its engines from the snapshot the
    // rebuild left (or refolds the ledger up to its checkpoint) before it follows the ledger
    // again; then the time to write a snapshot again (encode, write, sync, rename).
    let snapshot = dossier_projector::snapshot_path(&store);
    let snapshot_mb = std::fs::metadata(&snapshot).map_or(0.0, |m| m.len() as f64 / 1e6);
    let (reopen_secs, restored, snapshot_secs) = if rebuilt {
        let log = SqliteLog::open(&ledger).unwrap();
        log.map_reads().unwrap();
        let (t0, cpu0) = (Instant::now(), process_cpu_secs());
        let mut p = rt()
            .block_on(dossier_projector::Projector::open(&log, &store))
            .unwrap();
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "restart: {:.2} s CPU of the process",
            process_cpu_secs() - cpu0
        );
        std::hint::black_box(p.applied());
        let t0 = Instant::now();
        p.snapshot().unwrap();
        let snapshot_secs = t0.elapsed().as_secs_f64();
        // What a serving projector does when idle after a rebuild: materialise every level's
        // current provenance (the queries below then read it).
        let t0 = Instant::now();
        let rows = p.materialise(usize::MAX).unwrap();
        println!(
            "materialised the provenance of {rows} lines (all levels) in {:.1} s; store {:.0} MB",
            t0.elapsed().as_secs_f64(),
            std::fs::metadata(&store).unwrap().len() as f64 / 1e6
        );
        (secs, format!("{:?}", p.restored()), snapshot_secs)
    } else {
        (f64::NAN, String::new(), f64::NAN)
    };

    let views = ViewStore::open(&store).unwrap();
    let conn =
        rusqlite::Connection::open_with_flags(&store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    let (versions, changes) = (
        count("SELECT COUNT(*) FROM belief_versions"),
        count("SELECT COUNT(*) FROM history"),
    );
    let avg_belief = count("SELECT CAST(AVG(LENGTH(line)) AS INTEGER) FROM beliefs");
    let questions: Vec<String> = conn
        .prepare("SELECT question FROM beliefs WHERE level = 4")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let times: Vec<String> = conn
        .prepare("SELECT DISTINCT recorded FROM belief_versions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(conn);

    println!("\n== rebuild (dossier_projector::rebuild into a fresh store, child process)");
    println!(
        "{:>9} {:>9} {:>10} {:>11} {:>12} {:>10} {:>10} {:>11} {:>10} {:>9} {:>12}",
        "events",
        "records",
        "ledger MB",
        "rebuild s",
        "events/s",
        "peak RSS",
        "anon peak",
        "store MB",
        "versions",
        "changes",
        "avg line B"
    );
    println!(
        "{n:>9} {records:>9} {ledger_mb:>10.0} {secs:>11.1} {:>12.0} {:>6.0} MiB {:>6.0} MiB {store_mb:>11.0} {versions:>10} {changes:>9} {avg_belief:>12}",
        n as f64 / secs,
        peak_kib as f64 / 1024.0,
        anon_kib as f64 / 1024.0
    );
    println!(
        "restart: Projector::open on the rebuilt store: {reopen_secs:.2} s ({restored}); snapshot {snapshot_mb:.0} MB, written again in {snapshot_secs:.2} s"
    );

    let mut rng = Rng(7);
    let mut now = Vec::with_capacity(queries);
    let mut as_json = Vec::with_capacity(queries);
    let mut then = Vec::with_capacity(queries);
    let mut hist = Vec::with_capacity(queries);
    let (mut bytes, mut hist_len) = (0usize, 0usize);
    for _ in 0..queries {
        let q = &questions[rng.below(questions.len())];
        let t0 = Instant::now();
        let b = views
            .belief_view(clearance, q, None, None)
            .unwrap()
            .expect("posed");
        now.push(t0.elapsed());
        std::hint::black_box(&b);
        let t0 = Instant::now();
        let v = serde_json::to_string(&views.belief(clearance, q, None).unwrap().expect("posed"))
            .unwrap();
        as_json.push(t0.elapsed());
        bytes += v.len();
        let as_of = &times[rng.below(times.len())];
        let t0 = Instant::now();
        let _ = std::hint::black_box(views.belief_view(clearance, q, Some(as_of), None).unwrap());
        then.push(t0.elapsed());
        let t0 = Instant::now();
        hist_len += views.history(clearance, q, None).unwrap().len();
        hist.push(t0.elapsed());
    }
    println!(
        "\n== queries ({queries} random questions of {}, as a reader cleared for {clearance}; a fresh connection per query, as the CLI does)",
        questions.len()
    );
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>9}",
        "query", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    let rows = [
        ("belief_view(q, now) with provenance", percentiles(now)),
        ("belief_view(q, as_of) with provenance", percentiles(then)),
        ("belief(q, now) encoded as JSON", percentiles(as_json)),
        ("history(q, None)", percentiles(hist)),
    ];
    for (name, [p50, p95, p99, max]) in &rows {
        println!("{name:<40} {p50:>9.2} {p95:>9.2} {p99:>9.2} {max:>9.2}");
    }
    println!(
        "(average belief JSON {} B, average history {} changes)",
        bytes / queries.max(1),
        hist_len / queries.max(1)
    );

    println!(
        "\n== targets (DESIGN.md §10; they are stated for a 1M-event ledger, this run has {n})"
    );
    println!(
        "rebuild of 1M events <= 10 s: {secs:.1} s for {n} events -> {}",
        if n >= 1_000_000 {
            met(secs <= 10.0).to_owned()
        } else {
            format!(
                "{} at this size; linear extrapolation to 1M: {:.0} s",
                met(secs <= 10.0 * n as f64 / 1e6),
                secs * 1e6 / n as f64
            )
        }
    );
    let p99 = rows[0].1[2].max(rows[1].1[2]);
    println!(
        "belief query with provenance p99 <= 5 ms: {p99:.2} ms (worse of now / as-of) -> {}",
        met(p99 <= 5.0)
    );
}
