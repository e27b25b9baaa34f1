package preview

import (
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/yaml"
)

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 3

// Diff is a unified diff of two objects as YAML (keys sorted), from live
// to applied, or "" when they are equal. name labels both sides.
func Diff(name string, live, applied map[string]any) (string, error) {
	a, err := yaml.Marshal(live)
	if err != nil {
		return "", fmt.Errorf("live %s as YAML: %w", name, err)
	}
	b, err := yaml.Marshal(applied)
	if err != nil {
		return "", fmt.Errorf("applied %s as YAML: %w", name, err)
	}
	if string(a) == string(b) {
		return "", nil
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        lines(string(a)),
		B:        lines(string(b)),
		FromFile: "live/" + name,
		ToFile:   "applied/" + name,
		Context:  diffContext,
	})
}

// lines splits s after each newline; a newline at the end ends the last
// line rather than starting an empty one.
func lines(s string) []string {
	l := strings.SplitAfter(s, "\n")
	if len(l) > 0 && l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}
