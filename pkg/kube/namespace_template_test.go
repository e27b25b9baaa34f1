package kube

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestNamespaceTemplate(t *testing.T) {
	long := strings.Repeat("p", 40)
	cases := []struct {
		name, template string
		fields         NamespaceFields
		want           string
		wantErr        string
	}{
		{"default", "", NamespaceFields{Project: "sockshop", Stage: "staging"}, "sockshop-staging", ""},
		{"nil template is the default", "-", NamespaceFields{Project: "sockshop", Stage: "prod"}, "sockshop-prod", ""},
		{"branch label", "{{.Project}}-{{.Labels.branch}}", NamespaceFields{Project: "shop", Labels: map[string]string{"branch": "Feature/JIRA-12_login"}}, "shop-feature-jira-12-login", ""},
		{"branch field", "{{.Project}}-{{.Branch}}", NamespaceFields{Project: "shop", Branch: "main"}, "shop-main", ""},
		{"service", "{{.Service}}-{{.Stage}}", NamespaceFields{Service: "carts", Stage: "dev"}, "carts-dev", ""},
		{"missing label", "{{.Project}}-{{.Labels.branch}}", NamespaceFields{Project: "shop"}, "", `map has no entry for key "branch"`},
		{"nothing valid left", "{{.Labels.x}}", NamespaceFields{Labels: map[string]string{"x": "__"}}, "", "holds no letter or digit"},
		{"too long", "", NamespaceFields{Project: long, Stage: strings.Repeat("s", 30)}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tmpl *NamespaceTemplate
			if c.template != "-" {
				var err error
				if tmpl, err = ParseNamespaceTemplate(c.template); err != nil {
					t.Fatal(err)
				}
			}
			got, err := tmpl.Namespace(c.fields)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Namespace = %q, %v; want an error containing %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.want != "" && got != c.want {
				t.Errorf("Namespace = %q, want %q", got, c.want)
			}
			if problems := validation.IsDNS1123Label(got); len(problems) > 0 {
				t.Errorf("Namespace = %q is not a valid namespace: %v", got, problems)
			}
		})
	}
}

func TestParseNamespaceTemplateRejectsBrokenTemplates(t *testing.T) {
	if _, err := ParseNamespaceTemplate("{{.Project"); err == nil {
		t.Fatal("parsed an unterminated action")
	}
}

func TestSanitizeNamespaceShortensWithStableHash(t *testing.T) {
	a := strings.Repeat("a", 70) + "-one"
	b := strings.Repeat("a", 70) + "-two"
	na, nb := SanitizeNamespace(a), SanitizeNamespace(b)
	if len(na) != maxNamespace || len(nb) != maxNamespace {
		t.Errorf("lengths %d and %d, want %d", len(na), len(nb), maxNamespace)
	}
	if na == nb {
		t.Errorf("two long names that differ at the end both became %q", na)
	}
	if again := SanitizeNamespace(a); again != na {
		t.Errorf("not stable: %q then %q", na, again)
	}
	if !strings.HasPrefix(na, strings.Repeat("a", 54)+"-") {
		t.Errorf("%q does not keep the start of the name", na)
	}
	// A cut that ends on '-' does not leave "--" before the hash.
	dashes := strings.Repeat("x", 53) + "-" + strings.Repeat("y", 20)
	if got := SanitizeNamespace(dashes); strings.Contains(got, "--") || len(validation.IsDNS1123Label(got)) > 0 {
		t.Errorf("SanitizeNamespace(%q) = %q", dashes, got)
	}
}

func FuzzSanitizeNamespace(f *testing.F) {
	for _, s := range []string{"sockshop-staging", "Feature/JIRA-12_login", "", "--", "ÄÖÜ-ß", strings.Repeat("ab-", 40), "a.b.c", " x "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SanitizeNamespace(s)
		if got == "" {
			return
		}
		if problems := validation.IsDNS1123Label(got); len(problems) > 0 {
			t.Fatalf("SanitizeNamespace(%q) = %q: %v", s, got, problems)
		}
		if again := SanitizeNamespace(got); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, got, again)
		}
	})
}
