package helm

import (
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The policy: a release's objects live in the release's namespace. Objects
// of namespaced kinds in another namespace are refused, always; objects of
// cluster-scoped kinds are refused unless ClusterKinds (ALLOWED_CLUSTER_KINDS)
// names their kind. The rule is applied to what Helm's kube builder makes of
// a manifest, the list Helm applies, deletes and waits on: Lists flattened
// into their items, the release's namespace filled in where an object names
// none, and the scope of each kind as the cluster's REST mapper knows it.

// ClusterKinds are the cluster-scoped kinds a release may hold
// (ALLOWED_CLUSTER_KINDS). The zero value allows none.
type ClusterKinds struct {
	kinds map[schema.GroupKind]bool
	text  string
}

// ParseClusterKinds reads entries of the form Kind.group, the kind as
// manifests spell it and its API group ("CustomResourceDefinition.apiextensions.k8s.io",
// "ClusterRole.rbac.authorization.k8s.io"); a kind of the core group is its
// name alone ("PersistentVolume"). Blank entries are skipped.
func ParseClusterKinds(entries []string) (ClusterKinds, error) {
	k := ClusterKinds{kinds: map[schema.GroupKind]bool{}}
	var kept []string
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		gk := schema.ParseGroupKind(e)
		if gk.Kind == "" || strings.ContainsAny(e, " /*:=") || strings.HasSuffix(e, ".") {
			return ClusterKinds{}, fmt.Errorf("ALLOWED_CLUSTER_KINDS: %q is not a kind: write Kind.group, e.g. CustomResourceDefinition.apiextensions.k8s.io, or a core kind alone, e.g. PersistentVolume", e)
		}
		if first := gk.Kind[0]; first < 'A' || first > 'Z' {
			return ClusterKinds{}, fmt.Errorf("ALLOWED_CLUSTER_KINDS: %q: a kind starts with a capital letter as manifests spell it, e.g. CustomResourceDefinition.apiextensions.k8s.io", e)
		}
		k.kinds[gk] = true
		kept = append(kept, gk.String())
	}
	sort.Strings(kept)
	k.text = strings.Join(kept, ",")
	return k, nil
}

// Allows reports whether objects of the cluster-scoped kind gk may be in a
// release.
func (k ClusterKinds) Allows(gk schema.GroupKind) bool { return k.kinds[gk] }

// String is the setting's value, as parsed.
func (k ClusterKinds) String() string { return k.text }

// PolicyRule is the rule an object refused by the policy breaks.
type PolicyRule string

const (
	// RuleOtherNamespace: the object is in a namespace other than the
	// release's.
	RuleOtherNamespace PolicyRule = "other-namespace"
	// RuleClusterScoped: the object's kind is cluster-scoped and
	// ALLOWED_CLUSTER_KINDS does not name it.
	RuleClusterScoped PolicyRule = "cluster-scoped"
)

// PolicyError is the refusal of a release because one of its objects
// breaks the policy. Nothing of the release was applied or deleted, and,
// for a chart, no release record was written.
type PolicyError struct {
	// Kind and Group are the object's kind and API group ("" for core).
	Kind, Group string
	// Namespace is the object's namespace; "" for a cluster-scoped one.
	Namespace string
	Name      string
	// Rule is the rule the object breaks.
	Rule PolicyRule
	// ReleaseNamespace is the namespace every object of the release must
	// be in.
	ReleaseNamespace string
	// Source says where the object came from: the chart's manifest, one
	// of its hooks or CRD files, or the stored record of a revision.
	Source string
	// Record is the stored release record the object is listed in, when it
	// is one (Helm's Secret sh.helm.release.v1.<name>.v<revision>); empty
	// for a chart being deployed.
	Record string
	// AllowedClusterKinds is ALLOWED_CLUSTER_KINDS as configured.
	AllowedClusterKinds string
	// More counts further objects refused for the same reason or the other.
	More int
}

func (e *PolicyError) object() string {
	kind := e.Kind
	if e.Group != "" {
		kind += "." + e.Group
	}
	if e.Namespace == "" {
		return fmt.Sprintf("%s %q (cluster-scoped)", kind, e.Name)
	}
	return fmt.Sprintf("%s %q in namespace %q", kind, e.Name, e.Namespace)
}

