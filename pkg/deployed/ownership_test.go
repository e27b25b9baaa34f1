package deployed

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// memoryClient is a helm.Client on the real Helm SDK whose releases are
// kept in memory and whose objects are applied nowhere.
func memoryClient(t *testing.T) *helm.Client {
	t.Helper()
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	return helm.NewClientOn(func(context.Context, string) (*action.Configuration, error) { return cfg, nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestCheckOwner(t *testing.T) {
	owner := Owner{Project: "sock", Stage: "shop-production", Service: "carts"}
	for _, tc := range []struct {
		name    string
		labels  map[string]string
		wantErr []string // none: owned
		sibling bool
	}{
		{name: "helm-service's", labels: maps.Clone(owner.Labels())},
		{name: "helm-service's, more labels", labels: map[string]string{kube.LabelProject: "sock", kube.LabelStage: "shop-production", kube.LabelService: "carts", kube.LabelStrategy: "direct"}},
		{name: "installed by the helm CLI", labels: nil, wantErr: []string{
			"release sock-shop-production/carts (revision 1) is not helm-service's release of project sock, stage shop-production, service carts",
			"no label keptn.sh/project, no label keptn.sh/stage, no label keptn.sh/service", "add sock-shop-production/carts to ADOPT_RELEASES"}},
		{name: "another project's", labels: map[string]string{kube.LabelProject: "sock-shop", kube.LabelStage: "production", kube.LabelService: "carts"}, wantErr: []string{
			"keptn.sh/project=sock-shop, keptn.sh/stage=production, keptn.sh/service=carts", "ADOPT_RELEASES"}},
		{name: "another service's of the project", labels: map[string]string{kube.LabelProject: "sock", kube.LabelStage: "shop-production", kube.LabelService: "orders"},
			wantErr: []string{"keptn.sh/service=orders"}, sibling: true},
		{name: "service label only", labels: map[string]string{kube.LabelService: "carts"}, wantErr: []string{"no label keptn.sh/project, no label keptn.sh/stage, keptn.sh/service=carts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := memoryClient(t)
			ch, err := loader.Load("../../test/testdata/charts/carts")
			if err != nil {
				t.Fatal(err)
			}
			const ns = "sock-shop-production"
			if _, err := c.Install(ctx, helm.Request{Namespace: ns, Name: "carts", Chart: ch, Values: ch.Values, Labels: tc.labels, Timeout: time.Minute}); err != nil {
				t.Fatal(err)
			}
			rec, err := c.Get(ctx, ns, "carts")
			if err != nil {
				t.Fatal(err)
			}
			err = CheckOwner(rec, owner)
			if got := OfSibling(rec, owner); got != tc.sibling {
				t.Errorf("OfSibling = %v, want %v", got, tc.sibling)
			}
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("CheckOwner: %v", err)
				}
				return
			}
			var notOwned *ReleaseNotOwnedError
			if !errors.As(err, &notOwned) {
				t.Fatalf("CheckOwner: %v, want a *ReleaseNotOwnedError", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			// Adopted: the next record, written with the owner's labels as a
			// deployment writes them, is owned.
			if _, err := c.Upgrade(ctx, helm.Request{Namespace: ns, Name: "carts", Chart: ch, Values: ch.Values, Labels: owner.Labels(), Timeout: time.Minute}); err != nil {
				t.Fatal(err)
			}
			next, err := c.Get(ctx, ns, "carts")
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckOwner(next, owner); err != nil {
				t.Errorf("revision %d after the upgrade: %v", next.Revision, err)
			}
			got := map[string]string{}
			for _, k := range ownerLabelKeys {
				got[k] = next.Labels[k]
			}
			if diff := cmp.Diff(owner.Labels(), got); diff != "" {
				t.Errorf("labels of the next record (-want +got):\n%s", diff)
			}
		})
	}
}
