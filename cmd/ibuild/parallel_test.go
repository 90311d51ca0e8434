package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibuild/ibuild/progress"
)

// stepSpans reads the --progress json events of a build: each step's name
// by number, and its start and end times.
type stepSpan struct {
	name       string
	start, end time.Time
}

func stepSpans(t *testing.T, stderr string) map[int]*stepSpan {
	t.Helper()
	spans := map[int]*stepSpan{}
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e progress.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("progress line %q: %v", line, err)
		}
		if e.Step == 0 {
			continue
		}
		s := spans[e.Step]
		if s == nil {
			s = &stepSpan{name: e.Name}
			spans[e.Step] = s
		}
		if s.name != e.Name {
			t.Errorf("step %d named %q and %q", e.Step, s.name, e.Name)
		}
		switch e.Status {
		case progress.StatusStarted:
			s.start = e.Time
		case progress.StatusDone, progress.StatusCached, progress.StatusError:
			s.end = e.Time
		}
	}
	return spans
}

// span returns the step whose name ends with suffix.
func span(t *testing.T, spans map[int]*stepSpan, suffix string) *stepSpan {
	t.Helper()
	for _, s := range spans {
		if strings.HasSuffix(s.name, suffix) {
			return s
		}
	}
	t.Fatalf("no step %q in %v", suffix, spans)
	return nil
}

var builtID = regexp.MustCompile(`built image (sha256:[0-9a-f]{64})`)

// TestParallelStages checks that two independent stages run at the same
// time (their RUN steps overlap, as the progress events show), one at a
// time with --jobs 1, and that either way the steps have the same numbers
// and the image the same digest.
func TestParallelStages(t *testing.T) {
	root := busyboxRoot(t)
	const df = `FROM busybox AS a
RUN sleep 2; echo a > /a
FROM busybox AS b
RUN sleep 2; echo b > /b
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
RUN cat /a /b
`
	names := map[string]map[int]string{}
	ids := map[string]string{}
	for _, jobs := range []string{"1", "2"} {
		r := mustBuild(t, df, "--root", root, "--no-cache", "--progress", "json", "--jobs", jobs)
		spans := stepSpans(t, r.stderr)
		a, b := span(t, spans, "RUN sleep 2; echo a > /a"), span(t, spans, "RUN sleep 2; echo b > /b")
		overlap := a.start.Before(b.end) && b.start.Before(a.end)
		if want := jobs != "1"; overlap != want {
			t.Errorf("--jobs %s: RUN steps overlap=%v, want %v (a %s-%s, b %s-%s)", jobs, overlap, want,
				a.start.Format(time.StampMilli), a.end.Format(time.StampMilli), b.start.Format(time.StampMilli), b.end.Format(time.StampMilli))
		}
		names[jobs] = map[int]string{}
		for n, s := range spans {
			names[jobs][n] = s.name
		}
		m := builtID.FindStringSubmatch(r.stderr)
		if m == nil {
			t.Fatalf("--jobs %s: no image ID in\n%s", jobs, r.stderr)
		}
		ids[jobs] = m[1]
	}
	if !mapsEqual(names["1"], names["2"]) {
		t.Errorf("step numbers differ between --jobs 1 and 2:\n%v\n%v", names["1"], names["2"])
	}
	if ids["1"] != ids["2"] {
		t.Errorf("image %s with --jobs 1, %s with --jobs 2", ids["1"], ids["2"])
	}
	// Three independent stages with two slots: never more than two RUNs
	// at a time, and two at some point.
	const three = `FROM busybox AS a
RUN sleep 1.5
FROM busybox AS b
RUN sleep 1.6
FROM busybox AS c
RUN sleep 1.7
FROM busybox
COPY --from=a /etc/passwd /a
COPY --from=b /etc/passwd /b
COPY --from=c /etc/passwd /c
`
	r := mustBuild(t, three, "--root", root, "--no-cache", "--progress", "json", "--jobs", "2")
	spans := stepSpans(t, r.stderr)
	var runs []*stepSpan
	for _, s := range spans {
		if strings.Contains(s.name, "RUN sleep") {
			runs = append(runs, s)
		}
	}
	most := 0
	for _, x := range runs {
		n := 0 // RUNs running when x started
		for _, y := range runs {
			if !y.start.After(x.start) && y.end.After(x.start) {
				n++
			}
		}
		most = max(most, n)
	}
	if len(runs) != 3 || most != 2 {
		t.Errorf("--jobs 2: %d RUNs, at most %d at a time, want 3 and 2", len(runs), most)
	}
	if r := buildDockerfile(t, df, "--root", root, "--jobs", "0"); r.exitCode() == 0 || !strings.Contains(r.stderr, "--jobs") {
		t.Errorf("--jobs 0: exit %d, stderr %s", r.exitCode(), r.stderr)
	}
}

