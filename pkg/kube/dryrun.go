package kube

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the field manager of helm-service's server-side applies.
const FieldManager = "helm-service"

// DryRun reads objects and applies them server-side with dryRun=All: the
// API server runs admission and validation (strict: a field no schema
// knows is an error) and writes nothing. It is the cluster of a preview.
type DryRun struct {
	Dynamic dynamic.Interface
	Mapper  meta.ResettableRESTMapper
}

// NewDryRun returns a DryRun for the cluster restConfig points at; kinds
// are mapped to resources through discovery, cached.
func NewDryRun(restConfig *rest.Config) (*DryRun, error) {
	dyn, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("dynamic client for cluster %s: %w", restConfig.Host, err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("discovery client for cluster %s: %w", restConfig.Host, err)
	}
	return &DryRun{Dynamic: dyn, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// Live returns the object as it is in the cluster, or nil when there is
// none.
func (d *DryRun) Live(ctx context.Context, obj *unstructured.Unstructured, namespace string) (*unstructured.Unstructured, error) {
	ri, obj, err := d.resource(obj, namespace)
	if err != nil {
		return nil, err
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return live, err
}

// DryRunApply returns obj as the API server would store it after a
// server-side apply by FieldManager, taking over fields other managers
// own, as a deployment does. An object in a namespace that does not
// exist yet comes back as it is: the server cannot dry-run it.
func (d *DryRun) DryRunApply(ctx context.Context, obj *unstructured.Unstructured, namespace string) (*unstructured.Unstructured, error) {
	ri, obj, err := d.resource(obj, namespace)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	force := true
	applied, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
		FieldManager:    FieldManager,
		Force:           &force,
		DryRun:          []string{metav1.DryRunAll},
		FieldValidation: metav1.FieldValidationStrict,
	})
	if apierrors.IsNotFound(err) && obj.GetNamespace() != "" && d.namespaceMissing(ctx, obj.GetNamespace()) {
		return obj, nil
	}
	return applied, err
}

// namespaceMissing reports whether namespace is known not to exist.
func (d *DryRun) namespaceMissing(ctx context.Context, namespace string) bool {
	_, err := d.Dynamic.Resource(namespacesResource).Get(ctx, namespace, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

// resource is the client of obj's resource, and a copy of obj in
// namespace when its kind is namespaced and it names none.
func (d *DryRun) resource(obj *unstructured.Unstructured, namespace string) (dynamic.ResourceInterface, *unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := d.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// A kind installed since the mapping was read (a CRD).
		d.Mapper.Reset()
		mapping, err = d.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("kind %s of %s is not served by the API server: %w", gvk, obj.GetName(), err)
	}
	obj = obj.DeepCopy()
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		obj.SetNamespace("")
		return d.Dynamic.Resource(mapping.Resource), obj, nil
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(namespace)
	}
	return d.Dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace()), obj, nil
}

var namespacesResource = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
