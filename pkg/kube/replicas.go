package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// AnnotationReplicas is set on a workload scaled by a remediation action:
// the replica count it was scaled to. Later deployments of the release keep
// that count instead of the chart's.
const AnnotationReplicas = "keptn.sh/replicas"

// Change is what scaling did to one workload.
type Change struct {
	Workload Workload
	From     int32
	To       int32
}

func (c Change) String() string {
	return fmt.Sprintf("%s from %d to %d", c.Workload, c.From, c.To)
}

// ErrNotScalable is wrapped by ScaleBy for a kind without replicas.
var ErrNotScalable = errors.New("kind has no scale subresource")

// ErrMaxReplicas is wrapped by NextReplicas and ScaleBy for a positive
// increment on a workload that already runs maxReplicas or more.
var ErrMaxReplicas = errors.New("MAX_REPLICAS reached")

// NextReplicas is the count that scaling by delta gives a workload running
// current replicas. A positive increment never lowers the count: it raises
// it by delta, or to maxReplicas when that is fewer (capped), and a
// workload already at or above maxReplicas is refused with an error
// wrapping ErrMaxReplicas that names the counts. A negative increment
// lowers the count by delta, never below zero (a workload above
// maxReplicas is lowered by exactly delta, not to the limit). Zero keeps
// the count.
func NextReplicas(current, delta, maxReplicas int32) (int32, error) {
	want := int64(current) + int64(delta)
	switch {
	case delta > 0 && current >= maxReplicas:
		return current, fmt.Errorf("%w: it runs %d replicas, MAX_REPLICAS is %d, and scaling by %+d asks for %d; helm-service scales no workload above MAX_REPLICAS, nor lowers one on a positive increment: raise MAX_REPLICAS to scale it further",
			ErrMaxReplicas, current, maxReplicas, delta, want)
	case delta > 0:
		return int32(min(want, int64(maxReplicas))), nil
	case delta < 0:
		return int32(max(want, 0)), nil
	}
	return current, nil
}

// ScaleBy adds delta to the replicas of a Deployment or StatefulSet
// through its scale subresource, as NextReplicas says, and records the new
// count in the workload's AnnotationReplicas. A refused increment changes
// nothing.
func (s Scaler) ScaleBy(ctx context.Context, w Workload, delta, maxReplicas int32) (Change, error) {
	var ch Change
	// The write carries the resourceVersion of the read: when the workload
	// changed in between (its controller wrote it), read it again and add
	// delta to what it asks for now.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := s.getScale(ctx, w)
		if err != nil {
			return err
		}
		to, err := NextReplicas(cur.Spec.Replicas, delta, maxReplicas)
		if err != nil {
			return fmt.Errorf("scale %s: %w", w, err)
		}
		ch = Change{Workload: w, From: cur.Spec.Replicas, To: to}
		if to == cur.Spec.Replicas {
			return nil
		}
		cur.Spec.Replicas = to
		return s.updateScale(ctx, w, cur)
	})
	if err != nil {
		return Change{}, err
	}
	if err := s.annotate(ctx, w, ch.To); err != nil {
		return ch, err
	}
	return ch, nil
}

// Replicas returns the replicas a Deployment or StatefulSet asks for, read
// from its scale subresource.
func (s Scaler) Replicas(ctx context.Context, w Workload) (int32, error) {
	cur, err := s.getScale(ctx, w)
	if err != nil {
		return 0, err
	}
	return cur.Spec.Replicas, nil
}

func (s Scaler) getScale(ctx context.Context, w Workload) (*autoscalingv1.Scale, error) {
	var cur *autoscalingv1.Scale
	var err error
	switch w.Kind {
	case "Deployment":
		cur, err = s.Clientset.AppsV1().Deployments(w.Namespace).GetScale(ctx, w.Name, metav1.GetOptions{})
	case "StatefulSet":
		cur, err = s.Clientset.AppsV1().StatefulSets(w.Namespace).GetScale(ctx, w.Name, metav1.GetOptions{})
	default:
		return nil, fmt.Errorf("scale %s: %w", w, ErrNotScalable)
	}
	if err != nil {
		return nil, fmt.Errorf("read scale of %s: %w", w, err)
	}
	return cur, nil
}

