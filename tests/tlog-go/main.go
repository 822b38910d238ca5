// Command tlog-go checks dossier's transparency-log artefacts with Go's own implementation of
// the checksum database's log, golang.org/x/mod/sumdb/tlog and sumdb/note, as an independent
// checker written by other people: signed checkpoints (note.Open), inclusion and consistency
// proofs (tlog.CheckRecord, tlog.CheckTree), and C2SP tlog-tiles read through
// tlog.TileHashReader. Only the glue is written here: the checkpoint's text (a C2SP
// tlog-checkpoint, docs/PROOFS.md §6) and the C2SP tile paths (docs/PROOFS.md §8).
//
// Usage: tlog-go CASES.json. It prints one summary line and exits 0 if everything holds, or
// prints the first failure and exits 1. Built in GOPATH mode against Debian's x/mod source
// (crates/dossier-proofs/tests/go_tlog.rs); nothing is fetched.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type tree struct {
	Note  string `json:"note"`
	Tiles string `json:"tiles"`
	// Every leaf's inclusion is proven from the tiles (else a sample).
	AllLeaves bool `json:"all_leaves"`
}

type inclusion struct {
	Tree  int      `json:"tree"`
	Index int64    `json:"index"`
	Leaf  string   `json:"leaf"`
	Proof []string `json:"proof"`
}

type consistency struct {
	Old   int      `json:"old"`
	New   int      `json:"new"`
	Proof []string `json:"proof"`
}

// A checkpoint note and the witness vkeys whose C2SP tlog-cosignature v1 lines on it must
// verify (checked with crypto/ed25519 alone: Go's note package predates cosignatures).
type cosigned struct {
	Note      string   `json:"note"`
	Witnesses []string `json:"witnesses"`
}

