package helm

import (
	"bytes"
	"fmt"

	"helm.sh/helm/v3/pkg/postrender"

	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

// VariablesPostRenderer gives the containers of the chart's Deployments,
// StatefulSets and DaemonSets the variable groups as environment
// variables: envFrom the global group's Secret, then the service group's,
// both optional, after the chart's own envFrom sources. Kubernetes lets a
// later source win over an earlier one and explicit env win over envFrom,
// so the service group overrides the global one and the chart's env
// overrides both. When Checksum is set it is written to the pod templates'
// vargroups.AnnotationChecksum, so that a change of a group rolls the pods.
// For a blue/green service Secrets is its snapshot of both groups instead
// (see vargroups.Snapshot).
// Pod templates are edited as decoded, so that fields Kubernetes' Go types
// do not know reach the API server as the chart wrote them.
type VariablesPostRenderer struct {
	// Secrets are the Secrets of the groups, global first.
	Secrets []string
	// Checksum is vargroups.Groups.Checksum; "" leaves the annotation out.
	Checksum string
	// Snapshot, when set, is the ID of the vargroups.Snapshot that Secrets
	// holds; it is written to the pod templates'
	// vargroups.AnnotationSnapshot.
	Snapshot string
}

var _ postrender.PostRenderer = VariablesPostRenderer{}

// Run implements postrender.PostRenderer.
func (p VariablesPostRenderer) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	return editedObjects{p}.Run(rendered)
}

func (p VariablesPostRenderer) editObjects(objs []map[string]any) (bool, error) {
	changed := false
	for _, obj := range objs {
		kind, _ := obj["kind"].(string)
		if !kube.LongRunning(kind) {
			continue
		}
		spec, ok := obj["spec"].(map[string]any)
		if !ok {
			continue
		}
		tmpl, ok := spec["template"].(map[string]any)
		if !ok {
			tmpl = map[string]any{}
			spec["template"] = tmpl
		}
		if err := p.apply(tmpl); err != nil {
			return false, fmt.Errorf("post-render: pod template of %s: %w", kind, err)
		}
		changed = true
	}
	return changed, nil
}

// apply adds the groups to every container and the checksum to the
// template's annotations. It edits the decoded template in place, so that
// fields Kubernetes' Go types do not know are passed on as they are.
func (p VariablesPostRenderer) apply(tmpl map[string]any) error {
	podSpec, _ := tmpl["spec"].(map[string]any)
	for _, field := range []string{"initContainers", "containers"} {
		containers, _ := podSpec[field].([]any)
		for i, c := range containers {
			container, ok := c.(map[string]any)
			if !ok {
				return fmt.Errorf("%s[%d] is not an object", field, i)
			}
			sources, _ := container["envFrom"].([]any)
			container["envFrom"] = p.withGroups(sources)
		}
	}
	annotate(tmpl, vargroups.AnnotationChecksum, p.Checksum)
	annotate(tmpl, vargroups.AnnotationSnapshot, p.Snapshot)
	return nil
}

// annotate sets an annotation of the pod template, unless value is "".
func annotate(tmpl map[string]any, key, value string) {
	if value == "" {
		return
	}
	meta, ok := tmpl["metadata"].(map[string]any)
	if !ok {
		meta = map[string]any{}
		tmpl["metadata"] = meta
	}
	annotations, ok := meta["annotations"].(map[string]any)
	if !ok {
		annotations = map[string]any{}
		meta["annotations"] = annotations
	}
	annotations[key] = value
}

// withGroups appends the groups' Secrets to sources, moving a group the
// chart already lists to its place at the end.
func (p VariablesPostRenderer) withGroups(sources []any) []any {
	out := make([]any, 0, len(sources)+len(p.Secrets))
	for _, s := range sources {
		source, _ := s.(map[string]any)
		if ref, ok := source["secretRef"].(map[string]any); ok {
			if name, _ := ref["name"].(string); p.isGroup(name) {
				continue
			}
		}
		out = append(out, s)
	}
	for _, name := range p.Secrets {
		out = append(out, map[string]any{"secretRef": map[string]any{"name": name, "optional": true}})
	}
	return out
}

func (p VariablesPostRenderer) isGroup(name string) bool {
	for _, s := range p.Secrets {
		if s == name {
			return true
		}
	}
	return false
}
