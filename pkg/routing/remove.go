package routing

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// selectorOf selects the routing objects helm-service made for a service.
func selectorOf(service string) string {
	return labels.SelectorFromSet(labels.Set{labelManagedBy: managedBy, labelService: service}).String()
}

// Remove implements Router: it deletes the stable Services made for the
// service in namespace.
func (r ServiceRouter) Remove(ctx context.Context, namespace, service string) ([]string, error) {
	services := r.Clientset.CoreV1().Services(namespace)
	list, err := services.List(ctx, metav1.ListOptions{LabelSelector: selectorOf(service)})
	if err != nil {
		return nil, fmt.Errorf("list stable Services of %s in %s: %w", service, namespace, err)
	}
	var removed []string
	for _, s := range list.Items {
		err := services.Delete(ctx, s.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return removed, fmt.Errorf("delete stable Service %s/%s: %w", namespace, s.Name, err)
		}
		removed = append(removed, "Service "+namespace+"/"+s.Name)
	}
	return removed, nil
}

// Remove implements Router: it deletes the weighted objects and the stable
// Services made for the service in namespace. A cluster without the
// object's resource type has none to remove.
func (r weightedRouter) Remove(ctx context.Context, namespace, service string) ([]string, error) {
	res := r.dynamic.Resource(r.gvr).Namespace(namespace)
	list, err := res.List(ctx, metav1.ListOptions{LabelSelector: selectorOf(service)})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("list %ss of %s in %s: %w", r.kind, service, namespace, err)
	}
	var removed []string
	if err == nil {
		for _, o := range list.Items {
			err := res.Delete(ctx, o.GetName(), metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return removed, fmt.Errorf("delete %s %s/%s: %w", r.kind, namespace, o.GetName(), err)
			}
			removed = append(removed, r.kind+" "+namespace+"/"+o.GetName())
		}
	}
	stable, err := r.stable.Remove(ctx, namespace, service)
	return append(removed, stable...), err
}
