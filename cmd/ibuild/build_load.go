package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/registry"
)

// defaultDockerHost is the docker daemon's socket when DOCKER_HOST is unset.
const defaultDockerHost = "unix:///var/run/docker.sock"

// dockerSocket returns the unix socket of the docker daemon at DOCKER_HOST
// (or docker's default), or an error saying there is none; other schemes
// are not supported.
func dockerSocket(host string) (string, error) {
	if host == "" {
		host = defaultDockerHost
	}
	p, ok := strings.CutPrefix(host, "unix://")
	if !ok || p == "" {
		return "", fmt.Errorf("--load: DOCKER_HOST=%s: only a unix:// socket is supported", host)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return "", fmt.Errorf("--load: no docker daemon at unix://%s (set DOCKER_HOST to its socket, or use -o type=docker,dest=image.tar and docker load)", p)
	}
	return p, nil
}

// loadIntoDocker sends the built image, as a docker archive with tags, to
// the docker daemon at host (DOCKER_HOST) through POST /images/load, as
// buildx --load does. Without a daemon the error says so and how to get
// the image another way.
func loadIntoDocker(ctx context.Context, out io.Writer, host string, res *build.Result, tags []string) error {
	sock, err := dockerSocket(host)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "ibuild-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	archive := filepath.Join(tmp, "image.tar")
	if err := registry.WriteDockerArchive(ctx, archive, res.Image, tags); err != nil {
		return fmt.Errorf("--load: %w", err)
	}
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://docker/images/load", f)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("--load: docker daemon at unix://%s: %w", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("--load: docker daemon at unix://%s: %s: %s", sock, resp.Status, strings.TrimSpace(string(b)))
	}
	return readLoadStream(out, resp.Body)
}

// readLoadStream prints the "Loaded image" lines of docker's JSON message
// stream and returns its error message, if any.
func readLoadStream(out io.Writer, r io.Reader) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m struct {
			Stream      string `json:"stream"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.ErrorDetail != nil || m.Error != "" {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			return errors.New("--load: docker daemon: " + msg)
		}
		if s := strings.TrimSpace(m.Stream); s != "" {
			fmt.Fprintln(out, s)
		}
	}
	return sc.Err()
}
