package kube

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

func TestNamespaceOfPath(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/namespaces/shop-dev/configmaps":                                "shop-dev",
		"/api/v1/namespaces/shop-dev/pods/carts-1/log":                          "shop-dev",
		"/apis/apps/v1/namespaces/shop-dev/deployments/carts/scale":             "shop-dev",
		"/apis/gateway.networking.k8s.io/v1/namespaces/shop-dev/httproutes":     "shop-dev",
		"/api/v1/namespaces/shop-dev":                                           "",
		"/api/v1/namespaces/shop-dev/status":                                    "",
		"/api/v1/namespaces/shop-dev/finalize":                                  "",
		"/api/v1/namespaces":                                                    "",
		"/api/v1/secrets":                                                       "",
		"/apis/rbac.authorization.k8s.io/v1/clusterroles/helm-service-deployer": "",
		"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":                "",
		"/api":        "",
		"/openapi/v3": "",
		"/version":    "",
	} {
		if got := namespaceOfPath(path); got != want {
			t.Errorf("namespaceOfPath(%q) = %q, want %q", path, got, want)
		}
	}
}

// Requests in a namespace impersonate its deployer; the others go with the
// client's own identity.
func TestImpersonatingClientsetActsAsTheNamespacesDeployer(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Get("Impersonate-User")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	d := &Deployer{Account: "deployer", Role: "deployer-role"}
	cs, err := kubernetes.NewForConfig(d.Impersonating(&rest.Config{Host: srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = cs.CoreV1().ConfigMaps("shop-dev").Get(ctx, "cm", metav1.GetOptions{})
	_, _ = cs.AppsV1().Deployments("shop-prod").List(ctx, metav1.ListOptions{})
	_, _ = cs.CoreV1().Namespaces().Get(ctx, "shop-dev", metav1.GetOptions{})
	_, _ = cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	want := map[string]string{
		"/api/v1/namespaces/shop-dev/configmaps/cm":      "system:serviceaccount:shop-dev:deployer",
		"/apis/apps/v1/namespaces/shop-prod/deployments": "system:serviceaccount:shop-prod:deployer",
		"/api/v1/namespaces/shop-dev":                    "",
		"/api/v1/secrets":                                "",
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("Impersonate-User per path (-want +got):\n%s", diff)
	}
}

func TestDeployerProvision(t *testing.T) {
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: "platform"}}
	for _, tc := range []struct {
		name     string
		existing []runtime.Object
		ours     bool
		wantErr  bool
		wantRB   bool
		wantUser string
	}{
		{name: "ours, none yet: bound and created", ours: true, wantRB: true, wantUser: "system:serviceaccount:platform:deployer"},
		{name: "ours, account there: left as it is", existing: []runtime.Object{account}, ours: true, wantUser: "system:serviceaccount:platform:deployer"},
		{name: "not ours, account there: used", existing: []runtime.Object{account}, wantUser: "system:serviceaccount:platform:deployer"},
		{name: "not ours, none: refused", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := append([]runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "platform"}}}, tc.existing...)
			cs := fake.NewClientset(objs...)
			d := &Deployer{Clientset: cs, Account: "deployer", Role: "deployer-role"}
			ctx := context.Background()
			err := d.Provision(ctx, "platform", tc.ours)
			var missing *MissingDeployerError
			if tc.wantErr != errors.As(err, &missing) {
				t.Fatalf("Provision: %v, want a MissingDeployerError: %v", err, tc.wantErr)
			}
			if err != nil && !tc.wantErr {
				t.Fatal(err)
			}
			rb, rbErr := cs.RbacV1().RoleBindings("platform").Get(ctx, "deployer", metav1.GetOptions{})
			if tc.wantRB != (rbErr == nil) {
				t.Fatalf("RoleBinding: %v, want one: %v", rbErr, tc.wantRB)
			}
			if tc.wantRB {
				want := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "deployer-role"}
				if diff := cmp.Diff(want, rb.RoleRef); diff != "" {
					t.Errorf("roleRef (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: "platform"}}, rb.Subjects); diff != "" {
					t.Errorf("subjects (-want +got):\n%s", diff)
				}
			}
			user, err := d.ActAs(ctx, "platform")
			if tc.wantErr {
				if !errors.As(err, &missing) {
					t.Errorf("ActAs: %v, want a MissingDeployerError", err)
				}
				return
			}
			if err != nil || user != tc.wantUser {
				t.Errorf("ActAs = %q, %v; want %q", user, err, tc.wantUser)
			}
		})
	}
}

