package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBreakoutFIFOPasswd builds on an image whose /etc/passwd and
// /etc/group are FIFOs. COPY --chown=NAME (read by ibuild) and USER NAME
// (read by the sandbox init) used to block in open(2) forever; both must
// end promptly, failing with an error that names the file, except that
// COPY --chown=UID:GROUP treats a group it cannot look up as gid 0, as
// BuildKit's file operations do for a group missing from /etc/group.
func TestBreakoutFIFOPasswd(t *testing.T) {
	root := busyboxRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a", "Dockerfile": "FROM busybox\nRUN rm /etc/passwd /etc/group && mkfifo /etc/passwd /etc/group\n"})
	mustRun(t, "--root", root, "-t", "fifobase", dir)
	for _, tc := range []struct {
		name, dockerfile string
		mayPass          bool
	}{
		{"COPY --chown=user", "FROM fifobase\nCOPY --chown=nobody a.txt /a\n", false},
		{"COPY --chown=user:group", "FROM fifobase\nCOPY --chown=0:nogroup a.txt /a\n", true},
		{"USER name", "FROM fifobase\nUSER nobody\nRUN true\n", false},
		{"USER name:group", "FROM fifobase\nUSER 0:nogroup\nRUN true\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeTree(t, dir, map[string]string{"Dockerfile": tc.dockerfile})
			r := runFor(t, time.Minute, "--root", root, "--progress", "plain", dir)
			if r.err == nil && tc.mayPass {
				return // it ended, and BuildKit would not fail either
			}
			if r.err == nil {
				t.Fatalf("build succeeded with a FIFO /etc/passwd:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, "not a regular file") || !strings.Contains(r.stderr, "Dockerfile:") {
				t.Errorf("error does not say the file is not a regular file, with its Dockerfile line:\n%s", r.stderr)
			}
		})
	}
}

// TestBreakoutFIFOContextFiles gives the build a Dockerfile, or a
// .dockerignore, that is a FIFO: the build must fail at once instead of
// waiting for a writer.
func TestBreakoutFIFOContextFiles(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"Dockerfile", ".dockerignore", "Dockerfile.dockerignore"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY . /\n"})
			os.Remove(filepath.Join(dir, name))
			if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runFor(t, 30*time.Second, "--root", root, dir)
			if r.err == nil || !strings.Contains(r.stderr, "not a regular file") {
				t.Errorf("build with a FIFO %s: %v, want an error saying it is not a regular file:\n%s", name, r.err, r.stderr)
			}
		})
	}
}

// TestBreakoutSignalEndsBuild sends SIGINT or SIGTERM to builds that are
// busy in a RUN or stuck on a download from a server that never answers:
// each must exit, non-zero, within a second of the signal (the bound
// checks that the signal works, and allows for a loaded machine).
func TestBreakoutSignalEndsBuild(t *testing.T) {
	root := busyboxRoot(t)
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		w.Write([]byte("x"))
		w.(http.Flusher).Flush()
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stall)
	const bound = 2 * time.Second // exitGrace is 0.7 s; the rest is slack for a loaded machine
	for _, tc := range []struct{ name, dockerfile, ready string }{
		{"RUN", "FROM busybox\nRUN echo started; sleep 60\n", "started"},
		{"ADD url", "FROM busybox\nADD " + srv.URL + "/f /f\n", "ADD"},
	} {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(tc.name+" "+sig.String(), func(t *testing.T) {
				dir := t.TempDir()
				writeTree(t, dir, map[string]string{"Dockerfile": tc.dockerfile})
				var out bytes.Buffer
				cmd := exec.Command(ibuildBin, "--root", root, "--progress", "plain", "--no-cache", dir)
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				deadline := time.Now().Add(30 * time.Second)
				for !strings.Contains(out.String(), tc.ready) && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(200 * time.Millisecond) // into the step
				start := time.Now()
				cmd.Process.Signal(sig)
				select {
				case err := <-done:
					t.Logf("exited %v after %v", err, time.Since(start))
					if err == nil {
						t.Errorf("build exited 0 after %v", sig)
					}
				case <-time.After(bound):
					cmd.Process.Kill()
					<-done
					t.Fatalf("build still running %v after %v:\n%s", bound, sig, out.String())
				}
			})
		}
	}
}

