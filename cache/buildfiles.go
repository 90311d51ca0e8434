package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/ibuild/ibuild/internal/atomicfile"
)

// Directories of build bookkeeping: each entry is named by a hash of the
// identifier its user gives, counted by DiskUsage and removed by Prune
// like the cache it accompanies.
const (
	// cacheMountsDir holds RUN --mount=type=cache directories.
	cacheMountsDir = "cache-mounts"
	// explainDir holds the inputs of the last build of each Dockerfile
	// step, which let a cache miss say what changed.
	explainDir = "explain"
	// contextMemosDir holds one content-hash memo per build context
	// directory (build/buildctx writes them).
	contextMemosDir = "context-memos"
)

// nameOf is the file name of an identifier: 32 hex digits of its sha256.
func nameOf(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// CacheMountDir returns the directory of the RUN cache mount with this id
// (its id= or target). The caller creates it, with the owner and mode the
// mount asks for, and locks it as sharing= says.
func (s *Store) CacheMountDir(id string) string {
	return s.path(cacheMountsDir, nameOf(id))
}

// ContextMemo returns the file in which the content hashes of the build
// context directory dir are memoised between builds: one per directory, so
// that a build loads only its own context's entries.
func (s *Store) ContextMemo(dir string) string {
	return s.path(contextMemosDir, nameOf(dir))
}

// Explanation returns the step inputs last saved under id by
// PutExplanation, or false if there are none.
func (s *Store) Explanation(id string) ([]byte, bool, error) {
	p := s.path(explainDir, nameOf(id)+".json")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading step explanation %s: %w", p, err)
	}
	return b, true, nil
}

// PutExplanation saves the inputs of a step under id, replacing the
// previous ones atomically.
func (s *Store) PutExplanation(id string, data []byte) error {
	p := s.path(explainDir, nameOf(id)+".json")
	if err := os.MkdirAll(s.path(explainDir), 0o755); err != nil {
		return fmt.Errorf("writing step explanation %s: %w", p, err)
	}
	if err := atomicfile.WriteFile(p, data, 0o644); err != nil {
		return fmt.Errorf("writing step explanation %s: %w", p, err)
	}
	return nil
}
