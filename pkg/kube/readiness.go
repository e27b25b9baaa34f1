package kube

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Workload names a Deployment or StatefulSet.
type Workload struct {
	Kind      string
	Namespace string
	Name      string
}

func (w Workload) String() string {
	return strings.ToLower(w.Kind) + " " + w.Namespace + "/" + w.Name
}

// NotReady explains, one line per workload, which of the given workloads are
// not ready and why, using their status and conditions. Ready workloads and
// kinds it does not know are left out.
func NotReady(ctx context.Context, cs kubernetes.Interface, workloads []Workload) []string {
	var out []string
	for _, w := range workloads {
		var why string
		switch w.Kind {
		case "Deployment":
			why = deploymentNotReady(ctx, cs, w)
		case "StatefulSet":
			why = statefulSetNotReady(ctx, cs, w)
		}
		if why != "" {
			out = append(out, w.String()+": "+why)
		}
	}
	return out
}

func deploymentNotReady(ctx context.Context, cs kubernetes.Interface, w Workload) string {
	d, err := cs.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf("cannot read it: %v", err)
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	if s.ObservedGeneration >= d.Generation && s.UpdatedReplicas >= want && s.AvailableReplicas >= want && s.Replicas == s.UpdatedReplicas {
		return ""
	}
	var conds []string
	for _, c := range d.Status.Conditions {
		if c.Status != "True" || c.Type == appsv1.DeploymentReplicaFailure {
			conds = append(conds, fmt.Sprintf("%s=%s: %s", c.Type, c.Status, c.Message))
		}
	}
	return fmt.Sprintf("%d of %d replicas updated, %d available%s", s.UpdatedReplicas, want, s.AvailableReplicas, conditionSuffix(conds))
}

func statefulSetNotReady(ctx context.Context, cs kubernetes.Interface, w Workload) string {
	st, err := cs.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf("cannot read it: %v", err)
	}
	want := int32(1)
	if st.Spec.Replicas != nil {
		want = *st.Spec.Replicas
	}
	s := st.Status
	if s.ObservedGeneration >= st.Generation && s.ReadyReplicas >= want && s.UpdatedReplicas >= want {
		return ""
	}
	var conds []string
	for _, c := range s.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s: %s", c.Type, c.Status, c.Message))
	}
	return fmt.Sprintf("%d of %d replicas ready, %d updated%s", s.ReadyReplicas, want, s.UpdatedReplicas, conditionSuffix(conds))
}

func conditionSuffix(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " (" + strings.Join(conds, "; ") + ")"
}
