package registry

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ibuild/ibuild/registry/registrytest"
)

func TestTokenAuthRefreshesExpiredTokens(t *testing.T) {
	const user, password = "ci", "tok-Pa55-secret"
	ctx := context.Background()
	p := registrytest.FaultProxy(t, registrytest.Start(t)).WithTokenAuth(registrytest.TokenAuth{User: user, Password: password, Uses: 3})
	img := randomImage(t, 3)
	ref := p.Host + "/token/app:1"
	// Small chunks: PATCHes whose token expired are sent again after the
	// refresh, body and all.
	// One transfer at a time: with parallel blobs, every request in flight
	// when a token runs out is answered 401 and fetches its own token, and
	// the count below then depends on the machine's load.
	opts := []Option{fast, WithKeychain(staticKeychain{user, password}), WithJobs(1)}
	if err := Push(ctx, img, ref, append(opts, withChunkSize(256))...); err != nil {
		t.Fatalf("push: %v", err)
	}
	got, err := pullAll(ctx, t, ref, opts...)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	assertSameDigest(t, got, img)
	issued, denied, reqs := p.TokensIssued(), p.Unauthorized(), len(p.Requests())
	t.Logf("%d requests passed, %d tokens issued, %d answered 401", reqs, issued, denied)
	if issued < 2 {
		t.Errorf("%d tokens issued, want a refresh (at least 2)", issued)
	}
	// One 401 per token that ran out (and per new connection's ping), not
	// a 401 loop.
	if denied > issued+1 || denied > reqs/2 {
		t.Errorf("%d requests answered 401 for %d tokens and %d passed requests: want about one per token", denied, issued, reqs)
	}
}

func TestTokenAuthWrongPassword(t *testing.T) {
	const user, password = "ci", "tok-Pa55-secret"
	host := registrytest.Start(t)
	p := registrytest.FaultProxy(t, host).WithTokenAuth(registrytest.TokenAuth{User: user, Password: password})
	const wrong = "not-the-Pa55word"
	ref := p.Host + "/token/app:1"
	err := Push(context.Background(), randomImage(t, 1), ref, fast, WithKeychain(staticKeychain{user, wrong}))
	var re *Error
	if !errors.As(err, &re) || re.StatusCode() != http.StatusUnauthorized || re.Temporary {
		t.Fatalf("push with a wrong password: err = %v, want a permanent 401 *Error", err)
	}
	msg := err.Error()
	t.Logf("wrong password: %v", err)
	if strings.Contains(msg, wrong) || strings.Contains(msg, password) || !strings.Contains(msg, ref) {
		t.Errorf("error %q: want the reference named and no password", msg)
	}
	if !strings.Contains(strings.ToLower(msg), "unauthorized") && !strings.Contains(msg, "401") {
		t.Errorf("error %q does not say the credentials were rejected", msg)
	}
	if n := p.TokensIssued(); n != 0 {
		t.Errorf("%d tokens issued for a wrong password", n)
	}
	if len(tagList(t, host, "token/app")) != 0 {
		t.Errorf("a rejected push left a tag")
	}
}
