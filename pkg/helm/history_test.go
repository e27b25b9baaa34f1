package helm

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestMaxHistoryBoundsRevisions deploys a release six times on the real
// Helm SDK and checks which revisions its records keep: the newest
// MaxHistory, or every one with 0.
func TestMaxHistoryBoundsRevisions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxHistory *int // nil: the Client's default
		want       []int
	}{
		{"default keeps the newest 10", nil, []int{1, 2, 3, 4, 5, 6}},
		{"3 keeps the newest 3", ptr(3), []int{4, 5, 6}},
		{"2 keeps the newest 2", ptr(2), []int{5, 6}},
		{"0 keeps every revision", ptr(0), []int{1, 2, 3, 4, 5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cfg := memoryClient(t, nil)
			if tc.maxHistory != nil {
				c.SetMaxHistory(*tc.maxHistory)
			}
			ch := sampleChart(t)
			for i := range 6 {
				values := map[string]any{"image": fmt.Sprintf("example/carts:%d", i)}
				if _, err := deploy(context.Background(), c, Request{Namespace: "ns", Name: "carts", Chart: ch, Values: values, Timeout: time.Minute}); err != nil {
					t.Fatalf("deploy %d: %v", i+1, err)
				}
			}
			history, err := cfg.Releases.History("carts")
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, r := range history {
				got = append(got, r.Version)
			}
			if diff := cmp.Diff(tc.want, sorted(got)); diff != "" {
				t.Errorf("revisions kept (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func sorted(v []int) []int {
	out := slices.Clone(v)
	slices.Sort(out)
	return out
}
