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
