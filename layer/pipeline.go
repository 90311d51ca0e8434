package layer

import (
	"errors"
	"io"
	"sync"
)

// asyncWriterBuf and asyncWriterBufs size an asyncWriter: at most
// asyncWriterBufs buffers of asyncWriterBuf bytes are queued or being
// written.
const (
	asyncWriterBuf  = 1 << 20
	asyncWriterBufs = 4
)

// asyncWriter copies what is written to it into a few fixed buffers that
// a goroutine of its own writes to w, so that the writer's caller goes on
// while w works (hashes, writes a file). Write never keeps p. After w fails,
// Write and Close return that error; Close flushes and waits for the
// goroutine.
type asyncWriter struct {
	w     io.Writer
	queue chan []byte
	free  chan []byte
	done  chan struct{}
	cur   []byte

	mu  sync.Mutex
	err error // w's first error
}

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{
		w:     w,
		queue: make(chan []byte, asyncWriterBufs),
		free:  make(chan []byte, asyncWriterBufs),
		done:  make(chan struct{}),
	}
	for range asyncWriterBufs {
		a.free <- nil // allocated on first use
	}
	go a.run()
	return a
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for b := range a.queue {
		if a.failed() == nil {
			if _, err := a.w.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		a.free <- b[:0]
	}
}

func (a *asyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if err := a.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if a.cur == nil {
			a.cur = <-a.free
			if a.cur == nil {
				a.cur = make([]byte, 0, asyncWriterBuf)
			}
		}
		k := copy(a.cur[len(a.cur):cap(a.cur)], p)
		a.cur = a.cur[:len(a.cur)+k]
		p = p[k:]
		if len(a.cur) == cap(a.cur) {
			a.queue <- a.cur
			a.cur = nil
		}
	}
	return n, nil
}

// Close writes what is buffered and waits until w has it all.
func (a *asyncWriter) Close() error {
	if len(a.cur) > 0 {
		a.queue <- a.cur
		a.cur = nil
	}
	close(a.queue)
	<-a.done
	return a.failed()
}

// readAhead reads r on a goroutine of its own, up to asyncWriterBufs
// buffers of asyncWriterBuf bytes ahead of its reader, passing each
// buffer through hash first. It decouples a producer that writes to an
// io.Pipe (the layer walker) from a consumer that does heavy work between
// reads (the compressor): through a bare pipe each waits for the other, and
// a 1 GiB layer left the second core 40 % idle. Close stops the goroutine.
type readAhead struct {
	queue chan []byte
	free  chan []byte
	stop  chan struct{}
	buf   []byte // the buffer being read, returned to free once read
	cur   []byte // its unread part
	err   error  // r's error (io.EOF at the end), once the queue is drained
	errc  chan error
	done  chan struct{} // closed when the goroutine returns
}

func newReadAhead(r io.Reader, hash io.Writer) *readAhead {
	ra := &readAhead{
		queue: make(chan []byte, asyncWriterBufs),
		free:  make(chan []byte, asyncWriterBufs+1),
		stop:  make(chan struct{}),
		errc:  make(chan error, 1),
		done:  make(chan struct{}),
	}
	for range asyncWriterBufs + 1 {
		ra.free <- nil
	}
	go ra.run(r, hash)
	return ra
}

func (ra *readAhead) run(r io.Reader, hash io.Writer) {
	defer close(ra.done)
	defer close(ra.queue)
	for {
		var b []byte
		select {
		case b = <-ra.free:
		case <-ra.stop:
			ra.errc <- io.ErrClosedPipe
			return
		}
		if b == nil {
			b = make([]byte, asyncWriterBuf)
		}
		n, err := io.ReadFull(r, b[:asyncWriterBuf])
		if n > 0 {
			hash.Write(b[:n])
			select {
			case ra.queue <- b[:n]:
			case <-ra.stop:
				ra.errc <- io.ErrClosedPipe
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			ra.errc <- err
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	if len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf
			ra.buf = nil
		}
		if ra.err != nil {
			return 0, ra.err
		}
		b, ok := <-ra.queue
		if !ok {
			ra.err = <-ra.errc
			return 0, ra.err
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine; it does not close r.
func (ra *readAhead) Close() {
	close(ra.stop)
}

// closeWait stops the goroutine and waits until it no longer reads r, so
// that the caller may read r itself (after the read in progress returns).
func (ra *readAhead) closeWait() {
	ra.Close()
	<-ra.done
}
