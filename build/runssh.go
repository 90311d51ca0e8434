package build

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/ibuild/ibuild/build/sandbox"
)

// sshMount forwards the ssh-agent of p.id to the step as BuildKit does: a
// socket of its own at the target (default /run/buildkit/ssh_agent.N),
// owned by uid:gid (default 0:0) with the mount's mode (default 0600),
// whose connections are relayed to the agent's socket; the first ssh
// mount's target is SSH_AUTH_SOCK unless the step's env sets it. A missing
// agent fails the step only when the mount is required.
func (b *builder) sshMount(p mountPlan, set *runMountSet) error {
	m := p.m
	agent, ok := b.opt.Run.SSH[p.id]
	if !ok {
		if m.Required {
			return fmt.Errorf("ssh %s: no agent forwarded (use --ssh %s=SOCKET, or --ssh default for $SSH_AUTH_SOCK)", p.id, p.id)
		}
		return nil
	}
	mode, uid, gid := p.perm(0o600)
	dir, err := b.opt.Store.TempDir("ssh-")
	if err != nil {
		return fmt.Errorf("ssh %s: %w", p.id, err)
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("ssh %s: %w", p.id, err)
	}
	relay := &agentRelay{l: l, agent: agent}
	go relay.serve()
	set.cleanups = append(set.cleanups, func() { relay.close(); os.RemoveAll(dir) })
	if err := os.Chown(sock, uid, gid); err != nil && (uid != os.Geteuid() || gid != os.Getegid()) {
		return fmt.Errorf("ssh %s: setting the socket's owner: %w", p.id, err)
	}
	if err := os.Chmod(sock, mode); err != nil {
		return fmt.Errorf("ssh %s: %w", p.id, err)
	}
	set.mounts = append(set.mounts, sandbox.Mount{Type: "bind", Source: sock, Target: p.target, ReadOnly: true})
	if !set.sshEnv {
		set.sshEnv = true
		set.env = append(set.env, "SSH_AUTH_SOCK="+p.target)
	}
	return nil
}

// agentRelay relays each connection to its socket to the agent's.
type agentRelay struct {
	l     net.Listener
	agent string
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func (r *agentRelay) serve() {
	for {
		c, err := r.l.Accept()
		if err != nil {
			return // closed
		}
		a, err := net.Dial("unix", r.agent)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, a)
		r.mu.Unlock()
		r.wg.Add(2)
		go r.pipe(a, c)
		go r.pipe(c, a)
	}
}

func (r *agentRelay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	_, err := io.Copy(dst, src)
	if uc, ok := dst.(*net.UnixConn); ok && (err == nil || errors.Is(err, net.ErrClosed)) {
		uc.CloseWrite()
	}
}

// close stops accepting and ends the relayed connections.
func (r *agentRelay) close() {
	r.l.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
