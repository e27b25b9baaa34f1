package vargroups

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/helm-service/helm-service/pkg/kube"
)

func raw(t *testing.T, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParse(t *testing.T) {
	got, err := Parse("deployment.variables", raw(t, `{"DB_URL": "postgres://x", "_OLD": null, "EMPTY": ""}`))
	if err != nil {
		t.Fatal(err)
	}
	if got["DB_URL"] == nil || *got["DB_URL"] != "postgres://x" || got["EMPTY"] == nil || *got["EMPTY"] != "" {
		t.Errorf("values: %v", got)
	}
	if v, ok := got["_OLD"]; !ok || v != nil {
		t.Errorf("null must delete _OLD: %v, %v", v, ok)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ in, field string }{
		{`{"PORT": 8080}`, "deployment.variables.PORT: got a JSON number"},
		{`{"DEBUG": true}`, "deployment.variables.DEBUG: got a JSON bool"},
		{`{"LIST": ["a"]}`, "deployment.variables.LIST: got a JSON array"},
		{`{"OBJ": {"a": "b"}}`, "deployment.variables.OBJ: got a JSON object"},
		{`{"1ST": "x"}`, `deployment.variables: "1ST" is not a valid variable name`},
		{`{"MY-VAR": "x"}`, `deployment.variables: "MY-VAR" is not a valid variable name`},
		{`{"` + strings.Repeat("A", 254) + `": "x"}`, "is not a valid variable name"},
	} {
		_, err := Parse("deployment.variables", raw(t, tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got error %v, want one containing %q", tc.in, err, tc.field)
		}
		if err != nil && strings.Contains(err.Error(), `"x"`) {
			t.Errorf("%s: the error echoes the value: %v", tc.in, err)
		}
	}
}

func TestChecksum(t *testing.T) {
	base := Groups{Global: map[string][]byte{"A": []byte("1")}, Service: map[string][]byte{"B": []byte("2")}}
	if (Groups{}).Checksum() != "" || (Groups{Global: map[string][]byte{}}).Checksum() != "" {
		t.Error("empty groups must have no checksum")
	}
	same := Groups{Global: map[string][]byte{"A": []byte("1")}, Service: map[string][]byte{"B": []byte("2")}}
	if base.Checksum() != same.Checksum() {
		t.Error("equal data, different checksums")
	}
	seen := map[string]string{base.Checksum(): "base"}
	for name, g := range map[string]Groups{
		"value changed":        {Global: map[string][]byte{"A": []byte("1")}, Service: map[string][]byte{"B": []byte("3")}},
		"key renamed":          {Global: map[string][]byte{"A": []byte("1")}, Service: map[string][]byte{"C": []byte("2")}},
		"moved to other group": {Global: map[string][]byte{"A": []byte("1"), "B": []byte("2")}},
		"key added":            {Global: map[string][]byte{"A": []byte("1"), "Z": nil}, Service: map[string][]byte{"B": []byte("2")}},
		"boundary shifted":     {Global: map[string][]byte{"A": []byte("1B=2")}},
		"groups swapped":       {Global: map[string][]byte{"B": []byte("2")}, Service: map[string][]byte{"A": []byte("1")}},
	} {
		sum := g.Checksum()
		if other, dup := seen[sum]; dup {
			t.Errorf("%s: same checksum as %s", name, other)
		}
		seen[sum] = name
	}
}

func TestStoreApply(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewSimpleClientset()
	s := Store{Clientset: cs}
	str := func(v string) *string { return &v }

	changed, groups, err := s.Apply(ctx, "ns", "web", Changes{"REGION": str("eu")}, Changes{"DB": str("a"), "GONE": nil})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"global.REGION", "service.DB"}; !slices.Equal(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	if string(groups.Service["DB"]) != "a" || string(groups.Global["REGION"]) != "eu" {
		t.Errorf("groups %v", groups)
	}
	sec, err := cs.CoreV1().Secrets("ns").Get(ctx, ServiceSecret("web"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Labels[LabelGroup] != GroupService || sec.Labels[kube.LabelService] != "web" || sec.Labels[kube.LabelManagedBy] != kube.ManagedByValue {
		t.Errorf("service group labels %v", sec.Labels)
	}
	g, err := cs.CoreV1().Secrets("ns").Get(ctx, GlobalSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Labels[LabelGroup] != GroupGlobal {
		t.Errorf("global group labels %v", g.Labels)
	}

	// Setting the same value changes nothing; null deletes.
	changed, groups, err = s.Apply(ctx, "ns", "web", nil, Changes{"DB": str("a"), "X": str("1")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"service.X"}; !slices.Equal(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	if string(groups.Global["REGION"]) != "eu" {
		t.Errorf("global group not read back: %v", groups.Global)
	}
	changed, groups, err = s.Apply(ctx, "ns", "web", nil, Changes{"DB": nil})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"service.DB"}; !slices.Equal(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	if _, ok := groups.Service["DB"]; ok || string(groups.Service["X"]) != "1" {
		t.Errorf("service group after delete: %v", groups.Service)
	}
}
