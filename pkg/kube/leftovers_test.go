package kube

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

// managedNamespace is a namespace helm-service created.
func managedNamespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelManagedBy: ManagedByValue}}}
}

// inNamespace returns copies of objects placed in namespace.
func inNamespace(namespace string, objects ...runtime.Object) []runtime.Object {
	out := make([]runtime.Object, 0, len(objects))
	for _, o := range objects {
		o = o.DeepCopyObject()
		o.(metav1.Object).SetNamespace(namespace)
		out = append(out, o)
	}
	return out
}

// namespaceGone tells whether DeleteIfEmpty deleted the namespace.
func namespaceGone(t *testing.T, cs *fake.Clientset, name string) bool {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return apierrors.IsNotFound(err)
}

// TestDeleteIfEmptyKeepsWhatDeletionWouldLose: a namespace is deleted with
// what helm-service and the cluster wrote into it (variable groups, the
// root CA ConfigMap, service-account tokens), and kept while it holds a
// PersistentVolumeClaim or a ConfigMap or Secret someone else wrote, or
// an object Helm kept; the reason names the object.
func TestDeleteIfEmptyKeepsWhatDeletionWouldLose(t *testing.T) {
	written := []runtime.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "helm-service-vars", Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelVariableGroup: "global"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "helm-service-vars-orders", Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelVariableGroup: "service", LabelService: "orders"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "default-token-x1y2z", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}}, Type: corev1.SecretTypeServiceAccountToken},
	}
	now := metav1.Now()
	for name, c := range map[string]struct {
		objects []runtime.Object
		reason  string // "" when the namespace is deleted
	}{
		"only what helm-service and the cluster wrote": {},
		"persistent volume claim": {
			objects: []runtime.Object{&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
			reason:  "holds PersistentVolumeClaim data",
		},
		"persistent volume claim being deleted": {
			objects: []runtime.Object{&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", DeletionTimestamp: &now, Finalizers: []string{"kubernetes.io/pvc-protection"}}}},
		},
		"foreign config map": {
			objects: []runtime.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}}},
			reason:  "holds ConfigMap settings, which helm-service did not write",
		},
		"config map Helm kept": {
			objects: []runtime.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "carts-seed", Annotations: map[string]string{AnnotationResourcePolicy: " Keep"}}}},
			reason:  "holds ConfigMap carts-seed, kept by helm.sh/resource-policy: keep",
		},
		"foreign secret": {
			objects: []runtime.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-credentials"}, Type: corev1.SecretTypeOpaque}},
			reason:  "holds Secret db-credentials, which helm-service did not write",
		},
		"secret named like a group without helm-service's label": {
			objects: []runtime.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "helm-service-vars-web", Labels: map[string]string{LabelVariableGroup: "service"}}}},
			reason:  "holds Secret helm-service-vars-web",
		},
		"release record": {
			objects: []runtime.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.orders.v1", Labels: map[string]string{"owner": "helm", "name": "orders"}}, Type: "helm.sh/release.v1"}},
			reason:  "holds Helm release record sh.helm.release.v1.orders.v1",
		},
	} {
		t.Run(name, func(t *testing.T) {
			objects := append([]runtime.Object{managedNamespace("shop-dev")}, inNamespace("shop-dev", slices.Concat(written, c.objects)...)...)
			cs := fake.NewClientset(objects...)
			deleted, reason, err := Namespaces{Clientset: cs}.DeleteIfEmpty(context.Background(), "shop-dev")
			if err != nil {
				t.Fatal(err)
			}
			if deleted != (c.reason == "") || !strings.HasPrefix(reason, c.reason) || (c.reason == "") != (reason == "") {
				t.Errorf("DeleteIfEmpty = deleted %v, kept for %q; want kept for %q", deleted, reason, c.reason)
			}
			if gone := namespaceGone(t, cs, "shop-dev"); gone != deleted {
				t.Errorf("namespace gone = %v after DeleteIfEmpty reported deleted %v", gone, deleted)
			}
		})
	}
}

// apiResources is the discovery of a cluster that serves ServiceAccounts,
// Events and the Gateway API's HTTPRoutes (a custom resource).
var apiResources = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "serviceaccounts", Kind: "ServiceAccount", Namespaced: true, Verbs: []string{"get", "list", "create", "delete"}},
		{Name: "events", Kind: "Event", Namespaced: true, Verbs: []string{"get", "list"}},
		{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: []string{"create"}},
	}},
	{GroupVersion: "gateway.networking.k8s.io/v1", APIResources: []metav1.APIResource{
		{Name: "httproutes", Kind: "HTTPRoute", Namespaced: true, Verbs: []string{"get", "list", "create", "delete"}},
	}},
}

