package layer

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// errWriter fails once more than n bytes were written to it.
type errWriter struct {
	buf bytes.Buffer
	n   int
}

var errFull = errors.New("disk full")

func (w *errWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.n {
		return 0, errFull
	}
	return w.buf.Write(p)
}

func TestAsyncWriter(t *testing.T) {
	data := make([]byte, 5*asyncWriterBuf+123)
	rand.NewChaCha8([32]byte{}).Read(data)
	tests := []struct {
		name    string
		limit   int
		wantErr error
	}{
		{"everything arrives in order", len(data), nil},
		{"the writer's error comes back", 2 * asyncWriterBuf, errFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &errWriter{n: tt.limit}
			a := newAsyncWriter(w)
			var werr error
			// Odd-sized writes cross buffer boundaries.
			for p := data; len(p) > 0 && werr == nil; {
				k := min(len(p), 77777)
				_, werr = a.Write(p[:k])
				p = p[k:]
			}
			cerr := a.Close()
			if tt.wantErr == nil {
				if werr != nil || cerr != nil {
					t.Fatalf("Write/Close = %v, %v", werr, cerr)
				}
				if !bytes.Equal(w.buf.Bytes(), data) {
					t.Fatal("bytes written differ from bytes given")
				}
				return
			}
			if !errors.Is(cerr, tt.wantErr) {
				t.Fatalf("Close = %v, want %v", cerr, tt.wantErr)
			}
		})
	}
}

func TestReadAhead(t *testing.T) {
	data := make([]byte, 3*asyncWriterBuf+5)
	rand.NewChaCha8([32]byte{1}).Read(data)
	want := sha256.Sum256(data)
	boom := errors.New("walker failed")
	tests := []struct {
		name    string
		r       io.Reader
		wantErr error
	}{
		{"whole stream, hashed", bytes.NewReader(data), nil},
		{"one byte at a time from the producer", iotest.OneByteReader(bytes.NewReader(data[:70000])), nil},
		{"the producer's error comes back after its data", io.MultiReader(bytes.NewReader(data[:1000]), iotest.ErrReader(boom)), boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sha256.New()
			ra := newReadAhead(tt.r, h)
			defer ra.Close()
			got, err := io.ReadAll(iotest.HalfReader(ra))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || len(got) != 1000 {
					t.Fatalf("ReadAll = %d bytes, %v; want 1000 bytes, %v", len(got), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "whole stream, hashed" {
				if !bytes.Equal(got, data) || !bytes.Equal(h.Sum(nil), want[:]) {
					t.Fatal("read-ahead changed or mis-hashed the stream")
				}
			} else if !bytes.Equal(got, data[:70000]) {
				t.Fatal("read-ahead changed the stream")
			}
		})
	}
}

// TestReadAheadClose stops a read-ahead whose reader never reads.
func TestReadAheadClose(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		for {
			if _, err := pw.Write(make([]byte, 1<<16)); err != nil {
				return
			}
		}
	}()
	ra := newReadAhead(pr, io.Discard)
	ra.Close()
	pr.CloseWithError(io.ErrClosedPipe) // as writeLayer does on return
	if _, err := io.ReadAll(ra); err == nil {
		t.Fatal("read after Close succeeded")
	}
}
