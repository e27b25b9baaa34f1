package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes/scheme"
)

// What Helm writes on the objects of a release.
const (
	// AnnotationResourcePolicy set to KeepPolicy makes Helm leave an
	// object in place when it uninstalls its release.
	AnnotationResourcePolicy = "helm.sh/resource-policy"
	KeepPolicy               = "keep"
	// managedByHelm is the value of LabelManagedBy on every object Helm
	// creates.
	managedByHelm = "Helm"
)

// rootCAConfigMap is the ConfigMap the cluster writes into every namespace.
const rootCAConfigMap = "kube-root-ca.crt"

// leftoverCheck lists the objects of one built-in kind that a namespace's
// deletion would lose.
type leftoverCheck struct {
	kind string
	// list returns the objects of the kind in the namespace that count.
	list func(ctx context.Context, namespace string) ([]metav1.Object, error)
	// note, when set, follows the object in the reason.
	note string
}

// checkedKinds are the resources of the leftoverChecks; the scan of the
// other kinds skips them.
var checkedKinds = []schema.GroupResource{
	{Resource: "secrets"}, {Resource: "configmaps"}, {Resource: "persistentvolumeclaims"},
	{Resource: "services"}, {Resource: "pods"},
	{Group: "apps", Resource: "deployments"}, {Group: "apps", Resource: "statefulsets"}, {Group: "apps", Resource: "daemonsets"},
	{Group: "batch", Resource: "jobs"},
}

// unscannedKinds are built-in resources that are numerous and that no
// chart installs.
var unscannedKinds = []schema.GroupResource{{Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}}

// leftoverChecks are the built-in kinds checked first: Helm release
// records, workloads, Services, PersistentVolumeClaims, pods that no
// workload owns, and ConfigMaps and Secrets neither helm-service nor the
// cluster wrote.
func (n Namespaces) leftoverChecks() []leftoverCheck {
	apps, batch, core := n.Clientset.AppsV1(), n.Clientset.BatchV1(), n.Clientset.CoreV1()
	all := metav1.ListOptions{}
	return []leftoverCheck{
		{kind: "Helm release record", list: func(ctx context.Context, ns string) ([]metav1.Object, error) {
			l, err := core.Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
			if err != nil {
				return nil, err
			}
			return objectsOf(l.Items), nil
		}},
		{kind: "Deployment", list: func(ctx context.Context, ns string) ([]metav1.Object, error) {
			l, err := apps.Deployments(ns).List(ctx, all)
			if err != nil {
				return nil, err
			}
			return objectsOf(l.Items), nil
		}},
		{kind: "StatefulSet", list: func(ctx context.Context, ns string) ([]metav1.Object, error) {
			l, err := apps.StatefulSets(ns).List(ctx, all)
			if err != nil {
				return nil, err
			}
			return objectsOf(l.Items), nil
		}},
		{kind: "DaemonSet", list: func(ctx context.Context, ns string) ([]metav1.Object, error) {
			l, err := apps.DaemonSets(ns).List(ctx, all)
			if err != nil {
				return nil, err
			}
			return objectsOf(l.Items), nil
		}},
		{kind: "Job", list: func(ctx context.Context, ns string) ([]metav1.Object, error) {
			l, err := batch.Jobs(ns).List(ctx, all)
			if err != nil {
				return nil, err
			}
			return objectsOf(l.Items), nil
		}},
		{kind: "Service", list: func(ctx context.Context, ns string) ([]metav1.Object, error) {
			l, err := core.Services(ns).List(ctx, all)
			if err != nil {
				return nil, err
			}
			return objectsOf(l.Items), nil
		}},
		{kind: "Pod", list: func(ctx context.Context, ns string) ([]metav1.Object, error) {
			l, err := core.Pods(ns).List(ctx, all)
			if err != nil {
				return nil, err
			}
			// Pods of workloads go with them.
			l.Items = slices.DeleteFunc(l.Items, func(p corev1.Pod) bool { return len(p.OwnerReferences) > 0 })
			return objectsOf(l.Items), nil
		}},
		{kind: "PersistentVolumeClaim", list: func(ctx context.Context, ns string) ([]metav1.Object, error) {
			l, err := core.PersistentVolumeClaims(ns).List(ctx, all)
			if err != nil {
				return nil, err
			}
			return objectsOf(l.Items), nil
		}},
		{kind: "ConfigMap", note: "which helm-service did not write", list: func(ctx context.Context, ns string) ([]metav1.Object, error) {
			l, err := core.ConfigMaps(ns).List(ctx, all)
			if err != nil {
				return nil, err
			}
			l.Items = slices.DeleteFunc(l.Items, func(c corev1.ConfigMap) bool { return c.Name == rootCAConfigMap })
			return objectsOf(l.Items), nil
		}},
		{kind: "Secret", note: "which helm-service did not write", list: func(ctx context.Context, ns string) ([]metav1.Object, error) {
			l, err := core.Secrets(ns).List(ctx, all)
			if err != nil {
				return nil, err
			}
			l.Items = slices.DeleteFunc(l.Items, writtenByUsOrTheCluster)
			return objectsOf(l.Items), nil
		}},
	}
}

