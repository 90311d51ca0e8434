package layer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestHostileFixtures extracts the hostile archives of
// testdata/layer/hostile, made with GNU tar (see its README) rather than
// by our own writer, into a root with a victim directory beside it.
func TestHostileFixtures(t *testing.T) {
	requireRoot(t)
	long := strings.Repeat("d", 120)
	for _, tc := range []struct {
		file, errOn string // "" means extraction succeeds, contained
		errIs       error
		check       func(t *testing.T, root string)
	}{
		{file: "dotdot.tar", errOn: "../victim/secret", errIs: ErrInvalidEntry},
		{file: "longname-dotdot.tar", errOn: long + "/../../../victim/x", errIs: ErrInvalidEntry},
		{file: "gnu-sparse.tar", errOn: "sparse", errIs: ErrInvalidEntry},
		{file: "pax-sparse.tar", errOn: "sparse", errIs: ErrInvalidEntry},
		{file: "symlink-write.tar",
			check: func(t *testing.T, root string) { assertFile(t, filepath.Join(root, "victim/secret"), "pwned\n") }},
	} {
		raw, err := os.ReadFile(filepath.Join("..", "testdata", "layer", "hostile", tc.file))
		must(t, err)
		for _, ap := range appliers {
			t.Run(ap.name+"/"+tc.file, func(t *testing.T) {
				s := newSandbox(t)
				before := listTree(t, s.victim, true)
				rc, err := Decompress(strings.NewReader(string(raw)))
				must(t, err)
				err = ap.fn(context.Background(), s.root, rc)
				switch {
				case tc.errOn == "" && err != nil:
					t.Errorf("unexpected error: %v", err)
				case tc.errOn != "" && (err == nil || !strings.Contains(err.Error(), "layer entry "+strconv.Quote(tc.errOn))):
					t.Errorf("err = %v, want one naming %q", err, tc.errOn)
				case tc.errIs != nil && !errors.Is(err, tc.errIs):
					t.Errorf("err = %v, want %v", err, tc.errIs)
				}
				s.untouched(t, before)
				if tc.check != nil && err == nil {
					tc.check(t, s.root)
				}
			})
		}
	}
}
