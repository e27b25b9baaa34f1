package routing

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Labels on the stable Services the service router creates.
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "helm-service"
	labelService   = "keptn.sh/service"
	// LabelRoutedTo says which side a stable Service selects: primary or
	// canary.
	LabelRoutedTo = "keptn.sh/routed-to"
)

// ServiceRouter routes with plain Kubernetes Services: each stable Service
// carries the selector and ports of either the primary's or the canary's
// Service, so it sends all traffic to one side. It needs nothing but
// Kubernetes, and only knows the splits 100/0 and 0/100.
type ServiceRouter struct {
	Clientset kubernetes.Interface
}

var _ Router = ServiceRouter{}

// Route implements Router.
func (r ServiceRouter) Route(ctx context.Context, t Target, s Split) error {
	side, err := serviceSide(s)
	if err != nil {
		return err
	}
	services := r.Clientset.CoreV1().Services(t.Namespace)
	for _, b := range t.Backends {
		from := b.Primary
		if side == "canary" {
			from = b.Canary
		}
		src, err := services.Get(ctx, from, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("route %s/%s to %s: read Service %s: %w", t.Namespace, b.Stable, side, from, err)
		}
		labels := map[string]string{labelManagedBy: managedBy, labelService: t.Service, LabelRoutedTo: side}
		ports := make([]corev1.ServicePort, len(src.Spec.Ports))
		for i, p := range src.Spec.Ports {
			p.NodePort = 0
			ports[i] = p
		}
		cur, err := services.Get(ctx, b.Stable, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			stable := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: b.Stable, Namespace: t.Namespace, Labels: labels},
				Spec:       corev1.ServiceSpec{Selector: maps.Clone(src.Spec.Selector), Ports: ports},
			}
			if _, err := services.Create(ctx, stable, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("route %s/%s to %s: create Service: %w", t.Namespace, b.Stable, side, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("route %s/%s to %s: read Service: %w", t.Namespace, b.Stable, side, err)
		}
		if cur.Labels[labelManagedBy] != managedBy {
			return fmt.Errorf("route %s/%s to %s: Service %s exists and is not managed by helm-service (is the service also deployed with another strategy?)", t.Namespace, b.Stable, side, b.Stable)
		}
		if cur.Labels[LabelRoutedTo] == side && maps.Equal(cur.Spec.Selector, src.Spec.Selector) && samePorts(cur.Spec.Ports, ports) {
			continue
		}
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		maps.Copy(cur.Labels, labels)
		cur.Spec.Selector = maps.Clone(src.Spec.Selector)
		cur.Spec.Ports = ports
		if _, err := services.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("route %s/%s to %s: update Service: %w", t.Namespace, b.Stable, side, err)
		}
	}
	return nil
}

// Split implements Router: it reads the first stable Service.
func (r ServiceRouter) Split(ctx context.Context, t Target) (Split, error) {
	if len(t.Backends) == 0 {
		return Split{}, fmt.Errorf("%s/%s has no Services: %w", t.Namespace, t.Service, ErrNotRouted)
	}
	b := t.Backends[0]
	svc, err := r.Clientset.CoreV1().Services(t.Namespace).Get(ctx, b.Stable, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Split{}, fmt.Errorf("stable Service %s/%s: %w", t.Namespace, b.Stable, ErrNotRouted)
	}
	if err != nil {
		return Split{}, fmt.Errorf("read Service %s/%s: %w", t.Namespace, b.Stable, err)
	}
	switch svc.Labels[LabelRoutedTo] {
	case "primary":
		return AllPrimary, nil
	case "canary":
		return AllCanary, nil
	}
	return Split{}, fmt.Errorf("stable Service %s/%s has no %s label: %w", t.Namespace, b.Stable, LabelRoutedTo, ErrNotRouted)
}

// serviceSide is the side a Service router can send a split to.
func serviceSide(s Split) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	switch s {
	case AllPrimary:
		return "primary", nil
	case AllCanary:
		return "canary", nil
	}
	return "", fmt.Errorf("the service router sends all traffic to one side: split %s is not possible (use the gatewayapi or istio router for weights)", s)
}

// samePorts compares the ports a stable Service would get with its current
// ones, ignoring what the API server fills in.
func samePorts(cur, want []corev1.ServicePort) bool {
	if len(cur) != len(want) {
		return false
	}
	for i := range cur {
		a, b := cur[i], want[i]
		if a.Name != b.Name || a.Port != b.Port || a.TargetPort != b.TargetPort || (b.Protocol != "" && a.Protocol != b.Protocol) {
			return false
		}
	}
	return true
}
