package helm

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"

	"github.com/helm-service/helm-service/pkg/kube"
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

// Run implements postrender.PostRenderer.
func (p LabelPostRenderer) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	return eachObject(rendered, func(obj map[string]any) {
		addLabels(obj, p.Labels, "metadata")
		if kind, _ := obj["kind"].(string); kube.HasPodTemplate(kind) {
			addLabels(obj, p.Labels, "spec", "template", "metadata")
		}
	})
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

// ReplicasPostRenderer sets spec.replicas of the given Deployments and
// StatefulSets, matched by kind and name, and records the count in their
// kube.AnnotationReplicas, so that a count set by a scaling action survives
// later deployments.
type ReplicasPostRenderer struct {
	Replicas map[kube.Workload]int32
}

var _ postrender.PostRenderer = ReplicasPostRenderer{}

// Run implements postrender.PostRenderer.
func (p ReplicasPostRenderer) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	byKindName := make(map[[2]string]int32, len(p.Replicas))
	for w, n := range p.Replicas {
		byKindName[[2]string{w.Kind, w.Name}] = n
	}
	return eachObject(rendered, func(obj map[string]any) {
		kind, _ := obj["kind"].(string)
		meta, _ := obj["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		n, ok := byKindName[[2]string{kind, name}]
		if !ok {
			return
		}
		spec, ok := obj["spec"].(map[string]any)
		if !ok {
			spec = map[string]any{}
			obj["spec"] = spec
		}
		spec["replicas"] = int64(n)
		annotations, ok := meta["annotations"].(map[string]any)
		if !ok {
			annotations = map[string]any{}
			meta["annotations"] = annotations
		}
		annotations[kube.AnnotationReplicas] = strconv.Itoa(int(n))
	})
}

// eachObject calls edit on every rendered object, in Helm's order, and
// returns the edited manifest.
func eachObject(rendered *bytes.Buffer, edit func(obj map[string]any)) (*bytes.Buffer, error) {
	objs, err := decodeObjects(rendered)
	if err != nil {
		return nil, err
	}
	for _, obj := range objs {
		edit(obj)
	}
	return encodeObjects(objs)
}

// decodeObjects reads the rendered objects in Helm's order.
func decodeObjects(rendered *bytes.Buffer) ([]map[string]any, error) {
	docs := releaseutil.SplitManifests(rendered.String())
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	objs := make([]map[string]any, 0, len(keys))
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
		objs = append(objs, obj)
	}
	return objs, nil
}

// encodeObjects writes objects as one manifest.
func encodeObjects(objs []map[string]any) (*bytes.Buffer, error) {
	out := new(bytes.Buffer)
	for _, obj := range objs {
		data, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("post-render: write object: %w", err)
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	return out, nil
}

// chain runs post-renderers one after the other.
type chain []postrender.PostRenderer

// Run implements postrender.PostRenderer.
func (c chain) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	var err error
	for _, p := range c {
		if rendered, err = p.Run(rendered); err != nil {
			return nil, err
		}
	}
	return rendered, nil
}

// postRendererFor returns the post-renderers of a request, ending with
// rollout, which every request gets, keeping Helm's "# Source:" comments.
func postRendererFor(req Request, rollout *RolloutPostRenderer) postrender.PostRenderer {
	var c chain
	if len(req.ObjectLabels) > 0 {
		c = append(c, LabelPostRenderer{Labels: req.ObjectLabels})
	}
	if len(req.Replicas) > 0 {
		c = append(c, ReplicasPostRenderer{Replicas: req.Replicas})
	}
	if req.Variables != nil {
		c = append(c, *req.Variables)
	}
	return sourcesKept{append(c, rollout)}
}
