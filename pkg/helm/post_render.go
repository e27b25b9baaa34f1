package helm

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

// LabelPostRenderer adds labels to every object Helm rendered, and to the pod
// templates of Deployments, StatefulSets, DaemonSets, ReplicaSets and Jobs,
// so that a release's objects and pods can be told apart from those of
// another release of the same chart. Selectors are never changed: a
// Deployment's selector is immutable, and adding pod labels keeps it valid.
type LabelPostRenderer struct {
	Labels map[string]string
}

var _ postrender.PostRenderer = LabelPostRenderer{}

// hasPodTemplate tells the kinds whose spec.template is a pod template.
func hasPodTemplate(kind string) bool {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return true
	}
	return false
}

// Run implements postrender.PostRenderer.
func (p LabelPostRenderer) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	out := new(bytes.Buffer)
	docs := releaseutil.SplitManifests(rendered.String())
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	for _, k := range keys {
		doc := docs[k]
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, fmt.Errorf("post-render: read rendered object: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		addLabels(obj, p.Labels, "metadata")
		if kind, _ := obj["kind"].(string); hasPodTemplate(kind) {
			addLabels(obj, p.Labels, "spec", "template", "metadata")
		}
		data, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("post-render: write object: %w", err)
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	return out, nil
}

// addLabels merges labels into the map at path/labels of obj, creating the
// maps on the way.
func addLabels(obj map[string]any, labels map[string]string, path ...string) {
	m := obj
	for _, k := range append(path, "labels") {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	for k, v := range labels {
		m[k] = v
	}
}

// postRendererFor returns the post-renderer of a request, or nil for none.
func postRendererFor(req Request) postrender.PostRenderer {
	if len(req.ObjectLabels) == 0 {
		return nil
	}
	return LabelPostRenderer{Labels: req.ObjectLabels}
}
