package conformance

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckError(t *testing.T) {
	failed := errors.New("exit status 1")
	c := &Case{ExpectError: "unknown instruction"}
	tests := []struct {
		name   string
		bk, ib result
		want   []string // prefixes
	}{
		{"both fail, fragment and line", result{err: failed}, result{err: failed, log: []byte("ERROR: Dockerfile:3: unknown instruction: FOO")}, nil},
		{"no line", result{err: failed}, result{err: failed, log: []byte("ERROR: unknown instruction: FOO")},
			[]string{"ibuild's error does not name the Dockerfile line"}},
		{"other message", result{err: failed}, result{err: failed, log: []byte("ERROR: Dockerfile:3: bad")},
			[]string{`ibuild's error lacks "unknown instruction"`}},
		{"ibuild builds", result{err: failed}, result{}, []string{"ibuild built the case"}},
		{"BuildKit builds", result{}, result{err: failed, log: []byte("Dockerfile:3: unknown instruction")},
			[]string{"BuildKit built the case"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkError(c, tt.bk, tt.ib)
			if len(got) != len(tt.want) {
				t.Fatalf("checkError = %q, want %d starting %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("difference %d = %q, want prefix %q", i, got[i], w)
				}
			}
		})
	}
}
