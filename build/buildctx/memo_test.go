package buildctx

import (
	"fmt"
	"maps"
	"strings"
	"testing"
)

func testMemoEntries(n int) map[string]memoEntry {
	entries := map[string]memoEntry{}
	for i := range n {
		p := fmt.Sprintf("/ctx/dir%d/file %d", i%7, i)
		entries[p] = memoEntry{
			memoKey: memoKey{Path: p, Size: int64(i * 1000), Mtime: int64(i) << 40, Ctime: -int64(i), Ino: uint64(i) * 3},
			Sum:     fmt.Sprintf("%064x", i),
		}
	}
	return entries
}

func TestMemoRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 100} {
		want := testMemoEntries(n)
		got, ok := decodeMemo(encodeMemo(want, "/ctx"), "/ctx")
		if !ok {
			t.Fatalf("%d entries: decode of encode failed", n)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%d entries: round trip changed them", n)
		}
	}
}

// TestMemoCorrupt flips every bit and truncates at every length of a small
// memo: each is rejected, never decoded into different entries.
func TestMemoCorrupt(t *testing.T) {
	b := encodeMemo(testMemoEntries(3), "/ctx")
	for i := range b {
		for bit := range 8 {
			c := append([]byte(nil), b...)
			c[i] ^= 1 << bit
			if _, ok := decodeMemo(c, "/ctx"); ok {
				t.Fatalf("flipping bit %d of byte %d went unnoticed", bit, i)
			}
		}
	}
	if _, ok := decodeMemo(b, "/ctx2"); ok {
		t.Fatal("a memo of /ctx was accepted for /ctx2")
	}
	for n := range len(b) {
		if _, ok := decodeMemo(b[:n], "/ctx"); ok {
			t.Fatalf("memo truncated to %d of %d bytes was accepted", n, len(b))
		}
	}
}

func TestMemoSkipsUnencodable(t *testing.T) {
	entries := testMemoEntries(2)
	long := "/" + strings.Repeat("x", 1<<16)
	entries[long] = memoEntry{memoKey: memoKey{Path: long}, Sum: strings.Repeat("a", 64)}
	entries["/short-sum"] = memoEntry{memoKey: memoKey{Path: "/short-sum"}, Sum: "abc"}
	got, ok := decodeMemo(encodeMemo(entries, "/ctx"), "/ctx")
	if !ok || len(got) != 2 {
		t.Fatalf("decode = %d entries, %t; want the 2 encodable ones", len(got), ok)
	}
}

func FuzzDecodeMemo(f *testing.F) {
	f.Add(encodeMemo(testMemoEntries(2), "/ctx"))
	f.Add([]byte(memoMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, ok := decodeMemo(b, "/ctx")
		if !ok {
			return
		}
		again, ok := decodeMemo(encodeMemo(entries, "/ctx"), "/ctx")
		if !ok || !maps.Equal(again, entries) {
			t.Fatalf("re-encoding %d decoded entries changed them", len(entries))
		}
	})
}
