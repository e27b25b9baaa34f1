package kube

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
)

// EnsureNamespace creates the namespace, labelled as managed by
// helm-service, unless it exists. It reports whether it created it.
func EnsureNamespace(ctx context.Context, cs kubernetes.Interface, name string, labels map[string]string) (bool, error) {
	_, created, err := ensureNamespace(ctx, cs, name, labels)
	return created, err
}

// ensureNamespace is EnsureNamespace that also returns the namespace when
// it existed already (nil when it was created, or another replica made it
// first).
func ensureNamespace(ctx context.Context, cs kubernetes.Interface, name string, labels map[string]string) (*corev1.Namespace, bool, error) {
	existing, err := getNamespace(ctx, cs, name)
	if err == nil {
		return existing, false, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, false, fmt.Errorf("get namespace %s: %w", name, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelManagedBy: ManagedByValue}}}
	for k, v := range labels {
		ns.Labels[k] = v
	}
	namespaceWritten(ctx, name)
	_, err = cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil, false, nil // another replica made it first
	}
	if err != nil {
		return nil, false, fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil, true, nil
}

// Namespaces prepares namespaces in one cluster.
type Namespaces struct {
	Clientset kubernetes.Interface
	// Labels go on every namespace Ensure creates (NAMESPACE_LABELS: Pod
	// Security's enforce=baseline by default), under the caller's own.
	Labels map[string]string
	// Metadata lists objects of any kind: DeleteIfEmpty looks for custom
	// resources and objects Helm kept with it.
	Metadata metadata.Interface
	// Deployer, when set (IMPERSONATE=true), is the identity tasks act as
	// in a namespace: Ensure gives the namespaces helm-service created
	// their deployer, and refuses others that have none.
	Deployer *Deployer
}

// Ensure creates the namespace, labelled as managed by helm-service, unless
// it exists. With a Deployer, a namespace labelled as managed by
// helm-service gets its deployer ServiceAccount and RoleBinding unless it
// has the account, and another namespace without the account is a
// *MissingDeployerError.
func (n Namespaces) Ensure(ctx context.Context, name string, labels map[string]string) error {
	all := maps.Clone(n.Labels)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, labels)
	ns, created, err := ensureNamespace(ctx, n.Clientset, name, all)
	if err != nil || n.Deployer == nil {
		return err
	}
	ours := created
	if !created && ns == nil { // made by another replica a moment ago
		if ns, err = getNamespace(ctx, n.Clientset, name); err != nil {
			return fmt.Errorf("get namespace %s: %w", name, err)
		}
	}
	if !created {
		ours = ns.Labels[LabelManagedBy] == ManagedByValue
	}
	return n.Deployer.Provision(ctx, name, ours)
}

// ParseNamespaceLabels reads NAMESPACE_LABELS: key=value pairs, each a
// valid Kubernetes label.
func ParseNamespaceLabels(pairs []string) (map[string]string, error) {
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("NAMESPACE_LABELS entry %q is not key=value", p)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("NAMESPACE_LABELS key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("NAMESPACE_LABELS value %q of %s: %s", v, k, strings.Join(errs, "; "))
		}
		out[k] = v
	}
	return out, nil
}

// DeleteIfEmpty deletes the namespace when it is labelled as created by
// helm-service and holds nothing its deletion would lose: no Helm release,
// Deployment, StatefulSet, DaemonSet, Job, Service or PersistentVolumeClaim,
// no pod besides those of deleted workloads, no ConfigMap or Secret but
// those helm-service or the cluster wrote (variable groups, the root CA
// ConfigMap, service-account tokens), no object Helm kept for its
// helm.sh/resource-policy, and no custom resource. It reports whether it
// deleted the namespace and, when it kept one that exists, why.
func (n Namespaces) DeleteIfEmpty(ctx context.Context, name string) (deleted bool, kept string, err error) {
	ns, err := n.Clientset.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("get namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp != nil {
		return false, "", nil // on its way out already
	}
	if ns.Labels[LabelManagedBy] != ManagedByValue {
		return false, fmt.Sprintf("not created by helm-service (no label %s=%s)", LabelManagedBy, ManagedByValue), nil
	}
	reason, err := n.leftover(ctx, name)
	if err != nil || reason != "" {
		return false, reason, err
	}
	namespaceWritten(ctx, name)
	err = n.Clientset.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ns.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return false, "", fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return true, "", nil
}

// List returns the names of every namespace.
func (n Namespaces) List(ctx context.Context) ([]string, error) {
	list, err := n.Clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	return names, nil
}
