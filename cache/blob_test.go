package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestWriteBlob(t *testing.T) {
	content := []byte("hello, store\n")
	other := []byte("something else")
	tests := []struct {
		name    string
		want    v1.Descriptor
		wantErr string
	}{
		{name: "compute", want: v1.Descriptor{}},
		{name: "digest and size", want: v1.Descriptor{Digest: sha(content), Size: int64(len(content))}},
		{name: "digest only", want: v1.Descriptor{Digest: sha(content)}},
		{name: "wrong digest", want: v1.Descriptor{Digest: sha(other), Size: int64(len(content))}, wantErr: "digest mismatch"},
		{name: "too short", want: v1.Descriptor{Digest: sha(content), Size: int64(len(content)) + 5}, wantErr: "size mismatch"},
		{name: "too long", want: v1.Descriptor{Digest: sha(content[:4]), Size: 4}, wantErr: "size mismatch"},
		{name: "bad digest", want: v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: "../../etc"}}, wantErr: "invalid digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			got, err := s.WriteBlob(ctx, bytes.NewReader(content), tt.want)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("WriteBlob error = %v, want %q", err, tt.wantErr)
				}
				if n := dirNames(t, s, "blobs", "sha256"); len(n) != 0 {
					t.Errorf("blobs/sha256 = %v, want empty", n)
				}
				if n := dirNames(t, s, "ingest"); len(n) != 0 {
					t.Errorf("ingest = %v, want empty", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("WriteBlob: %v", err)
			}
			if got.Digest != sha(content) || got.Size != int64(len(content)) {
				t.Fatalf("WriteBlob = %v/%d, want %v/%d", got.Digest, got.Size, sha(content), len(content))
			}
			if !s.HasBlob(got.Digest) {
				t.Fatal("HasBlob = false after write")
			}
			rc, err := s.Blob(ctx, got.Digest)
			if err != nil {
				t.Fatalf("Blob: %v", err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(b, content) {
				t.Fatalf("read back %q, %v; want %q", b, err, content)
			}
			if n := dirNames(t, s, "ingest"); len(n) != 0 {
				t.Errorf("ingest = %v after success, want empty", n)
			}
		})
	}
}

// failingReader fails if it is read at all.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("read called") }

func TestWriteBlobExistingNotRead(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	content := []byte("already here")
	want := v1.Descriptor{Digest: sha(content), Size: int64(len(content))}
	if _, err := s.WriteBlob(ctx, bytes.NewReader(content), v1.Descriptor{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.WriteBlob(ctx, failingReader{}, want)
	if err != nil {
		t.Fatalf("WriteBlob of existing blob read its reader: %v", err)
	}
	if got.Digest != want.Digest || got.Size != want.Size {
		t.Errorf("WriteBlob = %+v, want %+v", got, want)
	}
	// Writing the same content again without a digest dedups.
	if _, err := s.WriteBlob(ctx, bytes.NewReader(content), v1.Descriptor{}); err != nil {
		t.Fatal(err)
	}
	if n := dirNames(t, s, "blobs", "sha256"); len(n) != 1 {
		t.Errorf("blobs = %v, want one", n)
	}
	if n := dirNames(t, s, "ingest"); len(n) != 0 {
		t.Errorf("ingest = %v, want empty", n)
	}
}

func TestBlobMissing(t *testing.T) {
	s := newStore(t)
	_, err := s.Blob(context.Background(), sha([]byte("nope")))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Blob of missing digest = %v, want ErrNotFound", err)
	}
}

func TestBlobCorruptEvicted(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(b []byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 0x01; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"appended", func(b []byte) []byte { return append(b, 'x') }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			content := bytes.Repeat([]byte("0123456789abcdef"), 10000)
			d, err := s.WriteBlob(ctx, bytes.NewReader(content), v1.Descriptor{})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := s.blobPath(d.Digest)
			if err := os.WriteFile(p, tt.corrupt(bytes.Clone(content)), 0o644); err != nil {
				t.Fatal(err)
			}
			rc, err := s.Blob(ctx, d.Digest)
			if err != nil {
				t.Fatalf("Blob: %v", err)
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err == nil || !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("reading corrupt blob: err = %v, want corrupt error", err)
			}
			if s.HasBlob(d.Digest) {
				t.Error("corrupt blob still present after read")
			}
			// A fresh write restores it.
			if _, err := s.WriteBlob(ctx, bytes.NewReader(content), v1.Descriptor{Digest: d.Digest, Size: d.Size}); err != nil {
				t.Fatal(err)
			}
			rc, err = s.Blob(ctx, d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Errorf("reading restored blob: %v", err)
			}
		})
	}
}

func TestWriteBlobCancelled(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.WriteBlob(ctx, strings.NewReader("x"), v1.Descriptor{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteBlob with cancelled ctx = %v, want context.Canceled", err)
	}
	if n := dirNames(t, s, "ingest"); len(n) != 0 {
		t.Errorf("ingest = %v, want empty", n)
	}
}
