package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/internal/atomicfile"
	"github.com/ibuild/ibuild/layer"
)

// snapshotPath returns ROOT/snapshots/<diffID hex>.
func (s *Store) snapshotPath(diffID v1.Hash) (string, error) {
	if err := checkHash(diffID); err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	return s.path(snapshotsDir, diffID.Hex), nil
}

// isDir reports whether p is an existing directory.
func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// Snapshot returns the directory holding the layer extracted in overlayfs
// on-disk format (whiteouts as 0/0 character devices, opaque directories
// marked trusted.overlay.opaque=y), suitable as an overlay lower directory.
// The first call extracts it: the blob is read (and verified), decompressed,
// checked against info.DiffID and applied with layer.ApplySnapshot into
// snapshots/.tmp-*, which is renamed to snapshots/<diffID hex> when
// complete. Callers in this process wait for one extraction; callers in
// other processes may extract too, and the first rename wins.
func (s *Store) Snapshot(ctx context.Context, info layer.Info) (string, error) {
	if s.opts.unprivileged {
		return "", fmt.Errorf("snapshot of layer %s: %w", info.DiffID, ErrUnprivileged)
	}
	final, err := s.snapshotPath(info.DiffID)
	if err != nil {
		return "", err
	}
	defer s.markSnapshotUsed(info.DiffID.Hex)
	if isDir(final) {
		return final, nil
	}
	release, err := s.lockSnapshot(ctx, info.DiffID.Hex)
	if err != nil {
		return "", err
	}
	defer release()
	if isDir(final) {
		return final, nil
	}
	tmp, cleanup, err := s.snapshotTemp()
	if err != nil {
		return "", fmt.Errorf("extracting layer %s: %w", info.Digest, err)
	}
	defer cleanup()
	if err := s.extract(ctx, info, tmp); err != nil {
		return "", fmt.Errorf("extracting layer %s: %w", info.Digest, err)
	}
	if err := commitSnapshot(tmp, final); err != nil {
		return "", fmt.Errorf("extracting layer %s: %w", info.Digest, err)
	}
	return final, nil
}

// extract applies the layer blob to dir, verifying the blob digest and the
// diffID of the uncompressed stream.
func (s *Store) extract(ctx context.Context, info layer.Info, dir string) error {
	rc, err := s.openBlob(info.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.extractFrom(ctx, rc, info, dir)
}

// extractFrom applies the compressed layer read from rc to dir, checking
// the diffID of the uncompressed stream. It reads rc to its end, even when
// the tar is broken, unless ctx is cancelled: a verifying rc (the blob
// reader, the download in PullImage) then has its say.
func (s *Store) extractFrom(ctx context.Context, rc io.Reader, info layer.Info, dir string) error {
	dr, err := layer.Decompress(rc, s.opts.layer...)
	if err != nil {
		return err
	}
	defer dr.Close()
	h := sha256.New()
	tee := io.TeeReader(dr, h)
	if err := layer.ApplySnapshot(ctx, dir, tee, s.opts.layer...); err != nil {
		// A corrupt blob explains a broken tar better than the tar error.
		if ctx.Err() == nil {
			if _, verr := io.Copy(io.Discard, rc); verr != nil {
				return verr
			}
		}
		return err
	}
	// Read what the tar reader left (end-of-archive padding) so that the
	// diffID and, by reaching the blob's EOF, its digest are checked.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != info.DiffID.String() {
		return fmt.Errorf("uncompressed content has diffID %s, want %s", got, info.DiffID)
	}
	return nil
}

// snapshotTemp creates a locked snapshots/.tmp-* directory. cleanup removes
// it unless it has been renamed away, and releases the lock.
func (s *Store) snapshotTemp() (string, func(), error) {
	tmp, err := os.MkdirTemp(s.path(snapshotsDir), snapTmpGlob+"*")
	if err != nil {
		return "", nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.Remove(tmp)
		return "", nil, err
	}
	d, err := os.Open(tmp)
	if err == nil {
		err = lockFD(d)
	}
	if err != nil {
		if d != nil {
			d.Close()
		}
		os.Remove(tmp)
		return "", nil, err
	}
	return tmp, func() {
		os.RemoveAll(tmp) // fails harmlessly once renamed
		d.Close()
	}, nil
}

// commitSnapshot makes the extracted tree durable and renames it into
// place. If another writer got there first, dir is removed and the
// existing snapshot stands.
func commitSnapshot(dir, final string) error {
	if err := syncFS(dir); err != nil {
		return err
	}
	if err := os.Rename(dir, final); err != nil {
		if isDir(final) {
			return os.RemoveAll(dir)
		}
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(final))
}

// AdoptSnapshot moves dir, an already-extracted overlay-format tree (such
// as a RUN's overlay upperdir), in as the snapshot of the layer with this
// diffID, so it need not be extracted again. dir must be on the store's
// file system (use TempDir). If the snapshot exists already, dir is
// removed. It returns the snapshot directory.
func (s *Store) AdoptSnapshot(ctx context.Context, diffID v1.Hash, dir string) (string, error) {
	if s.opts.unprivileged {
		return "", fmt.Errorf("snapshot of layer %s: %w", diffID, ErrUnprivileged)
	}
	final, err := s.snapshotPath(diffID)
	if err != nil {
		return "", err
	}
	release, err := s.lockSnapshot(ctx, diffID.Hex)
	if err != nil {
		return "", err
	}
	defer release()
	defer s.markSnapshotUsed(diffID.Hex)
	if isDir(final) {
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("adopting snapshot %s: %w", diffID, err)
		}
		return final, nil
	}
	if err := commitSnapshot(dir, final); err != nil {
		return "", fmt.Errorf("adopting snapshot %s from %s: %w", diffID, dir, err)
	}
	return final, nil
}

// TempDir makes a fresh directory under ROOT/mounts, on the same file
// system as the snapshots, for a RUN's overlay upper, work and merged
// directories. The caller removes it. Its name, pattern + pid + "-" +
// random, carries the process id, so that Open can collect the directories
// of a builder killed with SIGKILL.
func (s *Store) TempDir(pattern string) (string, error) {
	if s.opts.unprivileged {
		return "", fmt.Errorf("temporary directory %s: %w", pattern, ErrUnprivileged)
	}
	if err := os.MkdirAll(s.path(mountsDir), 0o700); err != nil {
		return "", err
	}
	if err := s.holdOwner(); err != nil {
		return "", fmt.Errorf("creating temp dir: %w", err)
	}
	d, err := os.MkdirTemp(s.path(mountsDir), pattern+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", fmt.Errorf("creating temp dir: %w", err)
	}
	return d, nil
}

// lockSnapshot serialises work on one snapshot inside this process. Waiting
// ends early if ctx is cancelled.
func (s *Store) lockSnapshot(ctx context.Context, key string) (func(), error) {
	for {
		s.snapMu.Lock()
		ch, busy := s.extracting[key]
		if !busy {
			ch = make(chan struct{})
			s.extracting[key] = ch
			s.snapMu.Unlock()
			return func() {
				s.snapMu.Lock()
				delete(s.extracting, key)
				s.snapMu.Unlock()
				close(ch)
			}, nil
		}
		s.snapMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
