use proptest::prelude::*;

use super::*;

fn header(first: u64, last: u64) -> Header {
    Header {
        ledger: Uuid::from_u128(0x0190_f4d2_7c1e_7a3b_9c4d_5e6f_7081_92a3),
        first,
        last,
    }
}

/// Batches of records as (texts before it, records), starting at `first`.
type Plan = Vec<(Vec<Vec<u8>>, Vec<Vec<u8>>)>;

/// The key context of a file starting at `first` > 1 (the container does not check what the
/// note and proofs say): a checkpoint, the genesis batch (seq 1) and, when there is room, a
/// batch at seq `first - 1`.
fn context(w: &mut Writer<Vec<u8>>, first: u64) {
    w.checkpoint("dossier.test\n7\n", &[Hash([1; 32]), Hash([2; 32])])
        .unwrap();
    w.key_batch(1, [b"{\"genesis\":1}".as_slice()], &[Hash([3; 32])])
        .unwrap();
    if first > 2 {
        w.key_batch(first - 1, [b"{\"keys\":1}".as_slice()], &[])
            .unwrap();
    }
}

fn write(first: u64, plan: &Plan) -> Vec<u8> {
    let records: usize = plan.iter().map(|(_, r)| r.len()).sum();
    let mut w = Writer::new(Vec::new(), header(first, first + records as u64 - 1)).unwrap();
    if first > 1 {
        context(&mut w, first);
    }
    for (texts, records) in plan {
        for t in texts {
            w.text(t).unwrap();
        }
        w.batch(records.iter().map(Vec::as_slice)).unwrap();
    }
    w.finish().unwrap().0
}

fn read_all(file: &[u8]) -> Result<Vec<Section>, ExportError> {
    let mut r = Reader::new(file)?;
    let mut out = Vec::new();
    while let Some(s) = r.next_section()? {
        out.push(s);
    }
    Ok(out)
}

/// The offset of each section's tag.
fn offsets(file: &[u8]) -> Vec<usize> {
    let mut r = Reader::new(file).unwrap();
    let mut out = vec![usize::try_from(r.offset()).unwrap()];
    while r.next_section().unwrap().is_some() {
        out.push(usize::try_from(r.offset()).unwrap());
    }
    out
}

fn plan() -> Plan {
    vec![
        (
            vec![],
            vec![b"{\"seq\":1}".to_vec(), b"{\"seal\":2}".to_vec()],
        ),
        (
            vec!["텍스트 one".as_bytes().to_vec(), b"two".to_vec()],
            vec![
                b"{\"a\":\"line\nbreak\"}".to_vec(),
                b"{\"seal\":4}".to_vec(),
            ],
        ),
        (vec![], vec![b"{\"seal\":5}".to_vec()]),
    ]
}

#[test]
fn a_file_reads_back_as_written() {
    let file = write(1, &plan());
    let sections = read_all(&file).unwrap();
    assert_eq!(sections.len(), 5);
    let Section::Text { hash, bytes } = &sections[1] else {
        panic!("{sections:?}")
    };
    assert_eq!(bytes, "텍스트 one".as_bytes());
    assert_eq!(*hash, Hash::of_bytes(bytes));
    let Section::Batch(b) = &sections[3] else {
        panic!()
    };
    assert_eq!((b.first, b.count, b.last()), (3, 2, 4));
    let records: Vec<&[u8]> = b.records().map(Result::unwrap).collect();
    assert_eq!(
        records,
        [b"{\"a\":\"line\nbreak\"}".as_slice(), b"{\"seal\":4}"]
    );
    assert_eq!(b.seal, Hash::of_record(b"{\"seal\":4}"));
}

#[test]
fn an_empty_range_is_a_file_too() {
    let mut w = Writer::new(Vec::new(), header(7, 6)).unwrap();
    context(&mut w, 7);
    let (file, totals) = w.finish().unwrap();
    assert_eq!(totals, Totals::default());
    assert_eq!(read_all(&file).unwrap().len(), 3, "the key context only");
    assert!(matches!(
        Writer::new(Vec::new(), header(0, 3)),
        Err(ExportError::BadRange { .. })
    ));
}

#[test]
fn every_cut_is_detected_at_the_seq_it_reaches() {
    let file = write(1, &plan());
    for cut in 0..file.len() {
        let err = read_all(&file[..cut]).unwrap_err();
        match err {
            ExportError::NotAnExport | ExportError::Truncated { seq: 0, .. } => {
                assert!(cut < HEADER_BYTES, "{cut}");
            }
            ExportError::Truncated { seq, .. } | ExportError::Unfinished { seq } => {
                assert!([1, 3, 5, 6].contains(&seq), "{cut}: {seq}");
            }
            other => panic!("{cut}: {other}"),
        }
    }
    let mut longer = file.clone();
    longer.push(0);
    assert!(matches!(read_all(&longer), Err(ExportError::TrailingBytes)));
}

