package preview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/helm-service/helm-service/pkg/events"
)

// Cluster is the API server as a preview sees it. Both methods put an
// object without a namespace into namespace when its kind is namespaced.
type Cluster interface {
	// Live returns the object as it is in the cluster, or nil when there
	// is none.
	Live(ctx context.Context, obj *unstructured.Unstructured, namespace string) (*unstructured.Unstructured, error)
	// DryRunApply returns obj as the API server would store it after a
	// server-side apply, with dryRun=All: admission and validation run,
	// nothing is written.
	DryRunApply(ctx context.Context, obj *unstructured.Unstructured, namespace string) (*unstructured.Unstructured, error)
}

// Compare previews what applying the manifest rendered, in place of the
// manifest current (the release's newest record; "" for none), would do in
// namespace: each rendered object is dry-run applied and compared with the
// live one; objects of current that rendered lacks and that exist would be
// deleted. The error names every object the server refused and why.
func Compare(ctx context.Context, cluster Cluster, namespace, current, rendered string) (events.Preview, error) {
	out := events.Preview{Objects: []events.PreviewObject{}}
	want, err := Objects(rendered)
	if err != nil {
		return out, fmt.Errorf("read the rendered manifest: %w", err)
	}
	had, err := Objects(current)
	if err != nil {
		return out, fmt.Errorf("read the manifest of the release's newest record: %w", err)
	}
	var refused []error
	rendering := map[string]bool{}
	for _, obj := range want {
		rendering[keyOf(obj, namespace)] = true
		o, err := compareOne(ctx, cluster, obj, namespace)
		switch {
		case err != nil:
			refused = append(refused, err)
		case o == nil:
			out.Unchanged++
		default:
			out.Objects = append(out.Objects, *o)
		}
	}
	if len(refused) > 0 {
		return out, errors.Join(refused...)
	}
	for _, obj := range had {
		if rendering[keyOf(obj, namespace)] {
			continue
		}
		live, err := cluster.Live(ctx, obj, namespace)
		if err != nil {
			return out, fmt.Errorf("read %s: %w", describe(obj, namespace), err)
		}
		if live != nil {
			out.Objects = append(out.Objects, events.PreviewObject{Change: events.PreviewDeleted, Kind: live.GetKind(), Namespace: live.GetNamespace(), Name: live.GetName()})
		}
	}
	return out, nil
}

// compareOne dry-run applies obj and compares it with the live object: nil
// when nothing would change.
func compareOne(ctx context.Context, cluster Cluster, obj *unstructured.Unstructured, namespace string) (*events.PreviewObject, error) {
	live, err := cluster.Live(ctx, obj, namespace)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", describe(obj, namespace), err)
	}
	applied, err := cluster.DryRunApply(ctx, obj, namespace)
	if err != nil {
		return nil, fmt.Errorf("server-side dry run of %s: %w", describe(obj, namespace), err)
	}
	o := &events.PreviewObject{Kind: applied.GetKind(), Namespace: applied.GetNamespace(), Name: applied.GetName()}
	if live == nil {
		o.Change = events.PreviewCreated
		return o, nil
	}
	before, after := Normalize(live.Object), Normalize(applied.Object)
	RedactSecrets(before, after)
	name := o.Kind + "/" + o.Name
	if o.Namespace != "" {
		name = o.Kind + "/" + o.Namespace + "/" + o.Name
	}
	diff, err := Diff(name, before, after)
	if err != nil || diff == "" {
		return nil, err
	}
	o.Change, o.Diff = events.PreviewChanged, diff
	return o, nil
}

// Objects reads the objects of a multi-document YAML manifest, skipping
// empty documents.
func Objects(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(doc) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: doc}
		if obj.GetKind() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("an object without kind or metadata.name: %s", obj.GetKind()+obj.GetName())
		}
		out = append(out, obj)
	}
}

// keyOf identifies an object of a manifest: its API group, kind, namespace
// (namespace when it names none) and name.
func keyOf(obj *unstructured.Unstructured, namespace string) string {
	ns := obj.GetNamespace()
	if ns == "" {
		ns = namespace
	}
	return obj.GroupVersionKind().Group + "/" + obj.GetKind() + "/" + ns + "/" + obj.GetName()
}

// describe names an object for an error: "Deployment ns/name".
func describe(obj *unstructured.Unstructured, namespace string) string {
	ns := obj.GetNamespace()
	if ns == "" {
		ns = namespace
	}
	return obj.GetKind() + " " + ns + "/" + obj.GetName()
}
