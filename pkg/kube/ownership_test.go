package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestClaimNamespace(t *testing.T) {
	owner := Owner{Project: "sock", Stage: "shop-production"}
	theirs := map[string]string{LabelManagedBy: ManagedByValue, LabelProject: "sock-shop", LabelStage: "production"}
	for _, tc := range []struct {
		name    string
		labels  map[string]string // nil: no namespace
		adopt   bool
		wantErr []string // substrings; none: no error
		// wantLabels are the namespace's labels afterwards.
		wantLabels  map[string]string
		wantAdopted map[string]string
	}{
		{name: "absent"},
		{name: "ours", labels: owner.Labels(), wantLabels: owner.Labels()},
		{name: "ours with more labels", labels: map[string]string{LabelManagedBy: ManagedByValue, LabelProject: "sock", LabelStage: "shop-production", "team": "a"},
			wantLabels: map[string]string{LabelManagedBy: ManagedByValue, LabelProject: "sock", LabelStage: "shop-production", "team": "a"}},
		{name: "another project's", labels: theirs, wantLabels: theirs, wantErr: []string{
			"namespace sock-shop-production belongs to project sock-shop, stage production",
			"app.kubernetes.io/managed-by=helm-service, keptn.sh/project=sock-shop, keptn.sh/stage=production",
			"not to project sock, stage shop-production", "ADOPT_NAMESPACES"}},
		{name: "made by hand", labels: map[string]string{"team": "a"}, wantLabels: map[string]string{"team": "a"}, wantErr: []string{
			"namespace sock-shop-production was not created by helm-service",
			"no label app.kubernetes.io/managed-by, no label keptn.sh/project, no label keptn.sh/stage", "ADOPT_NAMESPACES"}},
		{name: "helm-service's without project", labels: map[string]string{LabelManagedBy: ManagedByValue}, wantLabels: map[string]string{LabelManagedBy: ManagedByValue},
			wantErr: []string{"namespace sock-shop-production is labelled as helm-service's but names no project and stage", "app.kubernetes.io/managed-by=helm-service, no label keptn.sh/project"}},
		{name: "another project's, adopted", labels: theirs, adopt: true, wantLabels: owner.Labels(), wantAdopted: theirs},
		{name: "made by hand, adopted", labels: map[string]string{"team": "a"}, adopt: true,
			wantLabels: map[string]string{LabelManagedBy: ManagedByValue, LabelProject: "sock", LabelStage: "shop-production", "team": "a"}, wantAdopted: map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cs := fake.NewClientset()
			const name = "sock-shop-production"
			if tc.labels != nil {
				if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: tc.labels}}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			adopted, err := Namespaces{Clientset: cs}.Claim(ctx, name, owner, tc.adopt)
			if len(tc.wantErr) == 0 && err != nil {
				t.Fatalf("Claim: %v", err)
			}
			if len(tc.wantErr) > 0 {
				var notOwned *NamespaceNotOwnedError
				if !errors.As(err, &notOwned) {
					t.Fatalf("Claim: %v, want a *NamespaceNotOwnedError", err)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
			}
			if diff := cmp.Diff(tc.wantAdopted, adopted); diff != "" {
				t.Errorf("adopted (-want +got):\n%s", diff)
			}
			if tc.labels == nil {
				if _, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); err == nil {
					t.Error("Claim created the namespace")
				}
				return
			}
			ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantLabels, ns.Labels); diff != "" {
				t.Errorf("labels afterwards (-want +got):\n%s", diff)
			}
		})
	}
}
