package kube

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
)

func waitingPod(reason, message string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "carts-7d9-abc", Namespace: "shop-dev", Labels: map[string]string{"app": "carts"}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name:  "carts",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
		}}},
	}
}

func claimPod(claim string) *corev1.Pod {
	p := waitingPod("", "")
	p.Status.ContainerStatuses = nil
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
	}}}
	return p
}

func TestPodFailure(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	class := "no-such-class"
	claim := func(phase corev1.PersistentVolumeClaimPhase, age time.Duration) map[string]*corev1.PersistentVolumeClaim {
		return map[string]*corev1.PersistentVolumeClaim{"data-carts": {
			ObjectMeta: metav1.ObjectMeta{Name: "data-carts", CreationTimestamp: metav1.NewTime(now.Add(-age))},
			Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: &class},
			Status:     corev1.PersistentVolumeClaimStatus{Phase: phase},
		}}
	}
	unschedulable := waitingPod("", "")
	unschedulable.Status.ContainerStatuses = nil
	unschedulable.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/4 nodes are available"}}
	scheduling := waitingPod("", "")
	scheduling.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulerError"}}
	initCrash := waitingPod("", "")
	initCrash.Status.ContainerStatuses = nil
	initCrash.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s"}}}}
	waitingForClaim := claimPod("data-carts")
	waitingForClaim.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "pod has unbound immediate PersistentVolumeClaims"}}
	deleting := waitingPod("CrashLoopBackOff", "back-off")
	deleting.DeletionTimestamp = &metav1.Time{Time: now}

	for _, c := range []struct {
		name   string
		pod    *corev1.Pod
		claims map[string]*corev1.PersistentVolumeClaim
		want   string
	}{
		{"image pull back-off", waitingPod("ImagePullBackOff", `Back-off pulling image "example/nope:1"`), nil,
			`pod carts-7d9-abc container carts: ImagePullBackOff: Back-off pulling image "example/nope:1"`},
		{"image pull error", waitingPod("ErrImagePull", "not found"), nil, "pod carts-7d9-abc container carts: ErrImagePull: not found"},
		{"invalid image name", waitingPod("InvalidImageName", "bad ref"), nil, "pod carts-7d9-abc container carts: InvalidImageName: bad ref"},
		{"crash loop", waitingPod("CrashLoopBackOff", "back-off 40s restarting failed container"), nil,
			"pod carts-7d9-abc container carts: CrashLoopBackOff: back-off 40s restarting failed container"},
		{"init container crash loop", initCrash, nil, "pod carts-7d9-abc container migrate: CrashLoopBackOff: back-off 10s"},
		{"container creating", waitingPod("ContainerCreating", ""), nil, ""},
		{"pod initializing", waitingPod("PodInitializing", ""), nil, ""},
		{"unschedulable", unschedulable, nil, "pod carts-7d9-abc: Unschedulable: 0/4 nodes are available"},
		{"not scheduled for another reason", scheduling, nil, ""},
		{"being deleted", deleting, nil, ""},
		{"claim pending past grace", claimPod("data-carts"), claim(corev1.ClaimPending, 15*time.Second),
			`pod carts-7d9-abc volume data: PersistentVolumeClaim data-carts is Pending after 15s (storage class "no-such-class")`},
		{"claim pending within grace", claimPod("data-carts"), claim(corev1.ClaimPending, 5*time.Second), ""},
		{"unschedulable while its claim is provisioned", waitingForClaim, claim(corev1.ClaimPending, 5*time.Second), ""},
		{"unschedulable on a claim past grace", waitingForClaim, claim(corev1.ClaimPending, 11*time.Second),
			`pod carts-7d9-abc volume data: PersistentVolumeClaim data-carts is Pending after 11s (storage class "no-such-class")`},
		{"claim bound", claimPod("data-carts"), claim(corev1.ClaimBound, time.Minute), ""},
		{"claim not found", claimPod("other"), claim(corev1.ClaimPending, time.Minute), ""},
		{"running", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ok"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := PodFailure(c.pod, c.claims, 10*time.Second, now); got != c.want {
				t.Errorf("PodFailure = %q, want %q", got, c.want)
			}
		})
	}
}

func TestFailingPodOnlyJudgesSelectedPods(t *testing.T) {
	other := waitingPod("CrashLoopBackOff", "back-off")
	other.Name, other.Labels = "orders-1", map[string]string{"app": "orders"}
	cs := fake.NewSimpleClientset(other)
	sel := []labels.Selector{labels.SelectorFromSet(labels.Set{"app": "carts"})}
	why, err := FailingPod(context.Background(), cs, "shop-dev", sel, 10*time.Second, time.Now())
	if err != nil || why != "" {
		t.Fatalf("FailingPod = %q, %v; want no failure: the failing pod is not selected", why, err)
	}
	if _, err := cs.CoreV1().Pods("shop-dev").Create(context.Background(), waitingPod("ImagePullBackOff", "nope"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	why, err = FailingPod(context.Background(), cs, "shop-dev", sel, 10*time.Second, time.Now())
	if err != nil || why != "pod carts-7d9-abc container carts: ImagePullBackOff: nope" {
		t.Fatalf("FailingPod = %q, %v", why, err)
	}
}
