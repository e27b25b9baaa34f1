package helm

import (
	"context"
	"errors"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// memoStorage returns Helm's release storage of namespace on cs, through
// memo when it is not nil.
func memoStorage(cs *fake.Clientset, memo *recordMemo, namespace string) *storage.Storage {
	secrets := cs.CoreV1().Secrets(namespace)
	if memo != nil {
		return storage.Init(driver.NewSecrets(memo.secrets(namespace, secrets)))
	}
	return storage.Init(driver.NewSecrets(secrets))
}

func testRecord(name string, version int, status release.Status) *release.Release {
	return &release.Release{
		Name: name, Namespace: "ns", Version: version,
		Info:  &release.Info{Status: status},
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "c", Version: "1.0.0"}},
	}
}

func countVerb(cs *fake.Clientset, verb string) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == "secrets" {
			n++
		}
	}
	return n
}

// An upgrade's reads of one release's records (Last, Deployed, History,
// each a list of its Secrets) are one list from the cluster in a memo, and
// the memo answers as the cluster does after the upgrade's own writes.
func TestRecordMemoListsAReleaseOnce(t *testing.T) {
	cs := fake.NewClientset()
	seed := memoStorage(cs, nil, "ns")
	for _, r := range []*release.Release{testRecord("carts", 1, release.StatusSuperseded), testRecord("carts", 2, release.StatusDeployed), testRecord("other", 1, release.StatusDeployed)} {
		if err := seed.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	cs.ClearActions()

	memo := recordMemoFrom(WithRecordMemo(context.Background()))
	store := memoStorage(cs, memo, "ns")
	last, err := store.Last("carts")
	if err != nil || last.Version != 2 {
		t.Fatalf("Last = %v, %v; want revision 2", last, err)
	}
	deployed, err := store.Deployed("carts")
	if err != nil || deployed.Version != 2 {
		t.Fatalf("Deployed = %v, %v; want revision 2", deployed, err)
	}
	// An upgrade: the new pending record, the old one superseded.
	next := testRecord("carts", 3, release.StatusPendingUpgrade)
	if err := store.Create(next); err != nil {
		t.Fatal(err)
	}
	deployed.Info.Status = release.StatusSuperseded
	if err := store.Update(deployed); err != nil {
		t.Fatal(err)
	}
	next.Info.Status = release.StatusDeployed
	if err := store.Update(next); err != nil {
		t.Fatal(err)
	}
	if got := countVerb(cs, "list"); got != 1 {
		t.Errorf("lists of Secrets from the cluster = %d, want 1", got)
	}

	// What the memo answers now is what the cluster answers.
	fresh := memoStorage(cs, nil, "ns")
	for _, name := range []string{"carts", "other"} {
		want, err := fresh.History(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := store.History(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("History(%s): %d records, the cluster has %d", name, len(got), len(want))
		}
		for _, w := range want {
			g, err := store.Get(name, w.Version)
			if err != nil {
				t.Fatalf("Get(%s, %d): %v", name, w.Version, err)
			}
			if g.Info.Status != w.Info.Status {
				t.Errorf("%s revision %d: status %s in the memo, %s in the cluster", name, w.Version, g.Info.Status, w.Info.Status)
			}
		}
	}
	if d, err := store.Deployed("carts"); err != nil || d.Version != 3 {
		t.Errorf("Deployed after the upgrade = %v, %v; want revision 3", d, err)
	}

	// A record pruned from the history is gone from the memo too.
	if _, err := store.Delete("carts", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get("carts", 1); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Errorf("Get of a deleted record: %v, want ErrReleaseNotFound", err)
	}
}

// A release with no records is remembered as such, and its first record,
// written in the memo, is found by the next read.
func TestRecordMemoRemembersANewRelease(t *testing.T) {
	cs := fake.NewClientset()
	memo := recordMemoFrom(WithRecordMemo(context.Background()))
	store := memoStorage(cs, memo, "ns")
	for range 2 {
		if _, err := store.History("carts"); !errors.Is(err, driver.ErrReleaseNotFound) {
			t.Fatalf("History of a new release: %v, want ErrReleaseNotFound", err)
		}
	}
	if err := store.Create(testRecord("carts", 1, release.StatusPendingInstall)); err != nil {
		t.Fatal(err)
	}
	last, err := store.Last("carts")
	if err != nil || last.Version != 1 || last.Info.Status != release.StatusPendingInstall {
		t.Fatalf("Last = %v, %v; want revision 1 pending", last, err)
	}
	if got := countVerb(cs, "list"); got != 1 {
		t.Errorf("lists of Secrets from the cluster = %d, want 1", got)
	}
}

// A write the cluster refused leaves the memo not knowing the release: the
// next read goes to the cluster.
func TestRecordMemoForgetsAReleaseAFailedWriteTouched(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("update", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcd is away")
	})
	memo := recordMemoFrom(WithRecordMemo(context.Background()))
	store := memoStorage(cs, memo, "ns")
	r := testRecord("carts", 1, release.StatusPendingInstall)
	if _, err := store.History("carts"); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Fatal(err)
	}
	if err := store.Create(r); err != nil {
		t.Fatal(err)
	}
	r.Info.Status = release.StatusDeployed
	if err := store.Update(r); err == nil {
		t.Fatal("Update succeeded; the reactor should have refused it")
	}
	if _, err := store.Last("carts"); err != nil {
		t.Fatal(err)
	}
	if got := countVerb(cs, "list"); got != 2 {
		t.Errorf("lists of Secrets from the cluster = %d, want 2 (the failed write forgot the release)", got)
	}
}

// Lists that are not of one release's records (every release of the
// namespace, as Find reads them) go to the cluster.
func TestRecordMemoPassesOtherListsThrough(t *testing.T) {
	cs := fake.NewClientset()
	memo := recordMemoFrom(WithRecordMemo(context.Background()))
	secrets := memo.secrets("ns", cs.CoreV1().Secrets("ns"))
	for range 2 {
		if _, err := secrets.List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := countVerb(cs, "list"); got != 2 {
		t.Errorf("lists of Secrets from the cluster = %d, want 2", got)
	}
}
