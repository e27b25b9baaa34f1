package config

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/helm-service/helm-service/pkg/allowlist"
	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// The types below are settings parsed as they are read (envconfig calls
// their Decode with the variable's text): checking a setting and using it
// read the same parsed value. Their errors name their variable.

// LogLevel is LOG_LEVEL, parsed. It is a slog.Leveler.
type LogLevel slog.Level

// Decode reads debug, info, warn or error, in any case.
func (l *LogLevel) Decode(text string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(text))); err != nil {
		return fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", text)
	}
	*l = LogLevel(level)
	return nil
}

// Level is the slog level.
func (l LogLevel) Level() slog.Level { return slog.Level(l) }

// ChartRefs is CHART_REF_ALLOWED, parsed: the <registry host>/<repository>
// globs a trigger's deployment.chart.ref may name. The zero value allows
// none.
type ChartRefs struct{ charts.RefAllowlist }

// Decode reads comma-separated globs.
func (r *ChartRefs) Decode(text string) error {
	a, err := charts.ParseRefAllowlist(list(text))
	if err != nil {
		return err
	}
	r.RefAllowlist = a
	return nil
}

// NamespaceLabels is NAMESPACE_LABELS, parsed: the labels put on every
// namespace helm-service creates.
type NamespaceLabels map[string]string

// Decode reads comma-separated key=value pairs.
func (l *NamespaceLabels) Decode(text string) error {
	labels, err := kube.ParseNamespaceLabels(list(text))
	if err != nil {
		return fmt.Errorf("%w: list key=value labels, comma-separated, e.g. pod-security.kubernetes.io/enforce=baseline", err)
	}
	*l = labels
	return nil
}

// NamespaceTemplate is NAMESPACE_TEMPLATE, parsed. The zero value is
// kube.DefaultNamespaceTemplate.
type NamespaceTemplate struct{ *kube.NamespaceTemplate }

// Decode parses a Go text/template; empty is the default template.
func (t *NamespaceTemplate) Decode(text string) error {
	tmpl, err := kube.ParseNamespaceTemplate(text)
	if err != nil {
		return fmt.Errorf("NAMESPACE_TEMPLATE: %w: write a Go template over .Project, .Stage, .Service, .Branch and .Labels, e.g. %s", err, kube.DefaultNamespaceTemplate)
	}
	t.NamespaceTemplate = tmpl
	return nil
}

// ClusterKinds is ALLOWED_CLUSTER_KINDS, parsed: the cluster-scoped kinds
// a release may hold. The zero value allows none.
type ClusterKinds struct{ helm.ClusterKinds }

// Decode reads comma-separated kinds, each Kind.group (a core kind alone).
func (k *ClusterKinds) Decode(text string) error {
	kinds, err := helm.ParseClusterKinds(list(text))
	if err != nil {
		return err
	}
	k.ClusterKinds = kinds
	return nil
}

// AllowedNamespaces is ALLOWED_NAMESPACES, parsed: the namespaces tasks
// may deploy to. Text is what it was parsed from.
type AllowedNamespaces struct {
	allowlist.List
	Text string
}

// Decode reads comma-separated globs, "!" excluding; empty leaves the
// setting to Load, which defaults it to allowlist.Default of the own
// namespace.
func (a *AllowedNamespaces) Decode(text string) error {
	if text == "" {
		*a = AllowedNamespaces{}
		return nil
	}
	l, err := allowlist.Parse(text)
	if err != nil {
		return err
	}
	*a = AllowedNamespaces{List: l, Text: text}
	return nil
}

// Adoptable is ADOPT_NAMESPACES or ADOPT_RELEASES, parsed: what
// helm-service may take over that it did not make. The zero value adopts
// nothing. Text is what it was parsed from.
type Adoptable struct {
	allowlist.List
	Text string
}

// decode reads comma-separated globs of setting, "!" excluding.
func (a *Adoptable) decode(setting, text string) error {
	l, err := allowlist.ParseOptIn(setting, text)
	if err != nil {
		return fmt.Errorf("%w: list comma-separated globs (path.Match syntax), e.g. sock-shop-*", err)
	}
	*a = Adoptable{List: l, Text: text}
	return nil
}

// AdoptNamespaces is ADOPT_NAMESPACES: globs over namespace names.
type AdoptNamespaces struct{ Adoptable }

// Decode reads comma-separated globs, "!" excluding.
func (a *AdoptNamespaces) Decode(text string) error { return a.decode("ADOPT_NAMESPACES", text) }

// AdoptReleases is ADOPT_RELEASES: globs over <namespace>/<release>.
type AdoptReleases struct{ Adoptable }

// Decode reads comma-separated globs, "!" excluding.
func (a *AdoptReleases) Decode(text string) error { return a.decode("ADOPT_RELEASES", text) }

// list splits a comma-separated variable as envconfig splits a []string:
// blank is no entry at all.
func list(text string) []string {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	return strings.Split(text, ",")
}
