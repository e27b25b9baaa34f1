package main

import (
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
