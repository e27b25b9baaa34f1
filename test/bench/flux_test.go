package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestHelmReleaseTracker checks when a HelmRelease counts as done: Ready
// True, or failed, for the generation it was applied at, never for an
// earlier one (an upgrade's HelmRelease is still Ready from its install
// until helm-controller has seen the change).
func TestHelmReleaseTracker(t *testing.T) {
	hr := func(name string, generation int64, status, reason string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": name, "generation": generation},
			"status": map[string]any{"conditions": []any{map[string]any{
				"type": "Ready", "status": status, "reason": reason, "observedGeneration": generation, "message": "m",
			}}},
		}}
	}
	for _, tc := range []struct {
		name     string
		expected int64
		seen     *unstructured.Unstructured
		want     map[string]string // name → failure
	}{
		{"ready at the expected generation", 2, hr("a", 2, "True", "UpgradeSucceeded"), map[string]string{"a": ""}},
		{"ready at an older generation", 2, hr("a", 1, "True", "InstallSucceeded"), map[string]string{}},
		{"in progress", 1, hr("a", 1, "Unknown", "Progressing"), map[string]string{}},
		{"failed", 1, hr("a", 1, "False", "InstallFailed"), map[string]string{"a": "a: InstallFailed: m"}},
		{"source not fetched yet, retried", 1, hr("a", 1, "False", "ArtifactFailed"), map[string]string{}},
		{"not expected", 1, hr("b", 1, "True", "InstallSucceeded"), map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &helmReleaseTracker{expected: map[string]expectation{"a": {tc.expected, time.Now()}}, done: map[string]outcome{}, allDone: make(chan struct{}), want: 1}
			tr.check(tc.seen)
			got := map[string]string{}
			for name, o := range tr.done {
				got[name] = o.failure
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("done (-want +got):\n%s", diff)
			}
			select {
			case <-tr.allDone:
				if len(tc.want) == 0 {
					t.Error("all done with nothing done")
				}
			default:
				if len(tc.want) > 0 {
					t.Error("not all done after the only one finished")
				}
			}
		})
	}
}

// TestChartRegistryServesTheChart starts the registry Flux is served from
// and checks that the chart is there under the tag the OCIRepository asks
// for.
func TestChartRegistryServesTheChart(t *testing.T) {
	reg, err := startChartRegistry(t.TempDir(), "../testdata/charts/carts")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.stop()
	resp, err := http.Get("http://" + reg.host + "/v2/" + reg.repo + "/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tags struct {
		Name string
		Tags []string
	}
	if err := json.NewDecoder(resp.Body).Decode(&tags); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(struct {
		Name string
		Tags []string
	}{"bench/carts", []string{"0.1.0"}}, tags); diff != "" {
		t.Errorf("tags of %s (-want +got):\n%s", reg.repo, diff)
	}
	if got := ociRepository(reg).Object["spec"].(map[string]any)["url"]; got != "oci://"+reg.host+"/bench/carts" {
		t.Errorf("OCIRepository url %v, want oci://%s/bench/carts", got, reg.host)
	}
}
