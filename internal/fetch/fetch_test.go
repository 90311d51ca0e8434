package fetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestGet(t *testing.T) {
	modified := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/dated/file.txt":
			w.Header().Set("Last-Modified", modified.Format(http.TimeFormat))
			io.WriteString(w, "hello\n")
		case "/", "/plain":
			io.WriteString(w, "hello\n")
		case "/big":
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, strings.Repeat("x", 100))
		case "/endless":
			w.(http.Flusher).Flush() // no Content-Length: chunked
			for i := 0; i < 20; i++ {
				io.WriteString(w, "0123456789")
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	// sha256 of "hello\n"
	const helloSum = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
	cases := []struct {
		name     string
		path     string
		opt      Options
		wantName string
		wantTime time.Time
		wantErr  string
		tooLarge bool
	}{
		{name: "named and dated", path: "/dated/file.txt", wantName: "file.txt", wantTime: modified},
		{name: "no path element", path: "/", wantName: "index.html"},
		{name: "checksum matches", path: "/plain", opt: Options{Checksum: helloSum}, wantName: "plain"},
		{name: "checksum mismatch", path: "/plain", opt: Options{Checksum: "sha256:00"}, wantErr: "checksum mismatch: expected sha256:00, got " + helloSum},
		{name: "not found", path: "/missing", wantErr: "404 Not Found"},
		{name: "declared too large", path: "/big", opt: Options{MaxSize: 99, LimitHint: "--max"}, wantErr: "100 bytes exceeds the download size limit of 99 bytes (--max)", tooLarge: true},
		{name: "exactly the limit", path: "/big", opt: Options{MaxSize: 100}, wantName: "big"},
		{name: "endless body", path: "/endless", opt: Options{MaxSize: 150}, wantErr: "more than 150 bytes: exceeds the download size limit", tooLarge: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			f, err := Get(context.Background(), srv.URL+c.path, dir, c.opt)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), srv.URL+c.path) {
					t.Fatalf("err = %v, want one naming the URL with %q", err, c.wantErr)
				}
				if errors.Is(err, ErrTooLarge) != c.tooLarge {
					t.Errorf("errors.Is(err, ErrTooLarge) = %v, want %v", !c.tooLarge, c.tooLarge)
				}
				if left, _ := os.ReadDir(dir); len(left) != 0 {
					t.Errorf("a failed download left %d files behind", len(left))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Name != c.wantName || !f.ModTime.Equal(c.wantTime) {
				t.Errorf("name, time = %q, %v; want %q, %v", f.Name, f.ModTime, c.wantName, c.wantTime)
			}
			b, err := os.ReadFile(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(b)) != f.Size || !strings.HasPrefix(f.Path, dir) {
				t.Errorf("file %s holds %d bytes, File.Size %d", f.Path, len(b), f.Size)
			}
		})
	}
}

func TestGetCancelled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Get(ctx, srv.URL+"/slow", t.TempDir(), Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}
