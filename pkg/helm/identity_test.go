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
// identity's error is the action's.
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
	for _, ns := range []string{"shop-dev", AllNamespaces} {
		if _, err := c.clusterConfig(ctx, ns); err != nil {
			t.Fatalf("config for %q: %v", ns, err)
		}
	}
	if _, err := c.clusterConfig(ctx, "platform"); !errors.Is(err, errNobody) {
		t.Errorf("config for platform: %v, want the identity's error", err)
	}
	got := map[string]string{}
	for key, getter := range c.getters {
		cfg, err := getter.ToRESTConfig()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Impersonate.UserName != key.user {
			t.Errorf("getter of %+v impersonates %q", key, cfg.Impersonate.UserName)
		}
		got[key.namespace] = cfg.Impersonate.UserName
	}
	want := map[string]string{"shop-dev": "system:serviceaccount:shop-dev:deployer", AllNamespaces: ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("impersonated users per namespace (-want +got):\n%s", diff)
	}
}
