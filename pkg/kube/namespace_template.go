package kube

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"text/template"
)

// DefaultNamespaceTemplate puts every stage of a project in its own
// namespace, as Keptn did.
const DefaultNamespaceTemplate = "{{.Project}}-{{.Stage}}"

// maxNamespace is Kubernetes' limit on a namespace name (a DNS-1123 label).
const maxNamespace = 63

// namespaceHashLen is the length of the hash suffix of a shortened name.
const namespaceHashLen = 8

// NamespaceFields are what a namespace template can use.
type NamespaceFields struct {
	Project string
	Stage   string
	Service string
	// Branch is the trigger's label "branch", or empty.
	Branch string
	// Labels are the trigger's labels.
	Labels map[string]string
}

// NamespaceTemplate computes the namespace of a service in a stage. The
// zero value uses DefaultNamespaceTemplate.
type NamespaceTemplate struct {
	text string
	tmpl *template.Template
}

// ParseNamespaceTemplate parses a Go text/template over NamespaceFields. A
// label the template names but a trigger lacks is an error, not an empty
// string.
func ParseNamespaceTemplate(text string) (*NamespaceTemplate, error) {
	if strings.TrimSpace(text) == "" {
		text = DefaultNamespaceTemplate
	}
	tmpl, err := template.New("namespace").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("namespace template %q: %w", text, err)
	}
	return &NamespaceTemplate{text: text, tmpl: tmpl}, nil
}

var defaultNamespaceTemplate = template.Must(template.New("namespace").Option("missingkey=error").Parse(DefaultNamespaceTemplate))

// String returns the template's text.
func (t *NamespaceTemplate) String() string {
	if t == nil || t.tmpl == nil {
		return DefaultNamespaceTemplate
	}
	return t.text
}

// Namespace expands the template and makes the result a valid namespace
// name with SanitizeNamespace.
func (t *NamespaceTemplate) Namespace(f NamespaceFields) (string, error) {
	tmpl := defaultNamespaceTemplate
	if t != nil && t.tmpl != nil {
		tmpl = t.tmpl
	}
	if f.Labels == nil {
		f.Labels = map[string]string{}
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, f); err != nil {
		var execErr template.ExecError
		if errors.As(err, &execErr) {
			return "", fmt.Errorf("namespace template %q: %w (does the trigger carry every label it uses?)", t.String(), execErr.Err)
		}
		return "", fmt.Errorf("namespace template %q: %w", t.String(), err)
	}
	name := SanitizeNamespace(b.String())
	if name == "" {
		return "", fmt.Errorf("namespace template %q gives %q, which holds no letter or digit", t.String(), b.String())
	}
	return name, nil
}

// SanitizeNamespace makes s a valid DNS-1123 label: lower case, every
// character other than a-z, 0-9 and '-' replaced by '-', no '-' at either
// end. A name longer than 63 characters is cut and ends in '-' and a short
// hash of the whole name, so that two long names differing only at the end
// stay apart and the same input always gives the same name. It returns ""
// when nothing valid is left.
func SanitizeNamespace(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	name := strings.Trim(string(b), "-")
	if len(name) <= maxNamespace {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	head := strings.TrimRight(name[:maxNamespace-namespaceHashLen-1], "-")
	return head + "-" + hex.EncodeToString(sum[:])[:namespaceHashLen]
}
