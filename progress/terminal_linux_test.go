package progress

import (
	"bytes"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal and returns its slave side, sized
// cols x rows.
func openPTY(t *testing.T, cols, rows uint16) *os.File {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWithTerminal: output held back for a terminal gets the display
// of that terminal ("auto" means tty, lines fit its width); a file that
// is no terminal changes nothing.
func TestWithTerminal(t *testing.T) {
	pts := openPTY(t, 40, 10)
	var buf bytes.Buffer
	p, err := New("auto", &buf, WithTerminal(pts))
	if err != nil {
		t.Fatal(err)
	}
	tp, ok := p.(*ttyPrinter)
	if !ok {
		t.Fatalf("auto with a terminal made a %T, want the tty printer", p)
	}
	if w, h := tp.size(); w != 40 || h != 10 {
		t.Errorf("size %dx%d, want the terminal's 40x10", w, h)
	}
	p.Close()
	notTerm, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer notTerm.Close()
	if p, _ := New("auto", &buf, WithTerminal(notTerm)); p != nil {
		if _, ok := p.(*ttyPrinter); ok {
			t.Error("auto with a non-terminal made the tty printer")
		}
		p.Close()
	}
}
