package helm

import (
	"context"
	"errors"
	"testing"
	"time"
)

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