#[test]
fn damage_to_the_container_is_located() {
    let file = write(1, &plan());
    // Sections: batch, text, text, batch, batch, end.
    let at = offsets(&file);
    let (t1, b2, b3) = (at[1], at[3], at[4]);
    assert_eq!(
        (file[t1], file[b2], file[b3], file[at[5]]),
        (b'T', b'B', b'B', b'E')
    );

    let mut bad = file.clone();
    bad[b2] = b'X';
    assert!(matches!(
        read_all(&bad),
        Err(ExportError::BadTag {
            seq: 3,
            tag: b'X',
            ..
        })
    ));

    // A text's byte flipped.
    let mut bad = file.clone();
    bad[t1 + 37] ^= 1;
    assert!(matches!(
        read_all(&bad),
        Err(ExportError::TextHash { seq: 3, .. })
    ));

    // The second batch deleted: the third is out of place.
    let mut bad = file[..t1].to_vec();
    bad.extend_from_slice(&file[b3..]);
    assert!(matches!(
        read_all(&bad),
        Err(ExportError::OutOfOrder { seq: 3, found: 5 })
    ));

    // A carrier's count raised: that batch's frame is short, and the next is out of place.
    let mut bad = file.clone();
    bad[b2 + 1 + 8 + 3] = 3;
    assert!(matches!(
        read_all(&bad),
        Err(ExportError::OutOfOrder { seq: 6, found: 5 })
    ));
}

#[test]
fn carrier_and_frame_disagreeing_is_a_frame_error() {
    let file = write(1, &plan());
    let mut bad = file.clone();
    // The first batch's seal hash.
    bad[HEADER_BYTES + 1 + 8 + 4] ^= 1;
    let sections = read_all(&bad).unwrap();
    let Section::Batch(b) = &sections[0] else {
        panic!()
    };
    let err = b.records().find_map(Result::err).unwrap();
    assert_eq!(b.first + err.index as u64, 2);
}

#[test]
fn end_marker_totals_are_checked() {
    let file = write(1, &plan());
    let mut bad = file.clone();
    let end = file.len() - 57;
    assert_eq!(file[end], b'E');
    bad[end + 8] ^= 1;
    assert!(matches!(
        read_all(&bad),
        Err(ExportError::BadEnd { seq: 6, .. })
    ));
    // An end marker before the range's end.
    let mut early = write(1, &plan()[..1].to_vec());
    early[40..48].copy_from_slice(&5u64.to_be_bytes());
    assert!(matches!(
        read_all(&early),
        Err(ExportError::BadEnd { seq: 3, .. })
    ));
}

#[test]
fn other_versions_and_other_files_are_named() {
    let mut file = write(1, &plan());
    assert_eq!(&file[..16], b"dossier-export/2");
    file[15] = b'3';
    assert!(matches!(
        read_all(&file),
        Err(ExportError::UnknownVersion { found }) if found == "dossier-export/3"
    ));
    // A file of version 1 (no key context) is read as before.
    file[15] = b'1';
    assert_eq!(Reader::new(file.as_slice()).unwrap().version(), 1);
    assert_eq!(
        read_all(&file).unwrap(),
        read_all(&write(1, &plan())).unwrap()
    );
    assert!(matches!(
        read_all(b"{\"dossier\":1}\n"),
        Err(ExportError::NotAnExport)
    ));
}

fn arb_plan() -> impl Strategy<Value = Plan> {
    let record = prop::collection::vec(any::<u8>(), 1..64);
    let text = prop::collection::vec(any::<u8>(), 0..64);
    prop::collection::vec(
        (
            prop::collection::vec(text, 0..3),
            prop::collection::vec(record, 1..5),
        ),
        0..6,
    )
}

