package helm

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
)

func TestFindByLabels(t *testing.T) {
	c, _ := memoryClient(t, nil)
	ch := sampleChart(t)
	for _, r := range []struct{ name, service string }{{"carts-primary", "carts"}, {"carts-canary", "carts"}, {"orders", "orders"}} {
		req := Request{Namespace: "ns", Name: r.name, Chart: ch, Values: ch.Values, Timeout: time.Minute, Labels: map[string]string{"keptn.sh/service": r.service}}
		if _, err := deploy(context.Background(), c, req); err != nil {
			t.Fatal(err)
		}
	}
	// A second revision of the canary: Find returns only the newest.
	if _, err := deploy(context.Background(), c, Request{Namespace: "ns", Name: "carts-canary", Chart: ch, Values: ch.Values, Timeout: time.Minute, Labels: map[string]string{"keptn.sh/service": "carts"}}); err != nil {
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

// namespacedMemoryClient is memoryClient with release records kept per
// namespace, as the Secret driver keeps them: every action reads and
// writes the records of its own namespace, and AllNamespaces sees all.
func namespacedMemoryClient(t *testing.T) *Client {
	t.Helper()
	c, cfg := memoryClient(t, nil)
	mem := driver.NewMemory()
	cfg.Releases = storage.Init(mem)
	c.newConfig = c.confined(func(_ context.Context, namespace string) (*action.Configuration, error) {
		mem.SetNamespace(namespace)
		return cfg, nil
	})
	return c
}

// TestFindKeepsReleasesOfTheSameNameInEveryNamespace: a service deployed
// in two stages has a release of the same name in each stage's namespace;
// Find across every namespace returns both, each at its newest revision.
func TestFindKeepsReleasesOfTheSameNameInEveryNamespace(t *testing.T) {
	c := namespacedMemoryClient(t)
	ch := sampleChart(t)
	labels := map[string]string{"keptn.sh/service": "carts"}
	for _, ns := range []string{"sockshop-dev", "sockshop-prod", "sockshop-prod"} {
		if _, err := deploy(context.Background(), c, Request{Namespace: ns, Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute, Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	found, err := c.Find(context.Background(), AllNamespaces, labels)
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]int{}
	for _, r := range found {
		revs[r.Namespace+"/"+r.Name] = r.Revision
	}
	want := map[string]int{"sockshop-dev/carts": 1, "sockshop-prod/carts": 2}
	if !maps.Equal(revs, want) {
		t.Errorf("found %v, want %v", revs, want)
	}
	inProd, err := c.Find(context.Background(), "sockshop-prod", labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(inProd) != 1 || inProd[0].Namespace != "sockshop-prod" || inProd[0].Revision != 2 {
		t.Errorf("found in sockshop-prod: %d records, want sockshop-prod/carts at revision 2", len(inProd))
	}
}
