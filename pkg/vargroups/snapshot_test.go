package vargroups

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/helm-service/helm-service/pkg/kube"
)

func TestPreviewWritesNothing(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewSimpleClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: ServiceSecret("web"), Namespace: "ns"},
		Data: map[string][]byte{"DB": []byte("a"), "GONE": []byte("x")}})
	s := Store{Clientset: cs}
	str := func(v string) *string { return &v }
	changed, g, err := s.Preview(ctx, "ns", "web", Changes{"REGION": str("eu")}, Changes{"DB": str("b"), "GONE": nil, "MISSING": nil})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"global.REGION", "service.DB", "service.GONE"}; !slices.Equal(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	if string(g.Service["DB"]) != "b" || len(g.Service) != 1 || string(g.Global["REGION"]) != "eu" {
		t.Errorf("previewed groups %v", g)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("Preview did %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	if sec, _ := cs.CoreV1().Secrets("ns").Get(ctx, ServiceSecret("web"), metav1.GetOptions{}); string(sec.Data["DB"]) != "a" || len(sec.Data) != 2 {
		t.Errorf("service group changed to %v", sec.Data)
	}
}

func TestSnapshotIsImmutableAndNamedByItsVariables(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewSimpleClientset()
	s := Store{Clientset: cs}
	g := Groups{Global: map[string][]byte{"LEVEL": []byte("global"), "REGION": []byte("eu")}, Service: map[string][]byte{"LEVEL": []byte("service")}}
	snap, err := s.Snapshot(ctx, "ns", "web", g)
	if err != nil {
		t.Fatal(err)
	}
	if CheckSnapshotID(snap.ID) != nil || snap.Name != "helm-service-vars-web-"+snap.ID || len(snap.Checksum) != 64 || !strings.HasPrefix(snap.Checksum, snap.ID) {
		t.Errorf("snapshot %+v", snap)
	}
	sec, err := cs.CoreV1().Secrets("ns").Get(ctx, snap.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The service group wins over the global one, as with two envFrom sources.
	if got := map[string]string{"LEVEL": string(sec.Data["LEVEL"]), "REGION": string(sec.Data["REGION"])}; len(sec.Data) != 2 ||
		!maps.Equal(got, map[string]string{"LEVEL": "service", "REGION": "eu"}) {
		t.Errorf("snapshot data %v", got)
	}
	if sec.Immutable == nil || !*sec.Immutable {
		t.Error("snapshot Secret is not immutable")
	}
	if sec.Labels[kube.LabelManagedBy] != kube.ManagedByValue || sec.Labels[LabelGroup] != GroupSnapshot || sec.Labels[kube.LabelService] != "web" {
		t.Errorf("snapshot labels %v", sec.Labels)
	}

	// The same variables make the same snapshot; other ones another.
	again, err := s.Snapshot(ctx, "ns", "web", Groups{Service: map[string][]byte{"LEVEL": []byte("service"), "REGION": []byte("eu")}})
	if err != nil || again.Name != snap.Name || again.Checksum != snap.Checksum {
		t.Errorf("same variables: %+v (%v), want %s", again, err, snap.Name)
	}
	other, err := s.Snapshot(ctx, "ns", "web", Groups{Service: map[string][]byte{"LEVEL": []byte("other")}})
	if err != nil || other.Name == snap.Name {
		t.Errorf("other variables: %+v (%v)", other, err)
	}
	empty, err := s.Snapshot(ctx, "ns", "web", Groups{})
	if err != nil || empty.Checksum != "" || CheckSnapshotID(empty.ID) != nil {
		t.Errorf("no variables: %+v (%v), want a snapshot without checksum", empty, err)
	}

	read, err := s.ReadSnapshot(ctx, "ns", "web", snap.ID)
	if err != nil || read.Name != snap.Name || read.Checksum != snap.Checksum {
		t.Errorf("ReadSnapshot = %+v (%v), want %+v", read, err, snap)
	}
}

func TestSnapshotRefusesWhatItDidNotStore(t *testing.T) {
	ctx := context.Background()
	good := snapshotOf("web", Groups{Service: map[string][]byte{"A": []byte("1")}})
	yes := true
	secret := func(edit func(*corev1.Secret)) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: good.Name, Namespace: "ns", Labels: snapshotLabels("web")}, Immutable: &yes, Data: map[string][]byte{"A": []byte("1")}}
		edit(s)
		return s
	}
	for _, c := range []struct {
		name   string
		secret *corev1.Secret
		want   string
	}{
		{"missing", nil, "does not exist"},
		{"other data", secret(func(s *corev1.Secret) { s.Data["A"] = []byte("2") }), "holds other variables"},
		{"mutable", secret(func(s *corev1.Secret) { s.Immutable = nil }), "not immutable"},
		{"not ours", secret(func(s *corev1.Secret) { s.Labels = nil }), "is not a variable snapshot of service web"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs := fake.NewSimpleClientset()
			if c.secret != nil {
				cs = fake.NewSimpleClientset(c.secret)
			}
			s := Store{Clientset: cs}
			if _, err := s.ReadSnapshot(ctx, "ns", "web", good.ID); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ReadSnapshot error %v, want one containing %q", err, c.want)
			}
			if c.secret == nil {
				return
			}
			if _, err := s.Snapshot(ctx, "ns", "web", Groups{Service: map[string][]byte{"A": []byte("1")}}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Snapshot over an existing Secret: error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := (Store{Clientset: fake.NewSimpleClientset()}).ReadSnapshot(ctx, "ns", "web", "../etc"); err == nil || !strings.Contains(err.Error(), "not a variable snapshot ID") {
		t.Errorf("bad ID: %v", err)
	}
}

func TestCollectSnapshotsKeepsOnlyWhatIsRead(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewSimpleClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: ServiceSecret("web"), Namespace: "ns", Labels: labelsOf(GroupService, "web")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: GlobalSecret, Namespace: "ns", Labels: labelsOf(GroupGlobal, "")}},
	)
	s := Store{Clientset: cs}
	var ids []string
	for _, v := range []string{"1", "2", "3"} {
		snap, err := s.Snapshot(ctx, "ns", "web", Groups{Service: map[string][]byte{"V": []byte(v)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, snap.ID)
	}
	other, err := s.Snapshot(ctx, "ns", "db", Groups{Service: map[string][]byte{"V": []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := s.CollectSnapshots(ctx, "ns", "web", []string{ids[0], ids[2]})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{SnapshotSecret("web", ids[1])}; !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want %v", deleted, want)
	}
	list, err := cs.CoreV1().Secrets("ns").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, sec := range list.Items {
		left = append(left, sec.Name)
	}
	slices.Sort(left)
	want := []string{GlobalSecret, ServiceSecret("web"), SnapshotSecret("web", ids[0]), SnapshotSecret("web", ids[2]), other.Name}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
