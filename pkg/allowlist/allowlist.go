// Package allowlist decides which namespaces helm-service may deploy to,
// and which namespaces and releases it may adopt.
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
	l, err := parse("ALLOWED_NAMESPACES", text)
	if err != nil {
		return List{}, err
	}
	if len(l.include) == 0 {
		return List{}, fmt.Errorf("ALLOWED_NAMESPACES %q allows no namespace: give at least one pattern without \"!\"", text)
	}
	return l, nil
}

// parse reads the comma-separated patterns of setting.
func parse(setting, text string) (List, error) {
	l := List{text: text}
	for _, p := range strings.Split(text, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		exclude := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if _, err := path.Match(p, ""); err != nil {
			return List{}, fmt.Errorf("%s: pattern %q: %w", setting, p, err)
		}
		if exclude {
			l.exclude = append(l.exclude, p)
		} else {
			l.include = append(l.include, p)
		}
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

// Matches says whether name matches an including pattern and no excluding
// one.
func (l List) Matches(name string) bool {
	for _, p := range l.exclude {
		if ok, _ := path.Match(p, name); ok {
			return false
		}
	}
	for _, p := range l.include {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// Text is the list as it was parsed.
func (l List) Text() string { return l.text }

// ParseOptIn reads the patterns of an opt-in setting such as
// ADOPT_NAMESPACES, naming setting in its errors. Unlike Parse it takes an
// empty list, which matches nothing.
func ParseOptIn(setting, text string) (List, error) {
	return parse(setting, text)
}
