package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNextReplicas(t *testing.T) {
	cases := []struct {
		current, delta, max, want int32
	}{
		{2, 1, 5, 3},
		{2, 3, 5, 5},
		{2, 10, 5, 5},  // capped: it still gets as many as allowed
		{7, -1, 5, 6},  // above the limit: lowered by exactly the increment
		{3, -10, 5, 0}, // never below zero
		{7, 0, 5, 7},   // no change, not even to the limit
		{0, 1, 100, 1},
	}
	for _, c := range cases {
		got, err := NextReplicas(c.current, c.delta, c.max)
		if err != nil || got != c.want {
			t.Errorf("NextReplicas(%d, %+d, max %d) = %d, %v; want %d", c.current, c.delta, c.max, got, err, c.want)
		}
	}
	for _, c := range []struct{ current, delta, max int32 }{{5, 1, 5}, {7, 1, 5}, {7, 2, 5}} {
		got, err := NextReplicas(c.current, c.delta, c.max)
		if !errors.Is(err, ErrMaxReplicas) || got != c.current {
			t.Errorf("NextReplicas(%d, %+d, max %d) = %d, %v; want %d and ErrMaxReplicas", c.current, c.delta, c.max, got, err, c.current)
		}
	}
}

// TestScaleByNeverLowersOnAPositiveIncrement: a workload at or above
// MAX_REPLICAS is left alone by a positive increment, and the error names
// the limit and the counts.
func TestScaleByNeverLowersOnAPositiveIncrement(t *testing.T) {
	cs := workloadCluster(t, deployment("web", 7, nil))
	s := Scaler{Clientset: cs}
	web := Workload{Kind: "Deployment", Namespace: "ns", Name: "web"}
	_, err := s.ScaleBy(context.Background(), web, 1, 5)
	if !errors.Is(err, ErrMaxReplicas) {
		t.Fatalf("ScaleBy +1 at 7 replicas with MAX_REPLICAS 5: %v, want ErrMaxReplicas", err)
	}
	for _, want := range []string{"MAX_REPLICAS", "runs 7 replicas", "asks for 8", "deployment ns/web"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	d, _ := cs.AppsV1().Deployments("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if *d.Spec.Replicas != 7 || d.Annotations[AnnotationReplicas] != "" {
		t.Errorf("refused scaling changed web: %d replicas, annotation %q; want 7 and none", *d.Spec.Replicas, d.Annotations[AnnotationReplicas])
	}
	ch, err := s.ScaleBy(context.Background(), web, -1, 5)
	if err != nil || ch.From != 7 || ch.To != 6 {
		t.Errorf("ScaleBy -1 at 7 with MAX_REPLICAS 5 = %v, %v; want from 7 to 6", ch, err)
	}
}

func TestReplicasAndDropKept(t *testing.T) {
	cs := workloadCluster(t, deployment("web", 3, map[string]string{AnnotationReplicas: "3", "other": "kept"}))
	s := Scaler{Clientset: cs}
	web := Workload{Kind: "Deployment", Namespace: "ns", Name: "web"}
	if n, err := s.Replicas(context.Background(), web); err != nil || n != 3 {
		t.Errorf("Replicas = %d, %v; want 3", n, err)
	}
	if err := s.DropKept(context.Background(), web); err != nil {
		t.Fatal(err)
	}
	d, _ := cs.AppsV1().Deployments("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if _, ok := d.Annotations[AnnotationReplicas]; ok || d.Annotations["other"] != "kept" || *d.Spec.Replicas != 3 {
		t.Errorf("after DropKept: annotations %v, %d replicas; want only the record gone", d.Annotations, *d.Spec.Replicas)
	}
	kept, err := s.Kept(context.Background(), []Workload{web})
	if err != nil || len(kept) != 0 {
		t.Errorf("Kept after DropKept = %v, %v; want none", kept, err)
	}
	if err := s.DropKept(context.Background(), Workload{Kind: "Deployment", Namespace: "ns", Name: "gone"}); err != nil {
		t.Errorf("DropKept of a missing workload: %v, want nothing to do", err)
	}
}
