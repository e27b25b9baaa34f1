package preview

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/helm-service/helm-service/pkg/events"
)

func TestNormalize(t *testing.T) {
	for _, c := range []struct {
		name     string
		in, want map[string]any
	}{
		{
			name: "server-set fields dropped",
			in: map[string]any{"kind": "Deployment", "status": map[string]any{"replicas": 1.0}, "metadata": map[string]any{
				"name": "a", "uid": "u", "resourceVersion": "7", "generation": 3.0, "creationTimestamp": "t",
				"managedFields": []any{map[string]any{"manager": "helm"}},
				"annotations":   map[string]any{"deployment.kubernetes.io/revision": "2", "keep": "me"},
			}},
			want: map[string]any{"kind": "Deployment", "metadata": map[string]any{"name": "a", "annotations": map[string]any{"keep": "me"}}},
		},
		{
			name: "annotations left empty are dropped",
			in:   map[string]any{"metadata": map[string]any{"name": "a", "annotations": map[string]any{"kubectl.kubernetes.io/last-applied-configuration": "{}"}}},
			want: map[string]any{"metadata": map[string]any{"name": "a"}},
		},
		{
			name: "no metadata",
			in:   map[string]any{"kind": "X", "status": "s"},
			want: map[string]any{"kind": "X"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := deepCopy(c.in)
			if d := cmp.Diff(c.want, Normalize(c.in)); d != "" {
				t.Errorf("Normalize (-want +got):\n%s", d)
			}
			if d := cmp.Diff(before, c.in); d != "" {
				t.Errorf("Normalize changed its input (-before +after):\n%s", d)
			}
		})
	}
}

func TestRedactSecrets(t *testing.T) {
	secret := func(data map[string]any) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "Secret", "data": data}
	}
	for _, c := range []struct {
		name                  string
		live, applied         map[string]any
		wantLive, wantApplied map[string]any
	}{
		{
			name:        "changed, kept, added and removed keys",
			live:        secret(map[string]any{"same": "YQ==", "changed": "Yg==", "removed": "Yw=="}),
			applied:     secret(map[string]any{"same": "YQ==", "changed": "ZA==", "added": "ZQ=="}),
			wantLive:    secret(map[string]any{"same": Redacted, "changed": Redacted, "removed": Redacted}),
			wantApplied: secret(map[string]any{"same": Redacted, "changed": RedactedChanged, "added": Redacted}),
		},
		{
			name:        "created: no live side",
			applied:     map[string]any{"apiVersion": "v1", "kind": "Secret", "stringData": map[string]any{"token": "plain"}},
			wantApplied: map[string]any{"apiVersion": "v1", "kind": "Secret", "stringData": map[string]any{"token": Redacted}},
		},
		{
			name:        "a Secret of another API group is not the core Secret",
			live:        map[string]any{"apiVersion": "example.com/v1", "kind": "Secret", "data": map[string]any{"k": "v"}},
			applied:     map[string]any{"apiVersion": "example.com/v1", "kind": "Secret", "data": map[string]any{"k": "w"}},
			wantLive:    map[string]any{"apiVersion": "example.com/v1", "kind": "Secret", "data": map[string]any{"k": "v"}},
			wantApplied: map[string]any{"apiVersion": "example.com/v1", "kind": "Secret", "data": map[string]any{"k": "w"}},
		},
		{
			name:        "ConfigMap data is shown",
			live:        map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"k": "v"}},
			applied:     map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"k": "w"}},
			wantLive:    map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"k": "v"}},
			wantApplied: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"k": "w"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			RedactSecrets(c.live, c.applied)
			if d := cmp.Diff(c.wantLive, c.live); d != "" {
				t.Errorf("live (-want +got):\n%s", d)
			}
			if d := cmp.Diff(c.wantApplied, c.applied); d != "" {
				t.Errorf("applied (-want +got):\n%s", d)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	for _, c := range []struct {
		name          string
		live, applied map[string]any
		want          string
	}{
		{"equal", map[string]any{"a": "1"}, map[string]any{"a": "1"}, ""},
		{"changed value", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "1", "b": "3"},
			"--- live/x\n+++ applied/x\n@@ -1,2 +1,2 @@\n a: \"1\"\n-b: \"2\"\n+b: \"3\"\n"},
		{"added key", map[string]any{"a": "1"}, map[string]any{"a": "1", "c": "4"},
			"--- live/x\n+++ applied/x\n@@ -1 +1,2 @@\n a: \"1\"\n+c: \"4\"\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Diff("x", c.live, c.applied)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("Diff (-want +got):\n%s", d)
			}
		})
	}
}