// writtenByUsOrTheCluster tells the Secrets a namespace's deletion may
// take along: variable groups, the service-account tokens the cluster
// writes, and Helm release records (those of live releases are a
// leftover of their own).
func writtenByUsOrTheCluster(s corev1.Secret) bool {
	switch {
	case s.Labels[LabelManagedBy] == ManagedByValue && s.Labels[LabelVariableGroup] != "":
		return true
	case s.Type == corev1.SecretTypeServiceAccountToken:
		return true
	case s.Labels["owner"] == "helm":
		return true
	}
	return false
}

// objectsOf returns pointers to the items of a typed list.
func objectsOf[T any, P interface {
	*T
	metav1.Object
}](items []T) []metav1.Object {
	out := make([]metav1.Object, 0, len(items))
	for i := range items {
		out = append(out, P(&items[i]))
	}
	return out
}

// leftover says what in the namespace its deletion would lose, or returns
// "" when nothing.
func (n Namespaces) leftover(ctx context.Context, namespace string) (string, error) {
	for _, c := range n.leftoverChecks() {
		objects, err := c.list(ctx, namespace)
		if err != nil {
			return "", fmt.Errorf("list %ss in namespace %s: %w", c.kind, namespace, err)
		}
		for _, o := range objects {
			if o.GetDeletionTimestamp() == nil {
				return describe(c.kind, o, c.note), nil
			}
		}
	}
	return n.otherLeftover(ctx, namespace)
}

// otherLeftover scans the namespaced kinds the API server serves beyond
// the checked ones: any custom resource (a kind of an API group that is
// not built into Kubernetes) is a leftover, and so is an object of a
// built-in kind that Helm kept for its resource policy. What cannot be
// listed or discovered is counted as a leftover, not assumed absent.
func (n Namespaces) otherLeftover(ctx context.Context, namespace string) (string, error) {
	lists, err := discovery.ServerPreferredNamespacedResourcesWithContext(ctx, discovery.ToDiscoveryInterfaceWithContext(n.Clientset.Discovery()))
	if err != nil {
		failed, partial := discovery.GroupDiscoveryFailedErrorGroups(err)
		if !partial {
			return "", fmt.Errorf("discover the kinds of the API server: %w", err)
		}
		groups := make([]string, 0, len(failed))
		for gv := range failed {
			groups = append(groups, gv.String())
		}
		slices.Sort(groups)
		return fmt.Sprintf("the API groups %s could not be discovered, so custom resources in them cannot be ruled out", strings.Join(groups, ", ")), nil
	}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			return "", fmt.Errorf("discovered group version %q: %w", list.GroupVersion, err)
		}
		for _, r := range list.APIResources {
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			if !slices.Contains(r.Verbs, "list") || slices.Contains(checkedKinds, gr) || slices.Contains(unscannedKinds, gr) {
				continue
			}
			reason, err := n.leftoverOfKind(ctx, namespace, gv.WithResource(r.Name), r.Kind)
			if err != nil || reason != "" {
				return reason, err
			}
		}
	}
	return "", nil
}

// leftoverOfKind looks at the objects of one kind in the namespace for
// otherLeftover.
func (n Namespaces) leftoverOfKind(ctx context.Context, namespace string, gvr schema.GroupVersionResource, kind string) (string, error) {
	custom := !scheme.Scheme.IsGroupRegistered(gvr.Group)
	opts := metav1.ListOptions{}
	if !custom {
		opts.LabelSelector = LabelManagedBy + "=" + managedByHelm // what Helm kept carries it
	}
	if n.Metadata == nil {
		return "", errors.New("no metadata client to look for custom resources and kept objects")
	}
	l, err := n.Metadata.Resource(gvr).Namespace(namespace).List(ctx, opts)
	gr := gvr.GroupResource()
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err):
		return "", nil // the kind went away since discovery
	case apierrors.IsForbidden(err) && custom:
		return fmt.Sprintf("helm-service may not list %s there, so it cannot tell whether any is left: grant it list on %s or delete the namespace by hand", gr, gr), nil
	case apierrors.IsForbidden(err):
		// Helm could not have made such objects as helm-service.
		return "", nil
	case err != nil:
		return "", fmt.Errorf("list %s in namespace %s: %w", gr, namespace, err)
	}
	for i := range l.Items {
		o := &l.Items[i]
		if o.DeletionTimestamp != nil {
			continue
		}
		if custom {
			return describe(kind, o, "a custom resource of "+gvr.Group), nil
		}
		if keptByHelm(o) {
			return describe(kind, o, ""), nil
		}
	}
	return "", nil
}

// keptByHelm tells an object Helm leaves in place on uninstall, reading
// the annotation as Helm does.
func keptByHelm(o metav1.Object) bool {
	return strings.ToLower(strings.TrimSpace(o.GetAnnotations()[AnnotationResourcePolicy])) == KeepPolicy
}

// describe is the reason a namespace is kept for an object.
func describe(kind string, o metav1.Object, note string) string {
	s := "holds " + kind + " " + o.GetName()
	switch {
	case keptByHelm(o):
		return s + ", kept by " + AnnotationResourcePolicy + ": " + KeepPolicy
	case note != "":
		return s + ", " + note
	}
	return s
}
