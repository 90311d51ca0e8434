package registrytest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

// TokenAuth makes a [Proxy] enforce bearer-token auth, as Docker Hub and
// distribution's token mode do, in front of an upstream registry that has
// none: requests without a valid token are answered 401 with a
// WWW-Authenticate challenge naming the proxy's /token endpoint, which
// issues tokens (to User and Password, if set, through basic auth). A token
// is valid for Uses requests, after which the client must fetch a new one.
type TokenAuth struct {
	User, Password string
	// Uses is how many requests a token authorizes; 0 means 3.
	Uses int
}

// tokenState is the proxy's token bookkeeping, guarded by Proxy.mu.
type tokenState struct {
	cfg          TokenAuth
	left         map[string]int // uses left per issued token
	issued       int
	unauthorized int
}

// WithTokenAuth makes p require bearer tokens as a describes, and returns
// p. Call it before the proxy is used.
func (p *Proxy) WithTokenAuth(a TokenAuth) *Proxy {
	if a.Uses <= 0 {
		a.Uses = 3
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens = &tokenState{cfg: a, left: map[string]int{}}
	return p
}

// TokensIssued returns how many tokens the /token endpoint handed out.
func (p *Proxy) TokensIssued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tokens == nil {
		return 0
	}
	return p.tokens.issued
}

// Unauthorized returns how many requests the token check answered 401
// (including rejected logins at /token).
func (p *Proxy) Unauthorized() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tokens == nil {
		return 0
	}
	return p.tokens.unauthorized
}

// authorize enforces token auth on r. It reports whether r may go on; if
// not, the answer has been written.
func (p *Proxy) authorize(w http.ResponseWriter, r *http.Request) bool {
	p.mu.Lock()
	ts := p.tokens
	p.mu.Unlock()
	if ts == nil {
		return true
	}
	if r.URL.Path == "/token" {
		p.issue(w, r, ts)
		return false
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	if ok && ts.left[tok] > 0 {
		ts.left[tok]--
		p.mu.Unlock()
		r.Header.Del("Authorization")
		return true
	}
	ts.unauthorized++
	p.mu.Unlock()
	w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+p.Host+`/token",service="test"`)
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	return false
}

// issue answers GET /token.
func (p *Proxy) issue(w http.ResponseWriter, r *http.Request, ts *tokenState) {
	if ts.cfg.User != "" {
		u, pw, ok := r.BasicAuth()
		if !ok || u != ts.cfg.User || pw != ts.cfg.Password {
			p.mu.Lock()
			ts.unauthorized++
			p.mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="registrytest token"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "incorrect username or password")
			return
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	p.mu.Lock()
	ts.left[tok] = ts.cfg.Uses
	ts.issued++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 60})
}
