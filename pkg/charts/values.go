package charts

// MergeValues returns base with override merged on top, without changing
// either. Maps are merged key by key, recursively; every other value in
// override, lists included, replaces the value in base.
func MergeValues(base, override map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(override))
	for k, v := range base {
		out[k] = copyValue(v)
	}
	for k, v := range override {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = MergeValues(bm, om)
				continue
			}
		}
		out[k] = copyValue(v)
	}
	return out
}

// copyValue deep-copies maps and lists so the merged result shares no
// mutable state with its inputs.
func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = copyValue(e)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = copyValue(e)
		}
		return l
	default:
		return v
	}
}