proptest! {
    #[test]
    fn round_trip(first in 1u64..1_000_000, plan in arb_plan()) {
        let records: usize = plan.iter().map(|(_, r)| r.len()).sum();
        let mut w = Writer::new(Vec::new(), header(first, first + records as u64 - 1)).unwrap();
        if first > 1 {
            context(&mut w, first);
        }
        for (texts, records) in &plan {
            for t in texts {
                w.text(t).unwrap();
            }
            w.batch(records.iter().map(Vec::as_slice)).unwrap();
        }
        let (file, totals) = w.finish().unwrap();
        let mut r = Reader::new(file.as_slice()).unwrap();
        if first > 1 {
            let Some(Section::Checkpoint { last_leaf, .. }) = r.next_section().unwrap() else { panic!() };
            prop_assert_eq!(last_leaf.len(), 2);
            let Some(Section::KeyBatch { batch, .. }) = r.next_section().unwrap() else { panic!() };
            prop_assert_eq!(batch.first, 1);
            if first > 2 {
                let Some(Section::KeyBatch { batch, proof }) = r.next_section().unwrap() else { panic!() };
                prop_assert_eq!((batch.first, proof.len()), (first - 1, 0));
            }
        }
        let mut next = first;
        for (texts, records) in &plan {
            for t in texts {
                let Some(Section::Text { bytes, .. }) = r.next_section().unwrap() else { panic!() };
                prop_assert_eq!(&bytes, t);
            }
            let Some(Section::Batch(b)) = r.next_section().unwrap() else { panic!() };
            prop_assert_eq!(b.first, next);
            let got: Vec<Vec<u8>> = b.records().map(|r| r.unwrap().to_vec()).collect();
            prop_assert_eq!(&got, records);
            next = b.last() + 1;
        }
        prop_assert!(r.next_section().unwrap().is_none());
        prop_assert_eq!(r.totals(), &totals);
    }

    #[test]
    fn any_flipped_byte_is_an_error_or_a_frame_error(plan in arb_plan(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        prop_assume!(!plan.is_empty());
        let file = write(1, &plan);
        let mut bad = file.clone();
        let i = at.index(bad.len());
        bad[i] ^= 1 << bit;
        // Either the container refuses it, or a batch's framing does, or the flip is inside
        // a record (which verification catches: the records differ) — never silently equal.
        match read_all(&bad) {
            Err(_) => {}
            Ok(sections) => {
                let good = read_all(&file).unwrap();
                let header_differs = Reader::new(bad.as_slice()).unwrap().header()
                    != Reader::new(file.as_slice()).unwrap().header();
                let frames_fail = sections.iter().any(|s| matches!(s, Section::Batch(b) if b.records().any(|r| r.is_err())));
                prop_assert!(header_differs || frames_fail || sections != good);
            }
        }
    }
}

#[test]
fn the_key_context_is_read_back_and_checked_in_place() {
    let file = write(5, &plan());
    let sections = read_all(&file).unwrap();
    let Section::Checkpoint { note, last_leaf } = &sections[0] else {
        panic!("{sections:?}")
    };
    assert_eq!((note.as_str(), last_leaf.len()), ("dossier.test\n7\n", 2));
    let Section::KeyBatch { batch, proof } = &sections[1] else {
        panic!()
    };
    assert_eq!(
        (batch.first, batch.count, proof.as_slice()),
        (1, 1, &[Hash([3; 32])][..])
    );
    assert!(matches!(&sections[2], Section::KeyBatch { batch, .. } if batch.first == 4));
    assert!(matches!(&sections[3], Section::Batch(b) if b.first == 5));

    let at = offsets(&file);
    let (k1, k2, b1) = (at[1], at[2], at[3]);
    assert_eq!(
        (file[at[0]], file[k1], file[k2], file[b1]),
        (b'C', b'K', b'K', b'B')
    );
    let context_error = |bad: &[u8]| match read_all(bad) {
        Err(ExportError::Context { seq, detail }) => (seq, detail),
        other => panic!("{other:?}"),
    };
    // No key context at all: named at the seq before the range.
    let mut bad = file[..HEADER_BYTES].to_vec();
    bad.extend_from_slice(&file[b1..]);
    assert_eq!(context_error(&bad).0, 4);
    // A checkpoint and no key batch.
    let mut bad = file[..k1].to_vec();
    bad.extend_from_slice(&file[b1..]);
    assert_eq!(context_error(&bad).0, 1);
    // The genesis batch left out.
    let mut bad = file[..k1].to_vec();
    bad.extend_from_slice(&file[k2..]);
    assert_eq!(context_error(&bad).0, 4);
    // Key batches swapped: the one at seq 1 comes after the one at seq 4.
    let mut bad = file[..k1].to_vec();
    bad.extend_from_slice(&file[k2..b1]);
    bad.extend_from_slice(&file[k1..k2]);
    bad.extend_from_slice(&file[b1..]);
    assert_eq!(context_error(&bad).0, 4);
    // A key batch that reaches into the range.
    let mut bad = file.clone();
    bad[k2 + 1..k2 + 9].copy_from_slice(&5u64.to_be_bytes());
    assert!(matches!(
        read_all(&bad),
        Err(ExportError::BadCarrier { seq: 5, .. })
    ));
    // A second checkpoint, after the key batches.
    let mut bad = file[..b1].to_vec();
    bad.extend_from_slice(&file[at[0]..k1]);
    bad.extend_from_slice(&file[b1..]);
    assert_eq!(context_error(&bad).0, 4);
    // A file of version 1 knows no key context: its sections are unknown tags there.
    let mut v1 = file.clone();
    v1[15] = b'1';
    assert!(matches!(
        read_all(&v1),
        Err(ExportError::BadTag { tag: b'C', .. })
    ));
    // A file from seq 1 has no key context.
    let mut w = Writer::new(Vec::new(), header(1, 1)).unwrap();
    assert!(matches!(
        w.checkpoint("n\n", &[]),
        Err(ExportError::Context { seq: 0, .. })
    ));
    // The writer keeps the order too.
    let mut w = Writer::new(Vec::new(), header(5, 4)).unwrap();
    assert!(matches!(
        w.text(b"t"),
        Err(ExportError::Context { seq: 4, .. })
    ));
}
