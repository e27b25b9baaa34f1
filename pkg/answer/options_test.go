package answer

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestOptionsWithDefaults: zero and negative durations get the defaults,
// set ones stay.
func TestOptionsWithDefaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want Options
	}{
		{"zero", Options{}, Options{Heartbeat: 10 * time.Second, PublishTimeout: 2 * time.Minute}},
		{"negative", Options{Heartbeat: -1, PublishTimeout: -1}, Options{Heartbeat: 10 * time.Second, PublishTimeout: 2 * time.Minute}},
		{"set", Options{Heartbeat: time.Second, PublishTimeout: time.Minute}, Options{Heartbeat: time.Second, PublishTimeout: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.in.withDefaults()); diff != "" {
				t.Errorf("withDefaults (-want +got):\n%s", diff)
			}
		})
	}
}
