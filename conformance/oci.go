package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RefName is the ref.name SetRefName gives a layout's only manifest, for
// `umoci unpack --image DIR:RefName`.
const RefName = "conformance"

const refNameKey = "org.opencontainers.image.ref.name"

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// SetRefName names the only manifest of the OCI layout in dir RefName (the
// builders name it differently, or not at all, and umoci unpacks by name).
func SetRefName(dir string) error {
	path := filepath.Join(dir, "index.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading index: %w", err)
	}
	var idx map[string]json.RawMessage
	if err := json.Unmarshal(b, &idx); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	var manifests []map[string]any
	if err := json.Unmarshal(idx["manifests"], &manifests); err != nil {
		return fmt.Errorf("decoding %s manifests: %w", path, err)
	}
	if len(manifests) != 1 {
		return fmt.Errorf("%s: %d manifests, want 1", path, len(manifests))
	}
	ann, _ := manifests[0]["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
	}
	ann[refNameKey] = RefName
	manifests[0]["annotations"] = ann
	if idx["manifests"], err = json.Marshal(manifests); err != nil {
		return err
	}
	if b, err = json.Marshal(idx); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// ReadConfig returns the image config ("config" object of the image
// configuration blob) of the only manifest of the OCI layout in dir.
func ReadConfig(dir string) (map[string]json.RawMessage, error) {
	var idx struct{ Manifests []descriptor }
	if err := readJSON(filepath.Join(dir, "index.json"), &idx); err != nil {
		return nil, err
	}
	if len(idx.Manifests) != 1 {
		return nil, fmt.Errorf("%s: %d manifests, want 1", dir, len(idx.Manifests))
	}
	var m struct{ Config descriptor }
	if err := readJSON(blobPath(dir, idx.Manifests[0].Digest), &m); err != nil {
		return nil, err
	}
	var img struct {
		Config map[string]json.RawMessage `json:"config"`
	}
	if err := readJSON(blobPath(dir, m.Config.Digest), &img); err != nil {
		return nil, err
	}
	return img.Config, nil
}

func blobPath(dir, digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(dir, "blobs", alg, hex)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

// ConfigFields are the image config fields CompareConfigs compares.
var ConfigFields = []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels",
	"ExposedPorts", "Volumes", "StopSignal", "Healthcheck", "OnBuild", "Shell"}

// CompareConfigs lists the differences in ConfigFields between BuildKit's
// image config and ibuild's. An absent field, null, "", [] and {} are the
// same (docker treats them alike); otherwise values compare as canonical
// JSON.
func CompareConfigs(ref, got map[string]json.RawMessage) []string {
	var diffs []string
	for _, f := range ConfigFields {
		r, g := canonical(ref[f]), canonical(got[f])
		if r != g {
			diffs = append(diffs, fmt.Sprintf("config %s: BuildKit %s, ibuild %s", f, r, g))
		}
	}
	return diffs
}

// canonical re-encodes a JSON value with sorted keys; an empty one is "(none)".
func canonical(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "(none)"
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		if x == "" {
			return "(none)"
		}
	case []any:
		if len(x) == 0 {
			return "(none)"
		}
	case map[string]any:
		if len(x) == 0 {
			return "(none)"
		}
	}
	b, err := json.Marshal(v) // map keys come out sorted
	if err != nil {
		return string(raw)
	}
	return string(b)
}
