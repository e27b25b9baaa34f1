package helm

import (
	"bytes"
	"fmt"

	"helm.sh/helm/v3/pkg/postrender"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

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
// Pod templates are decoded into their Kubernetes type and encoded back.
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
	objs, err := decodeObjects(rendered)
	if err != nil {
		return nil, err
	}
	for _, obj := range objs {
		kind, _ := obj["kind"].(string)
		if !kube.LongRunning(kind) {
			continue
		}
		spec, ok := obj["spec"].(map[string]any)
		if !ok {
			continue
		}
		raw, _ := spec["template"].(map[string]any)
		var tmpl corev1.PodTemplateSpec
		if raw != nil {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &tmpl); err != nil {
				return nil, fmt.Errorf("post-render: read pod template of %s: %w", kind, err)
			}
		}
		p.apply(&tmpl)
		encoded, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&tmpl)
		if err != nil {
			return nil, fmt.Errorf("post-render: write pod template of %s: %w", kind, err)
		}
		spec["template"] = encoded
	}
	return encodeObjects(objs)
}

// apply adds the groups to every container and the checksum to the
// template's annotations.
func (p VariablesPostRenderer) apply(tmpl *corev1.PodTemplateSpec) {
	for i := range tmpl.Spec.InitContainers {
		tmpl.Spec.InitContainers[i].EnvFrom = p.withGroups(tmpl.Spec.InitContainers[i].EnvFrom)
	}
	for i := range tmpl.Spec.Containers {
		tmpl.Spec.Containers[i].EnvFrom = p.withGroups(tmpl.Spec.Containers[i].EnvFrom)
	}
	annotate(tmpl, vargroups.AnnotationChecksum, p.Checksum)
	annotate(tmpl, vargroups.AnnotationSnapshot, p.Snapshot)
}

// annotate sets an annotation of the pod template, unless value is "".
func annotate(tmpl *corev1.PodTemplateSpec, key, value string) {
	if value == "" {
		return
	}
	if tmpl.Annotations == nil {
		tmpl.Annotations = map[string]string{}
	}
	tmpl.Annotations[key] = value
}

// withGroups appends the groups' Secrets to sources, moving a group the
// chart already lists to its place at the end.
func (p VariablesPostRenderer) withGroups(sources []corev1.EnvFromSource) []corev1.EnvFromSource {
	out := make([]corev1.EnvFromSource, 0, len(sources)+len(p.Secrets))
	for _, s := range sources {
		if s.SecretRef != nil && p.isGroup(s.SecretRef.Name) {
			continue
		}
		out = append(out, s)
	}
	optional := true
	for _, name := range p.Secrets {
		out = append(out, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name},
			Optional:             &optional,
		}})
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
