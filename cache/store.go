package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ibuild/ibuild/internal/atomicfile"
	"github.com/ibuild/ibuild/layer"
)

// ErrNotFound is wrapped by errors for missing blobs, tags and images.
var ErrNotFound = errors.New("not found")

// ErrUnprivileged is wrapped by the errors of a store opened with
// Unprivileged for what it refuses to do.
var ErrUnprivileged = errors.New("needs the builder's user namespace")

// staleAge is how old an unlocked ingest file or snapshot temp directory
// must be before Open removes it. A writer holds an flock on its temp file
// from creation, so the age only covers the instant between creating the
// file and locking it.
const staleAge = time.Minute

// Directory and file names inside the root.
const (
	layoutFile   = "oci-layout"
	indexFile    = "index.json"
	indexBackup  = "index.json.bak"
	lockFile     = "lock"
	gcLockFile   = "gc.lock"
	stampsDir    = "stamps"
	usageDir     = "usage"
	blobsDir     = "blobs"
	ingestDir    = "ingest"
	snapshotsDir = "snapshots"
	stepsDir     = "steps"
	mountsDir    = "mounts"
	snapTmpGlob  = ".tmp-"
)

// Store is a content-addressed store of blobs, tagged images, extracted
// layer snapshots and step cache records under one root directory. A Store
// is safe for concurrent use, and several processes may share one root.
type Store struct {
	root string
	opts options

	// gc is ROOT/gc.lock, flocked shared from Open to Close so that Prune
	// (which needs it exclusively) never runs beside a build.
	gc *os.File

	// mu serialises index.json updates inside this process; the flock on
	// ROOT/lock serialises them between processes.
	mu sync.Mutex

	// extracting holds one channel per snapshot being extracted by this
	// process, so that concurrent callers wait instead of duplicating work.
	snapMu     sync.Mutex
	extracting map[string]chan struct{}

	// owner is set once this Store holds the process's owner lock in
	// mounts/ (holdOwner), released by Close.
	ownerMu sync.Mutex
	owner   bool
}

// holdOwner takes the process's owner lock in mounts/ for this Store,
// once, so that other builders' sweeps leave its TempDirs alone.
func (s *Store) holdOwner() error {
	s.ownerMu.Lock()
	defer s.ownerMu.Unlock()
	if s.owner {
		return nil
	}
	if err := holdOwner(s.path(mountsDir)); err != nil {
		return err
	}
	s.owner = true
	return nil
}

// Option configures a Store.
type Option func(*options)

type options struct {
	warn         io.Writer
	layer        []layer.Option
	unprivileged bool
}

// Unprivileged opens the store for a process outside the user namespace
// in which a rootless builder (uid 0 there, the store's owner outside)
// would use it: reading metadata, blobs, step records and tags and writing
// them as that builder would is allowed (the files belong to the same
// host user either way); everything that needs the namespace fails with
// ErrUnprivileged before it changes anything: Snapshot (a snapshot's
// owners read differently outside), AdoptSnapshot, TempDir, and an Open
// whose sweep finds a snapshot temp directory or a dead builder's
// mounts to remove.
func Unprivileged() Option {
	return func(o *options) { o.unprivileged = true }
}

// WithLayerLimits sets the limits (layer.WithMaxSize and friends) applied
// when the store extracts a layer, so that a hostile base image fails with
// an error instead of filling the disk.
func WithLayerLimits(opts ...layer.Option) Option {
	return func(o *options) { o.layer = append(o.layer, opts...) }
}

// LayerLimits returns the limits given to WithLayerLimits, for callers that
// extract the store's layers themselves.
func (s *Store) LayerLimits() []layer.Option { return s.opts.layer }

// WithWarnings sets where the store reports problems it recovered from on
// its own (a corrupt blob evicted, index.json restored from its backup).
// The default is os.Stderr.
func WithWarnings(w io.Writer) Option {
	return func(o *options) { o.warn = w }
}

// Open creates or opens a store at root. It writes oci-layout and an empty
// index.json if they are missing (restoring a garbled index.json from
// index.json.bak), and sweeps stale ingest files and snapshot temp
// directories left by crashed processes. It holds a shared lock on
// ROOT/gc.lock until Close (or process exit), so that Prune waits for it.
func Open(ctx context.Context, root string, opt ...Option) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", root, err)
	}
	s := &Store{root: abs, extracting: map[string]chan struct{}{}, opts: options{warn: os.Stderr}}
	for _, o := range opt {
		o(&s.opts)
	}
	if s.opts.warn == nil {
		s.opts.warn = io.Discard
	}
	if err := s.makePrivate(); err != nil {
		return nil, fmt.Errorf("opening store %s: %w", abs, err)
	}
	if s.gc, err = lockShared(ctx, s.path(gcLockFile)); err != nil {
		return nil, fmt.Errorf("opening store %s: locking %s: %w", abs, gcLockFile, err)
	}
	if err := s.initLayout(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("opening store %s: %w", abs, err)
	}
	if err := s.sweep(); err != nil {
		s.Close()
		return nil, fmt.Errorf("opening store %s: %w", abs, err)
	}
	return s, nil
}

// privateDirs are the store's directories, the root ("") first. Each is
// created 0700 and an existing one is chmodded to 0700: extracted layers
// keep their setuid-root files and 0640 secrets, and blobs hold the same
// bytes, so no other host user may reach any of them (CVE-2021-41103).
// The root alone would do; the others are defence in depth against a root
// loosened by hand.
var privateDirs = []string{
	"", blobsDir, filepath.Join(blobsDir, "sha256"), ingestDir, snapshotsDir, stepsDir, mountsDir,
	stampsDir, usageDir, cacheMountsDir, ScratchDir,
}

