//! Several producer processes publishing into one ledger at the same moment.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::Stdio;

use crate::support::{Generated, Ledger, Out, duplicate_entities, gen_bundle};

const PRODUCERS: usize = 5;

#[test]
fn concurrent_producers_each_land_as_one_contiguous_batch() {
    let l = Ledger::init();
    // One key per producer, registered (each registration is a batch) by the founding key.
    let mut keys = Vec::new();
    for p in 0..PRODUCERS {
        let name = format!("p{p}");
        l.run(&["keys", "register", "--name", &name]).ok();
        keys.push(l.key_id(&name));
    }
    let before = l.head();
    let bundles: Vec<Generated> = (0..PRODUCERS)
        .map(|p| gen_bundle(&format!("prod{p}"), 4, 50 + 10 * p))
        .collect();

    // Spawn every producer on `publish -`: each opens the ledger and blocks reading stdin.
    let mut children: Vec<_> = keys
        .iter()
        .map(|key| {
            l.command()
                .args(["-vv", "publish", "--json", "--key", key, "-"])
                .stdin(Stdio::piped())
                .spawn()
                .expect("spawn producer")
        })
        .collect();
    // The start barrier: write every bundle, then close every stdin together.
    let mut stdins: Vec<_> = children
        .iter_mut()
        .map(|c| c.stdin.take().expect("stdin piped"))
        .collect();
    for (stdin, b) in stdins.iter_mut().zip(&bundles) {
        stdin.write_all(&b.bytes()).expect("write bundle");
    }
    drop(stdins);
    let outs: Vec<Out> = children
        .into_iter()
        .map(|c| Out::from_output(c.wait_with_output().expect("wait producer")))
        .collect();

    // How often a producer lost the race for the head and retried (debug log), for the record.
    let retries: usize = outs
        .iter()
        .map(|o| o.stderr.matches("head moved; retrying").count())
        .sum();
    eprintln!("{PRODUCERS} producers, {retries} conflict retries in all");

    // Every producer succeeded; its reported range holds exactly its events plus a seal.
    let mut ranges = Vec::new();
    for (p, (out, b)) in outs.iter().zip(&bundles).enumerate() {
        let r = &out.ok().json();
        assert_eq!(
            r["new"].as_u64(),
            Some(b.events() as u64),
            "producer {p}: {r}"
        );
        let (first, last) = (
            r["first_seq"].as_u64().expect("first"),
            r["last_seq"].as_u64().expect("last"),
        );
        assert_eq!(last - first + 1, b.events() as u64 + 1, "producer {p}: {r}");
        ranges.push((first, last, p));
    }
    ranges.sort_unstable();
    assert_eq!(
        ranges[0].0,
        before.seq + 1,
        "the first batch starts right after the head"
    );
    for w in ranges.windows(2) {
        assert_eq!(w[0].1 + 1, w[1].0, "batches are back to back: {ranges:?}");
    }

    let (code, report) = l.verify_json();
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true);
    let total: usize = bundles.iter().map(|b| b.events() + 1).sum();
    assert_eq!(report["last_seq"].as_u64(), Some(before.seq + total as u64));
    assert_eq!(report["last_sealed"], report["last_seq"]);

    // Every event of every bundle exactly once, contiguous, signed by its producer's key, sealed.
    let log = l.log();
    assert_eq!(duplicate_entities(&log), Vec::<String>::new());
    let by_entity: BTreeMap<&str, &crate::support::LogLine> =
        log.iter().map(|r| (r.entity.as_str(), r)).collect();
    for (p, b) in bundles.iter().enumerate() {
        let mut seqs = Vec::new();
        for e in &b.entities {
            let r = by_entity
                .get(e.as_str())
                .unwrap_or_else(|| panic!("producer {p}: {e} is missing"));
            assert_eq!(r.key, keys[p], "producer {p}: {e} signed by {}", r.key);
            seqs.push(r.seq);
        }
        let first = seqs[0];
        assert_eq!(
            seqs,
            (first..first + seqs.len() as u64).collect::<Vec<_>>(),
            "producer {p}: its records are not one contiguous run in bundle order"
        );
        let seal = &log[usize::try_from(first + seqs.len() as u64 - 1).expect("fits")];
        assert_eq!(seal.seq, first + seqs.len() as u64);
        assert_eq!(
            (seal.event_type.as_str(), seal.key.as_str()),
            ("batch.seal", keys[p].as_str())
        );
    }
    // Nothing else was appended.
    assert_eq!(log.len() as u64, before.seq + total as u64);
}