type cases struct {
	Cosigned    []cosigned    `json:"cosigned"`
	Vkey        string        `json:"vkey"`
	Trees       []tree        `json:"trees"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

type checkpoint struct {
	size int64
	root tlog.Hash
	head tlog.Hash
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlog-go: "+format+"\n", args...)
	os.Exit(1)
}

// parseCheckpoint reads the text of a version-2 dossier checkpoint: origin, size, base64
// root, and the extension line "dossier-head-v2 <hex>".
func parseCheckpoint(text string) (checkpoint, error) {
	var cp checkpoint
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasSuffix(text, "\n") || len(lines) != 4 {
		return cp, errors.New("a checkpoint has four lines")
	}
	if !strings.HasPrefix(lines[0], "dossier.") {
		return cp, errors.New("the origin is not dossier.<ledger>")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return cp, errors.New("bad size")
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return cp, errors.New("bad root")
	}
	ext := strings.TrimPrefix(lines[3], "dossier-head-v2 ")
	head, err := hex.DecodeString(ext)
	if ext == lines[3] || err != nil || len(head) != tlog.HashSize {
		return cp, errors.New("bad dossier-head-v2 line")
	}
	cp.size = size
	copy(cp.root[:], root)
	copy(cp.head[:], head)
	return cp, nil
}

// c2spPath is the C2SP tlog-tiles path of a tile: tile/<L>/<N>[.p/<W>], or
// tile/entries/<N>[.p/<W>] for level -1, N in groups of three digits, all but the last with x.
func c2spPath(t tlog.Tile) string {
	n := t.N
	groups := []string{fmt.Sprintf("%03d", n%1000)}
	for n /= 1000; n > 0; n /= 1000 {
		groups = append([]string{fmt.Sprintf("x%03d", n%1000)}, groups...)
	}
	level := strconv.Itoa(t.L)
	if t.L == -1 {
		level = "entries"
	}
	p := "tile/" + level + "/" + strings.Join(groups, "/")
	if t.W != 1<<t.H {
		p += ".p/" + strconv.Itoa(t.W)
	}
	return p
}

// dirTiles reads tiles from a directory laid out as C2SP paths, as a web server would serve
// them, each file once (tlog.TileHashReader checks the tiles it is given on every read).
type dirTiles struct {
	dir   string
	reads int
	cache map[string][]byte
}

func (d *dirTiles) Height() int { return 8 }

func (d *dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := c2spPath(t)
		data, ok := d.cache[p]
		if !ok {
			var err error
			data, err = os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(p)))
			if err != nil {
				return nil, err
			}
			d.cache[p] = data
			d.reads++
		}
		out[i] = data
	}
	return out, nil
}

func (d *dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func hashes(hexes []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(hexes))
	for i, h := range hexes {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("bad hash %q", h)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// checkTiles reads the tree through tlog.TileHashReader (which checks every tile it reads
// against the checkpoint's root), recomputes the root, proves leaves from the tiles, and
// checks that every entry bundle's entries hash to the leaf hashes of the level-0 tiles.
func checkTiles(cp checkpoint, dir string, all bool) (int, int, error) {
	d := &dirTiles{dir: dir, cache: map[string][]byte{}}
	hr := tlog.TileHashReader(tlog.Tree{N: cp.size, Hash: cp.root}, d)
	root, err := tlog.TreeHash(cp.size, hr)
	if err != nil {
		return 0, 0, fmt.Errorf("tree hash from tiles: %v", err)
	}
	if root != cp.root {
		return 0, 0, errors.New("the tiles' root is not the checkpoint's")
	}
	// Every leaf, or about four (small trees) to 500 (large ones) spread over the tree.
	step := int64(1)
	if !all {
		step = cp.size/500 + 1
		if cp.size < 1000 {
			step = cp.size/4 + 1
		}
	}
	for i := int64(0); i < cp.size; i += step {
		p, err := tlog.ProveRecord(cp.size, i, hr)
		if err != nil {
			return 0, 0, fmt.Errorf("proving leaf %d from tiles: %v", i, err)
		}
		leaf, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
		if err != nil {
			return 0, 0, err
		}
		if err := tlog.CheckRecord(p, cp.size, cp.root, i, leaf[0]); err != nil {
			return 0, 0, fmt.Errorf("leaf %d proven from tiles: %v", i, err)
		}
	}
	// Entry bundles: 16-bit big-endian length, then the entry (a 32-byte record hash).
	entries := int64(0)
	for n := int64(0); n*256 < cp.size; n++ {
		w := cp.size - n*256
		if w > 256 {
			w = 256
		}
		t := tlog.Tile{H: 8, L: -1, N: n, W: int(w)}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(c2spPath(t))))
		if err != nil {
			return 0, 0, err
		}
		indexes := make([]int64, w)
		for j := range indexes {
			indexes[j] = tlog.StoredHashIndex(0, n*256+int64(j))
		}
		leaves, err := hr.ReadHashes(indexes)
		if err != nil {
			return 0, 0, err
		}
		for j := int64(0); j < w; j++ {
			if len(data) < 2 {
				return 0, 0, fmt.Errorf("entry bundle %s is short", c2spPath(t))
			}
			l := int(data[0])<<8 | int(data[1])
			if l != 32 || len(data) < 2+l {
				return 0, 0, fmt.Errorf("entry %d of %s has length %d, not 32", j, c2spPath(t), l)
			}
			entry := data[2 : 2+l]
			data = data[2+l:]
			if tlog.RecordHash(entry) != leaves[j] {
				return 0, 0, fmt.Errorf("entry %d does not hash to its leaf in the level-0 tile", n*256+j)
			}
			if n*256+j == cp.size-1 && !bytes.Equal(entry, cp.head[:]) {
				return 0, 0, errors.New("the last entry is not the checkpoint's dossier-head-v2")
			}
			entries++
		}
		if len(data) != 0 {
			return 0, 0, fmt.Errorf("entry bundle %s has bytes after its %d entries", c2spPath(t), w)
		}
	}
	return d.reads, int(entries), nil
}

// checkCosignature verifies, from the C2SP tlog-cosignature spec alone, that the note carries
// a cosignature/v1 line by the witness vkey "name+hex id+base64(0x04 || Ed25519 key)": key id
// SHA-256(name || "\n" || 0x04 || key)[:4], blob = key id || u64 big-endian time || signature,
// signed message "cosignature/v1\ntime <time>\n" || note text.
func checkCosignature(noteText, vkey string) error {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return errors.New("bad vkey")
	}
	name := parts[0]
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return errors.New("bad vkey key material")
	}
	pub := ed25519.PublicKey(raw[1:])
	h := sha256.Sum256(append(append([]byte(name+"\n"), 0x04), pub...))
	if hex.EncodeToString(h[:4]) != parts[1] {
		return errors.New("vkey id does not match")
	}
	cut := strings.Index(noteText, "\n\n")
	if cut < 0 {
		return errors.New("no blank line in the note")
	}
	text, sigs := noteText[:cut+1], noteText[cut+2:]
	found := false
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		if !strings.HasPrefix(line, "\u2014 ") {
			return fmt.Errorf("bad signature line %q", line)
		}
		rest := strings.TrimPrefix(line, "\u2014 ")
		lname, b64, ok := strings.Cut(rest, " ")
		if !ok || lname != name {
			continue
		}
		blob, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(blob) < 4 || !bytes.Equal(blob[:4], h[:4]) {
			continue
		}
		if len(blob) != 4+8+64 {
			return errors.New("cosignature is not 76 bytes")
		}
		ts := binary.BigEndian.Uint64(blob[4:12])
		msg := "cosignature/v1\ntime " + strconv.FormatUint(ts, 10) + "\n" + text
		if !ed25519.Verify(pub, []byte(msg), blob[12:]) {
			return errors.New("cosignature does not verify")
		}
		found = true
	}
	if !found {
		return errors.New("no cosignature by this witness")
	}
	return nil
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: tlog-go CASES.json")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var c cases
	if err := json.Unmarshal(raw, &c); err != nil {
		fail("cases: %v", err)
	}
	verifier, err := note.NewVerifier(c.Vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	var cps []checkpoint
	tiles, entries := 0, 0
	for i, t := range c.Trees {
		n, err := note.Open([]byte(t.Note), note.VerifierList(verifier))
		if err != nil {
			fail("checkpoint %d: note.Open: %v", i, err)
		}
		cp, err := parseCheckpoint(n.Text)
		if err != nil {
			fail("checkpoint %d: %v", i, err)
		}
		cps = append(cps, cp)
		if t.Tiles != "" {
			r, e, err := checkTiles(cp, t.Tiles, t.AllLeaves)
			if err != nil {
				fail("checkpoint %d (size %d), tiles: %v", i, cp.size, err)
			}
			tiles += r
			entries += e
		}
	}
	for i, p := range c.Inclusion {
		if p.Tree < 0 || p.Tree >= len(cps) {
			fail("inclusion %d: no tree %d", i, p.Tree)
		}
		proof, err := hashes(p.Proof)
		if err != nil {
			fail("inclusion %d: %v", i, err)
		}
		leaf, err := hashes([]string{p.Leaf})
		if err != nil {
			fail("inclusion %d: %v", i, err)
		}
		cp := cps[p.Tree]
		if err := tlog.CheckRecord(proof, cp.size, cp.root, p.Index, tlog.RecordHash(leaf[0][:])); err != nil {
			fail("inclusion %d (leaf %d of %d): tlog.CheckRecord: %v", i, p.Index, cp.size, err)
		}
	}
	for i, p := range c.Consistency {
		if p.Old < 0 || p.Old >= len(cps) || p.New < 0 || p.New >= len(cps) {
			fail("consistency %d: no such trees", i)
		}
		proof, err := hashes(p.Proof)
		if err != nil {
			fail("consistency %d: %v", i, err)
		}
		old, cur := cps[p.Old], cps[p.New]
		if err := tlog.CheckTree(proof, cur.size, cur.root, old.size, old.root); err != nil {
			fail("consistency %d (%d to %d): tlog.CheckTree: %v", i, old.size, cur.size, err)
		}
	}
	cosigs := 0
	for i, cs := range c.Cosigned {
		for _, w := range cs.Witnesses {
			if err := checkCosignature(cs.Note, w); err != nil {
				fail("cosigned note %d, witness %s: %v", i, w, err)
			}
			cosigs++
		}
	}
	fmt.Printf("ok: %d checkpoints opened, %d inclusion and %d consistency proofs, %d tiles and %d entries checked, %d cosignatures verified\n",
		len(cps), len(c.Inclusion), len(c.Consistency), tiles, entries, cosigs)
}
