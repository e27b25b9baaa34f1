package allowlist

import (
	"strings"
	"testing"
)

func TestDefaultList(t *testing.T) {
	l, err := Parse(Default("keptn"))
	if err != nil {
		t.Fatal(err)
	}
	for ns, allowed := range map[string]bool{
		"sockshop-staging": true,
		"kube-system":      false,
		"kube-public":      false,
		"default":          false,
		"keptn":            false,
		"keptn-dev":        true,
		"defaults":         true,
	} {
		err := l.Allow(ns)
		if (err == nil) != allowed {
			t.Errorf("Allow(%q) = %v, want allowed=%v", ns, err, allowed)
		}
		if err != nil && !strings.Contains(err.Error(), "ALLOWED_NAMESPACES") {
			t.Errorf("error %q does not name the setting", err)
		}
	}
}

func TestIncludeOnly(t *testing.T) {
	l, err := Parse("sockshop-*, podtato-*")
	if err != nil {
		t.Fatal(err)
	}
	if l.Allow("sockshop-prod") != nil || l.Allow("podtato-dev") != nil {
		t.Error("listed namespaces refused")
	}
	if err := l.Allow("other-prod"); err == nil || !strings.Contains(err.Error(), "matches no pattern") {
		t.Errorf("unlisted namespace: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"", "!kube-*", "[a-"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
