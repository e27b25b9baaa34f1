package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/helm-service/helm-service/pkg/kube"
)

// cluster is the benchmark's own client of the cluster: the floor's
// applies, the CRDs and Flux's objects. Its rate limit is high so that the
// benchmark never waits on itself.
type cluster struct {
	config  *rest.Config
	clients kubernetes.Interface
	dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
}

func newCluster(kubeconfig string) (*cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	// Typed clients speak protobuf, as helm-service's do, so the floor's
	// watch and records cost the cluster no more than helm-service's.
	cs, err := kubernetes.NewForConfig(kube.Protobuf(cfg))
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &cluster{config: cfg, clients: cs, dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}, nil
}

// decodeObjects reads the objects of a multi-document YAML or JSON stream,
// skipping empty documents.
func decodeObjects(manifest []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decode manifest: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("decode manifest: an object without kind or name: %.200v", obj)
		}
		out = append(out, u)
	}
}

// apply applies obj with server-side apply as fieldManager, into namespace
// when its kind is namespaced, and returns what the API server made of it.
func (c *cluster) apply(ctx context.Context, obj *unstructured.Unstructured, namespace, fieldManager string) (*unstructured.Unstructured, error) {
	res, obj, err := c.resourceOf(obj, namespace)
	if err != nil {
		return nil, fmt.Errorf("apply %w", err)
	}
	applied, err := res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	if err != nil {
		return nil, fmt.Errorf("apply %s %s/%s: %w", obj.GetKind(), namespace, obj.GetName(), err)
	}
	return applied, nil
}

// get reads the live object obj names, in namespace when its kind is
// namespaced.
func (c *cluster) get(ctx context.Context, obj *unstructured.Unstructured, namespace string) (*unstructured.Unstructured, error) {
	res, obj, err := c.resourceOf(obj, namespace)
	if err != nil {
		return nil, fmt.Errorf("get %w", err)
	}
	live, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", obj.GetKind(), namespace, obj.GetName(), err)
	}
	return live, nil
}

// resourceOf returns the client of obj's kind, in namespace when the kind
// is namespaced, and obj as it is sent there.
func (c *cluster) resourceOf(obj *unstructured.Unstructured, namespace string) (dynamic.ResourceInterface, *unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// A kind the cached discovery does not know yet (a CRD just made).
		c.mapper.Reset()
		mapping, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return c.dynamic.Resource(mapping.Resource), obj, nil
	}
	obj = obj.DeepCopy()
	obj.SetNamespace(namespace)
	return c.dynamic.Resource(mapping.Resource).Namespace(namespace), obj, nil
}
