package routing

import (
	"context"
	"fmt"
	"maps"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// weightedRouter routes with one custom object per stable endpoint whose
// spec carries the weights (an HTTPRoute, a VirtualService). It also keeps
// a stable Service per endpoint, sending all traffic to the side with the
// larger share: the name resolves, and without a mesh or gateway the
// service still reaches one side.
type weightedRouter struct {
	dynamic dynamic.Interface
	stable  ServiceRouter
	gvr     schema.GroupVersionResource
	kind    string
	// spec returns the object's spec for a backend and split.
	spec func(t Target, b Backend, s Split) map[string]any
	// split reads the split from the object of a backend.
	split func(obj *unstructured.Unstructured, b Backend) (Split, error)
}

// Route implements Router.
func (r weightedRouter) Route(ctx context.Context, t Target, s Split) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := r.stable.Route(ctx, t, s.majority()); err != nil {
		return err
	}
	res := r.dynamic.Resource(r.gvr).Namespace(t.Namespace)
	for _, b := range t.Backends {
		labels := map[string]string{labelManagedBy: managedBy, labelService: t.Service}
		spec := r.spec(t, b, s)
		cur, err := res.Get(ctx, b.Stable, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": r.gvr.GroupVersion().String(),
				"kind":       r.kind,
				"metadata":   map[string]any{"name": b.Stable, "namespace": t.Namespace},
				"spec":       spec,
			}}
			obj.SetLabels(labels)
			if _, err := res.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("route %s/%s (%s): create %s: %w", t.Namespace, b.Stable, s, r.kind, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("route %s/%s (%s): read %s: %w", t.Namespace, b.Stable, s, r.kind, err)
		}
		if cur.GetLabels()[labelManagedBy] != managedBy {
			return fmt.Errorf("route %s/%s: %s %s exists and is not managed by helm-service", t.Namespace, b.Stable, r.kind, b.Stable)
		}
		l := cur.GetLabels()
		maps.Copy(l, labels)
		cur.SetLabels(l)
		cur.Object["spec"] = spec
		if _, err := res.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("route %s/%s (%s): update %s: %w", t.Namespace, b.Stable, s, r.kind, err)
		}
	}
	return nil
}

// Split implements Router: it reads the object of the first backend.
func (r weightedRouter) Split(ctx context.Context, t Target) (Split, error) {
	if len(t.Backends) == 0 {
		return Split{}, fmt.Errorf("%s/%s has no Services: %w", t.Namespace, t.Service, ErrNotRouted)
	}
	b := t.Backends[0]
	name := b.Stable
	obj, err := r.dynamic.Resource(r.gvr).Namespace(t.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Split{}, fmt.Errorf("%s %s/%s: %w", r.kind, t.Namespace, name, ErrNotRouted)
	}
	if err != nil {
		return Split{}, fmt.Errorf("read %s %s/%s: %w", r.kind, t.Namespace, name, err)
	}
	s, err := r.split(obj, b)
	if err != nil {
		return Split{}, fmt.Errorf("%s %s/%s: %w", r.kind, t.Namespace, name, err)
	}
	return s, nil
}

// weightsOf reads the weights of a list of weighted references, matching
// the names nameOf gives (a Service name, or a host whose first label is
// one) to the backend's primary and canary.
func weightsOf(entries []any, b Backend, nameOf func(map[string]any) string) (Split, error) {
	var s Split
	seen := 0
	for _, e := range entries {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		w, _, _ := unstructured.NestedInt64(m, "weight")
		name := strings.SplitN(nameOf(m), ".", 2)[0]
		isPrimary, isCanary := name == b.Primary, name == b.Canary
		switch {
		case isPrimary:
			s.Primary = int(w)
			seen++
		case isCanary:
			s.Canary = int(w)
			seen++
		}
	}
	if seen != 2 {
		return Split{}, fmt.Errorf("want one weighted entry each for primary and canary, found %d", seen)
	}
	return s, nil
}