// ScratchDir is the directory under the root where the sandbox keeps each
// RUN's bundle; a builder killed with SIGKILL leaves its debris there for
// the next run to collect.
const ScratchDir = "sandbox"

// makePrivate creates the store's directories 0700 and tightens those
// of an older store that were created world-readable.
func (s *Store) makePrivate() error {
	for _, d := range privateDirs {
		p := s.path(d)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
		stat := os.Lstat
		if d == "" {
			stat = os.Stat // the root may be a symlink to the real place
		}
		fi, err := stat(p)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", p)
		}
		if fi.Mode().Perm() != 0o700 {
			if err := os.Chmod(p, 0o700); err != nil {
				return fmt.Errorf("making %s private: %w", p, err)
			}
		}
	}
	return nil
}

// warnf reports a problem the store recovered from.
func (s *Store) warnf(format string, args ...any) {
	fmt.Fprintf(s.opts.warn, "warning: "+format+"\n", args...)
}

// Root returns the absolute path of the store's root directory.
func (s *Store) Root() string { return s.root }

// Close releases the store's shared lock on ROOT/gc.lock and, with the
// last open Store of the process, its owner lock file in ROOT/mounts. The
// Store must not be used afterwards.
func (s *Store) Close() error {
	s.ownerMu.Lock()
	if s.owner {
		releaseOwner(s.path(mountsDir))
		s.owner = false
	}
	s.ownerMu.Unlock()
	if s.gc == nil {
		return nil
	}
	err := s.gc.Close()
	s.gc = nil
	return err
}

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

// initLayout writes oci-layout and an empty index.json when absent.
func (s *Store) initLayout(ctx context.Context) error {
	if _, err := os.Stat(s.path(layoutFile)); errors.Is(err, os.ErrNotExist) {
		b := []byte(`{"imageLayoutVersion":"1.0.0"}`)
		if err := atomicfile.WriteFile(s.path(layoutFile), b, 0o644); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	_, err := os.Stat(s.path(indexFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err == nil {
		if _, err := loadIndexFile(s.path(indexFile)); err == nil {
			return nil
		}
	}
	// Missing or garbled: updateIndex writes it (from the backup when the
	// backup parses) and fails clearly when neither parses.
	return s.updateIndex(ctx, func(*v1.IndexManifest) error { return nil })
}

// sweep removes ingest files and snapshot temp directories that no live
// writer holds a lock on.
func (s *Store) sweep() error {
	now := time.Now()
	sweepDir := func(dir string, match func(string) bool, privileged bool) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !match(e.Name()) {
				continue
			}
			p := filepath.Join(dir, e.Name())
			fi, err := e.Info()
			if err != nil || now.Sub(fi.ModTime()) < staleAge {
				continue
			}
			unlock, ok := tryLockPath(p)
			if !ok {
				continue
			}
			if privileged && s.opts.unprivileged {
				unlock()
				return fmt.Errorf("removing %s: %w", p, ErrUnprivileged)
			}
			err = os.RemoveAll(p)
			unlock()
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := sweepDir(s.path(ingestDir), func(string) bool { return true }, false); err != nil {
		return err
	}
	if err := sweepDir(s.path(snapshotsDir), func(n string) bool { return strings.HasPrefix(n, snapTmpGlob) }, true); err != nil {
		return err
	}
	return s.sweepMounts()
}

// sweepMounts removes the TempDir directories of builders that are no
// longer running (no process holds their owner lock, see holdOwner), unmounting whatever a killed builder left mounted there
// first so that removing them cannot reach into a mounted file system.
func (s *Store) sweepMounts() error {
	ents, err := os.ReadDir(s.path(mountsDir))
	if err != nil {
		return err
	}
	byOwner := map[int][]string{}
	for _, e := range ents {
		if rest, ok := strings.CutPrefix(e.Name(), ownerPrefix); ok {
			// An owner file, maybe alone: removed with its owner's entries.
			if pid, err := strconv.Atoi(rest); err == nil && pid != os.Getpid() {
				if _, seen := byOwner[pid]; !seen {
					byOwner[pid] = nil
				}
			}
			continue
		}
		if pid, ok := tempOwner(e.Name()); ok && pid != os.Getpid() {
			byOwner[pid] = append(byOwner[pid], e.Name())
		}
	}
	for pid, names := range byOwner {
		if len(names) > 0 && s.opts.unprivileged {
			// Whether a live builder owns them or they are debris to
			// unmount and remove, the namespace's builder decides.
			return fmt.Errorf("sweeping %s: %w", s.path(mountsDir, names[0]), ErrUnprivileged)
		}
		release, gone := ownerGone(s.path(mountsDir), pid)
		if !gone {
			continue
		}
		for _, n := range names {
			p := s.path(mountsDir, n)
			if err := unmountBelow(p); err != nil {
				release()
				return err
			}
			if err := os.RemoveAll(p); err != nil {
				release()
				return err
			}
		}
		release()
	}
	return nil
}

// ownerPrefix starts the name of an owner lock file (see holdOwner).
const ownerPrefix = ".owner-"

// tempOwner parses the pid out of a TempDir name "PATTERN PID-RANDOM".
func tempOwner(name string) (int, bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return 0, false
	}
	rest := name[:i]
	j := len(rest)
	for j > 0 && rest[j-1] >= '0' && rest[j-1] <= '9' {
		j--
	}
	pid, err := strconv.Atoi(rest[j:])
	return pid, err == nil && pid > 0
}

// emptyIndex is a valid OCI image index with no manifests.
func emptyIndex() *v1.IndexManifest {
	return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
}

// readJSON decodes a small JSON file.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
