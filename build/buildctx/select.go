package buildctx

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
)

// Source is one file, directory or symlink selected for a COPY.
type Source struct {
	// Path is the path relative to the context root, slash-separated and
	// cleaned, with symlinks in it resolved (e.g. "src/main.go"). Pass it to
	// [Context.OpenFile].
	Path string
	// Rel is the path relative to the matched source root: what goes under
	// the destination. For a file argument it is the argument's base name
	// (the symlink's name, not its target's, when a symlink was followed).
	Rel string
	// Info is the Lstat result of Path. Symlinks found while walking stay
	// symlinks; a symlink named by the argument was followed, so Info
	// describes its target.
	Info fs.FileInfo
}

// Match is the result of one COPY source argument.
type Match struct {
	// Arg is the source as written, e.g. "src/*.go".
	Arg string
	// IsDir reports that the argument named a single directory; then its
	// CONTENTS are copied (Files does not include the directory itself).
	IsDir bool
	// Files is every file, directory and symlink selected under Arg, sorted
	// by Path, ignored files excluded. Sub-directories are entries too. When
	// a glob matches several directories, each one's contents are listed
	// relative to that directory.
	Files []Source
}

// Select resolves COPY source arguments. Globs use filepath.Match semantics
// per path component, as docker does ("**" is not special); a directory
// selects its contents; ignored files are never selected. See the package
// documentation for symlinks, special files and paths outside the context.
// Errors name the argument and wrap [ErrNotFound] or [ErrOutsideContext]
// where those apply.
func (c *Context) Select(ctx context.Context, srcs []string) ([]Match, error) {
	out := make([]Match, 0, len(srcs))
	for _, arg := range srcs {
		m, err := c.selectOne(ctx, arg)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// SelectAllowEmpty is Select for COPY and ADD, as BuildKit's Dockerfile
// frontend runs them (AllowEmptyWildcard): a wildcard argument that matches
// nothing selects nothing instead of failing. A literal path that is
// missing still fails.
func (c *Context) SelectAllowEmpty(ctx context.Context, srcs []string) ([]Match, error) {
	out := make([]Match, 0, len(srcs))
	for _, arg := range srcs {
		m, err := c.selectOne(ctx, arg)
		if errors.Is(err, ErrNotFound) {
			if rel, cerr := cleanArg(arg); cerr == nil && containsWildcards(rel) {
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (c *Context) selectOne(ctx context.Context, arg string) (Match, error) {
	rel, err := cleanArg(arg)
	if err != nil {
		return Match{}, err
	}
	m := Match{Arg: arg}
	if !containsWildcards(rel) {
		files, isDir, err := c.selectRoot(ctx, arg, rel)
		if err != nil {
			return Match{}, err
		}
		m.IsDir, m.Files = isDir, files
		return m, nil
	}
	candidates, err := c.glob(rel)
	if err != nil {
		return Match{}, fmt.Errorf("%s: %w", arg, err)
	}
	var dirs int
	for _, cand := range candidates {
		files, isDir, err := c.selectRoot(ctx, arg, cand)
		if errors.Is(err, ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue // ignored, or a literal component below a file; other matches may remain
		}
		if err != nil {
			return Match{}, err
		}
		if isDir {
			dirs++
		}
		m.Files = append(m.Files, files...)
	}
	if len(m.Files) == 0 && dirs == 0 {
		return Match{}, fmt.Errorf("%s: no source files in build context %s match: %w", arg, c.dir, ErrNotFound)
	}
	m.IsDir = len(candidates) == 1 && dirs == 1
	sortSources(m.Files)
	m.Files = dedupe(m.Files)
	return m, nil
}

// selectRoot selects what the context-relative path p names: the followed
// file itself, or a directory's contents.
func (c *Context) selectRoot(ctx context.Context, arg, p string) ([]Source, bool, error) {
	real, err := c.resolve(p, true)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", arg, err)
	}
	fi, err := c.lstat(real)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("%s: %s not found in build context %s: %w", arg, p, c.dir, ErrNotFound)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", arg, err)
	}
	if c.isExcluded(real) || c.isExcluded(p) {
		return nil, false, fmt.Errorf("%s: %s is excluded from the build context: %w", arg, p, ErrNotFound)
	}
	if real != p && !c.hasExceptions() {
		// Reached through a symlink: docker never sends an ignored link
		// (or a link inside an ignored directory), so neither is followed.
		ignored, err := c.Ignored(p)
		if err != nil {
			return nil, false, err
		}
		if ignored {
			return nil, false, fmt.Errorf("%s: %s is excluded by %s: %w", arg, p, c.ignoreFile, ErrNotFound)
		}
	}
	ignored, err := c.Ignored(real)
	if err != nil {
		return nil, false, err
	}
	if fi.IsDir() {
		if ignored && (!c.hasExceptions() || c.isExcluded(real)) {
			return nil, false, fmt.Errorf("%s: %s is excluded by %s: %w", arg, p, c.ignoreFile, ErrNotFound)
		}
		files, err := c.walk(ctx, real, "")
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", arg, err)
		}
		if ignored && len(files) == 0 {
			return nil, false, fmt.Errorf("%s: %s is excluded by %s: %w", arg, p, c.ignoreFile, ErrNotFound)
		}
		sortSources(files)
		return files, true, nil
	}
	if ignored {
		return nil, false, fmt.Errorf("%s: %s is excluded by %s: %w", arg, p, c.ignoreFile, ErrNotFound)
	}
	if !fi.Mode().IsRegular() && !isNode(fi.Mode()) {
		return nil, false, fmt.Errorf("%s: %s is a %s, not a regular file or directory", arg, p, typeName(fi.Mode()))
	}
	return []Source{{Path: real, Rel: path.Base(p), Info: fi}}, false, nil
}

// walk lists the contents of directory dir (context-relative, resolved),
// with Rel paths under relBase. Ignored entries are left out; ignored
// directories are still descended into when the rules have exceptions, and
// included when something under them is. Sockets are skipped.
func (c *Context) walk(ctx context.Context, dir, relBase string) ([]Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := c.openDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading directory %s: %w", c.abs(dir), err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("reading directory %s: %w", c.abs(dir), err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	type kept struct {
		e       fs.DirEntry
		ignored bool
	}
	var keep []kept
	var names []string
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		if c.isExcluded(p) {
			continue
		}
		ignored, err := c.Ignored(p)
		if err != nil {
			return nil, err
		}
		if ignored && (!e.IsDir() || !c.hasExceptions()) {
			continue
		}
		keep = append(keep, kept{e, ignored})
		names = append(names, e.Name())
	}
	infos, err := lstatDir(d, names)
	if err != nil {
		return nil, fmt.Errorf("walking build context: %w", err)
	}
	// Subdirectories are walked concurrently (bounded by walkSlots; a walk
	// that finds no free slot runs inline), results kept in entry order.
	children := make([][]Source, len(keep))
	errs := make([]error, len(keep))
	var wg sync.WaitGroup
	for i, k := range keep {
		if infos[i] == nil || !infos[i].IsDir() {
			continue
		}
		p, rel := path.Join(dir, k.e.Name()), path.Join(relBase, k.e.Name())
		select {
		case walkSlots <- struct{}{}:
			wg.Add(1)
			go func() {
				defer func() { <-walkSlots; wg.Done() }()
				children[i], errs[i] = c.walk(ctx, p, rel)
			}()
		default:
			children[i], errs[i] = c.walk(ctx, p, rel)
		}
	}
	wg.Wait()
	n := len(keep)
	for _, ch := range children {
		n += len(ch)
	}
	out := make([]Source, 0, n)
	for i, k := range keep {
		e, ignored, fi := k.e, k.ignored, infos[i]
		if fi == nil {
			continue // removed while walking
		}
		p := path.Join(dir, e.Name())
		rel := path.Join(relBase, e.Name())
		switch mode := fi.Mode(); {
		case mode.IsDir():
			if errs[i] != nil {
				return nil, errs[i]
			}
			if !ignored || len(children[i]) > 0 {
				out = append(out, Source{Path: p, Rel: rel, Info: fi})
				out = append(out, children[i]...)
			}
		case mode.IsRegular(), mode&fs.ModeSymlink != 0, isNode(mode):
			out = append(out, Source{Path: p, Rel: rel, Info: fi})
		default:
			// Sockets: a layer cannot hold them (BuildKit's differ
			// leaves them out too).
		}
	}
	return out, nil
}

// walkSlots bounds the directories walked concurrently.
var walkSlots = make(chan struct{}, 8)

// glob expands the context-relative pattern p one component at a time,
// resolving symlinked directories on the way inside the context. Matches
// are returned unresolved and sorted.
func (c *Context) glob(p string) ([]string, error) {
	cur := []string{"."}
	for _, comp := range splitPath(p) {
		var next []string
		for _, dir := range cur {
			if !containsWildcards(comp) {
				next = append(next, path.Join(dir, comp))
				continue
			}
			if _, err := filepath.Match(comp, ""); err != nil {
				return nil, fmt.Errorf("bad pattern %q: %w", comp, err)
			}
			real, err := c.resolve(dir, true)
			if err != nil {
				continue // a link out of the context holds no matches
			}
			entries, err := c.readDir(real)
			if err != nil {
				continue // not a directory, or missing: no matches here
			}
			for _, e := range entries {
				if ok, _ := filepath.Match(comp, e.Name()); ok {
					next = append(next, path.Join(dir, e.Name()))
				}
			}
		}
		cur = next
	}
	sort.Strings(cur)
	return cur, nil
}

// containsWildcards reports whether name has glob metacharacters, skipping
// backslash-escaped characters as BuildKit does on Unix.
func containsWildcards(name string) bool {
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

func sortSources(s []Source) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Path != s[j].Path {
			return s[i].Path < s[j].Path
		}
		return s[i].Rel < s[j].Rel
	})
}

// dedupe drops repeated (Path, Rel) entries from sorted s: a glob can reach
// one file through both its real path and an in-context directory symlink.
func dedupe(s []Source) []Source {
	out := s[:0]
	for i, e := range s {
		if i > 0 && e.Path == s[i-1].Path && e.Rel == s[i-1].Rel {
			continue
		}
		out = append(out, e)
	}
	return out
}

// isNode reports whether m is a FIFO or a device: selected, as BuildKit
// copies them (mknod), but never opened.
func isNode(m fs.FileMode) bool {
	return m&(fs.ModeNamedPipe|fs.ModeDevice) != 0
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "special file"
}

// readDir lists the context-relative directory p, sorted by name.
func (c *Context) readDir(p string) ([]fs.DirEntry, error) {
	d, err := c.openDir(p)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, err
}
