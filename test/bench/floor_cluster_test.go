package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFloorOnCluster runs the floor's install and upgrade of two releases
// on the local cluster (E2E_KUBECONFIG; skipped without it), alone and with
// Helm's bookkeeping (floor+records), and checks that both end with their
// Deployments at the upgraded image, every replica ready, and with the
// bookkeeping their records as Helm leaves them.
func TestFloorOnCluster(t *testing.T) {
	kubeconfig := os.Getenv("E2E_KUBECONFIG")
	if kubeconfig == "" {
		t.Skip("E2E_KUBECONFIG is not set: no cluster to run the floor on")
	}
	for _, withRecords := range []bool{false, true} {
		name := toolFloor
		if withRecords {
			name = toolRecords
		}
		t.Run(name, func(t *testing.T) { floorOnCluster(t, kubeconfig, withRecords) })
	}
}

func floorOnCluster(t *testing.T, kubeconfig string, withRecords bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := newCluster(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("floor-test-%d", time.Now().UnixNano()%1_000_000)
	if err := ensureNamespace(ctx, c, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeNamespaces(context.Background(), c, []string{ns}) })

	manifest := func(name, image string) string {
		return fmt.Sprintf(`---
apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s-config
data:
  image: %[2]s
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 2
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
        - name: app
          image: %[2]s
`, name, image)
	}
	manifests := map[string][]string{}
	for _, name := range []string{"svc-a", "svc-b"} {
		manifests[name] = []string{manifest(name, "example/floor:1"), manifest(name, "example/floor:2")}
	}
	var records *recordKeeper
	if withRecords {
		// helm-service's records as the keeper copies them: one per
		// revision, of the size of a small chart's.
		recs := map[string][]*corev1.Secret{}
		for name := range manifests {
			for v := 1; v <= 2; v++ {
				recs[name] = append(recs[name], &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, v),
						Labels: map[string]string{"owner": "helm", "name": name, "version": fmt.Sprint(v), "status": "deployed"}},
					Type: "helm.sh/release.v1",
					Data: map[string][]byte{"release": bytes.Repeat([]byte{'r'}, 4096)},
				})
			}
		}
		records = &recordKeeper{c: c, namespace: ns, records: recs}
	}
	for rev, phase := range []string{"install", "upgrade"} {
		r, err := floorPhase(ctx, c, manifests, records, rev, ns, phase, 2, time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", phase, err)
		}
		if r.failures != 0 || r.n != 2 || len(r.finished) != 2 {
			t.Fatalf("%s: %d of %d failed, %d finished: %s", phase, r.failures, r.n, len(r.finished), r.note)
		}
	}
	got := map[string]string{}
	for _, name := range []string{"svc-a", "svc-b"} {
		d, err := c.clients.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got[name] = fmt.Sprintf("%s ready %d/%d", d.Spec.Template.Spec.Containers[0].Image, d.Status.ReadyReplicas, d.Status.Replicas)
	}
	want := map[string]string{"svc-a": "example/floor:2 ready 2/2", "svc-b": "example/floor:2 ready 2/2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Deployments after the floor's upgrade (-want +got):\n%s", diff)
	}
	if !withRecords {
		return
	}
	list, err := c.clients.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, s := range list.Items {
		stored[s.Name] = fmt.Sprintf("%s, %d bytes", s.Labels["status"], len(s.Data["release"]))
	}
	wantStored := map[string]string{
		"sh.helm.release.v1.svc-a.v1": "superseded, 4096 bytes", "sh.helm.release.v1.svc-a.v2": "deployed, 4096 bytes",
		"sh.helm.release.v1.svc-b.v1": "superseded, 4096 bytes", "sh.helm.release.v1.svc-b.v2": "deployed, 4096 bytes",
	}
	if diff := cmp.Diff(wantStored, stored); diff != "" {
		t.Errorf("records after floor+records' upgrade (-want +got):\n%s", diff)
	}
}
