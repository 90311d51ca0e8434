package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestMergeOutput: with MergeOutput the command's stderr is its stdout's
// pipe, so that lines written alternately to both arrive in order, under
// both engines (runc runs detached, its exit status still the command's).
func TestMergeOutput(t *testing.T) {
	var want []string
	for i := 1; i <= 30; i++ {
		want = append(want, fmt.Sprintf("out%d", i), fmt.Sprintf("err%d", i))
	}
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			s := newSpec(t, iso, "for i in $(seq 1 30); do echo out$i; echo err$i >&2; done; exit 5")
			s.MergeOutput = true
			stdout, stderr, err := run(t, s)
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != 5 {
				t.Fatalf("err = %v, want exit code 5", err)
			}
			if got := strings.Fields(stdout); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("stdout = %v\nwant %v", got, want)
			}
			if stderr != "" {
				t.Errorf("stderr = %q, want nothing (merged into stdout)", stderr)
			}
			// A command killed by a signal: 128+signal, as a foreground runc
			// reports it (the shell is not the container's pid 1 here).
			s = newSpec(t, iso, "sleep 60 & sh -c 'kill -9 $$'; exit $?")
			s.MergeOutput = true
			if _, _, err := run(t, s); !errors.As(err, &ee) || ee.Code != 137 {
				t.Errorf("killed command: err = %v, want exit code 137", err)
			}
		})
	}
}
