// dossier's proof check, run by the reader's own browser: nothing here trusts the server.
//
// - BLAKE3 (default hash mode, 32-byte output), written from the BLAKE3 specification
//   (https://github.com/BLAKE3-team/BLAKE3-specs/blob/master/blake3.pdf, §2: the compression
//   function, chunks of 1,024 bytes in blocks of 64, the binary tree of chaining values whose
//   left subtree holds the largest power of two of chunks that leaves at least one for the
//   right). Plain and unoptimised: records are small.
// - Record hashes: BLAKE3("dossier/record/v1\0" || the record's exact bytes) (docs/FORMAT.md §3).
// - Inclusion proofs: RFC 9162 §2.1.3.2 (docs/PROOFS.md §2-§3). Tree version 2 (a checkpoint
//   whose fourth line is `dossier-head-v2`): the RFC 6962 tree with SHA-256 from WebCrypto,
//   LEAF(d) = SHA-256(0x00 || d), NODE(l, r) = SHA-256(0x01 || l || r). Version 1 (`dossier-head`,
//   checkpoints made before version 2): the same with BLAKE3 (docs/PROOFS.md §11).
// - Checkpoints: C2SP signed notes with Ed25519 (docs/PROOFS.md §5-§6), the signature checked by
//   WebCrypto's Ed25519, the key id by WebCrypto's SHA-256.
//
// It defines window.dossierVerify; on a record page (an element #proof with data-seq) it checks
// the record's inclusion in the current checkpoint against the checkpoint key pinned at sign-in.
"use strict";
(() => {
  const IV = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
  const CHUNK_START = 1, CHUNK_END = 2, PARENT = 4, ROOT = 8;
  const BLOCK = 64, CHUNK = 1024;

  const rotr = (x, n) => ((x >>> n) | (x << (32 - n))) >>> 0;

  function g(s, a, b, c, d, x, y) {
    s[a] = (s[a] + s[b] + x) >>> 0;
    s[d] = rotr(s[d] ^ s[a], 16);
    s[c] = (s[c] + s[d]) >>> 0;
    s[b] = rotr(s[b] ^ s[c], 12);
    s[a] = (s[a] + s[b] + y) >>> 0;
    s[d] = rotr(s[d] ^ s[a], 8);
    s[c] = (s[c] + s[d]) >>> 0;
    s[b] = rotr(s[b] ^ s[c], 7);
  }

  // The compression function: 16 words out.
  function compress(cv, block, counter, blockLen, flags) {
    const s = new Uint32Array(16);
    s.set(cv, 0);
    s.set(IV.subarray(0, 4), 8);
    s[12] = counter >>> 0;
    s[13] = Math.floor(counter / 0x100000000) >>> 0;
    s[14] = blockLen;
    s[15] = flags;
    let m = Uint32Array.from(block);
    for (let round = 0; round < 7; round++) {
      g(s, 0, 4, 8, 12, m[0], m[1]);
      g(s, 1, 5, 9, 13, m[2], m[3]);
      g(s, 2, 6, 10, 14, m[4], m[5]);
      g(s, 3, 7, 11, 15, m[6], m[7]);
      g(s, 0, 5, 10, 15, m[8], m[9]);
      g(s, 1, 6, 11, 12, m[10], m[11]);
      g(s, 2, 7, 8, 13, m[12], m[13]);
      g(s, 3, 4, 9, 14, m[14], m[15]);
      m = Uint32Array.from(PERMUTATION, (i) => m[i]);
    }
    for (let i = 0; i < 8; i++) {
      s[i] ^= s[i + 8];
      s[i + 8] ^= cv[i];
    }
    return s;
  }

  // 64 bytes (zero-padded) as 16 little-endian words.
  function words(bytes, from, len) {
    const w = new Uint32Array(16);
    for (let i = 0; i < len; i++) w[i >> 2] |= bytes[from + i] << (8 * (i & 3));
    return w;
  }

  // What compressing the last block of a node gives: kept so that it can be made the root.
  function output(cv, block, counter, blockLen, flags) {
    return {
      chaining: () => compress(cv, block, counter, blockLen, flags).subarray(0, 8),
      root: () => {
        const s = compress(cv, block, counter, blockLen, flags | ROOT);
        const out = new Uint8Array(32);
        for (let i = 0; i < 32; i++) out[i] = (s[i >> 2] >>> (8 * (i & 3))) & 0xff;
        return out;
      },
    };
  }

  function chunkOutput(bytes, index) {
    const start = index * CHUNK;
    const end = Math.min(bytes.length, start + CHUNK);
    let cv = IV.slice();
    let at = start;
    let flags = CHUNK_START;
    // Every block but the last is compressed into the chaining value; an empty chunk has one
    // empty block.
    while (end - at > BLOCK) {
      cv = compress(cv, words(bytes, at, BLOCK), index, BLOCK, flags).slice(0, 8);
      flags = 0;
      at += BLOCK;
    }
    return output(cv, words(bytes, at, end - at), index, end - at, flags | CHUNK_END);
  }

  function subtree(bytes, first, count) {
    if (count === 1) return chunkOutput(bytes, first);
    let left = 1;
    while (left * 2 < count) left *= 2;
    const block = new Uint32Array(16);
    block.set(subtree(bytes, first, left).chaining(), 0);
    block.set(subtree(bytes, first + left, count - left).chaining(), 8);
    return output(IV, block, 0, BLOCK, PARENT);
  }

  /** BLAKE3 of bytes (a Uint8Array): 32 bytes. */
  function blake3(bytes) {
    const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK));
    return subtree(bytes, 0, chunks).root();
  }

  const utf8 = (s) => new TextEncoder().encode(s);
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  function unhex(s) {
    if (typeof s !== "string" || !/^([0-9a-f]{2})*$/.test(s)) throw new Error("not lowercase hex");
    return Uint8Array.from(s.match(/../g) || [], (x) => parseInt(x, 16));
  }
  function unbase64(s) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new Error("not padded base64");
    const b = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    if (btoa(String.fromCharCode(...b)) !== s) throw new Error("not canonical base64");
    return b;
  }
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  /** The record hash of a record's exact bytes (FORMAT.md §3). */
  const recordHash = (bytes) => blake3(concat(utf8("dossier/record/v1\0"), bytes));
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  /** The tree's hash function by version (PROOFS.md §2.2, §11): SHA-256 for 2, BLAKE3 for 1. */
  const treeHash = (version, bytes) => (version === 1 ? Promise.resolve(blake3(bytes)) : sha256(bytes));
  const leafHash = (d, version = 2) => treeHash(version, concat(Uint8Array.of(0), d));
  const nodeHash = (l, r, version = 2) => treeHash(version, concat(Uint8Array.of(1), l, r));

  /** RFC 9162 §2.1.3.2 (PROOFS.md §3.2): does leaf d sit at index m of the tree of size n? */
  async function verifyInclusion(d, m, n, path, root, version = 2) {
    if (!(m < n) || path.length > 64) return false;
    let fn = m, sn = n - 1;
    let r = await leafHash(d, version);
    for (const p of path) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r, version);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await nodeHash(r, p, version);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(r, root);
  }

  /** A verifier key "name+keyid+base64(0x01 || pk)" (PROOFS.md §5.2), checked. */
  async function parseVerifierKey(text) {
    const parts = String(text).split("+");
    if (parts.length !== 3 || !parts[0] || !/^[0-9a-f]{8}$/.test(parts[1])) throw new Error("malformed verifier key");
    const [name, id] = parts;
    const blob = unbase64(parts[2]);
    if (blob.length !== 33 || blob[0] !== 1) throw new Error("not an Ed25519 verifier key");
    const pk = blob.subarray(1);
    const computed = (await sha256(concat(utf8(name), Uint8Array.of(0x0a, 0x01), pk))).subarray(0, 4);
    if (hex(computed) !== id) throw new Error("the key id does not match the key");
    return { name, id: computed, pk };
  }

  /** Opens a signed note with a verifier key (PROOFS.md §5.3-§5.4): its text, or an error. */
  async function openNote(note, key) {
    if (note.length > 1 << 20 || /[\u0000-\u0009\u000b-\u001f\u007f]/.test(note)) throw new Error("malformed note");
    const cut = note.indexOf("\n\n");
    if (cut <= 0) throw new Error("a note without signatures");
    const text = note.slice(0, cut + 1);
    const sigs = note.slice(cut + 2);
    if (!sigs.endsWith("\n")) throw new Error("a note without a final newline");
    const lines = sigs.slice(0, -1).split("\n");
    if (lines.length > 100) throw new Error("too many signatures");
    const ed = await crypto.subtle.importKey("raw", key.pk, { name: "Ed25519" }, false, ["verify"]);
    let mine = 0;
    for (const line of lines) {
      const m = /^\u2014 ([^\s+]+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!m) throw new Error("malformed signature line");
      const blob = unbase64(m[2]);
      if (blob.length < 5) throw new Error("short signature");
      if (m[1] !== key.name || !equal(blob.subarray(0, 4), key.id)) continue;
      mine++;
      const sig = blob.subarray(4);
      if (sig.length !== 64 || !(await crypto.subtle.verify({ name: "Ed25519" }, ed, sig, utf8(text)))) {
        throw new Error("the checkpoint's signature does not verify");
      }
    }
    if (mine === 0) throw new Error("the checkpoint is not signed by the pinned key");
    return text;
  }

  /** A checkpoint's text (PROOFS.md §6.1-§6.2); its tree version from the extension keyword. */
  function parseCheckpoint(text, origin) {
    const m = /^(dossier\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\n(0|[1-9][0-9]{0,19})\n([A-Za-z0-9+/]{43}=)\n(dossier-head|dossier-head-v2) ([0-9a-f]{64})\n$/.exec(text);
    if (!m) throw new Error("malformed checkpoint");
    if (m[1] !== origin) throw new Error("the checkpoint is of another ledger");
    const root = unbase64(m[3]);
    if (root.length !== 32) throw new Error("malformed root");
    return { origin: m[1], size: Number(m[2]), root, version: m[4] === "dossier-head-v2" ? 2 : 1, head: m[5] };
  }

  /**
   * Checks that `bytes` are record `seq` of the tree the checkpoint `note` signs, with `path`
   * (hex strings), against `verifierKey`. Resolves to the checkpoint, or rejects saying why.
   */
  async function checkRecord(bytes, seq, path, note, verifierKey) {
    const key = await parseVerifierKey(verifierKey);
    const cp = parseCheckpoint(await openNote(note, key), key.name);
    const d = recordHash(bytes);
    if (!(seq >= 1 && seq <= cp.size)) throw new Error(`record ${seq} is not covered by the checkpoint (size ${cp.size})`);
    if (!(await verifyInclusion(d, seq - 1, cp.size, path.map(unhex), cp.root, cp.version))) {
      throw new Error("the inclusion proof does not lead to the checkpoint's root");
    }
    return { size: cp.size, hash: hex(d), version: cp.version };
  }

  window.dossierVerify = {
    blake3, recordHash, leafHash, nodeHash, verifyInclusion, parseVerifierKey, openNote,
    parseCheckpoint, checkRecord, hex, unhex, utf8,
  };

  // Sign-in: pin the checkpoint key the sign-in page shows.
  const shown = document.getElementById("checkpoint-key");
  if (shown && shown.dataset.key) {
    try { localStorage.setItem("dossier.checkpointKey", shown.dataset.key); } catch { /* private mode */ }
  }

  // A record page: check its inclusion proof.
  const box = document.getElementById("proof");
  if (!box || !box.dataset.seq) return;
  const seq = Number(box.dataset.seq);
  const verdict = document.getElementById("proof-verdict");
  const say = (state, words) => {
    box.dataset.state = state;
    verdict.textContent = words;
  };
  (async () => {
    let key = null;
    try { key = localStorage.getItem("dossier.checkpointKey"); } catch { /* private mode */ }
    if (!key) { say("failed", "No checkpoint key was pinned at sign-in: nothing to check against."); return; }
    document.getElementById("proof-key").textContent = key;
    try {
      const [raw, proof] = await Promise.all([
        fetch(`/records/${seq}/raw`, { credentials: "same-origin", cache: "no-store" }),
        fetch(`/records/${seq}/proof`, { credentials: "same-origin", cache: "no-store" }),
      ]);
      if (!raw.ok) throw new Error(`the record's bytes could not be read (${raw.status})`);
      if (!proof.ok) throw new Error(`no proof (${proof.status}): ${await proof.text()}`);
      const bytes = new Uint8Array(await raw.arrayBuffer());
      const p = await proof.json();
      const ok = await checkRecord(bytes, seq, p.proof, p.checkpoint, key);
      say("verified", `Verified in this browser: record hash ${ok.hash}, included in the checkpoint of ${ok.size} records signed by the pinned key.`);
    } catch (e) {
      say("failed", `Not verified: ${e.message}`);
    }
  })();
})();
