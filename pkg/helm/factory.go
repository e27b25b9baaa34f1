package helm

import (
	"sync"

	"helm.sh/helm/v3/pkg/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/validation"
)

// actionFactory is Helm's factory for one action, with the strict schema
// taken from a sharedValidator and one typed clientset for all of the
// action's uses.
//
// kubectl's factory builds a new clientset, a client for each of the
// cluster's built-in API groups, every time it is asked, and an action
// asks at least twice (Helm's reachability check, then the wait): that was
// about 8 % of helm-service's CPU time during installs. The action's
// clients all share one configuration, so one clientset serves them all.
type actionFactory struct {
	kube.Factory
	shared *sharedValidator

	clientsetOnce sync.Once
	clientset     *kubernetes.Clientset
	clientsetErr  error
}

// newActionFactory returns f with the strict schema of shared and its
// clientset built once.
func newActionFactory(f kube.Factory, shared *sharedValidator) *actionFactory {
	return &actionFactory{Factory: f, shared: shared}
}

// Validator implements kube.Factory.
func (f *actionFactory) Validator(directive string) (validation.Schema, error) {
	if directive == metav1.FieldValidationStrict {
		return f.shared.strict()
	}
	return f.Factory.Validator(directive)
}

// KubernetesClientSet implements kube.Factory: the first call builds the
// clientset, later ones return it (or the first call's error).
func (f *actionFactory) KubernetesClientSet() (*kubernetes.Clientset, error) {
	f.clientsetOnce.Do(func() {
		f.clientset, f.clientsetErr = f.Factory.KubernetesClientSet()
	})
	return f.clientset, f.clientsetErr
}
