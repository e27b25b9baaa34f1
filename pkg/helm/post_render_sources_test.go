package helm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/helm-service/helm-service/pkg/kube"
)

// TestSourcesKeptThroughPostRenderers runs two post-renderers, which write
// every object anew: each object keeps the "# Source:" comment Helm wrote
// above it, and both edits are kept too.
func TestSourcesKeptThroughPostRenderers(t *testing.T) {
	rendered := `---
# Source: shop/charts/db/templates/db.yaml
apiVersion: v1
kind: Service
metadata:
  name: shop-db
---
# Source: shop/templates/web.yaml
apiVersion: v1
kind: Service
metadata:
  name: shop
---
# Source: shop/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
`
	out, err := editedObjects{
		LabelPostRenderer{Labels: map[string]string{"keptn.sh/deployment": "canary"}},
		ReplicasPostRenderer{Replicas: map[kube.Workload]int32{{Kind: "Deployment", Name: "shop"}: 3}},
	}.Run(bytes.NewBufferString(rendered))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := manifestObjects(out.String())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Service shop-db shop/charts/db/templates/db.yaml", "Service shop shop/templates/web.yaml", "Deployment shop shop/templates/web.yaml"}
	var got []string
	for _, o := range objects {
		got = append(got, o.Kind+" "+o.Metadata.Name+" "+o.source)
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("objects after post-rendering: %q, want %q\n%s", got, want, out)
	}
	if strings.Count(out.String(), "keptn.sh/deployment: canary") != 4 { // 3 objects, and the Deployment's pod template
		t.Errorf("the post-renderer's labels are lost:\n%s", out)
	}
	if !strings.Contains(out.String(), "replicas: 3") {
		t.Errorf("the second post-renderer's replicas are lost:\n%s", out)
	}
}
