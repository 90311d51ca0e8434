package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ibuild/ibuild/layer"
)

// maxStdinDockerfile bounds a Dockerfile read from stdin (`ibuild - <
// Dockerfile`).
const maxStdinDockerfile = 16 << 20

// stdinContext prepares the build context PATH "-", as docker does: a tar
// archive on stdin (plain, gzip, bzip2, xz or zstd) is the context, its
// Dockerfile (or -f, relative to the archive's root) the Dockerfile;
// anything else is a Dockerfile alone, with an empty context. It returns
// the context directory, the Dockerfile to use ("" for the context's) and
// a cleanup that removes what it made. Extraction validates every entry
// (no path leaves the directory) and is bounded by limits.
func stdinContext(ctx context.Context, stdin io.Reader, file string, limits ...layer.Option) (dir, dockerfile string, cleanup func(), err error) {
	if file == "-" {
		return "", "", nil, errors.New("invalid -f -: stdin already holds the build context (PATH is -)")
	}
	tmp, err := os.MkdirTemp("", "ibuild-stdin-")
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	dir = filepath.Join(tmp, "context")
	if err := os.Mkdir(dir, 0o700); err != nil {
		cleanup()
		return "", "", nil, err
	}
	br := bufio.NewReaderSize(stdin, layer.SniffLen)
	head, _ := br.Peek(layer.SniffLen)
	if layer.IsArchive(head) {
		rc, err := layer.Decompress(br, limits...)
		if err == nil {
			err = layer.ApplyDir(ctx, dir, rc, limits...)
			rc.Close()
		}
		if err != nil {
			cleanup()
			return "", "", nil, fmt.Errorf("reading the build context from stdin: %w", err)
		}
		if file != "" && !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		return dir, file, cleanup, nil
	}
	data, err := io.ReadAll(io.LimitReader(br, maxStdinDockerfile+1))
	if err == nil && len(data) > maxStdinDockerfile {
		err = fmt.Errorf("larger than %d bytes", maxStdinDockerfile)
	}
	if err == nil && len(data) == 0 {
		err = errors.New("stdin is empty")
	}
	if err != nil {
		cleanup()
		return "", "", nil, fmt.Errorf("reading the Dockerfile from stdin: %w", err)
	}
	if file != "" {
		cleanup()
		return "", "", nil, errors.New("invalid -f with PATH -: stdin holds a Dockerfile, not an archive, so there is no context to find it in")
	}
	dockerfile = filepath.Join(tmp, "Dockerfile")
	if err := os.WriteFile(dockerfile, data, 0o600); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return dir, dockerfile, cleanup, nil
}
