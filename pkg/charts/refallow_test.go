package charts

import (
	"strings"
	"testing"
)

func TestRefAllowlist(t *testing.T) {
	allow, err := ParseRefAllowlist([]string{"registry.example.com/shared/*", "127.0.0.1:5000/*/charts/*"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref, version string
		want         string // "" means allowed
	}{
		{"oci://registry.example.com/shared/web:1.0.0", "", ""},
		{"oci://registry.example.com/shared/web", "1.0.0", ""},
		{"oci://registry.example.com/shared/web@sha256:" + strings.Repeat("a", 64), "", ""},
		{"oci://127.0.0.1:5000/team/charts/web:1.0.0", "", ""},
		{"oci://registry.example.com/shared/web", "", "must pin the chart's version"},
		{"oci://registry.example.com/shared/deeper/web:1", "", "not allowed by CHART_REF_ALLOWED"},
		{"oci://registry.example.com/private/web:1", "", "not allowed by CHART_REF_ALLOWED"},
		{"oci://evil.example.com/shared/web:1", "", "not allowed by CHART_REF_ALLOWED"},
		{"oci://registry.example.com.evil.example.com/shared/web:1", "", "not allowed by CHART_REF_ALLOWED"},
	} {
		err := allow.Check(c.ref, c.version)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Check(%s, %q) = %v, want allowed", c.ref, c.version, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Check(%s, %q) = %v, want an error saying %q", c.ref, c.version, err, c.want)
		}
	}
}

func TestRefAllowlistEmptyRefusesEveryRef(t *testing.T) {
	var none RefAllowlist
	err := none.Check("oci://registry.example.com/shared/web:1.0.0", "")
	if err == nil || !strings.Contains(err.Error(), "CHART_REF_ALLOWED") || !strings.Contains(err.Error(), "off") {
		t.Fatalf("Check with no allow-list = %v, want refused, naming CHART_REF_ALLOWED", err)
	}
}

func TestParseRefAllowlistRefusesBadPatterns(t *testing.T) {
	for _, p := range []string{"registry.example.com/[", "oci://registry.example.com/*", "/shared/*", ""} {
		if _, err := ParseRefAllowlist([]string{p}); err == nil || !strings.Contains(err.Error(), "CHART_REF_ALLOWED") {
			t.Errorf("ParseRefAllowlist(%q) = %v, want an error naming CHART_REF_ALLOWED", p, err)
		}
	}
}
