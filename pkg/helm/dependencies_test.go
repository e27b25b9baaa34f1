package helm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/yaml"
)

func testdataChart(t *testing.T, name string) *chart.Chart {
	t.Helper()
	c, err := loader.Load("../../test/testdata/charts/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// renderedObjects maps kind/name of every object of a manifest to its
// decoded form.
func renderedObjects(t *testing.T, manifest string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, doc := range releaseutil.SplitManifests(manifest) {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		if o == nil {
			continue
		}
		md, _ := o["metadata"].(map[string]any)
		out[o["kind"].(string)+"/"+md["name"].(string)] = o
	}
	return out
}

// TestUpgradeRefusesAMissingDependency deploys a chart whose Chart.yaml
// declares a subchart its charts/ directory lacks: refused before anything
// is installed, naming the subchart and how to vendor it, as the helm CLI
// does.
func TestUpgradeRefusesAMissingDependency(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := testdataChart(t, "basket")
	_, err := deploy(context.Background(), c, Request{Namespace: "ns", Name: "basket", Chart: ch, Values: ch.Values, Timeout: time.Minute})
	if err == nil {
		t.Fatal("a chart missing a declared dependency was deployed")
	}
	for _, want := range []string{"basket", "queue", "charts/", "helm dependency build", "helm dependency update"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "cache") {
		t.Errorf("error %q names the vendored dependency cache", err)
	}
	if _, err := cfg.Releases.Last("basket"); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Errorf("release basket after the refusal: %v, want none", err)
	}
}

// TestUpgradeRendersVendoredSubcharts deploys a chart with an aliased
// subchart (values under the alias) and one its condition disables, twice
// with the same chart object as a blue/green deployment does, and upgrades
// it: the alias is deployed each time, the disabled subchart never.
func TestUpgradeRendersVendoredSubcharts(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := testdataChart(t, "storefront")
	for _, name := range []string{"storefront-primary", "storefront-canary", "storefront-canary"} {
		res, err := deploy(context.Background(), c, Request{Namespace: "ns", Name: name, Chart: ch, Values: ch.Values, Timeout: time.Minute})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rel, err := cfg.Releases.Get(name, res.Revision)
		if err != nil {
			t.Fatal(err)
		}
		objects := renderedObjects(t, rel.Manifest)
		for _, want := range []string{"Deployment/" + name, "Service/" + name, "Deployment/" + name + "-sessions", "Service/" + name + "-sessions"} {
			if objects[want] == nil {
				t.Errorf("%s revision %d: no %s in the manifest", name, res.Revision, want)
			}
		}
		for _, unwanted := range []string{"Deployment/" + name + "-search", "Service/" + name + "-search", "Deployment/" + name + "-cache"} {
			if objects[unwanted] != nil {
				t.Errorf("%s revision %d: %s rendered, want it left out", name, res.Revision, unwanted)
			}
		}
		if sessions := objects["Deployment/"+name+"-sessions"]; sessions != nil {
			containers := sessions["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
			if img := containers[0].(map[string]any)["image"]; img != "example/cache:2" {
				t.Errorf("%s: aliased subchart image %v, want example/cache:2 from the parent's values under the alias", name, img)
			}
		}
	}
}

// TestUpgradeRefusesASubchartMissingADependency checks the dependencies of
// vendored subcharts too.
func TestUpgradeRefusesASubchartMissingADependency(t *testing.T) {
	c, _ := memoryClient(t, nil)
	ch := testdataChart(t, "storefront")
	for _, sub := range ch.Dependencies() {
		if sub.Name() == "cache" {
			sub.Metadata.Dependencies = append(sub.Metadata.Dependencies, &chart.Dependency{Name: "common", Version: "2.x.x"})
		}
	}
	_, err := deploy(context.Background(), c, Request{Namespace: "ns", Name: "storefront", Chart: ch, Values: ch.Values, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "storefront/charts/cache") || !strings.Contains(err.Error(), "common") {
		t.Fatalf("error = %v, want the subchart storefront/charts/cache and its missing dependency common named", err)
	}
	t.Log(err)
}
