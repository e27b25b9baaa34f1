// Package allowlist decides which namespaces helm-service may deploy to.
package allowlist

import (
	"fmt"
	"path"
	"strings"
)

// List is an ordered list of glob patterns (path.Match syntax); a pattern
// starting with "!" excludes. A name is allowed when it matches an including
// pattern and no excluding one.
type List struct {
	include, exclude []string
	text             string
}

// Parse reads a comma-separated list of patterns, e.g. "*,!kube-*,!default".
func Parse(text string) (List, error) {
	l := List{text: text}
	for _, p := range strings.Split(text, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		exclude := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if _, err := path.Match(p, ""); err != nil {
			return List{}, fmt.Errorf("ALLOWED_NAMESPACES: pattern %q: %w", p, err)
		}
		if exclude {
			l.exclude = append(l.exclude, p)
		} else {
			l.include = append(l.include, p)
		}
	}
	if len(l.include) == 0 {
		return List{}, fmt.Errorf("ALLOWED_NAMESPACES %q allows no namespace: give at least one pattern without \"!\"", text)
	}
	return l, nil
}

// Default allows every namespace but Kubernetes' own (kube-*), default and
// own (helm-service's namespace, when known).
func Default(own string) string {
	d := "*,!kube-*,!default"
	if own != "" {
		d += ",!" + own
	}
	return d
}

// Allow returns nil when namespace is allowed, else an error saying why not.
func (l List) Allow(namespace string) error {
	for _, p := range l.exclude {
		if ok, _ := path.Match(p, namespace); ok {
			return fmt.Errorf("namespace %q is not allowed: it matches %q in ALLOWED_NAMESPACES (%s)", namespace, "!"+p, l.text)
		}
	}
	for _, p := range l.include {
		if ok, _ := path.Match(p, namespace); ok {
			return nil
		}
	}
	return fmt.Errorf("namespace %q is not allowed: it matches no pattern of ALLOWED_NAMESPACES (%s)", namespace, l.text)
}
