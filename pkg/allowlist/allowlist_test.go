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

func TestOptIn(t *testing.T) {
	for _, c := range []struct {
		text  string
		names map[string]bool
	}{
		{"", map[string]bool{"sock-shop-production": false, "": false}},
		{"sock-shop-*", map[string]bool{"sock-shop-production": true, "sock-production": false}},
		{"*/carts, !legacy-*/*", map[string]bool{"shop-prod/carts": true, "legacy-prod/carts": false, "shop-prod/orders": false}},
	} {
		l, err := ParseOptIn("ADOPT_RELEASES", c.text)
		if err != nil {
			t.Fatalf("ParseOptIn(%q): %v", c.text, err)
		}
		for name, want := range c.names {
			if got := l.Matches(name); got != want {
				t.Errorf("%q: Matches(%q) = %v, want %v", c.text, name, got, want)
			}
		}
	}
	if _, err := ParseOptIn("ADOPT_NAMESPACES", "[a-"); err == nil || !strings.Contains(err.Error(), "ADOPT_NAMESPACES") {
		t.Errorf("bad pattern: %v, want an error naming ADOPT_NAMESPACES", err)
	}
}
