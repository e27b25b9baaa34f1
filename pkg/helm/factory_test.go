package helm

import (
	"errors"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/kube"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// countingFactory counts the clientsets asked of Helm's factory.
type countingFactory struct {
	kube.Factory
	built int
	err   error
}

func (f *countingFactory) KubernetesClientSet() (*kubernetes.Clientset, error) {
	f.built++
	if f.err != nil {
		return nil, f.err
	}
	return f.Factory.KubernetesClientSet()
}

func TestActionFactoryBuildsOneClientset(t *testing.T) {
	getter := newRESTClientGetter(&rest.Config{Host: "https://127.0.0.1:1"}, "shop-dev", "", nil)
	inner := &countingFactory{Factory: kubeFactory(getter)}
	f := newActionFactory(inner, newSharedValidator(getter, time.Minute, time.Now))
	first, err := f.KubernetesClientSet()
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.KubernetesClientSet()
	if err != nil {
		t.Fatal(err)
	}
	if first == nil || again != first || inner.built != 1 {
		t.Fatalf("two calls built %d clientsets (same: %v), want one", inner.built, again == first)
	}

	broken := &countingFactory{Factory: kubeFactory(getter), err: errors.New("no config")}
	f = newActionFactory(broken, nil)
	for range 2 {
		if _, err := f.KubernetesClientSet(); !errors.Is(err, broken.err) {
			t.Fatalf("error %v, want the factory's", err)
		}
	}
	if broken.built != 1 {
		t.Fatalf("a failed build was tried %d times in one action, want 1", broken.built)
	}
}