func (s Scaler) updateScale(ctx context.Context, w Workload, scale *autoscalingv1.Scale) error {
	var err error
	switch w.Kind {
	case "Deployment":
		_, err = s.Clientset.AppsV1().Deployments(w.Namespace).UpdateScale(ctx, w.Name, scale, metav1.UpdateOptions{})
	case "StatefulSet":
		_, err = s.Clientset.AppsV1().StatefulSets(w.Namespace).UpdateScale(ctx, w.Name, scale, metav1.UpdateOptions{})
	default:
		err = ErrNotScalable
	}
	if err != nil {
		return fmt.Errorf("scale %s to %d: %w", w, scale.Spec.Replicas, err)
	}
	return nil
}

// annotate records replicas in the workload's AnnotationReplicas.
func (s Scaler) annotate(ctx context.Context, w Workload, replicas int32) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationReplicas: strconv.Itoa(int(replicas)),
	}}})
	if err != nil {
		return err
	}
	switch w.Kind {
	case "Deployment":
		_, err = s.Clientset.AppsV1().Deployments(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	case "StatefulSet":
		_, err = s.Clientset.AppsV1().StatefulSets(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil {
		return fmt.Errorf("record %d replicas on %s: %w", replicas, w, err)
	}
	return nil
}

// DropKept removes the count ScaleBy recorded on a workload, so that later
// deployments leave its replicas to the chart (or to an autoscaler). A
// workload that does not exist has nothing to remove.
func (s Scaler) DropKept(ctx context.Context, w Workload) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationReplicas: nil}}})
	if err != nil {
		return err
	}
	switch w.Kind {
	case "Deployment":
		_, err = s.Clientset.AppsV1().Deployments(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	case "StatefulSet":
		_, err = s.Clientset.AppsV1().StatefulSets(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove the replica count kept on %s: %w", w, err)
	}
	return nil
}

// Kept returns the replica counts recorded by ScaleBy on the given
// workloads. Workloads without a record, or that do not exist, are left
// out; a record that is not a count is an error naming the workload.
func (s Scaler) Kept(ctx context.Context, workloads []Workload) (map[Workload]int32, error) {
	out := map[Workload]int32{}
	for _, w := range workloads {
		var meta metav1.Object
		var err error
		switch w.Kind {
		case "Deployment":
			meta, err = s.Clientset.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		case "StatefulSet":
			meta, err = s.Clientset.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		default:
			continue
		}
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", w, err)
		}
		v, ok := meta.GetAnnotations()[AnnotationReplicas]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: annotation %s=%q is not a replica count", w, AnnotationReplicas, v)
		}
		out[w] = int32(n)
	}
	return out, nil
}

// Autoscaler returns the name of a HorizontalPodAutoscaler that targets
// the workload, or "" when none does.
func (s Scaler) Autoscaler(ctx context.Context, w Workload) (string, error) {
	list, err := s.Clientset.AutoscalingV2().HorizontalPodAutoscalers(w.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list HorizontalPodAutoscalers in %s: %w", w.Namespace, err)
	}
	for _, h := range list.Items {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind == w.Kind && ref.Name == w.Name {
			return h.Name, nil
		}
	}
	return "", nil
}

// readyPoll is how often WaitScaled checks the workloads.
const readyPoll = 250 * time.Millisecond

// WaitScaled waits until every workload runs exactly its desired replicas,
// all ready, or ctx ends; the error then says which are not there yet.
func (s Scaler) WaitScaled(ctx context.Context, workloads []Workload) error {
	for {
		var pending []string
		for _, w := range workloads {
			if why := s.notScaled(ctx, w); why != "" {
				pending = append(pending, w.String()+": "+why)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for replicas: %w; not there yet: %v", ctx.Err(), pending)
		case <-time.After(readyPoll):
		}
	}
}

// notScaled says why a workload does not run its desired replicas, all
// ready and updated, or "" when it does.
func (s Scaler) notScaled(ctx context.Context, w Workload) string {
	var gen, observed int64
	var want, replicas, ready int32 = 1, 0, 0
	switch w.Kind {
	case "Deployment":
		d, err := s.Clientset.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Sprintf("cannot read it: %v", err)
		}
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		gen, observed, replicas, ready = d.Generation, d.Status.ObservedGeneration, d.Status.Replicas, d.Status.ReadyReplicas
	case "StatefulSet":
		st, err := s.Clientset.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Sprintf("cannot read it: %v", err)
		}
		if st.Spec.Replicas != nil {
			want = *st.Spec.Replicas
		}
		gen, observed, replicas, ready = st.Generation, st.Status.ObservedGeneration, st.Status.Replicas, st.Status.ReadyReplicas
	default:
		return ""
	}
	if observed >= gen && replicas == want && ready == want {
		return ""
	}
	return fmt.Sprintf("%d of %d replicas ready, %d running", ready, want, replicas)
}
