package buildctx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// ErrOutsideContext is wrapped by errors for sources (or symlink targets)
// that resolve outside the build context.
var ErrOutsideContext = errors.New("path outside the build context")

// ErrNotFound is wrapped by errors for sources that select no file (missing,
// or only ignored files).
var ErrNotFound = errors.New("not found")

// maxSymlinks bounds symlink resolution, as the kernel's MAXSYMLINKS does.
const maxSymlinks = 40

// Context is a build context directory with its ignore rules. It is safe
// for concurrent use.
type Context struct {
	dir        string // absolute, symlinks resolved
	given      string // absolute, as given to Open
	ignoreFile string
	excluded   []string // context-relative paths excluded outright (WithExclude)
	rooted     bool     // symlinks resolve inside dir as its root (WithRootedSymlinks)
	// owners translates the owners Digest sees (WithOwners), or is nil.
	owners func(uid, gid uint32) (uint32, uint32)

	mu sync.Mutex // patternmatcher compiles lazily and is not concurrency-safe
	pm *patternmatcher.PatternMatcher

	rootOnce sync.Once // opens root, the descriptor paths are opened beneath
	root     *os.File
	rootErr  error
}

// Open opens dir as a context. ignoreFile is the path of the ignore file to
// use: the caller passes "<Dockerfile>.dockerignore" when that exists next to
// the Dockerfile, else CONTEXT/.dockerignore; "" means none. A missing
// ignore file is not an error (docker treats it as empty).
// Options (WithExclude) add rules beyond the ignore file.
func Open(dir, ignoreFile string, opts ...Option) (*Context, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening build context %s: %w", dir, err)
	}
	real := abs
	if !isFDLink(abs) {
		if real, err = filepath.EvalSymlinks(abs); err != nil {
			return nil, fmt.Errorf("opening build context %s: %w", dir, err)
		}
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("opening build context %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("opening build context %s: not a directory", dir)
	}
	c := &Context{dir: real, given: abs, ignoreFile: ignoreFile}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	c.excluded = excludedPaths(real, o.exclude)
	c.rooted = o.rooted
	c.owners = o.owners
	var patterns []string
	if ignoreFile != "" {
		patterns, err = c.readIgnoreFile(ignoreFile)
		if err != nil {
			return nil, err
		}
	}
	c.pm, err = patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("parsing ignore file %s: %w", ignoreFile, err)
	}
	if err := validatePatterns(patterns); err != nil {
		return nil, fmt.Errorf("parsing ignore file %s: %w", ignoreFile, err)
	}
	return c, nil
}

// validatePatterns compiles every pattern now: patternmatcher compiles
// lazily, and only patterns it gets to, so a bad one (e.g. "\\1") would
// otherwise fail some later match, or never.
func validatePatterns(patterns []string) error {
	for _, p := range patterns {
		pm, err := patternmatcher.New([]string{strings.TrimPrefix(p, "!")})
		if err != nil {
			return err
		}
		if _, err := pm.MatchesOrParentMatches("x"); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	return nil
}

// readIgnoreFile reads the ignore file name, beneath the context when it
// lies inside it (a .dockerignore that is a symlink to a host file is
// refused) and never blocking on a FIFO.
func (c *Context) readIgnoreFile(name string) ([]string, error) {
	f, err := c.openHostFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ignore file %s: %w", name, err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading ignore file %s: %w", name, err)
	}
	return patterns, nil
}

// Dir returns the absolute, symlink-resolved path of the context directory.
func (c *Context) Dir() string { return c.dir }

