package progress

import (
	"encoding/json"
	"io"
	"sync"
)

// jsonPrinter writes one Event per line.
type jsonPrinter struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

var _ Printer = (*jsonPrinter)(nil)

func newJSON(out io.Writer) *jsonPrinter {
	return &jsonPrinter{enc: json.NewEncoder(out)}
}

// Event writes e as a JSON line.
func (p *jsonPrinter) Event(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = p.enc.Encode(e)
	}
}

// Close returns the first write error.
func (p *jsonPrinter) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
