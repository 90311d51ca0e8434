package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A NetworkDefault step's network comes up in three moves over the init's
// net socket (netFD in the init, initProc.netP in the builder), one end of
// a socket pair:
//
//  1. the init unshares its network namespace, brings lo up and writes
//     netnsMarker;
//  2. the builder, reading it, starts slirp4netns on the init's namespace
//     with the builder's end of the pair as --ready-fd, and closes its own
//     copy, so that slirp4netns is the only writer left;
//  3. slirp4netns writes "1" once tap0 is configured, which the init reads
//     just before it execs the command (or the OCI runtime). If
//     slirp4netns dies first, the init reads EOF and fails the step.
//
// The init sets up its mounts meanwhile, so slirp4netns's start-up is
// hidden behind them.

// netFD is the init's end of the net socket.
const netFD = 5

// netnsMarker is what the init writes once its network namespace exists.
const netnsMarker = 'n'

// netReadyTimeout bounds the init's wait for slirp4netns.
const netReadyTimeout = 30 * time.Second

// netnsCreated is step 1 in the init: lo up, then the marker.
func netnsCreated() error {
	if err := loopbackUp(); err != nil {
		return err
	}
	if _, err := unix.Write(netFD, []byte{netnsMarker}); err != nil {
		return fmt.Errorf("announcing the network namespace: %w", err)
	}
	return nil
}

// awaitNetwork is step 3 in the init: it waits for slirp4netns's ready
// byte.
func awaitNetwork() error {
	fds := []unix.PollFd{{Fd: netFD, Events: unix.POLLIN}}
	deadline := time.Now().Add(netReadyTimeout)
	for {
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("waiting for the network: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("slirp4netns did not configure the network within %s", netReadyTimeout)
		}
		break
	}
	buf := make([]byte, 1)
	if n, err := unix.Read(netFD, buf); n != 1 || err != nil {
		return errors.New("slirp4netns exited before the network was configured")
	}
	unix.Close(netFD)
	return nil
}

// netHelper is the slirp4netns that serves one step's network namespace.
type netHelper struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	exitW *os.File // closing it tells slirp4netns to exit (--exit-fd)
	out   *tailBuffer
	err   error // the start-up failure, if any
	done  chan error
	// waitStart is closed once the helper was started, or it is known
	// that it will not be.
	waitStart chan struct{}
}

// serveNetwork is step 2 in the builder: it waits (in the background) for
// the init's marker on p.netP and starts slirp4netns (the binary bin) on
// the init's namespace. The returned helper's stop must be called once the
// init has exited.
func serveNetwork(bin string, p *initProc) *netHelper {
	h := &netHelper{out: &tailBuffer{max: 4096}, done: make(chan error, 1), waitStart: make(chan struct{})}
	netP := p.netP
	p.netP = nil
	go func() {
		defer close(h.waitStart)
		defer netP.Close()
		buf := make([]byte, 1)
		if n, _ := netP.Read(buf); n != 1 || buf[0] != netnsMarker {
			return // the init failed (and says why) before making it
		}
		err := h.start(bin, p.cmd.Process.Pid, netP)
		h.mu.Lock()
		h.err = err
		h.mu.Unlock()
	}()
	return h
}

// start runs slirp4netns for the network namespace of pid, hardened as
// rootlesskit runs it (its own mount namespace, capabilities dropped, a
// seccomp filter), with ready as its --ready-fd.
func (h *netHelper) start(bin string, pid int, ready *os.File) error {
	exitR, exitW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("starting slirp4netns: %w", err)
	}
	defer exitR.Close()
	cmd := exec.Command(bin, "--configure", "--mtu="+slirpMTU, "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp", "--ready-fd=3", "--exit-fd=4",
		strconv.Itoa(pid), slirpDevice)
	cmd.Stdout, cmd.Stderr = h.out, h.out
	cmd.ExtraFiles = []*os.File{ready, exitR}
	// Pdeathsig and the exit pipe both end it with a killed builder.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		exitW.Close()
		return fmt.Errorf("starting slirp4netns: %w", err)
	}
	h.cmd, h.exitW = cmd, exitW
	go func() { h.done <- cmd.Wait() }()
	return nil
}

// stop ends slirp4netns, if it was started, and waits for it; it returns
// the start-up failure, if any.
func (h *netHelper) stop() error {
	<-h.waitStart
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd == nil {
		return h.err
	}
	h.exitW.Close()
	select {
	case <-h.done:
	case <-time.After(2 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
	h.cmd = nil
	return h.err
}

// explain adds what slirp4netns said to a step's set-up failure.
func (h *netHelper) explain(msg string) string {
	if h == nil || !strings.Contains(msg, "slirp4netns") {
		return msg
	}
	<-h.waitStart
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return msg + ": " + h.err.Error()
	}
	if h.cmd != nil {
		select {
		case err := <-h.done:
			h.done <- err
			if out := strings.TrimSpace(h.out.String()); out != "" {
				return fmt.Sprintf("%s (%v): %s", msg, err, out)
			}
		case <-time.After(time.Second):
		}
	}
	return msg
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
