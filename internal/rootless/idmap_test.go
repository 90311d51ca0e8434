package rootless

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	const file = `# comment
alice:100000:65536
bob:165536:65536
1001:231072:1000
alice:300000:10
broken:line
alice:x:10
alice:400000:0
`
	tests := []struct {
		name string
		id   int
		want []Range
	}{
		{"alice", 1000, []Range{{100000, 65536}, {300000, 10}}},
		{"bob", 1002, []Range{{165536, 65536}}},
		{"carol", 1001, []Range{{231072, 1000}}}, // by numeric id
		{"dave", 1003, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSubIDs(strings.NewReader(file), tt.name, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSubIDs(%s) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestMappings(t *testing.T) {
	tests := []struct {
		name   string
		id     int
		ranges []Range
		want   []Mapping
	}{
		{"none", 1000, nil, []Mapping{{0, 1000, 1}}},
		{"one", 1000, []Range{{100000, 65536}}, []Mapping{{0, 1000, 1}, {1, 100000, 65536}}},
		{"two packed", 1000, []Range{{100000, 10}, {300000, 5}}, []Mapping{{0, 1000, 1}, {1, 100000, 10}, {11, 300000, 5}}},
		{"own id inside a range is skipped", 100005, []Range{{100000, 10}, {300000, 5}}, []Mapping{{0, 100005, 1}, {1, 300000, 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mappings(tt.id, tt.ranges); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Mappings = %v, want %v", got, tt.want)
			}
		})
	}
	if got, want := mapArgs([]Mapping{{0, 1000, 1}, {1, 100000, 65536}}), []string{"0", "1000", "1", "1", "100000", "65536"}; !reflect.DeepEqual(got, want) {
		t.Errorf("mapArgs = %v, want %v", got, want)
	}
}

func TestParseIDMapAndMapped(t *testing.T) {
	ms, err := ParseIDMap("         0       1001          1\n         1     100000      65536\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Mapping{{0, 1001, 1}, {1, 100000, 65536}}; !reflect.DeepEqual(ms, want) {
		t.Fatalf("ParseIDMap = %v, want %v", ms, want)
	}
	for id, want := range map[uint32]bool{0: true, 1: true, 65536: true, 65537: false, 100000: false} {
		if got := Mapped(ms, id); got != want {
			t.Errorf("Mapped(%d) = %v, want %v", id, got, want)
		}
	}
	if _, err := ParseIDMap("0 1"); err == nil {
		t.Error("ParseIDMap accepted a short line")
	}
}

func TestInside(t *testing.T) {
	ms := Mappings(1000, []Range{{100000, 65536}})
	tests := []struct{ host, want uint32 }{
		{1000, 0}, {100000, 1}, {100999, 1000}, {165535, 65536}, {0, overflowID}, {1001, overflowID}, {165536, overflowID},
	}
	for _, tt := range tests {
		if got := Inside(ms, tt.host); got != tt.want {
			t.Errorf("Inside(%d) = %d, want %d", tt.host, got, tt.want)
		}
	}
}