func partialObject(apiVersion, kind, name string, labels, annotations map[string]string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop-dev", Labels: labels, Annotations: annotations},
	}
}

// TestDeleteIfEmptyKeepsCustomResourcesAndKeptObjects: beyond the kinds
// it checks by name, DeleteIfEmpty discovers the namespaced kinds the API
// server serves: any custom resource keeps the namespace, and so does an
// object of a built-in kind that Helm kept for its resource policy. What
// it may not list or discover keeps the namespace too.
func TestDeleteIfEmptyKeepsCustomResourcesAndKeptObjects(t *testing.T) {
	helm := map[string]string{LabelManagedBy: "Helm"}
	keep := map[string]string{AnnotationResourcePolicy: KeepPolicy}
	forbidden := func(resource string) func(*clienttesting.Fake) {
		return func(f *clienttesting.Fake) {
			f.PrependReactor("list", resource, func(clienttesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("no access"))
			})
		}
	}
	deleting := partialObject("gateway.networking.k8s.io/v1", "HTTPRoute", "old-route", nil, nil)
	now := metav1.Now()
	deleting.DeletionTimestamp, deleting.Finalizers = &now, []string{"example.com/cleanup"}
	for name, c := range map[string]struct {
		objects   []runtime.Object
		metadata  func(*clienttesting.Fake)
		discovery func(*clienttesting.Fake)
		reason    string // "" when the namespace is deleted
	}{
		"only the default service account": {objects: []runtime.Object{partialObject("v1", "ServiceAccount", "default", nil, nil)}},
		"an object Helm left without keep": {objects: []runtime.Object{partialObject("v1", "ServiceAccount", "carts", helm, nil)}},
		"an object Helm kept": {
			objects: []runtime.Object{partialObject("v1", "ServiceAccount", "carts-keep", helm, keep)},
			reason:  "holds ServiceAccount carts-keep, kept by helm.sh/resource-policy: keep",
		},
		"a custom resource": {
			objects: []runtime.Object{partialObject("gateway.networking.k8s.io/v1", "HTTPRoute", "shop-route", nil, nil)},
			reason:  "holds HTTPRoute shop-route, a custom resource of gateway.networking.k8s.io",
		},
		"a custom resource being deleted": {objects: []runtime.Object{deleting}},
		"custom resources it may not list": {
			metadata: forbidden("httproutes"),
			reason:   "helm-service may not list httproutes.gateway.networking.k8s.io there",
		},
		"built-in objects it may not list": {metadata: forbidden("serviceaccounts")},
		"groups it cannot discover": {
			discovery: func(f *clienttesting.Fake) {
				f.PrependReactor("get", "resource", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("service unavailable")
				})
			},
			reason: "the API groups gateway.networking.k8s.io/v1, v1 could not be discovered, so custom resources in them cannot be ruled out",
		},
	} {
		t.Run(name, func(t *testing.T) {
			cs := fake.NewClientset(managedNamespace("shop-dev"))
			cs.Discovery().(*fakediscovery.FakeDiscovery).Resources = apiResources
			if c.discovery != nil {
				c.discovery(&cs.Fake)
			}
			sch := metadatafake.NewTestScheme()
			if err := metav1.AddMetaToScheme(sch); err != nil {
				t.Fatal(err)
			}
			md := metadatafake.NewSimpleMetadataClient(sch, c.objects...)
			if c.metadata != nil {
				c.metadata(&md.Fake)
			}
			deleted, reason, err := Namespaces{Clientset: cs, Metadata: md}.DeleteIfEmpty(context.Background(), "shop-dev")
			if err != nil {
				t.Fatal(err)
			}
			if deleted != (c.reason == "") || !strings.HasPrefix(reason, c.reason) || (c.reason == "") != (reason == "") {
				t.Errorf("DeleteIfEmpty = deleted %v, kept for %q; want kept for %q", deleted, reason, c.reason)
			}
			if gone := namespaceGone(t, cs, "shop-dev"); gone != deleted {
				t.Errorf("namespace gone = %v after DeleteIfEmpty reported deleted %v", gone, deleted)
			}
			for _, a := range md.Actions() {
				if a.GetResource().Resource == "events" {
					t.Errorf("listed events: %v", a)
				}
			}
		})
	}
}

// TestDeleteIfEmptySaysWhyItKeepsANamespaceItDidNotCreate.
func TestDeleteIfEmptySaysWhyItKeepsANamespaceItDidNotCreate(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})
	deleted, reason, err := Namespaces{Clientset: cs}.DeleteIfEmpty(context.Background(), "team-a")
	if err != nil || deleted || !strings.Contains(reason, "not created by helm-service") {
		t.Errorf("DeleteIfEmpty = %v, %q, %v; want kept as not created by helm-service", deleted, reason, err)
	}
}
