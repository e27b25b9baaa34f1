package helm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRollbackGoesBackOneRevision(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := sampleChart(t)
	req := Request{Namespace: "ns", Name: "carts", Chart: ch, Timeout: time.Minute}
	for _, img := range []string{"carts:1", "carts:2"} {
		req.Values = map[string]any{"image": img, "replicaCount": 1, "service": map[string]any{"port": 80, "targetPort": 8080}, "config": map[string]any{"greeting": img}}
		if _, err := c.Upgrade(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Rollback(context.Background(), "ns", "carts", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 3 {
		t.Errorf("revision after rollback = %d, want 3", res.Revision)
	}
	rel, _ := cfg.Releases.Last("carts")
	if !strings.Contains(rel.Manifest, `image: "carts:1"`) {
		t.Errorf("rolled back manifest does not run carts:1:\n%s", rel.Manifest)
	}
	got, err := c.Get(context.Background(), "ns", "carts")
	if err != nil || got.Values["image"] != "carts:1" || got.Revision != 3 {
		t.Errorf("Get after rollback = %+v, %v", got, err)
	}
}

func TestRollbackWithoutPreviousRevision(t *testing.T) {
	c, _ := memoryClient(t, nil)
	ch := sampleChart(t)
	if _, err := c.Upgrade(context.Background(), Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Rollback(context.Background(), "ns", "carts", time.Minute)
	if !errors.Is(err, ErrNoPreviousRevision) || !strings.Contains(err.Error(), "ns/carts") {
		t.Errorf("error = %v, want ErrNoPreviousRevision naming the release", err)
	}
	if _, err := c.Rollback(context.Background(), "ns", "orders", time.Minute); !errors.Is(err, ErrNotFound) {
		t.Errorf("rollback of a missing release: %v, want ErrNotFound", err)
	}
}

func TestFindByLabels(t *testing.T) {
	c, _ := memoryClient(t, nil)
	ch := sampleChart(t)
	for _, r := range []struct{ name, service string }{{"carts-primary", "carts"}, {"carts-canary", "carts"}, {"orders", "orders"}} {
		req := Request{Namespace: "ns", Name: r.name, Chart: ch, Values: ch.Values, Timeout: time.Minute, Labels: map[string]string{"keptn.sh/service": r.service}}
		if _, err := c.Upgrade(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	// A second revision of the canary: Find returns only the newest.
	if _, err := c.Upgrade(context.Background(), Request{Namespace: "ns", Name: "carts-canary", Chart: ch, Values: ch.Values, Timeout: time.Minute, Labels: map[string]string{"keptn.sh/service": "carts"}}); err != nil {
		t.Fatal(err)
	}
	found, err := c.Find(context.Background(), "ns", map[string]string{"keptn.sh/service": "carts"})
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]int{}
	for _, r := range found {
		revs[r.Name] = r.Revision
	}
	if len(revs) != 2 || revs["carts-primary"] != 1 || revs["carts-canary"] != 2 {
		t.Errorf("found %v, want carts-primary at 1 and carts-canary at 2", revs)
	}
	if _, err := c.Get(context.Background(), "ns", "nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing release: %v, want ErrNotFound", err)
	}
}
