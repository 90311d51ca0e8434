package registrytest

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FaultKind is a failure the fault proxy injects.
type FaultKind string

// The faults FaultProxy can inject.
const (
	// Status503 answers 503 Service Unavailable (code UNAVAILABLE).
	Status503 FaultKind = "503"
	// Status500 answers 500 Internal Server Error.
	Status500 FaultKind = "500"
	// DropMidBody forwards the request, sends the headers and half of the
	// answer's body, then closes the connection.
	DropMidBody FaultKind = "drop"
	// Unauthorized answers 401 to a request that carries credentials (an
	// expired token, as far as the client can tell). Requests without an
	// Authorization header pass.
	Unauthorized FaultKind = "401"
	// DropMidUpload reads half of a blob upload's body (a PATCH or a PUT
	// with a body) from the client, forwards none of it and closes the
	// connection: the connection was lost before the registry took the
	// chunk, so the session still holds what it held before.
	DropMidUpload FaultKind = "drop-upload"
	// WrongBytes forwards the request and flips every byte of the answer's
	// body, keeping its length.
	WrongBytes FaultKind = "wrong-bytes"
)

// maxFaultTimes bounds Fault.Times so a proxy cannot fail forever by
// accident; Persistent faults are the explicit exception.
const maxFaultTimes = 100

// Fault says which requests fail and how.
type Fault struct {
	Kind FaultKind
	// Method matches the request method; "" matches any.
	Method string
	// Path matches requests whose URL path contains it; "" matches any.
	Path string
	// Times is how many matching requests fail, at most 100; 0 means 1.
	// Persistent faults ignore it.
	Times int
	// Persistent makes every matching request fail.
	Persistent bool
	// Skip is how many matching requests pass through before the fault
	// applies.
	Skip int
}

// Proxy is a running fault-injecting reverse proxy.
type Proxy struct {
	// Host is the proxy's "127.0.0.1:PORT".
	Host     string
	upstream string
	mu       sync.Mutex
	faults   []Fault
	left     []int
	skip     []int
	injected map[FaultKind]int
	requests []string
	received int64
	tokens   *tokenState
}

// FaultProxy starts a reverse proxy on 127.0.0.1 in front of upstream (a
// loopback registry host such as the one Start returns) that injects faults
// into matching requests: the first Times matching requests of each Fault
// fail (or every one, for a Persistent fault); everything else is passed
// through unchanged. The proxy is closed at test cleanup.
func FaultProxy(t testing.TB, upstream string, faults ...Fault) *Proxy {
	t.Helper()
	h, _, err := net.SplitHostPort(upstream)
	if err != nil {
		t.Fatalf("registrytest: upstream %q: %v", upstream, err)
	}
	if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
		t.Fatalf("registrytest: fault proxy upstream %s is not a loopback address", upstream)
	}
	p := &Proxy{upstream: upstream, injected: map[FaultKind]int{}}
	for _, f := range faults {
		n := f.Times
		if n <= 0 {
			n = 1
		}
		if n > maxFaultTimes {
			t.Fatalf("registrytest: fault %s: Times %d exceeds %d", f.Kind, f.Times, maxFaultTimes)
		}
		p.faults = append(p.faults, f)
		p.left = append(p.left, n)
		p.skip = append(p.skip, f.Skip)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// Injected returns how many times a fault of kind was injected.
func (p *Proxy) Injected(kind FaultKind) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.injected[kind]
}

// UploadBytes returns how many bytes of blob upload bodies (PATCH and PUT
// to .../blobs/uploads/...) the proxy read from its clients, including the
// bytes of uploads it then dropped.
func (p *Proxy) UploadBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.received
}

// isUpload reports whether r sends blob upload bytes.
func isUpload(r *http.Request) bool {
	return (r.Method == http.MethodPatch || r.Method == http.MethodPut) &&
		strings.Contains(r.URL.Path, "/blobs/uploads/") && r.ContentLength != 0
}

// countedBody counts what is read from a request body into its proxy.
type countedBody struct {
	io.ReadCloser
	p *Proxy
}

func (c countedBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.p.mu.Lock()
	c.p.received += int64(n)
	c.p.mu.Unlock()
	return n, err
}

// Requests returns "METHOD PATH" of every request the proxy received; a
// PATCH with a Content-Range has it appended ("PATCH PATH 512-1023").
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// match picks the fault for r, if any, and counts it.
func (p *Proxy) match(r *http.Request) (FaultKind, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	entry := r.Method + " " + r.URL.Path
	if cr := r.Header.Get("Content-Range"); cr != "" && r.Method == http.MethodPatch {
		entry += " " + cr
	}
	p.requests = append(p.requests, entry)
	for i, f := range p.faults {
		if f.Method != "" && f.Method != r.Method || !strings.Contains(r.URL.Path, f.Path) {
			continue
		}
		if f.Kind == Unauthorized && r.Header.Get("Authorization") == "" ||
			f.Kind == DropMidUpload && !isUpload(r) {
			continue
		}
		if p.skip[i] > 0 {
			p.skip[i]--
			continue
		}
		if !f.Persistent {
			if p.left[i] == 0 {
				continue
			}
			p.left[i]--
		}
		p.injected[f.Kind]++
		return f.Kind, true
	}
	return "", false
}

// ServeHTTP implements [http.Handler].
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.authorize(w, r) {
		return
	}
	if isUpload(r) {
		r.Body = countedBody{ReadCloser: r.Body, p: p}
	}
	kind, ok := p.match(r)
	if !ok {
		p.reverse().ServeHTTP(w, r)
		return
	}
	switch kind {
	case Status503:
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "injected: service unavailable")
	case Status500:
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "injected: internal server error")
	case Unauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "injected: authentication required")
	case DropMidBody, WrongBytes:
		p.mangle(w, r, kind)
	case DropMidUpload:
		dropUpload(w, r)
	}
}

// dropUpload reads half of r's body and closes the client's connection
// without answering.
func dropUpload(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > 0 {
		_, _ = io.CopyN(io.Discard, r.Body, r.ContentLength/2)
	} else {
		_, _ = io.CopyN(io.Discard, r.Body, 32<<10) // length unknown: some of it
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// reverse is a plain reverse proxy to the upstream. The Host header is kept,
// so the registry's Location headers point back at the proxy.
func (p *Proxy) reverse() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = p.upstream
			pr.Out.Host = pr.In.Host
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// mangle forwards r and delivers a damaged answer.
func (p *Proxy) mangle(w http.ResponseWriter, r *http.Request, kind FaultKind) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "http", p.upstream
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		writeError(w, http.StatusBadGateway, "UNAVAILABLE", err.Error())
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		writeError(w, http.StatusBadGateway, "UNAVAILABLE", err.Error())
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	if kind == WrongBytes {
		_, _ = w.Write(flip(body))
		return
	}
	_, _ = w.Write(body[:len(body)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
		}
	}
}

// flip inverts every byte of b.
func flip(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = ^c
	}
	return out
}

// writeError writes a registry error answer.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
}
