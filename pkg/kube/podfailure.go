package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// failingWaitReasons are the container waiting reasons that will not pass
// by themselves: Kubernetes reports them only after a failure.
var failingWaitReasons = map[string]bool{
	"ImagePullBackOff": true,
	"ErrImagePull":     true,
	"InvalidImageName": true,
	"CrashLoopBackOff": true,
}

// PodFailure explains why pod cannot become ready without a change to the
// release: a container waiting for a reason in failingWaitReasons, a pod the
// scheduler cannot place, or a claim the pod mounts that has stayed Pending
// longer than claimGrace (while a claim is younger, the pod is given time
// even when the scheduler already calls it Unschedulable). claims maps the claim names of the pod's namespace
// to the claims; a claim missing from it is not judged. It returns "" when
// nothing is wrong yet.
func PodFailure(pod *corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim, claimGrace time.Duration, now time.Time) string {
	if pod.DeletionTimestamp != nil {
		return ""
	}
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, s := range statuses {
		if w := s.State.Waiting; w != nil && failingWaitReasons[w.Reason] {
			return fmt.Sprintf("pod %s container %s: %s: %s", pod.Name, s.Name, w.Reason, w.Message)
		}
	}
	provisioning := false
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		claim, ok := claims[v.PersistentVolumeClaim.ClaimName]
		if !ok || claim.Status.Phase != corev1.ClaimPending {
			continue
		}
		if now.Sub(claim.CreationTimestamp.Time) < claimGrace {
			provisioning = true
			continue
		}
		class := "the default storage class"
		if claim.Spec.StorageClassName != nil {
			class = fmt.Sprintf("storage class %q", *claim.Spec.StorageClassName)
		}
		return fmt.Sprintf("pod %s volume %s: PersistentVolumeClaim %s is Pending after %s (%s)",
			pod.Name, v.Name, claim.Name, now.Sub(claim.CreationTimestamp.Time).Round(time.Second), class)
	}
	if provisioning {
		// The scheduler calls a pod with an unbound claim Unschedulable
		// at once; give the claim its grace first.
		return ""
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return fmt.Sprintf("pod %s: %s: %s", pod.Name, c.Reason, c.Message)
		}
	}
	return ""
}

// FailingPod returns the first failure PodFailure finds among the pods of
// namespace that match one of selectors, or "" when there is none. The API
// server does the matching (one list per selector, so that the cost of a
// check does not grow with the other pods of the namespace), and the
// namespace's claims are listed only when a matching pod mounts one.
func FailingPod(ctx context.Context, cs kubernetes.Interface, namespace string, selectors []labels.Selector, claimGrace time.Duration, now time.Time) (string, error) {
	var matching []*corev1.Pod
	seen := make(map[string]bool)
	mountsClaim := false
	for _, s := range selectors {
		if s.Empty() || s.String() == "" {
			continue // selects every pod or none: not a workload's selector
		}
		pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
		if err != nil {
			return "", fmt.Errorf("list pods in namespace %s matching %s: %w", namespace, s, err)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if seen[p.Name] {
				continue
			}
			seen[p.Name] = true
			matching = append(matching, p)
			for _, v := range p.Spec.Volumes {
				mountsClaim = mountsClaim || v.PersistentVolumeClaim != nil
			}
		}
	}
	var claims map[string]*corev1.PersistentVolumeClaim
	if mountsClaim {
		list, err := cs.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", fmt.Errorf("list persistent volume claims in namespace %s: %w", namespace, err)
		}
		claims = make(map[string]*corev1.PersistentVolumeClaim, len(list.Items))
		for i := range list.Items {
			claims[list.Items[i].Name] = &list.Items[i]
		}
	}
	for _, p := range matching {
		if why := PodFailure(p, claims, claimGrace, now); why != "" {
			return why, nil
		}
	}
	return "", nil
}
