package kube

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
)

// Deployer is the identity tasks act as in a namespace: the ServiceAccount
// Account of that namespace, bound there to the ClusterRole Role. Every
// Kubernetes call a task makes for a release in namespace N is made as
// system:serviceaccount:N:<Account>, so what a chart or a trigger can touch
// is what that account may touch, not what helm-service may.
//
// Clientset is helm-service's own identity: it provisions the account
// (ServiceAccount and RoleBinding) and reads whether it exists.
type Deployer struct {
	Clientset kubernetes.Interface
	Account   string
	Role      string

	found sync.Map // namespaces whose account was seen, to spare a read per task
}

// User is the user name the deployer of namespace has in the API server.
func (d *Deployer) User(namespace string) string {
	return "system:serviceaccount:" + namespace + ":" + d.Account
}

// MissingDeployerError is a namespace helm-service did not create that
// holds no deployer ServiceAccount: tasks have no identity to act as there.
type MissingDeployerError struct {
	Namespace, Account, Role string
}

func (e *MissingDeployerError) Error() string {
	return fmt.Sprintf("namespace %s has no ServiceAccount %s for helm-service to act as (DEPLOYER_SERVICE_ACCOUNT); helm-service creates it only in namespaces it creates: "+
		"create it and bind it to the role the charts need, e.g. kubectl -n %s create serviceaccount %s && kubectl -n %s create rolebinding %s --clusterrole=%s --serviceaccount=%s:%s",
		e.Namespace, e.Account, e.Namespace, e.Account, e.Namespace, e.Account, e.Role, e.Namespace, e.Account)
}

// Provision gives a namespace its deployer unless it has one: a RoleBinding
// of the ServiceAccount to Role, then the ServiceAccount (in this order, so
// that an account that exists is always bound). An existing ServiceAccount
// is left as it is, whatever it is bound to: platform teams may provide
// their own. In a namespace helm-service did not create (ours false) a
// missing account is a *MissingDeployerError.
func (d *Deployer) Provision(ctx context.Context, namespace string, ours bool) error {
	exists, err := d.exists(ctx, namespace)
	if err != nil || exists {
		return err
	}
	if !ours {
		return &MissingDeployerError{Namespace: namespace, Account: d.Account, Role: d.Role}
	}
	labels := map[string]string{LabelManagedBy: ManagedByValue}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: d.Account, Namespace: namespace, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: d.Role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: d.Account, Namespace: namespace}},
	}
	if _, err := d.Clientset.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bind the deployer %s of namespace %s to ClusterRole %s: %w", d.Account, namespace, d.Role, err)
	}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: d.Account, Namespace: namespace, Labels: labels}}
	if _, err := d.Clientset.CoreV1().ServiceAccounts(namespace).Create(ctx, account, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the deployer ServiceAccount %s in namespace %s: %w", d.Account, namespace, err)
	}
	d.found.Store(namespace, true)
	return nil
}

// ActAs returns the user a task acts as in namespace: its deployer, once
// its ServiceAccount exists; "" (helm-service's own identity) while the
// namespace does not exist, which leaves nothing to act on but lets a task
// find that no release is there yet. A namespace labelled as created by
// helm-service that has no account yet (one created before helm-service
// impersonated) gets it first; in another namespace without the account
// it is a *MissingDeployerError.
func (d *Deployer) ActAs(ctx context.Context, namespace string) (string, error) {
	exists, err := d.exists(ctx, namespace)
	if err != nil {
		return "", err
	}
	if exists {
		return d.User(namespace), nil
	}
	ns, err := getNamespace(ctx, d.Clientset, namespace)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get namespace %s: %w", namespace, err)
	}
	if err := d.Provision(ctx, namespace, ns.Labels[LabelManagedBy] == ManagedByValue); err != nil {
		return "", err
	}
	return d.User(namespace), nil
}

func (d *Deployer) exists(ctx context.Context, namespace string) (bool, error) {
	if _, ok := d.found.Load(namespace); ok {
		return true, nil
	}
	_, err := d.Clientset.CoreV1().ServiceAccounts(namespace).Get(ctx, d.Account, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get the deployer ServiceAccount %s in namespace %s: %w", d.Account, namespace, err)
	}
	d.found.Store(namespace, true)
	return true, nil
}

// CheckRights is the start-up check of impersonation: helm-service may
// impersonate the deployer accounts, may bind Role, and Role exists. Its
// error says what to install or grant.
func (d *Deployer) CheckRights(ctx context.Context) error {
	fix := "install helm-service's chart (chart/), which grants both, or set IMPERSONATE=false (trusted charts and triggers only)"
	for _, attr := range []authorizationv1.ResourceAttributes{
		{Verb: "impersonate", Resource: "serviceaccounts", Name: d.Account},
		{Verb: "bind", Group: rbacv1.GroupName, Resource: "clusterroles", Name: d.Role},
	} {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attr}}
		got, err := d.Clientset.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("check that helm-service may %s %s %s: %w", attr.Verb, attr.Resource, attr.Name, err)
		}
		if !got.Status.Allowed {
			return fmt.Errorf("helm-service may not %s %s %q, which IMPERSONATE=true needs: grant it (a ClusterRole rule: apiGroups [%q], resources [%s], verbs [%s], resourceNames [%s]); %s",
				attr.Verb, attr.Resource, attr.Name, attr.Group, attr.Resource, attr.Verb, attr.Name, fix)
		}
	}
	if _, err := d.Clientset.RbacV1().ClusterRoles().Get(ctx, d.Role, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("ClusterRole %s (DEPLOYER_ROLE), the rights of the deployer accounts tasks act as, does not exist: %s", d.Role, fix)
		}
		return fmt.Errorf("read ClusterRole %s (DEPLOYER_ROLE): %w", d.Role, err)
	}
	return nil
}

// Impersonating returns a copy of config whose requests act as the deployer
// of the namespace in their path (/api/v1/namespaces/N/... or
// /apis/G/V/namespaces/N/...). Requests that name no namespace (the
// namespaces themselves, discovery, lists across every namespace) go with
// config's own identity. Clients built on it (scaling, routing, variable
// groups, readiness diagnostics, what keeps a namespace) therefore act for
// a release as its namespace's deployer without each choosing an identity.
func (d *Deployer) Impersonating(config *rest.Config) *rest.Config {
	out := rest.CopyConfig(config)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &impersonatingTransport{next: rt, user: d.User}
	})
	return out
}

type impersonatingTransport struct {
	next http.RoundTripper
	user func(namespace string) string
}

func (t *impersonatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	namespace := namespaceOfPath(req.URL.Path)
	if namespace == "" {
		return t.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set(transport.ImpersonateUserHeader, t.user(namespace))
	return t.next.RoundTrip(req)
}

// namespaceOfPath is the namespace a request acts in: N in
// /api/v1/namespaces/N/<resource>... or /apis/G/V/namespaces/N/<resource>...;
// "" for anything else, the namespace object itself and its status and
// finalize subresources included.
func namespaceOfPath(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	default:
		return ""
	}
	if len(rest) < 3 || rest[0] != "namespaces" || rest[1] == "" {
		return ""
	}
	if len(rest) == 3 && (rest[2] == "status" || rest[2] == "finalize") {
		return ""
	}
	return rest[1]
}
