// Package vargroups keeps variable groups: sets of environment variables
// stored as Kubernetes Secrets in a service's namespace. The global group
// is given to every service of the namespace, a service group to one
// service; a service's pods read both through envFrom.
package vargroups

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/helm-service/helm-service/pkg/kube"
)

// Labels of the Secrets holding variable groups.
const (
	// LabelGroup is global or service.
	LabelGroup = kube.LabelVariableGroup
	// GroupGlobal and GroupService are the values of LabelGroup.
	GroupGlobal  = "global"
	GroupService = "service"
	// AnnotationChecksum, on a pod template, is the checksum of the
	// variable groups its pods were started with (see Checksum).
	AnnotationChecksum = "keptn.sh/variables-checksum"
	// GlobalSecret is the name of the global group's Secret.
	GlobalSecret = "helm-service-vars"
)

// ServiceSecret is the name of a service group's Secret.
func ServiceSecret(service string) string { return GlobalSecret + "-" + service }

// Changes are the variables a trigger sets (non-nil value) or deletes (nil).
type Changes map[string]*string

// envName is what a shell accepts as a variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Parse reads the variables of a trigger's field (such as
// deployment.variables): every name a valid environment variable name and
// every value a JSON string, or null to delete the variable. Errors name
// the field and the variable, never the value.
func Parse(field string, raw map[string]json.RawMessage) (Changes, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(Changes, len(raw))
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		if !envName.MatchString(name) {
			return nil, fmt.Errorf("field %s: %q is not a valid variable name: use letters, digits and _, not starting with a digit", field, name)
		}
		if errs := validation.IsConfigMapKey(name); len(errs) > 0 {
			return nil, fmt.Errorf("field %s: %q is not a valid variable name: %s", field, name, errs[0])
		}
		v := bytes.TrimSpace(raw[name])
		if bytes.Equal(v, []byte("null")) {
			out[name] = nil
			continue
		}
		if len(v) == 0 || v[0] != '"' {
			return nil, fmt.Errorf("field %s.%s: got a JSON %s, want a string (or null to delete the variable)", field, name, jsonKind(v))
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("field %s.%s: not a valid JSON string", field, name)
		}
		out[name] = &s
	}
	return out, nil
}

// jsonKind names the kind of a JSON value, as encoding/json does.
func jsonKind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// Groups are the data of a service's two variable groups; nil when a
// group's Secret does not exist.
type Groups struct {
	Global  map[string][]byte
	Service map[string][]byte
}

// Checksum is a sha256 over both groups' data in sorted order, or "" when
// neither group holds a variable. It changes when and only when a name or
// a value of either group does.
func (g Groups) Checksum() string {
	if len(g.Global) == 0 && len(g.Service) == 0 {
		return ""
	}
	h := sha256.New()
	for _, group := range []struct {
		name string
		data map[string][]byte
	}{{GroupGlobal, g.Global}, {GroupService, g.Service}} {
		fmt.Fprintf(h, "%s %d\n", group.name, len(group.data))
		for _, k := range slices.Sorted(maps.Keys(group.data)) {
			fmt.Fprintf(h, "%d:%s=%d:", len(k), k, len(group.data[k]))
			h.Write(group.data[k])
			h.Write([]byte{'\n'})
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Store reads and writes variable groups in the cluster.
type Store struct {
	Clientset kubernetes.Interface
}

// Apply writes changes to the global and the service group of service in
// namespace, creating their Secrets as needed, and returns the names of
// the variables whose value changed, sorted, prefixed by their group
// ("global.KEY" or "service.KEY"), and the groups as they are afterwards.
func (s Store) Apply(ctx context.Context, namespace, service string, global, svc Changes) ([]string, Groups, error) {
	var changed []string
	g, c, err := s.apply(ctx, namespace, GlobalSecret, labelsOf(GroupGlobal, ""), global)
	if err != nil {
		return nil, Groups{}, err
	}
	for _, k := range c {
		changed = append(changed, GroupGlobal+"."+k)
	}
	sg, c, err := s.apply(ctx, namespace, ServiceSecret(service), labelsOf(GroupService, service), svc)
	if err != nil {
		return nil, Groups{}, err
	}
	for _, k := range c {
		changed = append(changed, GroupService+"."+k)
	}
	return changed, Groups{Global: g, Service: sg}, nil
}

// Read returns the groups of service in namespace.
func (s Store) Read(ctx context.Context, namespace, service string) (Groups, error) {
	g, err := s.data(ctx, namespace, GlobalSecret)
	if err != nil {
		return Groups{}, err
	}
	sg, err := s.data(ctx, namespace, ServiceSecret(service))
	if err != nil {
		return Groups{}, err
	}
	return Groups{Global: g, Service: sg}, nil
}

func (s Store) data(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	sec, err := s.Clientset.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read variable group %s/%s: %w", namespace, name, err)
	}
	return sec.Data, nil
}

func labelsOf(group, service string) map[string]string {
	l := map[string]string{kube.LabelManagedBy: kube.ManagedByValue, LabelGroup: group}
	if service != "" {
		l[kube.LabelService] = service
	}
	return l
}

// apply merges changes into the Secret name and returns its data and the
// names of the variables that changed.
func (s Store) apply(ctx context.Context, namespace, name string, labels map[string]string, changes Changes) (map[string][]byte, []string, error) {
	if len(changes) == 0 {
		data, err := s.data(ctx, namespace, name)
		return data, nil, err
	}
	secrets := s.Clientset.CoreV1().Secrets(namespace)
	var data map[string][]byte
	var changed []string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sec, err := secrets.Get(ctx, name, metav1.GetOptions{})
		exists := err == nil
		switch {
		case apierrors.IsNotFound(err):
			sec = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
				Type:       corev1.SecretTypeOpaque,
			}
		case err != nil:
			return err
		}
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		changed = merge(sec.Data, changes)
		data = sec.Data
		if len(changed) == 0 {
			return nil
		}
		if !exists {
			_, err = secrets.Create(ctx, sec, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("secrets"), name, err)
			}
			return err
		}
		_, err = secrets.Update(ctx, sec, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("write variable group %s/%s: %w", namespace, name, err)
	}
	return data, changed, nil
}

// merge applies changes to data and returns the names of the variables
// that changed, sorted.
func merge(data map[string][]byte, changes Changes) []string {
	var changed []string
	for _, k := range slices.Sorted(maps.Keys(changes)) {
		old, had := data[k]
		v := changes[k]
		switch {
		case v == nil && had:
			delete(data, k)
		case v != nil && (!had || string(old) != *v):
			data[k] = []byte(*v)
		default:
			continue
		}
		changed = append(changed, k)
	}
	return changed
}

// Preview returns what Apply would return for the same changes, writing
// nothing: the names of the variables that would change and the groups as
// they would be.
func (s Store) Preview(ctx context.Context, namespace, service string, global, svc Changes) ([]string, Groups, error) {
	g, err := s.Read(ctx, namespace, service)
	if err != nil {
		return nil, Groups{}, err
	}
	var changed []string
	for _, group := range []struct {
		name    string
		data    *map[string][]byte
		changes Changes
	}{{GroupGlobal, &g.Global, global}, {GroupService, &g.Service, svc}} {
		if len(group.changes) == 0 {
			continue
		}
		data := maps.Clone(*group.data)
		if data == nil {
			data = map[string][]byte{}
		}
		for _, k := range merge(data, group.changes) {
			changed = append(changed, group.name+"."+k)
		}
		*group.data = data
	}
	return changed, g, nil
}
