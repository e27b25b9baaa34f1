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
