package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Images returns the container images of a Deployment or StatefulSet as
// they are in the cluster now, in the order of its pod template.
func Images(ctx context.Context, cs kubernetes.Interface, w Workload) ([]string, error) {
	var containers []corev1.Container
	switch w.Kind {
	case "Deployment":
		d, err := cs.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", w, err)
		}
		containers = d.Spec.Template.Spec.Containers
	case "StatefulSet":
		s, err := cs.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", w, err)
		}
		containers = s.Spec.Template.Spec.Containers
	default:
		return nil, fmt.Errorf("read images of %s: only Deployments and StatefulSets are read", w)
	}
	images := make([]string, 0, len(containers))
	for _, c := range containers {
		images = append(images, c.Image)
	}
	return images, nil
}
