// Package preview tells what a deployment would change: it compares the
// objects a release would apply, as the API server's dry run returns them,
// with the live objects, and reports each created, changed or deleted
// object, with a unified diff of the changed ones. Both sides are
// normalized (fields the server sets are dropped) and Secret values are
// redacted before they are compared. Cut keeps a preview within a size.
package preview

import "strings"

// serverSetMetadata are metadata fields the API server sets on its own;
// they differ between a live object and its dry run without a change of
// what was asked for.
var serverSetMetadata = []string{
	"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
}

// serverSetAnnotations are annotations controllers and clients keep on
// objects. last-applied-configuration holds a whole earlier object
// (Secret values too).
var serverSetAnnotations = []string{
	"deployment.kubernetes.io/revision",
	"kubectl.kubernetes.io/last-applied-configuration",
}

// Normalize returns a copy of obj without the fields the API server sets:
// status, and in metadata managedFields, resourceVersion, uid, generation,
// creationTimestamp and the like, and annotations controllers keep.
func Normalize(obj map[string]any) map[string]any {
	out := deepCopy(obj)
	delete(out, "status")
	meta, ok := out["metadata"].(map[string]any)
	if !ok {
		return out
	}
	for _, k := range serverSetMetadata {
		delete(meta, k)
	}
	if ann, ok := meta["annotations"].(map[string]any); ok {
		for _, k := range serverSetAnnotations {
			delete(ann, k)
		}
		if len(ann) == 0 {
			delete(meta, "annotations")
		}
	}
	return out
}

// Redacted replaces the values of a Secret's data and stringData.
const (
	Redacted        = "(redacted)"
	RedactedChanged = "(redacted, changed)"
)

// RedactSecrets replaces the values under data and stringData of live and
// applied when they are Secrets (of the core group): keys stay, values
// become Redacted, or RedactedChanged on the applied side where it differs
// from the live one. Either may be nil. It changes the maps in place.
func RedactSecrets(live, applied map[string]any) {
	liveValues := map[string]any{}
	if isSecret(live) {
		for _, field := range []string{"data", "stringData"} {
			if m, ok := live[field].(map[string]any); ok {
				for k, v := range m {
					liveValues[field+"/"+k] = v
					m[k] = Redacted
				}
			}
		}
	}
	if !isSecret(applied) {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		m, ok := applied[field].(map[string]any)
		if !ok {
			continue
		}
		for k, v := range m {
			before, had := liveValues[field+"/"+k]
			m[k] = Redacted
			if had && before != v {
				m[k] = RedactedChanged
			}
		}
	}
}

// isSecret reports whether obj is a core Secret.
func isSecret(obj map[string]any) bool {
	if obj == nil {
		return false
	}
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	return kind == "Secret" && !strings.Contains(apiVersion, "/")
}

// deepCopy copies the maps and slices of a decoded JSON object.
func deepCopy(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopy(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopyValue(e)
		}
		return out
	default:
		return v
	}
}