func mapsEqual(a, b map[int]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestParallelStageFailure checks that a failing stage stops a sibling
// stage's long RUN promptly and that nothing is left running or mounted.
func TestParallelStageFailure(t *testing.T) {
	const df = `FROM busybox AS slow
RUN sleep 3073
FROM busybox AS bad
RUN sleep 1; exit 3
FROM busybox
COPY --from=slow /etc/passwd /s
COPY --from=bad /etc/passwd /b
`
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		start := time.Now()
		r := buildDockerfile(t, df, append([]string{"--root", root, "--jobs", "2"}, eng...)...)
		took := time.Since(start)
		if r.exitCode() == 0 {
			t.Fatalf("exit code 0; stderr:\n%s", r.stderr)
		}
		// As BuildKit: the stopped sibling is CANCELED, not failed.
		if m := regexp.MustCompile(`(?m)^(#\d+) \[slow 3/7\] RUN sleep 3073$`).FindStringSubmatch(r.stderr); m == nil || !strings.Contains(r.stderr, m[1]+" CANCELED\n") {
			t.Errorf("sleeping stage not shown CANCELED:\n%s", r.stderr)
		}
		for _, w := range []string{"Dockerfile:4", "exit code: 3"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
			}
		}
		// The sleeping stage would take 51 minutes; its cancellation is
		// what ends the build.
		if took > 30*time.Second {
			t.Errorf("failed build took %s", took)
		}
		checkNoLeftovers(t, root, "sleep 3073")
		if ents := storeListing(t, root); slices.ContainsFunc(ents, func(e string) bool { return strings.Contains(e, ".tmp-") }) {
			t.Errorf("temporary entries left in the store: %v", ents)
		}
	})
}

// TestLazyBaseExtraction checks that a build whose steps do not read the
// base's files' content (ENV, LABEL, WORKDIR, COPY) never extracts it, and
// that the first RUN sees them.
func TestLazyBaseExtraction(t *testing.T) {
	root := busyboxRoot(t)
	snapshots := func() []string {
		ents, _ := os.ReadDir(filepath.Join(root, "snapshots"))
		var out []string
		for _, e := range ents {
			if e.IsDir() {
				out = append(out, e.Name())
			}
		}
		return out
	}
	mustBuild(t, "FROM busybox\nENV A=1\nLABEL l=1\nWORKDIR /new/dir\nCOPY <<EOF /hello\nhi\nEOF\nUSER nobody\n", "--root", root)
	if s := snapshots(); len(s) > 0 {
		t.Errorf("ENV/LABEL/WORKDIR/COPY/USER build extracted %v", s)
	}
	r := mustBuild(t, "FROM busybox\nENV A=1\nRUN test -x /bin/busybox && echo base-files-seen\n", "--root", root)
	if !strings.Contains(r.stderr, "base-files-seen") {
		t.Errorf("RUN did not see the base's files:\n%s", r.stderr)
	}
	if len(snapshots()) == 0 {
		t.Errorf("RUN build left no snapshot")
	}
}

// TestCopySkeleton checks that COPY and WORKDIR steps planned on the
// layers' headers (the base not extracted) make the same image, and fail
// the same way, as planned on the extracted base: through absolute and
// relative directory symlinks, onto existing files and directories, with a
// numeric --chown.
func TestCopySkeleton(t *testing.T) {
	root := busyboxRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM busybox\nRUN mkdir -p /srv/app/old /opaque && ln -s /srv/app /app && ln -s srv /data && echo x > /file && touch /opaque/f && rm -rf /tmp\n",
		"f":          "f\n",
		"d/sub/g":    "g\n",
	})
	mustRun(t, "--root", root, "build", "-t", "base2", dir)
	const df = `FROM base2
ENV A=1
COPY f /app/f
COPY d/ /data/app/sub/
COPY --chown=1000:1000 d /etc/
COPY f /bin/newf
COPY f /file
COPY d /tmp/
WORKDIR /srv/app/w
COPY f relf
WORKDIR /app/old
`
	snapshots := filepath.Join(root, "snapshots")
	build := func(dockerfile string) result {
		writeTree(t, dir, map[string]string{"Dockerfile": dockerfile})
		return run(t, "", nil, "--root", root, "build", "--no-cache", "--progress", "plain", dir)
	}
	ids := map[bool]string{}
	errs := map[bool]string{}
	for _, extracted := range []bool{false, true} {
		if extracted {
			writeTree(t, dir, map[string]string{"Dockerfile": "FROM base2\nRUN true\n"})
			mustRun(t, "--root", root, "build", dir)
		} else if err := os.RemoveAll(snapshots); err != nil {
			t.Fatal(err)
		}
		r := build(df)
		m := builtID.FindStringSubmatch(r.stderr)
		if r.err != nil || m == nil {
			t.Fatalf("extracted=%v: %v\n%s", extracted, r.err, r.stderr)
		}
		ids[extracted] = m[1]
		if ents, _ := os.ReadDir(snapshots); !extracted && len(ents) > 0 {
			t.Errorf("COPY/WORKDIR build extracted %d snapshots", len(ents))
		}
		// A file in the way of the destination fails alike.
		r = build("FROM base2\nCOPY d /file/x/\n")
		if r.exitCode() == 0 {
			t.Fatalf("COPY below a file succeeded:\n%s", r.stderr)
		}
		errs[extracted] = r.stderr[strings.LastIndex(r.stderr, "ERROR"):]
	}
	if ids[false] != ids[true] {
		t.Errorf("image %s planned on headers, %s on the extracted base", ids[false], ids[true])
	}
	if errs[false] != errs[true] {
		t.Errorf("errors differ:\n%s\n%s", errs[false], errs[true])
	}
}