// Ignored reports whether the context-relative, slash-separated path p is
// excluded by the ignore file (p itself or one of its parents matches, and no
// later "!" exception re-includes it).
func (c *Context) Ignored(p string) (bool, error) {
	p = path.Clean(p)
	if p == "." || p == "/" {
		return false, nil
	}
	if c.isExcluded(p) {
		return true, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.pm.MatchesOrParentMatches(strings.TrimPrefix(p, "/"))
	if err != nil {
		return false, fmt.Errorf("matching %s against ignore file %s: %w", p, c.ignoreFile, err)
	}
	return m, nil
}

// Option configures Open.
type Option func(*options)

type options struct {
	exclude []string
	rooted  bool
	owners  func(uid, gid uint32) (uint32, uint32)
}

// WithOwners makes Digest record each file's owner as owners translates
// it: a builder outside the user namespace in which another build of it
// runs sees the owners that build sees, and so computes its keys.
func WithOwners(owners func(uid, gid uint32) (uint32, uint32)) Option {
	return func(o *options) { o.owners = owners }
}

// WithRootedSymlinks makes dir the root of the paths its symlinks name: an
// absolute target is looked up from dir, and ".." stops at dir, as inside a
// container. It is for a directory holding another stage's or an image's
// root file system, from which COPY --from reads as BuildKit does (inside
// the source's root); a build context keeps the stricter default.
func WithRootedSymlinks() Option {
	return func(o *options) { o.rooted = true }
}

// WithExclude leaves the host directories or files paths out of the
// context as if ignored, with no "!" exception able to bring them back.
// Paths outside the context are ignored. The builder passes its --root,
// so that a context containing the store (COPY . with --root ./store)
// never copies the store, or its half-written files, into an image.
func WithExclude(paths ...string) Option {
	return func(o *options) { o.exclude = append(o.exclude, paths...) }
}

// excludedPaths turns host paths into context-relative ones, keeping
// those inside the context dir (itself excluded: that would empty it).
func excludedPaths(dir string, paths []string) []string {
	var out []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		rel, err := filepath.Rel(dir, abs)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

// isExcluded reports whether the cleaned context-relative p is, or is
// below, a WithExclude path.
func (c *Context) isExcluded(p string) bool {
	p = strings.TrimPrefix(p, "/")
	for _, x := range c.excluded {
		if p == x || strings.HasPrefix(p, x+"/") {
			return true
		}
	}
	return false
}

// hasExceptions reports whether the ignore rules contain "!" patterns, in
// which case ignored directories must still be walked.
func (c *Context) hasExceptions() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pm.Exclusions()
}

// abs returns the host path of the context-relative path p.
func (c *Context) abs(p string) string {
	return filepath.Join(c.dir, filepath.FromSlash(p))
}

// cleanArg turns a source argument into a cleaned context-relative path.
// Absolute arguments are relative to the context root (and cannot climb out
// of it, as in docker); relative arguments that climb out are rejected.
func cleanArg(arg string) (string, error) {
	if arg == "" {
		return "", fmt.Errorf("empty source path")
	}
	if strings.HasPrefix(arg, "/") {
		return strings.TrimPrefix(path.Clean(arg), "/"), nil
	}
	p := path.Clean(arg)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%s: %w", arg, ErrOutsideContext)
	}
	return p, nil
}

// resolve resolves the symlinks in the context-relative path p without ever
// leaving the context: a ".." above the root or a link to an absolute path
// outside the context is ErrOutsideContext (rather than clamped, so a link
// to /etc/passwd is refused instead of silently meaning CONTEXT/etc/passwd).
// The last component is followed only if followLast. Components that do not
// exist are kept literally; the caller's Lstat reports them.
func (c *Context) resolve(p string, followLast bool) (string, error) {
	var done []string
	todo := splitPath(p)
	links := 0
	for len(todo) > 0 {
		comp := todo[0]
		todo = todo[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 && c.rooted {
				continue // ".." of the root is the root
			}
			if len(done) == 0 {
				return "", fmt.Errorf("resolving %s: %w", p, ErrOutsideContext)
			}
			done = done[:len(done)-1]
			continue
		}
		done = append(done, comp)
		if len(todo) == 0 && !followLast {
			break
		}
		fi, err := c.lstat(path.Join(done...))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// Kept literally; a later ".." pops it, never above
				// the root (a lexical join of the rest could climb out).
				continue
			}
			return "", fmt.Errorf("resolving %s: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("resolving %s: too many levels of symbolic links", p)
		}
		target, err := c.readlink(path.Join(done...))
		if err != nil {
			return "", fmt.Errorf("resolving %s: %w", p, err)
		}
		done = done[:len(done)-1]
		if filepath.IsAbs(target) && c.rooted {
			done, target = nil, strings.TrimLeft(filepath.ToSlash(target), "/")
		} else if filepath.IsAbs(target) {
			rel, err := filepath.Rel(c.dir, target)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return "", fmt.Errorf("symlink %s -> %s: %w", path.Join(append(done, comp)...), target, ErrOutsideContext)
			}
			done = nil
			target = filepath.ToSlash(rel)
		}
		todo = append(splitPath(filepath.ToSlash(target)), todo...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return path.Join(done...), nil
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// isFDLink reports whether p is /proc/PID/fd/N (or /proc/self/fd/N): the
// magic link to a detached mount, such as the root filesystem of another
// stage. Resolving it as a symlink would give "/", so it is kept as it is
// and every path below it is reached through it.
func isFDLink(p string) bool {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) != 4 || parts[0] != "proc" || parts[2] != "fd" {
		return false
	}
	if _, err := strconv.Atoi(parts[3]); err != nil {
		return false
	}
	_, err := strconv.Atoi(parts[1])
	return err == nil || parts[1] == "self"
}
