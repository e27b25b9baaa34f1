package vargroups

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestDeleteServiceGroup deletes the service group of a removed service
// and names it; the global group and other services' groups stay, and a
// Secret of that name helm-service did not write is left alone.
func TestDeleteServiceGroup(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: ServiceSecret("legacy"), Namespace: "ns"}})
	s := Store{Clientset: cs}
	str := func(v string) *string { return &v }
	for _, svc := range []string{"web", "api"} {
		if _, _, err := s.Apply(ctx, "ns", svc, Changes{"REGION": str("eu")}, Changes{"DB": str(svc)}); err != nil {
			t.Fatal(err)
		}
	}

	deleted, err := s.DeleteService(ctx, "ns", "web")
	if err != nil || !slices.Equal(deleted, []string{"ns/" + ServiceSecret("web")}) {
		t.Fatalf("DeleteService(web) = %q, %v; want ns/%s", deleted, err, ServiceSecret("web"))
	}
	if _, err := cs.CoreV1().Secrets("ns").Get(ctx, ServiceSecret("web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("group of web after DeleteService: %v, want not found", err)
	}
	for _, kept := range []string{GlobalSecret, ServiceSecret("api"), ServiceSecret("legacy")} {
		if _, err := cs.CoreV1().Secrets("ns").Get(ctx, kept, metav1.GetOptions{}); err != nil {
			t.Errorf("%s after removing web: %v, want it kept", kept, err)
		}
	}
	for _, svc := range []string{"web", "legacy", "never-deployed"} {
		if deleted, err := s.DeleteService(ctx, "ns", svc); err != nil || len(deleted) > 0 {
			t.Errorf("DeleteService(%s) = %q, %v; want nothing deleted", svc, deleted, err)
		}
	}
}

// TestDeleteServiceRemovesItsSnapshots: a removed blue/green service's
// variable snapshots go with its group; another service's stay.
func TestDeleteServiceRemovesItsSnapshots(t *testing.T) {
	ctx := context.Background()
	s := Store{Clientset: fake.NewClientset()}
	web, err := s.Snapshot(ctx, "ns", "web", Groups{Service: map[string][]byte{"DB": []byte("web")}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := s.Snapshot(ctx, "ns", "api", Groups{Service: map[string][]byte{"DB": []byte("api")}})
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := s.DeleteService(ctx, "ns", "web")
	if err != nil || !slices.Equal(deleted, []string{"ns/" + web.Name}) {
		t.Fatalf("DeleteService(web) = %q, %v; want ns/%s", deleted, err, web.Name)
	}
	if _, err := s.Clientset.CoreV1().Secrets("ns").Get(ctx, web.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("snapshot %s of the removed service: %v, want it deleted", web.Name, err)
	}
	if _, err := s.Clientset.CoreV1().Secrets("ns").Get(ctx, api.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("snapshot %s of another service: %v, want it kept", api.Name, err)
	}
}
