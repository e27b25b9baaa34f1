package helm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
)

// Each namespace's actions impersonate the user the identity gives for it;
// the release records of every namespace are read as the client itself; an
// identity's error is the action's; one discovery serves them all.
func TestClientActsAsTheIdentityOfTheNamespace(t *testing.T) {
	errNobody := errors.New("nobody to act as")
	c := NewClient(&rest.Config{Host: "https://127.0.0.1:1"}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.SetIdentity(func(_ context.Context, namespace string) (string, error) {
		if namespace == "platform" {
			return "", errNobody
		}
		return "system:serviceaccount:" + namespace + ":deployer", nil
	})
	ctx := context.Background()
	got := map[string]string{}
	var discoveries []any
	for _, ns := range []string{"shop-dev", "shop-prod", AllNamespaces} {
		cfg, err := c.clusterConfig(ctx, ns)
		if err != nil {
			t.Fatalf("config for %q: %v", ns, err)
		}
		rc, err := cfg.RESTClientGetter.ToRESTConfig()
		if err != nil {
			t.Fatal(err)
		}
		got[ns] = rc.Impersonate.UserName
		dc, err := cfg.RESTClientGetter.ToDiscoveryClient()
		if err != nil {
			t.Fatal(err)
		}
		discoveries = append(discoveries, dc)
	}
	if _, err := c.clusterConfig(ctx, "platform"); !errors.Is(err, errNobody) {
		t.Errorf("config for platform: %v, want the identity's error", err)
	}
	want := map[string]string{
		"shop-dev":    "system:serviceaccount:shop-dev:deployer",
		"shop-prod":   "system:serviceaccount:shop-prod:deployer",
		AllNamespaces: "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("impersonated users per namespace (-want +got):\n%s", diff)
	}
	// One discovery cache serves every namespace and identity.
	for i, dc := range discoveries[1:] {
		if dc != discoveries[0] {
			t.Errorf("namespace %d has a discovery of its own", i+1)
		}
	}
}
