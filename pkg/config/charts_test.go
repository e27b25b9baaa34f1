package config

import (
	"strings"
	"testing"
)

func TestChartSourceSettings(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Charts.Source != "dir" || c.Charts.OCITemplate != "oci://{{.Registry}}/{{.Project}}/{{.Service}}" || c.Charts.RegistryPlainHTTP ||
		c.Charts.CacheMaxEntries != 256 || c.Charts.CacheMaxBytes != 128<<20 {
		t.Errorf("chart defaults: %+v", c)
	}

	t.Setenv("CHART_SOURCE", "oci")
	t.Setenv("CHART_REGISTRY", "registry.example.com:5000")
	t.Setenv("CHART_REGISTRY_PLAIN_HTTP", "true")
	t.Setenv("CHART_CACHE_MAX_BYTES", "0")
	c, err = Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Charts.Source != "oci" || c.Charts.Registry != "registry.example.com:5000" || !c.Charts.RegistryPlainHTTP || c.Charts.CacheMaxBytes != 0 {
		t.Errorf("environment not read: %+v", c)
	}
}

func TestChartSourceRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"unknown source":          {map[string]string{"CHART_SOURCE": "s3"}, "CHART_SOURCE"},
		"oci without registry":    {map[string]string{"CHART_SOURCE": "oci"}, "CHART_REGISTRY"},
		"git without URL":         {map[string]string{"CHART_SOURCE": "git"}, "CHART_GIT_URL"},
		"password and token":      {map[string]string{"CHART_SOURCE": "git", "CHART_GIT_URL": "https://git.example.com/{{.Project}}.git", "CHART_GIT_PASSWORD": "p", "CHART_GIT_TOKEN": "t"}, "CHART_GIT_TOKEN"},
		"negative cache":          {map[string]string{"CHART_CACHE_MAX_ENTRIES": "-1"}, "CHART_CACHE_MAX_ENTRIES"},
		"git cache below a chart": {map[string]string{"MAX_CHART_BYTES": "2048", "CHART_GIT_CACHE_MAX_BYTES": "1024"}, "CHART_GIT_CACHE_MAX_BYTES"},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
