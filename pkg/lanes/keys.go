package lanes

import (
	"cmp"
	"slices"
	"strings"
)

// Keys are the release keys of releases of a namespace:
// "<namespace>/<name>", each once, in KeyOrder.
func Keys(namespace string, names []string) []string {
	keys := make([]string, 0, len(names))
	for _, n := range names {
		keys = append(keys, namespace+"/"+n)
	}
	return SortedKeys(keys)
}

// SortedKeys sorts release keys in KeyOrder and drops repeats.
func SortedKeys(keys []string) []string {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, KeyOrder)
	return slices.Compact(keys)
}

// KeyOrder is the one order in which every task takes the releases it
// touches, so that no two tasks each hold one the other waits for: by
// namespace, then by release name (the order of service removal, which
// takes them namespace by namespace).
func KeyOrder(a, b string) int {
	nsA, nameA, _ := strings.Cut(a, "/")
	nsB, nameB, _ := strings.Cut(b, "/")
	return cmp.Or(cmp.Compare(nsA, nsB), cmp.Compare(nameA, nameB))
}

// Describe names release keys in a message.
func Describe(keys []string) string {
	if len(keys) == 1 {
		return "release " + keys[0]
	}
	return "releases " + strings.Join(keys, ", ")
}
