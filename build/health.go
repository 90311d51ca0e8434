package build

import (
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// HEALTHCHECK --start-interval is in docker's image config
// (Healthcheck.StartInterval, nanoseconds) but not in
// go-containerregistry's v1.HealthConfig, so it travels beside the config
// in stageState and is written into the encoded config here.

// healthStartInterval reads Config.Healthcheck.StartInterval from img's raw
// config.
func healthStartInterval(img v1.Image) (time.Duration, error) {
	raw, err := img.RawConfigFile()
	if err != nil {
		return 0, fmt.Errorf("reading config: %w", err)
	}
	return rawHealthStartInterval(raw)
}

// rawHealthStartInterval reads Config.Healthcheck.StartInterval from an
// encoded image config.
func rawHealthStartInterval(raw []byte) (time.Duration, error) {
	var cf struct {
		Config struct {
			Healthcheck *struct {
				StartInterval time.Duration `json:",omitempty"`
			} `json:",omitempty"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &cf); err != nil {
		return 0, fmt.Errorf("reading config: %w", err)
	}
	if cf.Config.Healthcheck == nil {
		return 0, nil
	}
	return cf.Config.Healthcheck.StartInterval, nil
}

// withHealthStartInterval returns the encoded config cfg with
// config.Healthcheck.StartInterval set to d. The objects on the way are
// re-encoded with their keys sorted, so the result stays deterministic.
func withHealthStartInterval(cfg []byte, d time.Duration) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(cfg, &top); err != nil {
		return nil, err
	}
	var conf map[string]json.RawMessage
	if err := json.Unmarshal(top["config"], &conf); err != nil {
		return nil, err
	}
	var hc map[string]json.RawMessage
	if err := json.Unmarshal(conf["Healthcheck"], &hc); err != nil {
		return nil, err
	}
	var err error
	if hc["StartInterval"], err = json.Marshal(int64(d)); err != nil {
		return nil, err
	}
	if conf["Healthcheck"], err = json.Marshal(hc); err != nil {
		return nil, err
	}
	if top["config"], err = json.Marshal(conf); err != nil {
		return nil, err
	}
	return json.Marshal(top)
}
