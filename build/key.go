package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// keyVersion changes whenever the meaning of a key changes, so old cache
// records are never reused with new semantics.
const keyVersion = "ibuild-step-v1"

// chainKey derives a step's cache key from its parent's key and the step's
// own inputs (canonical instruction after expansion, visible environment,
// platform, content digests). Every input that can change a step's result
// must be among parts.
func chainKey(parent v1.Hash, parts ...any) v1.Hash {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(keyVersion)
	_ = enc.Encode(parent.String())
	for _, p := range parts {
		_ = enc.Encode(p)
	}
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}
