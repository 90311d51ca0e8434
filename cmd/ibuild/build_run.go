package main

import (
	"fmt"
	"net"
	"strings"

	units "github.com/docker/go-units"

	"github.com/ibuild/ibuild/build"
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

// parseAddHost turns docker's NAME:IP (or NAME=IP) into an /etc/hosts
// line. The name is cut at the first separator, so IPv6 addresses work.
func parseAddHost(v string) ([]byte, error) {
	i := strings.IndexAny(v, ":=")
	if i <= 0 {
		return nil, fmt.Errorf("invalid --add-host %q: want NAME:IP", v)
	}
	name, ip := v[:i], strings.Trim(v[i+1:], "[]")
	if ip == "host-gateway" {
		return nil, fmt.Errorf("invalid --add-host %q: host-gateway needs a daemon's gateway address; RUN shares the host network, give the IP", v)
	}
	if net.ParseIP(ip) == nil {
		return nil, fmt.Errorf("invalid --add-host %q: %q is not an IP address", v, ip)
	}
	if strings.ContainsAny(name, " \t\n#") {
		return nil, fmt.Errorf("invalid --add-host %q: bad host name", v)
	}
	return []byte(ip + "\t" + name + "\n"), nil
}
