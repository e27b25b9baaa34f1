package main

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/helm-service/helm-service/pkg/events"
)

func TestPrintPreview(t *testing.T) {
	changes := events.Preview{Unchanged: 2, Truncated: "preview cut", Objects: []events.PreviewObject{
		{Change: events.PreviewCreated, Kind: "ConfigMap", Namespace: "ns", Name: "extra"},
		{Change: events.PreviewChanged, Kind: "Deployment", Namespace: "ns", Name: "pv",
			Diff: "--- live/Deployment/ns/pv\n+++ applied/Deployment/ns/pv\n@@ -1,2 +1,2 @@\n a: 1\n-b: 1\n+b: 2\n"},
		{Change: events.PreviewDeleted, Kind: "ClusterRole", Name: "reader"},
	}}
	for _, c := range []struct {
		name  string
		p     events.Preview
		color bool
		want  string
	}{
		{"nothing", events.Preview{Unchanged: 3}, true, "no changes (3 objects unchanged)\n"},
		{"plain", changes, false, `created ConfigMap ns/extra
changed Deployment ns/pv
--- live/Deployment/ns/pv
+++ applied/Deployment/ns/pv
@@ -1,2 +1,2 @@
 a: 1
-b: 1
+b: 2
deleted ClusterRole reader
3 objects would change, 2 unchanged
preview cut
`},
		{"colored", changes, true, "\033[32mcreated ConfigMap ns/extra\033[0m\n" +
			"\033[33mchanged Deployment ns/pv\033[0m\n" +
			"--- live/Deployment/ns/pv\n+++ applied/Deployment/ns/pv\n" +
			"\033[36m@@ -1,2 +1,2 @@\033[0m\n a: 1\n\033[31m-b: 1\033[0m\n\033[32m+b: 2\033[0m\n" +
			"\033[31mdeleted ClusterRole reader\033[0m\n3 objects would change, 2 unchanged\npreview cut\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			printPreview(&b, c.p, c.color)
			if d := cmp.Diff(c.want, b.String()); d != "" {
				t.Errorf("output (-want +got):\n%s", d)
			}
		})
	}
}
