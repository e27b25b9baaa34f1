package charts

import (
	"fmt"
	"path"
	"strings"
)

// RefAllowlist says which charts a trigger may name in deployment.chart.ref:
// globs over <registry host>/<repository>, as path.Match reads them (a *
// stands for part of one path segment, never a /). The zero value allows
// none: a trigger names no chart until the operator says where from.
type RefAllowlist struct {
	patterns []string
}

// ParseRefAllowlist reads CHART_REF_ALLOWED.
func ParseRefAllowlist(patterns []string) (RefAllowlist, error) {
	var a RefAllowlist
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		host, repo, ok := strings.Cut(p, "/")
		switch {
		case p == "":
			return RefAllowlist{}, fmt.Errorf("CHART_REF_ALLOWED holds an empty pattern: list <registry host>/<repository> globs, comma-separated, e.g. registry.example.com/shared/*")
		case strings.Contains(p, "://"):
			return RefAllowlist{}, fmt.Errorf("CHART_REF_ALLOWED pattern %q: leave out the scheme, e.g. registry.example.com/shared/*", p)
		case !ok || host == "" || repo == "":
			return RefAllowlist{}, fmt.Errorf("CHART_REF_ALLOWED pattern %q: want <registry host>/<repository>, e.g. registry.example.com/shared/*", p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return RefAllowlist{}, fmt.Errorf("CHART_REF_ALLOWED pattern %q: %w", p, err)
		}
		a.patterns = append(a.patterns, p)
	}
	return a, nil
}

// Check refuses a chart reference (oci://host/repository[:tag|@digest])
// that no pattern allows, or that pins no version: neither in the
// reference nor in version (deployment.chart.version). It only reads the
// reference: a refused one costs no request to any registry.
func (a RefAllowlist) Check(raw, version string) error {
	if len(a.patterns) == 0 {
		return fmt.Errorf("deployment.chart.ref: charts named in a trigger are off; the operator allows them by registry and repository with CHART_REF_ALLOWED (e.g. registry.example.com/shared/*)")
	}
	ref, err := ParseOCIReference(raw)
	if err != nil {
		return fmt.Errorf("deployment.chart.ref: %w", err)
	}
	name := ref.Registry + "/" + ref.Repository
	allowed := false
	for _, p := range a.patterns {
		if ok, _ := path.Match(p, name); ok {
			allowed = true
			break
		}
	}
	if !allowed {
		return fmt.Errorf("deployment.chart.ref: %s is not allowed by CHART_REF_ALLOWED (%s)", name, strings.Join(a.patterns, ", "))
	}
	if ref.Reference == "" && version == "" {
		return fmt.Errorf("deployment.chart.ref: %s must pin the chart's version: add :<version> or @sha256:<digest> to the reference, or set deployment.chart.version", name)
	}
	return nil
}
