package kube

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func namespaceReads(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetResource().Resource == "namespaces" && a.GetVerb() == "get" {
			n++
		}
	}
	return n
}

// In one task's context the ownership check's read of the namespace serves
// Ensure's: one read of it for both.
func TestNamespaceMemoServesClaimAndEnsure(t *testing.T) {
	owner := Owner{Project: "sock", Stage: "dev"}
	labels := owner.Labels()
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sock-dev", Labels: labels}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: "sock-dev"}},
	)
	n := Namespaces{Clientset: cs, Deployer: &Deployer{Clientset: cs, Account: "deployer", Role: "deployer-role"}}
	ctx := WithNamespaceMemo(context.Background())
	if _, err := n.Claim(ctx, "sock-dev", owner, false); err != nil {
		t.Fatal(err)
	}
	if err := n.Ensure(ctx, "sock-dev", labels); err != nil {
		t.Fatal(err)
	}
	if got := namespaceReads(cs); got != 1 {
		t.Errorf("%d reads of the namespace in one context, want 1", got)
	}
	// Another task reads it afresh.
	if _, err := n.Claim(WithNamespaceMemo(context.Background()), "sock-dev", owner, false); err != nil {
		t.Fatal(err)
	}
	if got := namespaceReads(cs); got != 2 {
		t.Errorf("%d reads of the namespace after a second context, want 2", got)
	}
}

// A namespace not found by the ownership check is created by Ensure, and
// a namespace written (adopted) is read again.
func TestNamespaceMemoForgetsWhatItWrites(t *testing.T) {
	owner := Owner{Project: "sock", Stage: "dev"}
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}})
	n := Namespaces{Clientset: cs}
	ctx := WithNamespaceMemo(context.Background())

	if _, err := n.Claim(ctx, "sock-dev", owner, false); err != nil {
		t.Fatal(err)
	}
	if err := n.Ensure(ctx, "sock-dev", owner.Labels()); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "sock-dev", metav1.GetOptions{}); err != nil {
		t.Fatalf("Ensure after a not-found claim created nothing: %v", err)
	}

	adopted, err := n.Claim(ctx, "legacy", owner, true)
	if err != nil || adopted == nil {
		t.Fatalf("Claim(adopt) = %v, %v; want the namespace adopted", adopted, err)
	}
	before := namespaceReads(cs)
	if _, err := n.Claim(ctx, "legacy", owner, false); err != nil {
		t.Fatalf("Claim after adopting: %v (the memo kept the labels before the adoption)", err)
	}
	if got := namespaceReads(cs) - before; got != 1 {
		t.Errorf("%d reads of an adopted namespace, want 1 (a write forgets it)", got)
	}
}
