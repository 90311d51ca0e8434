package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	units "github.com/docker/go-units"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/registry"
)

// runSettings applies --add-host, --shm-size and --ulimit to opt.Run.
func (o *buildOptions) runSettings(opt *build.Options) error {
	if len(o.addHosts) > 0 {
		hosts := build.DefaultHosts()
		for _, h := range o.addHosts {
			line, err := parseAddHost(h)
			if err != nil {
				return err
			}
			hosts = append(hosts, line...)
		}
		opt.Run.Hosts = hosts
	}
	if o.shmSize != "" {
		n, err := units.RAMInBytes(o.shmSize)
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid --shm-size %q: want a positive size such as 128m", o.shmSize)
		}
		opt.Run.ShmSize = n
	}
	for _, v := range o.ulimits {
		u, err := units.ParseUlimit(v)
		if err != nil {
			return fmt.Errorf("invalid --ulimit %q: %w", v, err)
		}
		if _, err := u.GetRlimit(); err != nil {
			return fmt.Errorf("invalid --ulimit %q: %w", v, err)
		}
		opt.Run.Ulimits = append(opt.Run.Ulimits, u)
	}
	return nil
}

// networkSettings checks --network and applies --allow.
func (o *buildOptions) networkSettings(opt *build.Options) error {
	switch o.network {
	case build.NetworkDefault, build.NetworkHost, build.NetworkNone:
	default:
		return fmt.Errorf("invalid --network %q: want default, host or none", o.network)
	}
	for _, a := range o.allow {
		switch a {
		case "network.host":
			opt.Run.AllowNetworkHost = true
		case "security.insecure":
			return fmt.Errorf("invalid --allow %q: RUN --security=insecure is not supported", a)
		default:
			return fmt.Errorf("invalid --allow %q: want network.host", a)
		}
	}
	return nil
}

// parseAddHost turns docker's NAME:IP (or NAME=IP) into an /etc/hosts
// line. The name is cut at the first separator, so IPv6 addresses work.
func parseAddHost(v string) ([]byte, error) {
	i := strings.IndexAny(v, ":=")
	if i <= 0 {
		return nil, fmt.Errorf("invalid --add-host %q: want NAME:IP", v)
	}
	name, ip := v[:i], strings.Trim(v[i+1:], "[]")
	if ip == "host-gateway" {
		return nil, fmt.Errorf("invalid --add-host %q: host-gateway needs a daemon's gateway address, which ibuild has not (RUN's private network cannot reach the host's loopback); give the IP", v)
	}
	if net.ParseIP(ip) == nil {
		return nil, fmt.Errorf("invalid --add-host %q: %q is not an IP address", v, ip)
	}
	if strings.ContainsAny(name, " \t\n#") {
		return nil, fmt.Errorf("invalid --add-host %q: bad host name", v)
	}
	return []byte(ip + "\t" + name + "\n"), nil
}

// parseBuildContexts parses --build-context NAME=VALUE flags (BuildKit's
// named contexts): a directory, docker-image://REF or
// oci-layout://DIR[:TAG].
func parseBuildContexts(vals []string) (map[string]build.NamedContext, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := map[string]build.NamedContext{}
	for _, v := range vals {
		name, val, ok := strings.Cut(v, "=")
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("invalid --build-context %q: want NAME=DIR, NAME=docker-image://REF or NAME=oci-layout://DIR", v)
		}
		var nc build.NamedContext
		switch {
		case strings.HasPrefix(val, "docker-image://"):
			nc.Image = strings.TrimPrefix(val, "docker-image://")
			if _, err := registry.ParseReference(nc.Image); err != nil {
				return nil, fmt.Errorf("invalid --build-context %q: %w", v, err)
			}
		case strings.HasPrefix(val, "oci-layout://"):
			dir := strings.TrimPrefix(val, "oci-layout://")
			if strings.Contains(dir, "@") {
				return nil, fmt.Errorf("invalid --build-context %q: selecting a layout's image by digest is not supported; use :TAG", v)
			}
			if i := strings.LastIndex(dir, ":"); i > 0 && !strings.Contains(dir[i:], "/") {
				dir, nc.LayoutTag = dir[:i], dir[i+1:]
			}
			if _, err := os.Stat(dir + "/index.json"); err != nil {
				return nil, fmt.Errorf("invalid --build-context %q: not an OCI layout: %w", v, err)
			}
			nc.Layout = dir
		case strings.Contains(val, "://"):
			return nil, fmt.Errorf("invalid --build-context %q: only a directory, docker-image:// and oci-layout:// are supported", v)
		default:
			fi, err := os.Stat(val)
			if err != nil {
				return nil, fmt.Errorf("invalid --build-context %q: %w", v, err)
			}
			if !fi.IsDir() {
				return nil, fmt.Errorf("invalid --build-context %q: %s is not a directory", v, val)
			}
			nc.Dir = val
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("invalid --build-context %q: %s given twice", v, name)
		}
		out[name] = nc
	}
	return out, nil
}

// parseSSH parses --ssh values as docker's: "default" forwards the agent
// at authSock ($SSH_AUTH_SOCK); ID=SOCKET forwards SOCKET as ID. Only agent
// sockets are supported, not key files.
func parseSSH(vals []string, authSock string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vals {
		id, path, ok := strings.Cut(v, "=")
		if id == "" {
			return nil, fmt.Errorf("invalid --ssh %q: want default or ID=SOCKET", v)
		}
		if !ok || path == "" {
			if authSock == "" {
				return nil, fmt.Errorf("invalid --ssh %q: no socket given and SSH_AUTH_SOCK is not set", v)
			}
			path = authSock
		}
		if strings.Contains(path, ",") {
			return nil, fmt.Errorf("invalid --ssh %q: one agent socket per id", v)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("invalid --ssh %q: %w", v, err)
		}
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("invalid --ssh %q: %s is not an agent socket (key files are not supported; load them into ssh-agent)", v, path)
		}
		out[id] = path
	}
	return out, nil
}