func TestCut(t *testing.T) {
	long := strings.Repeat("+line of a diff\n", 200) // 3200 bytes
	p := events.Preview{Unchanged: 1, Objects: []events.PreviewObject{
		{Change: events.PreviewChanged, Kind: "Deployment", Name: "a", Diff: long},
		{Change: events.PreviewChanged, Kind: "ConfigMap", Name: "b", Diff: long},
		{Change: events.PreviewCreated, Kind: "Service", Name: "c"},
	}}
	for _, c := range []struct {
		name        string
		limit       int
		wantObjects int
		wantDiffs   []int // length of each kept diff
		wantNote    bool
	}{
		{"fits", 100000, 3, []int{len(long), len(long), 0}, false},
		{"second diff cut", len(long) + 2000, 3, []int{len(long), -1, 0}, true},
		{"first diff cut, second left out", 2000, 3, []int{-1, 0, 0}, true},
		{"objects dropped", 230, 1, []int{0}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Cut(p, c.limit)
			if s := size(got); s > c.limit {
				t.Errorf("size %d > limit %d", s, c.limit)
			}
			if len(got.Objects) != c.wantObjects {
				t.Fatalf("%d objects, want %d: %+v", len(got.Objects), c.wantObjects, got)
			}
			for i, want := range c.wantDiffs {
				n := len(got.Objects[i].Diff)
				if want == -1 {
					if n == 0 || n >= len(long) || !strings.HasSuffix(got.Objects[i].Diff, "\n") {
						t.Errorf("object %d: diff of %d bytes, want cut after a line", i, n)
					}
					continue
				}
				if n != want {
					t.Errorf("object %d: diff of %d bytes, want %d", i, n, want)
				}
			}
			if (got.Truncated != "") != c.wantNote {
				t.Errorf("truncated = %q, want a note: %v", got.Truncated, c.wantNote)
			}
			if got.Unchanged != 1 {
				t.Errorf("unchanged = %d", got.Unchanged)
			}
		})
	}
	if got := Cut(p, 230); !strings.Contains(got.Truncated, "2 of 3 objects left out") || !strings.Contains(got.Truncated, "6400 bytes of diff") {
		t.Errorf("note %q does not say what was left out", got.Truncated)
	}
}

// fakeCluster serves live objects and a dry run that returns the applied
// object with the namespace set, or the error of its kind.
type fakeCluster struct {
	live    map[string]map[string]any // by kind/name
	refused map[string]error          // by kind
}

func (f fakeCluster) Live(_ context.Context, obj *unstructured.Unstructured, namespace string) (*unstructured.Unstructured, error) {
	o, ok := f.live[obj.GetKind()+"/"+obj.GetName()]
	if !ok {
		return nil, nil
	}
	u := &unstructured.Unstructured{Object: deepCopy(o)}
	u.SetNamespace(namespace)
	return u, nil
}

func (f fakeCluster) DryRunApply(_ context.Context, obj *unstructured.Unstructured, namespace string) (*unstructured.Unstructured, error) {
	if err := f.refused[obj.GetKind()]; err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: deepCopy(obj.Object)}
	u.SetNamespace(namespace)
	u.SetResourceVersion("99")
	return u, nil
}

func TestCompare(t *testing.T) {
	obj := func(kind, name string, extra map[string]any) map[string]any {
		o := map[string]any{"apiVersion": "v1", "kind": kind, "metadata": map[string]any{"name": name, "resourceVersion": "1", "uid": "u"}}
		for k, v := range extra {
			o[k] = v
		}
		return o
	}
	live := map[string]map[string]any{
		"ConfigMap/same":  obj("ConfigMap", "same", map[string]any{"data": map[string]any{"k": "v"}}),
		"ConfigMap/edit":  obj("ConfigMap", "edit", map[string]any{"data": map[string]any{"k": "v"}}),
		"Secret/creds":    obj("Secret", "creds", map[string]any{"data": map[string]any{"p": "b2xk"}}),
		"Service/gone":    obj("Service", "gone", nil),
		"Service/deleted": obj("Service", "deleted", nil),
	}
	current := `
apiVersion: v1
kind: ConfigMap
metadata: {name: same}
data: {k: v}
---
apiVersion: v1
kind: Service
metadata: {name: gone}
---
apiVersion: v1
kind: Service
metadata: {name: alreadyremoved}
`
	rendered := `
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {p: bmV3}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: same}
data: {k: v}
---
# an empty document
---
apiVersion: v1
kind: ConfigMap
metadata: {name: edit}
data: {k: w}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: new}
`
	got, err := Compare(context.Background(), fakeCluster{live: live}, "ns", current, rendered)
	if err != nil {
		t.Fatal(err)
	}
	want := events.Preview{Unchanged: 1, Objects: []events.PreviewObject{
		{Change: events.PreviewChanged, Kind: "Secret", Namespace: "ns", Name: "creds",
			Diff: "--- live/Secret/ns/creds\n+++ applied/Secret/ns/creds\n@@ -1,6 +1,6 @@\n apiVersion: v1\n data:\n-  p: (redacted)\n+  p: (redacted, changed)\n kind: Secret\n metadata:\n   name: creds\n"},
		{Change: events.PreviewChanged, Kind: "ConfigMap", Namespace: "ns", Name: "edit",
			Diff: "--- live/ConfigMap/ns/edit\n+++ applied/ConfigMap/ns/edit\n@@ -1,6 +1,6 @@\n apiVersion: v1\n data:\n-  k: v\n+  k: w\n kind: ConfigMap\n metadata:\n   name: edit\n"},
		{Change: events.PreviewCreated, Kind: "ConfigMap", Namespace: "ns", Name: "new"},
		{Change: events.PreviewDeleted, Kind: "Service", Namespace: "ns", Name: "gone"},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Compare (-want +got):\n%s", d)
	}

	refusal := errors.New(`.spec.bogus: field not declared in schema`)
	_, err = Compare(context.Background(), fakeCluster{live: live, refused: map[string]error{"ConfigMap": refusal}}, "ns", current, rendered)
	if !errors.Is(err, refusal) || !strings.Contains(err.Error(), "server-side dry run of ConfigMap ns/edit: .spec.bogus") || !strings.Contains(err.Error(), "ConfigMap ns/new") {
		t.Errorf("Compare with refused objects: %v, want each refused object named", err)
	}

	if _, err := Compare(context.Background(), fakeCluster{}, "ns", "", "kind: ConfigMap\n"); err == nil || !strings.Contains(err.Error(), "rendered manifest") {
		t.Errorf("Compare of an object without a name: %v", err)
	}
}
