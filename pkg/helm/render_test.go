package helm

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/release"
)

// TestRenderWritesNoRevision renders a release without history and one
// with: the manifests are what an install or upgrade would apply, with the
// request's post-renderers, and no revision is written.
func TestRenderWritesNoRevision(t *testing.T) {
	c0, cfg := memoryClient(t, nil)
	ch := sampleChart(t)
	values := func(image string) map[string]any {
		return map[string]any{"image": image, "replicaCount": 1, "service": map[string]any{"port": 80, "targetPort": 8080}, "config": map[string]any{"greeting": "hi"}}
	}
	req := Request{Namespace: "ns", Name: "carts", Chart: ch, Values: values("example/carts:1"), Timeout: time.Minute, ObjectLabels: map[string]string{"side": "canary"}}
	history := func() []int {
		all, _ := cfg.Releases.History("carts")
		var out []int
		for _, r := range all {
			out = append(out, r.Version)
		}
		return out
	}

	for _, c := range []struct {
		name        string
		setup       func(t *testing.T)
		image       string
		wantCurrent string
		wantHistory []int
	}{
		{name: "no history: rendered as an install", image: "example/carts:1"},
		{name: "history: rendered as an upgrade", image: "example/carts:2",
			setup: func(t *testing.T) {
				if _, err := deploy(context.Background(), c0, req); err != nil {
					t.Fatal(err)
				}
			},
			wantCurrent: "image: example/carts:1", wantHistory: []int{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup(t)
			}
			r := req
			r.Values = values(c.image)
			got, err := c0.Render(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"image: " + c.image, "side: canary"} {
				if !strings.Contains(got.Manifest, want) {
					t.Errorf("manifest lacks %q:\n%s", want, got.Manifest)
				}
			}
			if c.wantCurrent == "" && got.Current != "" || !strings.Contains(got.Current, c.wantCurrent) {
				t.Errorf("current manifest = %q, want one with %q", got.Current, c.wantCurrent)
			}
			if d := cmp.Diff(c.wantHistory, history()); d != "" {
				t.Errorf("history after Render (-want +got):\n%s", d)
			}
		})
	}
	last, err := cfg.Releases.Last("carts")
	if err != nil || last.Info.Status != release.StatusDeployed {
		t.Errorf("newest record after the renders: %v, %v", last, err)
	}
}
