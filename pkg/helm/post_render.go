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
	return editedObjects{p}.Run(rendered)
}

func (p LabelPostRenderer) editObjects(objs []map[string]any) (bool, error) {
	for _, obj := range objs {
		addLabels(obj, p.Labels, "metadata")
		if kind, _ := obj["kind"].(string); kube.HasPodTemplate(kind) {
			addLabels(obj, p.Labels, "spec", "template", "metadata")
		}
	}
	return len(objs) > 0 && len(p.Labels) > 0, nil
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
	return editedObjects{p}.Run(rendered)
}

func (p ReplicasPostRenderer) editObjects(objs []map[string]any) (bool, error) {
	byKindName := make(map[[2]string]int32, len(p.Replicas))
	for w, n := range p.Replicas {
		byKindName[[2]string{w.Kind, w.Name}] = n
	}
	changed := false
	for _, obj := range objs {
		kind, _ := obj["kind"].(string)
		meta, _ := obj["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		n, ok := byKindName[[2]string{kind, name}]
		if !ok {
			continue
		}
		if meta == nil {
			meta = map[string]any{}
			obj["metadata"] = meta
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
		changed = true
	}
	return changed, nil
}

// objectEditor is one step of post-rendering: it edits the rendered
// objects in place and reports whether it changed any.
type objectEditor interface {
	editObjects(objs []map[string]any) (changed bool, err error)
}

// editedObjects is a post-renderer that runs its editors one after the
// other on the rendered objects, read once and written once: each parse
// and write of a manifest costs more than an edit. An object written anew
// loses its comments, so each gets back the "# Source:" comment Helm wrote
// above it: the release's manifest tells by them which template rendered
// an object, the chart's own or a subchart's, as `helm get manifest`
// shows. When no editor changes anything the manifest is passed on as it
// came.
type editedObjects []objectEditor

var _ postrender.PostRenderer = editedObjects{}

// Run implements postrender.PostRenderer.
func (e editedObjects) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	objs, sources, err := decodeObjects(rendered)
	if err != nil {
		return nil, err
	}
	changed := false
	for _, editor := range e {
		c, err := editor.editObjects(objs)
		if err != nil {
			return nil, err
		}
		changed = changed || c
	}
	if !changed {
		return rendered, nil
	}
	return encodeObjects(objs, sources)
}

// decodeObjects reads the rendered objects in Helm's order, and the
// template each came from ("" where Helm wrote no "# Source:" comment).
func decodeObjects(rendered *bytes.Buffer) (objs []map[string]any, sources []string, err error) {
	for _, doc := range orderedDocs(rendered.String()) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, nil, fmt.Errorf("post-render: read rendered object: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		objs = append(objs, obj)
		sources = append(sources, manifestSource(doc))
	}
	return objs, sources, nil
}

// encodeObjects writes objects as one manifest, each under the "# Source:"
// comment of sources at its index, if any.
func encodeObjects(objs []map[string]any, sources []string) (*bytes.Buffer, error) {
	out := new(bytes.Buffer)
	for i, obj := range objs {
		data, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("post-render: write object: %w", err)
		}
		out.WriteString("---\n")
		if i < len(sources) && sources[i] != "" {
			out.WriteString(sourcePrefix + sources[i] + "\n")
		}
		out.Write(data)
	}
	return out, nil
}

// orderedDocs splits a manifest into its documents, in order.
func orderedDocs(manifest string) []string {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, docs[k])
	}
	return out
}

// postRendererFor returns the post-renderers of a request, ending with
// rollout, which every request gets.
func postRendererFor(req Request, rollout *RolloutPostRenderer) postrender.PostRenderer {
	var e editedObjects
	if len(req.ObjectLabels) > 0 {
		e = append(e, LabelPostRenderer{Labels: req.ObjectLabels})
	}
	if len(req.Replicas) > 0 {
		e = append(e, ReplicasPostRenderer{Replicas: req.Replicas})
	}
	if req.Variables != nil {
		e = append(e, *req.Variables)
	}
	return append(e, rollout)
}
