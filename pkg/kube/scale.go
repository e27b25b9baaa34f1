package kube

import (
	"context"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Scaler sets the replica count of workloads through their scale
// subresource, leaving the rest of their spec alone.
type Scaler struct {
	Clientset kubernetes.Interface
}

// Scale sets every given Deployment and StatefulSet to replicas. Kinds
// without replicas are skipped.
func (s Scaler) Scale(ctx context.Context, workloads []Workload, replicas int32) error {
	for _, w := range workloads {
		if !Scaled(w.Kind) {
			continue
		}
		scale := &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
			Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
		}
		if err := s.updateScale(ctx, w, scale); err != nil {
			return err
		}
	}
	return nil
}

// ScaleUpFromZero sets every given Deployment and StatefulSet that has zero
// replicas to one, Kubernetes' default, and leaves the others alone. A Helm
// upgrade restores the replicas a chart sets, but not those of a chart that
// leaves them unset: without this, such a workload scaled to zero would
// stay there.
func (s Scaler) ScaleUpFromZero(ctx context.Context, workloads []Workload) error {
	for _, w := range workloads {
		if !Scaled(w.Kind) {
			continue
		}
		cur, err := s.getScale(ctx, w)
		if apierrors.IsNotFound(err) {
			continue // the upgrade creates it
		}
		if err != nil {
			return err
		}
		if cur.Spec.Replicas != 0 {
			continue
		}
		if err := s.Scale(ctx, []Workload{w}, 1); err != nil {
			return err
		}
	}
	return nil
}
