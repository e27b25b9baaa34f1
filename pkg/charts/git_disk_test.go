package charts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/charts/chartstest"
)

// commitChain commits n versions of carts' chart (message "v<i>", each with
// its own noise of noiseBytes) to the stage and returns their ids, oldest
// first.
func commitChain(t *testing.T, srv *chartstest.GitServer, stage string, n, noiseBytes int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		c := chartstest.Chart("carts", fmt.Sprintf("1.%d.0", i), fmt.Sprintf("v%d", i))
		if noiseBytes > 0 {
			c.Files = append(c.Files, &chart.File{Name: "files/noise", Data: noise(uint64(i)+1, noiseBytes)})
		}
		ids[i] = srv.Commit(t, "sockshop", stage, chartstest.ChartFiles(t, "carts", c, true))
	}
	return ids
}

// noise is n incompressible bytes, different for each seed.
func noise(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// localCopies opens the branch copies under dir.
func localCopies(t *testing.T, dir string) []*git.Repository {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var repos []*git.Repository
	for _, e := range entries {
		r, err := git.PlainOpen(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		repos = append(repos, r)
	}
	return repos
}

func localSize(t *testing.T, dir string) int64 {
	t.Helper()
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		size += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return size
}

// The branch's head is fetched with depth 1 onto disk; a pinned commit
// further back deepens the history just as far as it takes, and is read
// without the server from then on.
func TestGitFetchesShallowAndDeepensForAPinnedCommit(t *testing.T) {
	srv := chartstest.StartGitServer(t)
	ids := commitChain(t, srv, "staging", 12, 0)
	dir := t.TempDir()
	g, err := NewGit(GitOptions{URL: srv.URL + "/{{.Project}}.git", RepoDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := Ref{Project: "sockshop", Stage: "staging", Service: "carts"}

	has := func() []bool {
		repos := localCopies(t, dir)
		if len(repos) != 1 {
			t.Fatalf("%d local copies, want the one of branch staging", len(repos))
		}
		got := make([]bool, len(ids))
		for i, id := range ids {
			_, err := repos[0].CommitObject(plumbing.NewHash(id))
			got[i] = err == nil
		}
		return got
	}
	ch, commit, err := g.LoadCommit(ctx, ref)
	if err != nil || commit != ids[11] || ch.Values["message"] != "v11" {
		t.Fatalf("branch head: chart %v commit %s (%v), want v11 of %s", ch, commit, err, ids[11])
	}
	want := make([]bool, 12)
	want[11] = true
	if diff := cmp.Diff(want, has()); diff != "" {
		t.Errorf("commits on disk after a branch-head load (-want +got):\n%s", diff)
	}

	pinned := ref
	pinned.Commit = ids[2] // 9 behind the head: depth 1, 8, then 64
	if ch, err := g.Load(ctx, pinned); err != nil || ch.Values["message"] != "v2" {
		t.Fatalf("commit 2: chart %v (%v), want v2", ch, err)
	}
	for i := range want {
		want[i] = true
	}
	if diff := cmp.Diff(want, has()); diff != "" {
		t.Errorf("commits on disk after deepening for commit 2 (-want +got):\n%s", diff)
	}
	before := srv.Len()
	pinned.Commit = ids[5]
	if ch, err := g.Load(ctx, pinned); err != nil || ch.Values["message"] != "v5" {
		t.Fatalf("commit 5: chart %v (%v), want v5", ch, err)
	}
	if got := srv.Since(before); len(got) != 0 {
		t.Errorf("a commit already on disk still sent %v", got)
	}

	pinned.Commit = strings.Repeat("cd", 20)
	if _, err := g.Load(ctx, pinned); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), ids[11]) {
		t.Errorf("a commit the whole branch does not have: %v, want ErrNotFound naming the head %s", err, ids[11])
	}
}

// A pinned commit whose history does not fit into the cache is refused,
// naming the setting, and the cache stays within its bound.
func TestGitDeepeningIsBoundedByTheCache(t *testing.T) {
	srv := chartstest.StartGitServer(t)
	ids := commitChain(t, srv, "staging", 12, 32<<10)
	dir := t.TempDir()
	const bound = 160 << 10 // about four commits' noise
	g, err := NewGit(GitOptions{URL: srv.URL + "/{{.Project}}.git", RepoDir: dir, RepoMaxBytes: bound, MaxChartBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := Ref{Project: "sockshop", Stage: "staging", Service: "carts", Commit: ids[0]}
	_, err = g.Load(ctx, ref)
	if err == nil || !strings.Contains(err.Error(), "CHART_GIT_CACHE_MAX_BYTES") || !strings.Contains(err.Error(), ids[0]) {
		t.Fatalf("commit 0 of 12 with room for about 4: %v, want refused naming the commit and CHART_GIT_CACHE_MAX_BYTES", err)
	}
	if size := localSize(t, dir); size > bound {
		t.Errorf("cache holds %d bytes after the refusal, over its bound %d", size, bound)
	}
	ref.Commit = ""
	if ch, err := g.Load(ctx, ref); err != nil || ch.Values["message"] != "v11" {
		t.Errorf("branch head after the refusal: %v (%v)", ch, err)
	}
}

// Branches are kept on disk within the bound, the least recently used
// removed first.
func TestGitCacheKeepsTheRecentBranchesWithinItsBound(t *testing.T) {
	srv := chartstest.StartGitServer(t)
	stages := []string{"dev", "staging", "production"}
	for _, stage := range stages {
		commitChain(t, srv, stage, 1, 60<<10)
	}
	dir := t.TempDir()
	const bound = 150 << 10 // two branches
	g, err := NewGit(GitOptions{URL: srv.URL + "/{{.Project}}.git", RepoDir: dir, RepoMaxBytes: bound})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, stage := range stages {
		if _, err := g.Load(ctx, Ref{Project: "sockshop", Stage: stage, Service: "carts"}); err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
	}
	var kept []string
	for _, r := range localCopies(t, dir) {
		refs, err := r.References()
		if err != nil {
			t.Fatal(err)
		}
		_ = refs.ForEach(func(ref *plumbing.Reference) error {
			if ref.Name().IsRemote() {
				kept = append(kept, ref.Name().Short())
			}
			return nil
		})
	}
	if diff := cmp.Diff([]string{"origin/production", "origin/staging"}, kept, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("branches on disk (-want +got):\n%s", diff)
	}
	if size := localSize(t, dir); size > bound {
		t.Errorf("cache holds %d bytes, over its bound %d", size, bound)
	}
}
