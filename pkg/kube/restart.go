package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// AnnotationRestartedAt is the pod template annotation a rolling restart
// sets, as `kubectl rollout restart` does: changing it makes the workload
// controller replace every pod.
const AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"

// Restart starts a rolling restart of a Deployment or StatefulSet, as
// `kubectl rollout restart` does: it sets the pod template's
// AnnotationRestartedAt to at (RFC 3339, to the nanosecond, so that two
// restarts within a second both restart) with a strategic merge patch,
// leaving the rest of the spec alone. It returns the annotation's value.
func (s Scaler) Restart(ctx context.Context, w Workload, at time.Time) (string, error) {
	stamp := at.UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{AnnotationRestartedAt: stamp},
	}}}})
	if err != nil {
		return "", err
	}
	switch w.Kind {
	case "Deployment":
		_, err = s.Clientset.AppsV1().Deployments(w.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: ManagedByValue})
	case "StatefulSet":
		set, getErr := s.Clientset.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if getErr != nil {
			return "", fmt.Errorf("restart %s: %w", w, getErr)
		}
		if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			return "", fmt.Errorf("restart %s: its updateStrategy is OnDelete, so a restart replaces no pod; delete its pods to restart them, or give it the RollingUpdate strategy in the chart", w)
		}
		_, err = s.Clientset.AppsV1().StatefulSets(w.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: ManagedByValue})
	default:
		return "", fmt.Errorf("restart %s: helm-service restarts only Deployments and StatefulSets", w)
	}
	if err != nil {
		return "", fmt.Errorf("restart %s: %w", w, err)
	}
	return stamp, nil
}

// WaitRolledOut waits until every workload has rolled out its current pod
// template, as `kubectl rollout status` tells: the controller saw the
// newest spec, every replica runs the new template and is ready, and no
// pod of an older one is left; or ctx ends, and the error says which are
// not there yet.
func (s Scaler) WaitRolledOut(ctx context.Context, workloads []Workload) error {
	for {
		var pending []string
		for _, w := range workloads {
			if why := s.notRolledOut(ctx, w); why != "" {
				pending = append(pending, w.String()+": "+why)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the rollout: %w; not rolled out yet: %v", ctx.Err(), pending)
		case <-time.After(readyPoll):
		}
	}
}

// notRolledOut says why a workload has not rolled out its pod template,
// or "" when it has.
func (s Scaler) notRolledOut(ctx context.Context, w Workload) string {
	switch w.Kind {
	case "Deployment":
		d, err := s.Clientset.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Sprintf("cannot read it: %v", err)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		switch {
		case st.ObservedGeneration < d.Generation:
			return "the controller has not seen the newest spec yet"
		case st.UpdatedReplicas < want:
			return fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
		case st.Replicas > st.UpdatedReplicas:
			return fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
		case st.AvailableReplicas < st.UpdatedReplicas || st.ReadyReplicas < want:
			return fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)
		}
		return ""
	case "StatefulSet":
		set, err := s.Clientset.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Sprintf("cannot read it: %v", err)
		}
		want := int32(1)
		if set.Spec.Replicas != nil {
			want = *set.Spec.Replicas
		}
		st := set.Status
		switch {
		case st.ObservedGeneration < set.Generation:
			return "the controller has not seen the newest spec yet"
		case st.UpdatedReplicas < want || (st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision):
			return fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
		case st.ReadyReplicas < want:
			return fmt.Sprintf("%d of %d replicas ready", st.ReadyReplicas, want)
		}
		return ""
	}
	return ""
}
