package helm

import (
	"context"
	"fmt"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
)

// TestMainServiceSelectsTheMainWorkload deploys charts whose first Service
// in manifest order is not the one of their main workload: a database
// Service (orders) and a subchart's Service (storefront, whose subchart
// also comes first with its Deployment). It deploys them without
// post-renderers that edit objects, and with those of a blue/green side and
// of variable groups, which write every object anew; and it reads the main
// Service from the stored release too.
func TestMainServiceSelectsTheMainWorkload(t *testing.T) {
	for _, post := range []struct {
		name string
		edit func(*Request)
	}{
		{"as rendered", func(*Request) {}},
		{"with object labels", func(r *Request) { r.ObjectLabels = map[string]string{"keptn.sh/deployment": "canary"} }},
		{"with variable groups", func(r *Request) { r.Variables = &VariablesPostRenderer{Secrets: []string{"helm-service-vars"}} }},
	} {
		for chartName, want := range map[string]Service{
			"orders":     {Name: "orders", Namespace: "ns", Port: 80},
			"storefront": {Name: "storefront", Namespace: "ns", Port: 80},
			"carts":      {Name: "carts", Namespace: "ns", Port: 80},
		} {
			c, _ := memoryClient(t, nil)
			ch := testdataChart(t, chartName)
			req := Request{Namespace: "ns", Name: chartName, Chart: ch, Values: ch.Values, Timeout: time.Minute}
			post.edit(&req)
			res, err := deploy(context.Background(), c, req)
			if err != nil {
				t.Fatalf("%s %s: %v", chartName, post.name, err)
			}
			if res.Services[0] == want && chartName != "carts" {
				t.Errorf("%s: the chart's first Service is %s already; the test needs another one first", chartName, want.Name)
			}
			if got, ok := res.MainService(); !ok || got != want {
				t.Errorf("%s %s: main service %+v (%v), want %+v; services %+v", chartName, post.name, got, ok, want, res.Services)
			}
			rec, err := c.Get(context.Background(), "ns", chartName)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := rec.MainService(); !ok || got != want {
				t.Errorf("%s %s: main service of the stored release %+v (%v), want %+v", chartName, post.name, got, ok, want)
			}
		}
	}
}

func TestMainServiceRules(t *testing.T) {
	const web = `
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: web, image: web:1}]}
`
	service := func(name, selector string, port int) string {
		return fmt.Sprintf("\n---\n# Source: web/templates/%s.yaml\napiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  selector: %s\n  ports: [{port: %d}]\n", name, name, selector, port)
	}
	for _, c := range []struct {
		name     string
		manifest string
		want     string
	}{
		{"the one selecting the workload", service("web-db", "{app: db}", 5432) + service("web", "{app: web}", 80) + web, "web"},
		{"of several selecting it, the one named like the workload", service("web-metrics", "{app: web}", 9102) + service("web", "{app: web, tier: front}", 80) + web, "web"},
		{"of several selecting it, the first", service("web-a", "{app: web}", 81) + service("web-b", "{tier: front}", 82) + web, "web-a"},
		{"a selector asking for more labels than the pods have", service("web-x", "{app: web, tier: back}", 80) + service("web-y", "{app: web}", 80) + web, "web-y"},
		{"none selecting it: the first", service("web-db", "{app: db}", 5432) + service("web-cache", "{}", 6379) + web, "web-db"},
		{"no workload: the first", service("web-db", "{app: db}", 5432) + service("web", "{app: web}", 80), "web-db"},
		{"no Service", web, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := resultOf(&release.Release{Name: "web", Namespace: "ns", Manifest: c.manifest})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := res.MainService()
			if ok != (c.want != "") || got.Name != c.want {
				t.Errorf("main service %+v (%v), want %q", got, ok, c.want)
			}
		})
	}
}

func TestManifestSourceReadsTheCommentAboveTheObject(t *testing.T) {
	for doc, want := range map[string]string{
		"# Source: shop/templates/web.yaml\napiVersion: v1\nkind: Service\n":                    "shop/templates/web.yaml",
		"# a comment of the chart\n# Source: shop/charts/db/templates/db.yaml\nkind: Service\n": "shop/charts/db/templates/db.yaml",
		"apiVersion: v1\nkind: ConfigMap\ndata:\n  notes: |\n    # Source: not/this.yaml\n":     "",
		"kind: Service\n": "",
	} {
		if got := manifestSource(doc); got != want {
			t.Errorf("manifestSource(%q) = %q, want %q", doc, got, want)
		}
	}
}