func (e *PolicyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s of %s is refused: ", e.object(), e.Source)
	switch e.Rule {
	case RuleOtherNamespace:
		fmt.Fprintf(&b, "a release may only hold objects in its own namespace %q, and no setting opens other namespaces (ALLOWED_CLUSTER_KINDS opens cluster-scoped kinds only)", e.ReleaseNamespace)
	default:
		allowed := e.AllowedClusterKinds
		if allowed == "" {
			allowed = "empty"
		} else {
			allowed = "it is " + allowed
		}
		fmt.Fprintf(&b, "a release may only hold cluster-scoped objects of the kinds ALLOWED_CLUSTER_KINDS names (%s)", allowed)
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "; %d more object(s) refused likewise", e.More)
	}
	if e.Record != "" {
		fmt.Fprintf(&b, "; helm-service does not act on a release record that lists such objects: check who wrote Secret %s in namespace %s, and delete the record if it is not what was deployed", e.Record, e.ReleaseNamespace)
		return b.String()
	}
	if e.Rule == RuleOtherNamespace {
		b.WriteString("; fix the chart so that it sets no other metadata.namespace, or deploy that object as a service of the stage whose namespace it belongs to")
	} else {
		fmt.Fprintf(&b, "; remove the object from the chart, or have the operator add %s to ALLOWED_CLUSTER_KINDS", e.kindSetting())
	}
	return b.String()
}

// kindSetting is the object's kind as ALLOWED_CLUSTER_KINDS spells it.
func (e *PolicyError) kindSetting() string {
	return schema.GroupKind{Group: e.Group, Kind: e.Kind}.String()
}

// confinement applies the policy to the objects of the releases of one
// namespace. build is Helm's kube builder for that namespace (the action
// configuration's KubeClient.Build).
type confinement struct {
	namespace string
	kinds     ClusterKinds
	build     func(manifest string) (kube.ResourceList, error)
}

// objects checks a built list of objects, from source.
func (c confinement) objects(list kube.ResourceList, source string) *PolicyError {
	var refused *PolicyError
	for _, info := range list {
		if info == nil {
			continue
		}
		var gk schema.GroupKind
		if info.Object != nil {
			gk = info.Object.GetObjectKind().GroupVersionKind().GroupKind()
		}
		perr := c.object(info.Mapping, info.Namespace, info.Name, gk)
		if perr == nil {
			continue
		}
		if refused != nil {
			refused.More++
			continue
		}
		perr.Source = source
		refused = perr
	}
	return refused
}

// object checks one object. An object whose kind's scope is unknown is
// treated as cluster-scoped.
func (c confinement) object(mapping *meta.RESTMapping, namespace, name string, gk schema.GroupKind) *PolicyError {
	if mapping != nil {
		gk = mapping.GroupVersionKind.GroupKind()
	}
	namespaced := mapping != nil && mapping.Scope != nil && mapping.Scope.Name() == meta.RESTScopeNameNamespace
	perr := &PolicyError{Kind: gk.Kind, Group: gk.Group, Name: name, ReleaseNamespace: c.namespace, AllowedClusterKinds: c.kinds.String()}
	switch {
	case namespaced && namespace == c.namespace:
		return nil
	case namespaced:
		perr.Namespace, perr.Rule = namespace, RuleOtherNamespace
	case c.kinds.Allows(gk):
		return nil
	default:
		perr.Rule = RuleClusterScoped
	}
	return perr
}

// manifest builds a manifest with Helm's builder and checks its objects.
// An error of the builder is returned as it is: Helm would fail on it too.
func (c confinement) manifest(manifest, source string) error {
	if strings.TrimSpace(manifest) == "" {
		return nil
	}
	list, err := c.build(manifest)
	if err != nil {
		return fmt.Errorf("read the objects of %s: %w", source, err)
	}
	if perr := c.objects(list, source); perr != nil {
		return perr
	}
	return nil
}

// release checks a release's manifest and every hook; what names the
// release, record the stored record it was read from ("" for one being
// written).
func (c confinement) release(rel *release.Release, what, record string) error {
	errs := []error{c.manifest(rel.Manifest, what)}
	for _, h := range rel.Hooks {
		if h == nil {
			continue
		}
		errs = append(errs, c.manifest(h.Manifest, fmt.Sprintf("hook %s (%s) of %s", h.Name, h.Path, what)))
	}
	for _, err := range errs {
		if err == nil {
			continue
		}
		if perr, ok := err.(*PolicyError); ok {
			perr.Record = record
		}
		return err
	}
	return nil
}
