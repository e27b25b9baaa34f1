package helm

import (
	"bytes"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/helm-service/helm-service/pkg/vargroups"
)

const variablesManifest = `---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers: [{name: init, image: "init:1"}]
      containers:
      - name: web
        image: "web:1"
        env: [{name: PORT, value: "8080"}]
        envFrom: [{configMapRef: {name: chart-config}}, {secretRef: {name: helm-service-vars}}]
      - {name: sidecar, image: "sidecar:1"}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}, annotations: {chart: kept}}
    spec:
      containers: [{name: db, image: "db:1"}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "agent:1"}]
`

// podTemplates decodes the pod templates of the rendered workloads by kind/name.
func podTemplates(t *testing.T, out *bytes.Buffer) map[string]corev1.PodTemplateSpec {
	t.Helper()
	objs, _, err := decodeObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]corev1.PodTemplateSpec{}
	for _, obj := range objs {
		spec, _ := obj["spec"].(map[string]any)
		raw, ok := spec["template"].(map[string]any)
		if !ok {
			continue
		}
		var tmpl corev1.PodTemplateSpec
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &tmpl); err != nil {
			t.Fatal(err)
		}
		got[obj["kind"].(string)+"/"+obj["metadata"].(map[string]any)["name"].(string)] = tmpl
	}
	return got
}

func secretRefs(sources []corev1.EnvFromSource) []string {
	var names []string
	for _, s := range sources {
		switch {
		case s.SecretRef != nil:
			opt := s.SecretRef.Optional != nil && *s.SecretRef.Optional
			if opt {
				names = append(names, "secret:"+s.SecretRef.Name+"?")
			} else {
				names = append(names, "secret:"+s.SecretRef.Name)
			}
		case s.ConfigMapRef != nil:
			names = append(names, "configmap:"+s.ConfigMapRef.Name)
		}
	}
	return names
}

func TestVariablesPostRendererAddsGroupsToEveryContainer(t *testing.T) {
	p := VariablesPostRenderer{Secrets: []string{"helm-service-vars", "helm-service-vars-web"}, Checksum: "abc"}
	out, err := p.Run(bytes.NewBufferString(variablesManifest))
	if err != nil {
		t.Fatal(err)
	}
	tmpls := podTemplates(t, out)
	if len(tmpls) != 3 {
		t.Fatalf("got pod templates %v, want Deployment, StatefulSet and DaemonSet", tmpls)
	}
	groups := []string{"secret:helm-service-vars?", "secret:helm-service-vars-web?"}
	want := map[string][]string{
		"Deployment/web/init":    groups,
		"Deployment/web/web":     append([]string{"configmap:chart-config"}, groups...),
		"Deployment/web/sidecar": groups,
		"StatefulSet/db/db":      groups,
		"DaemonSet/agent/agent":  groups,
	}
	seen := 0
	for key, tmpl := range tmpls {
		if got := tmpl.Annotations[vargroups.AnnotationChecksum]; got != "abc" {
			t.Errorf("%s: checksum annotation %q, want abc", key, got)
		}
		for _, c := range append(tmpl.Spec.InitContainers, tmpl.Spec.Containers...) {
			w, ok := want[key+"/"+c.Name]
			if !ok {
				t.Errorf("unexpected container %s/%s", key, c.Name)
				continue
			}
			seen++
			if got := secretRefs(c.EnvFrom); !slices.Equal(got, w) {
				t.Errorf("%s/%s: envFrom %v, want %v", key, c.Name, got, w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("checked %d containers, want %d", seen, len(want))
	}
	web := tmpls["Deployment/web"].Spec.Containers[0]
	if len(web.Env) != 1 || web.Env[0].Name != "PORT" || web.Env[0].Value != "8080" {
		t.Errorf("chart env changed: %v", web.Env)
	}
	if tmpls["StatefulSet/db"].Annotations["chart"] != "kept" {
		t.Errorf("chart annotation lost: %v", tmpls["StatefulSet/db"].Annotations)
	}
}

func TestVariablesPostRendererWithoutChecksumAddsNoAnnotation(t *testing.T) {
	p := VariablesPostRenderer{Secrets: []string{"helm-service-vars", "helm-service-vars-web"}}
	out, err := p.Run(bytes.NewBufferString(variablesManifest))
	if err != nil {
		t.Fatal(err)
	}
	for key, tmpl := range podTemplates(t, out) {
		if v, ok := tmpl.Annotations[vargroups.AnnotationChecksum]; ok {
			t.Errorf("%s: checksum annotation %q without groups", key, v)
		}
		if got := secretRefs(tmpl.Spec.Containers[0].EnvFrom); len(got) < 2 {
			t.Errorf("%s: envFrom %v, want the optional groups", key, got)
		}
	}
}

func TestVariablesPostRendererMarksSnapshotReaders(t *testing.T) {
	p := VariablesPostRenderer{Secrets: []string{"helm-service-vars-web-0123456789abcdef"}, Checksum: "abc", Snapshot: "0123456789abcdef"}
	out, err := p.Run(bytes.NewBufferString(variablesManifest))
	if err != nil {
		t.Fatal(err)
	}
	for key, tmpl := range podTemplates(t, out) {
		if got := tmpl.Annotations[vargroups.AnnotationSnapshot]; got != "0123456789abcdef" {
			t.Errorf("%s: snapshot annotation %q, want the snapshot's ID", key, got)
		}
		refs := secretRefs(tmpl.Spec.Containers[len(tmpl.Spec.Containers)-1].EnvFrom)
		if len(refs) == 0 || refs[len(refs)-1] != "secret:helm-service-vars-web-0123456789abcdef?" {
			t.Errorf("%s: envFrom %v, want the snapshot last", key, refs)
		}
	}
	// Without a snapshot there is no snapshot annotation.
	out, err = VariablesPostRenderer{Secrets: []string{"helm-service-vars"}}.Run(bytes.NewBufferString(variablesManifest))
	if err != nil {
		t.Fatal(err)
	}
	for key, tmpl := range podTemplates(t, out) {
		if v, ok := tmpl.Annotations[vargroups.AnnotationSnapshot]; ok {
			t.Errorf("%s: snapshot annotation %q without a snapshot", key, v)
		}
	}
}

// TestVariablesPostRendererKeepsUnknownFields: fields of a pod template
// that Kubernetes' Go types do not know (a field of a newer API server, or
// a misspelled one the API server is to refuse) are passed on as the chart
// wrote them, not dropped.
func TestVariablesPostRendererKeepsUnknownFields(t *testing.T) {
	const manifest = `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      futurePodField: {enabled: true}
      containers:
      - name: web
        image: "web:1"
        bogusField: surprise
`
	out, err := VariablesPostRenderer{Secrets: []string{"g"}, Checksum: "c"}.Run(bytes.NewBufferString(manifest))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bogusField: surprise", "futurePodField:", "name: g", "keptn.sh/variables-checksum: c"} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("post-rendered manifest lacks %q:\n%s", want, out)
		}
	}
}
