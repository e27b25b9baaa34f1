package vargroups

import (
	"context"
	"io"
	"log/slog"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func deploymentReading(name, secret, checksum string) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
	d.Spec.Template.Annotations = map[string]string{"chart": "kept"}
	if checksum != "" {
		d.Spec.Template.Annotations[AnnotationChecksum] = checksum
	}
	c := corev1.Container{Name: "app", Image: "app:1"}
	if secret != "" {
		c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}}
	}
	d.Spec.Template.Spec.Containers = []corev1.Container{c}
	return d
}

func TestRedeployerSyncPatchesStaleChecksums(t *testing.T) {
	ctx := context.Background()
	groupData := map[string][]byte{"MODE": []byte("b")}
	current := Groups{Service: groupData}.Checksum()
	cs := fake.NewSimpleClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: ServiceSecret("web"), Namespace: "ns"}, Data: groupData},
		deploymentReading("web", ServiceSecret("web"), "stale"),
		deploymentReading("web-fresh", ServiceSecret("web"), current),
		deploymentReading("db", ServiceSecret("db"), "stale"),
		deploymentReading("other", "", "stale"),
	)
	r := Redeployer{Store: Store{Clientset: cs}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := r.Sync(ctx, "ns"); err != nil {
		t.Fatal(err)
	}
	get := func(name string) map[string]string {
		d, err := cs.AppsV1().Deployments("ns").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Annotations
	}
	if a := get("web"); a[AnnotationChecksum] != current || a["chart"] != "kept" {
		t.Errorf("web annotations %v, want checksum %s and the chart's kept", a, current)
	}
	if a := get("web-fresh"); a[AnnotationChecksum] != current {
		t.Errorf("web-fresh annotations %v", a)
	}
	// db's groups no longer exist: its checksum is removed.
	if a := get("db"); a[AnnotationChecksum] != "" || a["chart"] != "kept" {
		t.Errorf("db annotations %v, want no checksum", a)
	}
	if a := get("other"); a[AnnotationChecksum] != "stale" {
		t.Errorf("a Deployment reading no group was patched: %v", a)
	}
	patches := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "patch" {
			patches++
		}
	}
	if patches != 2 {
		t.Errorf("%d patches, want 2 (web and db)", patches)
	}
}

func TestRedeployerSyncLeavesSnapshotReadersAlone(t *testing.T) {
	ctx := context.Background()
	snap := snapshotOf("web", Groups{Service: map[string][]byte{"MODE": []byte("a")}})
	reader := deploymentReading("web-primary", snap.Name, snap.Checksum)
	reader.Spec.Template.Annotations[AnnotationSnapshot] = snap.ID
	cs := fake.NewSimpleClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: ServiceSecret("web"), Namespace: "ns"}, Data: map[string][]byte{"MODE": []byte("b")}},
		reader,
	)
	r := Redeployer{Store: Store{Clientset: cs}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := r.Sync(ctx, "ns"); err != nil {
		t.Fatal(err)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "patch" {
			t.Errorf("a Deployment reading a snapshot was patched: %v", a)
		}
	}
}
