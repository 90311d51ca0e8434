package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// interleaved is a RUN command writing 40 lines alternately to stdout and
// stderr, without pauses.
const interleaved = `RUN for i in $(seq 1 20); do echo out$i; echo err$i >&2; done; exit 7`

// wantInterleaved is its output in the order it was written.
func wantInterleaved() []string {
	var want []string
	for i := 1; i <= 20; i++ {
		want = append(want, fmt.Sprintf("out%d", i), fmt.Sprintf("err%d", i))
	}
	return want
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

var plainLog = regexp.MustCompile(`(?m)^#\d+ \d+\.\d+ ((?:out|err)\d+)$`)

// TestRunOutputOrder: a step's stdout and stderr reach the display as one
// stream in the order they were written (one pipe, as BuildKit's), and the
// failure's last lines are the command's last lines in that order, under
// both engines (runc runs detached so that the container inherits the one
// pipe instead of runc's own two).
func TestRunOutputOrder(t *testing.T) {
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		for try := range 3 { // a race would show in some of the runs
			r := buildDockerfile(t, "FROM busybox\n"+interleaved+"\n", append([]string{"--root", root}, eng...)...)
			if r.exitCode() != 1 || !strings.Contains(r.stderr, "exit code: 7") {
				t.Fatalf("exit %d, want 1 with exit code 7:\n%s", r.exitCode(), r.stderr)
			}
			var got []string
			for _, m := range plainLog.FindAllStringSubmatch(r.stderr, -1) {
				got = append(got, m[1])
			}
			want := wantInterleaved()
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("run %d: step output\n%v\nwant\n%v", try, got, want)
			}
			final := r.stderr[strings.LastIndex(r.stderr, "ERROR: Dockerfile:2"):]
			tail := strings.Fields(final[strings.Index(final, "last output:")+len("last output:"):])
			if wantTail := wantInterleaved()[30:]; strings.Join(tail, " ") != strings.Join(wantTail, " ") {
				t.Errorf("run %d: last output %v, want %v", try, tail, wantTail)
			}
			if n := strings.Count(r.stderr, "last output:"); n != 1 {
				t.Errorf("run %d: the failure's last lines are printed %d times, want once:\n%s", try, n, r.stderr)
			}
		}
	})
}

// TestTTYFailureOutput runs a failing build in a pseudo-terminal (script
// from bsdutils): the final display says the build failed, the failure's
// lines are printed once, after it, and end the output; colours are
// BuildKit's, and NO_COLOR turns them off.
func TestTTYFailureOutput(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skipf("script (bsdutils) not installed: %v", err)
	}
	root := busyboxRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\n" + interleaved + "\n"})
	for _, noColor := range []bool{false, true} {
		t.Run(fmt.Sprintf("NO_COLOR=%v", noColor), func(t *testing.T) {
			env := "TERM=xterm COLUMNS=200 LINES=50"
			if noColor {
				env += " NO_COLOR=1"
			}
			cmdline := fmt.Sprintf("env %s %s --root %s %s", env, ibuildBin, root, dir)
			out, err := exec.Command("script", "-qec", cmdline, "/dev/null").CombinedOutput()
			if err == nil {
				t.Fatalf("failing build exited 0:\n%s", out)
			}
			s := strings.ReplaceAll(string(out), "\r\n", "\n")
			if hasColor := strings.Contains(s, "\x1b[31m"); hasColor == noColor {
				t.Errorf("red in the output = %v with NO_COLOR=%v:\n%q", hasColor, noColor, s)
			}
			plain := ansi.ReplaceAllString(s, "")
			final := plain[strings.LastIndex(plain, "[+] "):]
			if !strings.HasPrefix(final, "[+] Failed ") || strings.Contains(final, "Finished") {
				t.Errorf("final display does not say the build failed:\n%s", final)
			}
			if !strings.Contains(final, " => ERROR [2/2] RUN for i in") {
				t.Errorf("final display lacks the failed step:\n%s", final)
			}
			if n := strings.Count(final, "err20"); n != 1 {
				t.Errorf("the last stderr line appears %d times after the final display, want once:\n%s", n, final)
			}
			lines := strings.Fields(strings.TrimSpace(final[strings.LastIndex(final, "last output:")+len("last output:"):]))
			if want := wantInterleaved()[30:]; strings.Join(lines, " ") != strings.Join(want, " ") {
				t.Errorf("output ends with %v, want the failed step's last lines %v:\n%s", lines, want, final)
			}
		})
	}
}