// TestBreakoutContextFilesBeneathRoot: the Dockerfile and .dockerignore are read
// beneath the context root like every other context file. A Dockerfile
// (or .dockerignore) that is a symlink to a host file is refused without
// quoting the host file; one linking inside the context works, and -f
// naming a file outside the context stays allowed, as in docker.
func TestBreakoutContextFilesBeneathRoot(t *testing.T) {
	root := t.TempDir()
	hostDir := t.TempDir()
	secret := filepath.Join(hostDir, "secret")
	if err := os.WriteFile(secret, []byte("FROM scratch\nHOST-CANARY-LINE secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("Dockerfile symlink to a host file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Symlink(secret, filepath.Join(dir, "Dockerfile")); err != nil {
			t.Fatal(err)
		}
		r := run(t, "", nil, "--root", root, dir)
		if r.err == nil || strings.Contains(r.stderr+r.stdout, "HOST-CANARY") {
			t.Errorf("exit %v; output quotes the host file or does not fail:\n%s", r.err, r.stderr)
		}
		if !strings.Contains(r.stderr, "outside the build context") {
			t.Errorf("error does not say the Dockerfile leads outside the context:\n%s", r.stderr)
		}
	})
	t.Run(".dockerignore symlink to a host file", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY . /\n"})
		if err := os.Symlink(secret, filepath.Join(dir, ".dockerignore")); err != nil {
			t.Fatal(err)
		}
		r := run(t, "", nil, "--root", root, dir)
		if r.err == nil || strings.Contains(r.stderr+r.stdout, "HOST-CANARY") || !strings.Contains(r.stderr, "outside the build context") {
			t.Errorf("exit %v; want an error naming the link, not the host file's lines:\n%s", r.err, r.stderr)
		}
	})
	t.Run("Dockerfile symlink inside the context", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"docker/real": "FROM scratch\nCOPY docker /d\n"})
		if err := os.Symlink("docker/real", filepath.Join(dir, "Dockerfile")); err != nil {
			t.Fatal(err)
		}
		mustRun(t, "--root", root, dir)
	})
	t.Run("-f outside the context", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"a": "a"})
		df := filepath.Join(hostDir, "Dockerfile.outside")
		if err := os.WriteFile(df, []byte("FROM scratch\nCOPY a /a\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		mustRun(t, "--root", root, "-f", df, dir)
	})
}

// TestContextBindMounts: RUN --mount=type=bind of the context (no
// .dockerignore, so the directory itself is mounted, through a descriptor
// resolved beneath the context) shows the context's files, read-only or
// with writes discarded, for directories, files and in-context links.
func TestContextBindMounts(t *testing.T) {
	root := busyboxRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"sub/a.txt": "A-CONTENT", "Dockerfile": `FROM busybox
RUN --mount=type=bind,target=/c cat /c/sub/a.txt > /whole
RUN --mount=type=bind,source=sub,target=/m cat /m/a.txt > /dir
RUN --mount=type=bind,source=sub/a.txt,target=/f.txt cat /f.txt > /file
RUN --mount=type=bind,source=link,target=/l cat /l/a.txt > /link
RUN --mount=type=bind,source=sub,target=/m,rw echo x > /m/new && cat /m/a.txt > /rw
RUN cat /whole /dir /file /link /rw > /all
`})
	if err := os.Symlink("sub", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, "--root", root, "-o", "type=local,dest="+out, dir)
	got, err := os.ReadFile(filepath.Join(out, "all"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("A-CONTENT", 5); string(got) != want {
		t.Errorf("/all = %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub", "new")); err == nil {
		t.Errorf("a write to the rw bind mount reached the context")
	}
}
