package config

import (
	"fmt"
	"strings"
	"time"
)

// Charts is where services' charts come from and the bounds of fetching
// them.
type Charts struct {
	// Source is dir (Dir), oci (an OCI registry) or git (a git repository
	// in Keptn's layout).
	Source string `envconfig:"CHART_SOURCE" default:"dir"`
	// Dir is the directory charts are looked up in.
	Dir string `envconfig:"CHART_DIR" default:"./charts"`
	// FetchTimeout bounds all the requests of one chart's fetch from a
	// registry or git.
	FetchTimeout time.Duration `envconfig:"CHART_FETCH_TIMEOUT" default:"2m"`
	// RefAllowed are the charts a trigger's deployment.chart.ref may name;
	// unset allows none.
	RefAllowed ChartRefs `envconfig:"CHART_REF_ALLOWED"`
	// MaxBytes refuses a chart whose files add up to more, or whose .tgz
	// is larger or unpacks to more, before it is read into memory.
	MaxBytes int64 `envconfig:"MAX_CHART_BYTES" default:"10485760"`
	// Registry is the registry host[:port] OCITemplate names.
	Registry string `envconfig:"CHART_REGISTRY"`
	// OCITemplate renders a service's chart repository from
	// {{.Registry}}, {{.Project}}, {{.Stage}} and {{.Service}}.
	OCITemplate string `envconfig:"CHART_OCI_TEMPLATE" default:"oci://{{.Registry}}/{{.Project}}/{{.Service}}"`
	// Registry access, for CHART_SOURCE=oci and deployment.chart.ref.
	RegistryUsername  string `envconfig:"CHART_REGISTRY_USERNAME"`
	RegistryPassword  string `envconfig:"CHART_REGISTRY_PASSWORD"`
	RegistryCAFile    string `envconfig:"CHART_REGISTRY_CA_FILE"`
	RegistryPlainHTTP bool   `envconfig:"CHART_REGISTRY_PLAIN_HTTP" default:"false"`
	// GitURL is the git repository of CHART_SOURCE=git, a template of
	// {{.Project}} (Keptn kept one repository per project).
	GitURL      string `envconfig:"CHART_GIT_URL"`
	GitUsername string `envconfig:"CHART_GIT_USERNAME"`
	GitPassword string `envconfig:"CHART_GIT_PASSWORD"`
	GitToken    string `envconfig:"CHART_GIT_TOKEN"`
	// GitCacheDir keeps the fetched branches of CHART_SOURCE=git on disk;
	// empty is a private directory under the OS temp dir. It is made
	// private (0700), refused when a link or another user's, and cleaned
	// at start.
	GitCacheDir string `envconfig:"CHART_GIT_CACHE_DIR"`
	// GitCacheMaxBytes bounds GitCacheDir, the least recently used branch
	// removed first.
	GitCacheMaxBytes int64 `envconfig:"CHART_GIT_CACHE_MAX_BYTES" default:"536870912"`
	// CacheMaxEntries and CacheMaxBytes bound the in-memory cache of charts
	// fetched from a registry or git; 0 turns it off.
	CacheMaxEntries int   `envconfig:"CHART_CACHE_MAX_ENTRIES" default:"256"`
	CacheMaxBytes   int64 `envconfig:"CHART_CACHE_MAX_BYTES" default:"134217728"`
}

func (c Charts) validate() error {
	if c.FetchTimeout <= 0 {
		return fmt.Errorf("CHART_FETCH_TIMEOUT must be positive, got %s", c.FetchTimeout)
	}
	if c.MaxBytes < 1024 {
		return fmt.Errorf("MAX_CHART_BYTES must be at least 1024, got %d", c.MaxBytes)
	}
	switch c.Source {
	case "dir":
	case "oci":
		if c.Registry == "" && strings.Contains(c.OCITemplate, ".Registry") {
			return fmt.Errorf("CHART_SOURCE=oci needs CHART_REGISTRY, which CHART_OCI_TEMPLATE %q uses", c.OCITemplate)
		}
	case "git":
		if c.GitURL == "" {
			return fmt.Errorf("CHART_SOURCE=git needs CHART_GIT_URL")
		}
	default:
		return fmt.Errorf("CHART_SOURCE must be dir, oci or git, got %q", c.Source)
	}
	if c.GitPassword != "" && c.GitToken != "" {
		return fmt.Errorf("set CHART_GIT_PASSWORD or CHART_GIT_TOKEN, not both")
	}
	if c.GitCacheMaxBytes < c.MaxBytes {
		return fmt.Errorf("CHART_GIT_CACHE_MAX_BYTES must be at least MAX_CHART_BYTES (%d), got %d", c.MaxBytes, c.GitCacheMaxBytes)
	}
	if c.CacheMaxEntries < 0 || c.CacheMaxBytes < 0 {
		return fmt.Errorf("CHART_CACHE_MAX_ENTRIES and CHART_CACHE_MAX_BYTES must not be negative, got %d and %d", c.CacheMaxEntries, c.CacheMaxBytes)
	}
	return nil
}
