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

// A NetworkDefault step's init is started in a network namespace of its
// own (CLONE_NEWNET), and slirp4netns is started on that namespace right
// after it, so that slirp4netns comes up while the init starts and sets
// up its mounts (or, for the builtin engine, while it waits as the spare
// for the next default-network step: see PrewarmNetwork). slirp4netns's
// --ready-fd is the builder's end of the init's net socket (a socket
// pair; netFD in the init), which the builder then closes: the init reads
// the ready byte just before it execs the command (or the OCI runtime),
// and EOF, should slirp4netns die first, fails the step. slirp4netns is
// stopped, through its --exit-fd, as soon as the init has exited, before
// the init's exit is reported; it dies with a killed builder (parent-death
// signal, and the exit pipe's closing).

// netFD is the init's end of the net socket.
const netFD = 5

// netReadyTimeout bounds the init's wait for slirp4netns.
const netReadyTimeout = 30 * time.Second

// awaitNetwork waits, in the init, for slirp4netns's ready byte.
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

// slirp is a slirp4netns serving the network namespace of an init.
type slirp struct {
	bin   string // absolute path of the binary
	cmd   *exec.Cmd
	exitW *os.File // closing it tells slirp4netns to exit (--exit-fd)
	out   *tailBuffer
	done  chan error // its exit status, once (then kept)
}

// startSlirp starts slirp4netns (the binary bin) for the network namespace
// of pid, hardened as rootlesskit runs it (its own mount namespace,
// capabilities dropped, a seccomp filter), with ready as its --ready-fd.
func startSlirp(bin string, pid int, ready *os.File) (*slirp, error) {
	exitR, exitW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting slirp4netns: %w", err)
	}
	defer exitR.Close()
	s := &slirp{bin: bin, exitW: exitW, out: &tailBuffer{max: 4096}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "--configure", "--mtu="+slirpMTU, "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp", "--ready-fd=3", "--exit-fd=4",
		strconv.Itoa(pid), slirpDevice)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.ExtraFiles = []*os.File{ready, exitR}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		exitW.Close()
		return nil, fmt.Errorf("starting slirp4netns: %w", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	return s, nil
}

// exited returns slirp4netns's exit status if it has exited.
func (s *slirp) exited() (error, bool) {
	select {
	case err := <-s.done:
		s.done <- err
		return err, true
	default:
		return nil, false
	}
}

// stop ends slirp4netns and waits for it.
func (s *slirp) stop() {
	s.exitW.Close()
	var err error
	select {
	case err = <-s.done:
	case <-time.After(2 * time.Second):
		_ = s.cmd.Process.Kill()
		err = <-s.done
	}
	s.done <- err
}

// explain adds slirp4netns's own words to a set-up failure that names it.
func (s *slirp) explain(msg string) string {
	if s == nil || !strings.Contains(msg, "slirp4netns") {
		return msg
	}
	select {
	case err := <-s.done:
		s.done <- err
		if out := strings.TrimSpace(s.out.String()); out != "" {
			return fmt.Sprintf("%s (%v): %s", msg, err, out)
		}
	case <-time.After(time.Second):
	}
	return msg
}

// stopping counts the slirp4netns being stopped in the background: a step
// does not wait for that, as the kernel takes an RCU grace period (10-20
// ms here) to remove the tap device of an exiting slirp4netns.
var stopping struct {
	mu   sync.Mutex
	n    int
	idle *sync.Cond
}

func init() { stopping.idle = sync.NewCond(&stopping.mu) }

// stopLater stops s in the background.
func (s *slirp) stopLater() {
	stopping.mu.Lock()
	stopping.n++
	stopping.mu.Unlock()
	go func() {
		s.stop()
		stopping.mu.Lock()
		stopping.n--
		stopping.idle.Broadcast()
		stopping.mu.Unlock()
	}()
}

// WaitHelpers waits until every slirp4netns of a finished step has exited
// and been reaped (a build calls it before it returns).
func WaitHelpers() {
	stopping.mu.Lock()
	defer stopping.mu.Unlock()
	for stopping.n > 0 {
		stopping.idle.Wait()
	}
}

// lookSlirp resolves Settings.Slirp4netns.
func lookSlirp(bin string) (string, error) {
	if bin == "" {
		bin = "slirp4netns"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("the default RUN network needs slirp4netns (Debian package slirp4netns); use network host or none without it: %w", err)
	}
	return p, nil
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
