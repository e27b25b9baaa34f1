package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// EnsureNamespace creates the namespace, labelled as managed by
// helm-service, unless it exists. It reports whether it created it.
func EnsureNamespace(ctx context.Context, cs kubernetes.Interface, name string, labels map[string]string) (bool, error) {
	_, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("get namespace %s: %w", name, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelManagedBy: ManagedByValue}}}
	for k, v := range labels {
		ns.Labels[k] = v
	}
	_, err = cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return false, nil // another replica made it first
	}
	if err != nil {
		return false, fmt.Errorf("create namespace %s: %w", name, err)
	}
	return true, nil
}

// Namespaces prepares namespaces in one cluster.
type Namespaces struct {
	Clientset kubernetes.Interface
}

// Ensure creates the namespace, labelled as managed by helm-service, unless
// it exists.
func (n Namespaces) Ensure(ctx context.Context, name string, labels map[string]string) error {
	_, err := EnsureNamespace(ctx, n.Clientset, name, labels)
	return err
}

// DeleteIfEmpty deletes the namespace when it is labelled as created by
// helm-service and holds nothing any more: no Helm release, Deployment,
// StatefulSet, DaemonSet, Job or Service, and no pod besides those of
// deleted workloads. It reports whether it deleted it.
func (n Namespaces) DeleteIfEmpty(ctx context.Context, name string) (bool, error) {
	ns, err := n.Clientset.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get namespace %s: %w", name, err)
	}
	if ns.Labels[LabelManagedBy] != ManagedByValue {
		return false, nil
	}
	what, err := n.contents(ctx, name)
	if err != nil || what != "" {
		return false, err
	}
	if err := n.Clientset.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return true, nil
}

// contents names one kind of object left in the namespace, or "" when it
// is empty in the sense of DeleteIfEmpty.
func (n Namespaces) contents(ctx context.Context, name string) (string, error) {
	one := metav1.ListOptions{Limit: 1}
	apps, core := n.Clientset.AppsV1(), n.Clientset.CoreV1()
	checks := []struct {
		kind string
		list func() (int, error)
	}{
		{"Helm release", func() (int, error) {
			l, err := core.Secrets(name).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm", Limit: 1})
			return countOf(err, func() int { return len(l.Items) })
		}},
		{"Deployment", func() (int, error) {
			l, err := apps.Deployments(name).List(ctx, one)
			return countOf(err, func() int { return len(l.Items) })
		}},
		{"StatefulSet", func() (int, error) {
			l, err := apps.StatefulSets(name).List(ctx, one)
			return countOf(err, func() int { return len(l.Items) })
		}},
		{"DaemonSet", func() (int, error) {
			l, err := apps.DaemonSets(name).List(ctx, one)
			return countOf(err, func() int { return len(l.Items) })
		}},
		{"Job", func() (int, error) {
			l, err := n.Clientset.BatchV1().Jobs(name).List(ctx, one)
			return countOf(err, func() int { return len(l.Items) })
		}},
		{"Service", func() (int, error) {
			l, err := core.Services(name).List(ctx, one)
			return countOf(err, func() int { return len(l.Items) })
		}},
		{"Pod", func() (int, error) {
			l, err := core.Pods(name).List(ctx, metav1.ListOptions{})
			if err != nil {
				return 0, err
			}
			count := 0
			for _, p := range l.Items {
				if p.DeletionTimestamp == nil && len(p.OwnerReferences) == 0 {
					count++
				}
			}
			return count, nil
		}},
	}
	for _, c := range checks {
		count, err := c.list()
		if err != nil {
			return "", fmt.Errorf("list %ss in namespace %s: %w", c.kind, name, err)
		}
		if count > 0 {
			return c.kind, nil
		}
	}
	return "", nil
}

func countOf(err error, count func() int) (int, error) {
	if err != nil {
		return 0, err
	}
	return count(), nil
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
