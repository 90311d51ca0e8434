package registrytest

import (
	"net/http"
	"testing"
)

func TestStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want int
	}{
		{"anonymous", nil, http.StatusOK},
		{"basic auth", []Option{WithBasicAuth("u", "p")}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := Start(t, tc.opts...)
			resp, err := http.Get("http://" + host + "/v2/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET /v2/ = %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
