package helm

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/helm-service/helm-service/pkg/kube"
)

func TestLabelPostRendererLabelsObjectsAndPodTemplates(t *testing.T) {
	in := bytes.NewBufferString(`---
# Source: carts/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: carts-canary
spec:
  selector:
    app: carts
---
# Source: carts/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: carts-canary
  labels:
    app: carts
spec:
  selector:
    matchLabels:
      app: carts
  template:
    metadata:
      labels:
        app: carts
---
# an empty document
`)
	out, err := LabelPostRenderer{Labels: map[string]string{"keptn.sh/deployment": "canary"}}.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	for _, doc := range strings.Split(out.String(), "---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects, want 2:\n%s", len(objs), out)
	}
	get := func(o map[string]any, path ...string) map[string]any {
		for _, k := range path {
			o, _ = o[k].(map[string]any)
		}
		return o
	}
	for _, o := range objs {
		if get(o, "metadata", "labels")["keptn.sh/deployment"] != "canary" {
			t.Errorf("%s: metadata labels = %v", o["kind"], get(o, "metadata", "labels"))
		}
		if o["kind"] == "Deployment" {
			tpl := get(o, "spec", "template", "metadata", "labels")
			if tpl["keptn.sh/deployment"] != "canary" || tpl["app"] != "carts" {
				t.Errorf("pod template labels = %v", tpl)
			}
			if sel := get(o, "spec", "selector", "matchLabels"); len(sel) != 1 {
				t.Errorf("selector changed: %v", sel)
			}
		}
		if o["kind"] == "Service" {
			if sel := get(o, "spec", "selector"); len(sel) != 1 {
				t.Errorf("Service selector changed: %v", sel)
			}
		}
	}
}

func TestLabelPostRendererRejectsInvalidYAML(t *testing.T) {
	_, err := LabelPostRenderer{Labels: map[string]string{"a": "b"}}.Run(bytes.NewBufferString("---\nkind: [\n"))
	if err == nil || !strings.Contains(err.Error(), "post-render") {
		t.Fatalf("error = %v, want a post-render error", err)
	}
}

func TestUpgradeAppliesObjectLabels(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := sampleChart(t)
	_, err := deploy(context.Background(), c, Request{Namespace: "ns", Name: "carts-canary", Chart: ch, Values: ch.Values, Timeout: time.Minute,
		ObjectLabels: map[string]string{"keptn.sh/deployment": "canary"}})
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := cfg.Releases.Last("carts-canary")
	if n := strings.Count(rel.Manifest, "keptn.sh/deployment: canary"); n != 4 {
		t.Errorf("manifest carries the label %d times, want 4 (ConfigMap, Service, Deployment, pod template):\n%s", n, rel.Manifest)
	}
}

func TestReplicasPostRendererSetsAndRecordsCounts(t *testing.T) {
	in := bytes.NewBufferString(`---
apiVersion: v1
kind: Service
metadata:
  name: carts
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: carts
  annotations:
    team: shop
spec:
  replicas: 2
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: carts-db
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders
spec:
  replicas: 1
`)
	out, err := ReplicasPostRenderer{Replicas: map[kube.Workload]int32{
		{Kind: "Deployment", Name: "carts"}:     5,
		{Kind: "StatefulSet", Name: "carts-db"}: 0,
	}}.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	type object struct {
		Kind     string
		Metadata struct {
			Name        string
			Annotations map[string]string
		}
		Spec struct {
			Replicas *int32
		}
	}
	got := map[string]object{}
	for _, doc := range strings.Split(out.String(), "---\n") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		if o.Kind != "" {
			got[o.Kind+"/"+o.Metadata.Name] = o
		}
	}
	if len(got) != 4 {
		t.Fatalf("objects = %v, want all four kept", got)
	}
	check := func(key string, replicas int32, annotation string) {
		t.Helper()
		o := got[key]
		if o.Spec.Replicas == nil || *o.Spec.Replicas != replicas || o.Metadata.Annotations[kube.AnnotationReplicas] != annotation {
			t.Errorf("%s: replicas %v, annotation %q; want %d and %q", key, o.Spec.Replicas, o.Metadata.Annotations[kube.AnnotationReplicas], replicas, annotation)
		}
	}
	check("Deployment/carts", 5, "5")
	check("StatefulSet/carts-db", 0, "0")
	check("Deployment/orders", 1, "")
	if got["Deployment/carts"].Metadata.Annotations["team"] != "shop" {
		t.Errorf("the chart's own annotations must stay: %v", got["Deployment/carts"].Metadata.Annotations)
	}
	if got["Service/carts"].Spec.Replicas != nil {
		t.Errorf("a Service of the same name must not get replicas")
	}
}

func TestUpgradeKeepsScaledReplicasWithLabels(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := sampleChart(t)
	req := Request{
		Namespace: "ns", Name: "carts-primary", Chart: ch, Values: ch.Values, Timeout: time.Minute,
		ObjectLabels: map[string]string{"keptn.sh/deployment": "primary"},
		Replicas:     map[kube.Workload]int32{{Kind: "Deployment", Namespace: "ns", Name: "carts-primary"}: 7},
	}
	if _, err := deploy(context.Background(), c, req); err != nil {
		t.Fatal(err)
	}
	rel, err := cfg.Releases.Last("carts-primary")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replicas: 7", `keptn.sh/replicas: "7"`, "keptn.sh/deployment: primary"} {
		if !strings.Contains(rel.Manifest, want) {
			t.Errorf("manifest lacks %q:\n%s", want, rel.Manifest)
		}
	}
}