// A namespace helm-service created before it impersonated gets its
// deployer when a task first acts there.
func TestDeployerActAsProvisionsANamespaceItCreated(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "old", Labels: map[string]string{LabelManagedBy: ManagedByValue}}})
	d := &Deployer{Clientset: cs, Account: "deployer", Role: "deployer-role"}
	ctx := context.Background()
	if user, err := d.ActAs(ctx, "old"); user != "system:serviceaccount:old:deployer" || err != nil {
		t.Fatalf("ActAs = %q, %v", user, err)
	}
	if _, err := cs.CoreV1().ServiceAccounts("old").Get(ctx, "deployer", metav1.GetOptions{}); err != nil {
		t.Errorf("deployer account: %v", err)
	}
	if _, err := cs.RbacV1().RoleBindings("old").Get(ctx, "deployer", metav1.GetOptions{}); err != nil {
		t.Errorf("deployer binding: %v", err)
	}
}

// In a namespace that does not exist there is nothing to act on: tasks
// read it (and find no release) as helm-service itself.
func TestDeployerActAsInANamespaceThatDoesNotExist(t *testing.T) {
	d := &Deployer{Clientset: fake.NewClientset(), Account: "deployer", Role: "deployer-role"}
	if user, err := d.ActAs(context.Background(), "nowhere"); user != "" || err != nil {
		t.Errorf("ActAs = %q, %v; want helm-service's own identity", user, err)
	}
}

func TestMissingDeployerErrorSaysWhatToCreate(t *testing.T) {
	msg := (&MissingDeployerError{Namespace: "platform", Account: "deployer", Role: "deployer-role"}).Error()
	for _, want := range []string{"namespace platform has no ServiceAccount deployer", "DEPLOYER_SERVICE_ACCOUNT", "kubectl -n platform create serviceaccount deployer", "--clusterrole=deployer-role --serviceaccount=platform:deployer"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
}

// Ensure gives namespaces helm-service created (now or before, by their
// label) their deployer, and refuses others that have none.
func TestEnsureProvisionsTheDeployerOfItsNamespaces(t *testing.T) {
	managed := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "old", Labels: map[string]string{LabelManagedBy: ManagedByValue}}}
	foreign := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "platform"}}
	cs := fake.NewClientset(managed, foreign)
	n := Namespaces{Clientset: cs, Deployer: &Deployer{Clientset: cs, Account: "deployer", Role: "deployer-role"}}
	ctx := context.Background()
	for _, ns := range []string{"new", "old"} {
		if err := n.Ensure(ctx, ns, nil); err != nil {
			t.Fatalf("Ensure(%s): %v", ns, err)
		}
		if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "deployer", metav1.GetOptions{}); err != nil {
			t.Errorf("deployer of %s: %v", ns, err)
		}
	}
	var missing *MissingDeployerError
	if err := n.Ensure(ctx, "platform", nil); !errors.As(err, &missing) {
		t.Errorf("Ensure(platform): %v, want a MissingDeployerError", err)
	}
	if l, _ := cs.RbacV1().RoleBindings("platform").List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("a RoleBinding was created in a namespace helm-service did not create: %+v", l.Items)
	}
}

// The start-up check refuses to run without the rights impersonation
// needs, saying what to grant or install.
func TestDeployerCheckRights(t *testing.T) {
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "deployer-role"}}
	for _, tc := range []struct {
		name    string
		denied  string // the verb the access review denies
		objects []runtime.Object
		want    []string // in the error; none: no error
	}{
		{name: "all there", objects: []runtime.Object{role}},
		{name: "may not impersonate", denied: "impersonate", objects: []runtime.Object{role},
			want: []string{`may not impersonate serviceaccounts "deployer"`, "resourceNames [deployer]", "install helm-service's chart", "IMPERSONATE=false"}},
		{name: "may not bind", denied: "bind", objects: []runtime.Object{role},
			want: []string{`may not bind clusterroles "deployer-role"`}},
		{name: "no role", want: []string{"ClusterRole deployer-role (DEPLOYER_ROLE)", "does not exist", "install helm-service's chart"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(tc.objects...)
			cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				review := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
				review.Status.Allowed = review.Spec.ResourceAttributes.Verb != tc.denied
				return true, review, nil
			})
			err := (&Deployer{Clientset: cs, Account: "deployer", Role: "deployer-role"}).CheckRights(context.Background())
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("CheckRights: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckRights: no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}

// Ensure reads an existing namespace once, for whether it is there and
// whose it is.
func TestEnsureReadsAnExistingNamespaceOnce(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop-dev", Labels: map[string]string{LabelManagedBy: ManagedByValue}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: "shop-dev"}},
	)
	n := Namespaces{Clientset: cs, Deployer: &Deployer{Clientset: cs, Account: "deployer", Role: "deployer-role"}}
	if err := n.Ensure(context.Background(), "shop-dev", nil); err != nil {
		t.Fatal(err)
	}
	reads := 0
	for _, a := range cs.Actions() {
		if a.GetResource().Resource == "namespaces" && a.GetVerb() == "get" {
			reads++
		}
	}
	if reads != 1 {
		t.Errorf("%d reads of the namespace, want 1", reads)
	}
}
