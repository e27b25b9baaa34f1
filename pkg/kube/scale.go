package kube

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
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
		scale := &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
			Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
		}
		var err error
		switch w.Kind {
		case "Deployment":
			_, err = s.Clientset.AppsV1().Deployments(w.Namespace).UpdateScale(ctx, w.Name, scale, metav1.UpdateOptions{})
		case "StatefulSet":
			_, err = s.Clientset.AppsV1().StatefulSets(w.Namespace).UpdateScale(ctx, w.Name, scale, metav1.UpdateOptions{})
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("scale %s to %d: %w", w, replicas, err)
		}
	}
	return nil
}
