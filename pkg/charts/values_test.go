package charts

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestMergeValues(t *testing.T) {
	base := map[string]any{
		"image":    "old",
		"replicas": 2,
		"service":  map[string]any{"port": 80, "type": "ClusterIP"},
		"args":     []any{"a", "b"},
	}
	override := map[string]any{
		"image":   "new",
		"service": map[string]any{"port": 8080},
		"args":    []any{"c"},
		"extra":   map[string]any{"x": true},
	}
	got := MergeValues(base, override)
	want := map[string]any{
		"image":    "new",
		"replicas": 2,
		"service":  map[string]any{"port": 8080, "type": "ClusterIP"},
		"args":     []any{"c"},
		"extra":    map[string]any{"x": true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergeValues = %v, want %v", got, want)
	}
	// Inputs are untouched and share nothing with the result.
	if base["image"] != "old" || base["service"].(map[string]any)["port"] != 80 {
		t.Errorf("base was modified: %v", base)
	}
	got["extra"].(map[string]any)["x"] = false
	if override["extra"].(map[string]any)["x"] != true {
		t.Error("result shares a map with override")
	}
}

func TestMergeValuesMapReplacesScalarAndBack(t *testing.T) {
	got := MergeValues(map[string]any{"a": "scalar", "b": map[string]any{"c": 1}}, map[string]any{"a": map[string]any{"x": 1}, "b": "scalar"})
	want := map[string]any{"a": map[string]any{"x": 1}, "b": "scalar"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergeValues = %v, want %v", got, want)
	}
}

// FuzzMergeValues checks, for arbitrary JSON documents, that merging never
// panics, that every key of override wins, and that base keys survive.
func FuzzMergeValues(f *testing.F) {
	f.Add([]byte(`{"a":{"b":1,"c":[1,2]}}`), []byte(`{"a":{"c":[3]},"d":null}`))
	f.Add([]byte(`{}`), []byte(`{"x":{"y":{"z":"w"}}}`))
	f.Fuzz(func(t *testing.T, baseJSON, overrideJSON []byte) {
		var base, override map[string]any
		if json.Unmarshal(baseJSON, &base) != nil || json.Unmarshal(overrideJSON, &override) != nil {
			return
		}
		got := MergeValues(base, override)
		for k, v := range override {
			if _, isMap := v.(map[string]any); isMap {
				continue
			}
			if !reflect.DeepEqual(got[k], v) {
				t.Fatalf("key %q: got %v, want override's %v", k, got[k], v)
			}
		}
		for k := range base {
			if _, ok := got[k]; !ok {
				t.Fatalf("base key %q lost", k)
			}
		}
	})
}

func BenchmarkMergeValues(b *testing.B) {
	base := map[string]any{
		"image": "carts:1", "replicaCount": 2,
		"service":   map[string]any{"port": 80, "targetPort": 8080, "type": "ClusterIP"},
		"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}, "limits": map[string]any{"memory": "256Mi"}},
		"env":       []any{map[string]any{"name": "A", "value": "1"}, map[string]any{"name": "B", "value": "2"}},
	}
	override := map[string]any{"image": "carts:2", "service": map[string]any{"port": 8080}}
	b.ReportAllocs()
	for b.Loop() {
		MergeValues(base, override)
	}
}
