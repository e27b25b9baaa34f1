package charts

import (
	"context"
	"errors"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/charts/chartstest"
)

func newGit(t *testing.T, srv *chartstest.GitServer, cache *Cache) *Git {
	t.Helper()
	g, err := NewGit(GitOptions{URL: srv.URL + "/{{.Project}}.git", Cache: cache, RepoDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGitPinnedCommits(t *testing.T) {
	for _, packed := range []bool{true, false} {
		name := map[bool]string{true: "tgz", false: "directory"}[packed]
		t.Run(name, func(t *testing.T) {
			srv := chartstest.StartGitServer(t)
			first := srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "1.0.0", "first"), packed))
			second := srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "1.1.0", "second"), packed))
			g := newGit(t, srv, nil)
			ctx := context.Background()
			ref := Ref{Project: "sockshop", Stage: "staging", Service: "carts"}

			for _, tc := range []struct{ commit, version, message string }{
				{first, "1.0.0", "first"},
				{second, "1.1.0", "second"},
				{"", "1.1.0", "second"}, // the branch head
				{first, "1.0.0", "first"},
			} {
				r := ref
				r.Commit = tc.commit
				ch, err := g.Load(ctx, r)
				if err != nil {
					t.Fatalf("commit %q: %v", tc.commit, err)
				}
				if ch.Metadata.Version != tc.version || ch.Values["message"] != tc.message {
					t.Errorf("commit %q: chart %s with message %v, want %s with %s", tc.commit, ch.Metadata.Version, ch.Values["message"], tc.version, tc.message)
				}
			}
		})
	}
}

func TestGitRefusals(t *testing.T) {
	srv := chartstest.StartGitServer(t)
	srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "1.0.0", "x"), true))
	g := newGit(t, srv, nil)
	ctx := context.Background()

	unknown := strings.Repeat("ab", 20)
	_, err := g.Load(ctx, Ref{Project: "sockshop", Stage: "staging", Service: "carts", Commit: unknown})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), unknown) {
		t.Errorf("unknown commit: %v, want ErrNotFound naming %s", err, unknown)
	}
	_, err = g.Load(ctx, Ref{Project: "sockshop", Stage: "staging", Service: "carts", Commit: "0123abc"})
	if err == nil || !strings.Contains(err.Error(), `"0123abc"`) {
		t.Errorf("short commit id: %v", err)
	}
	_, err = g.Load(ctx, Ref{Project: "sockshop", Stage: "production", Service: "carts"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"production"`) {
		t.Errorf("missing stage branch: %v", err)
	}
	_, err = g.Load(ctx, Ref{Project: "sockshop", Stage: "staging", Service: "orders"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "orders/helm/orders.tgz") {
		t.Errorf("service without a chart: %v", err)
	}
	_, err = g.Load(ctx, Ref{Project: "nothere", Stage: "staging", Service: "carts"})
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/nothere.git") {
		t.Errorf("missing repository: %v", err)
	}
	if _, err := NewGit(GitOptions{}); err == nil || !strings.Contains(err.Error(), "CHART_GIT_URL") {
		t.Errorf("no URL: %v", err)
	}
	if _, err := NewGit(GitOptions{URL: "https://x", Password: "p", Token: "t"}); err == nil {
		t.Error("password and token together were accepted")
	}
}

func TestGitCacheSkipsTheServer(t *testing.T) {
	srv := chartstest.StartGitServer(t)
	first := srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "1.0.0", "first"), true))
	second := srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "1.1.0", "second"), true))
	cache := NewCache(10, 1<<20)
	ctx := context.Background()
	ref := Ref{Project: "sockshop", Stage: "staging", Service: "carts", Commit: first}

	g := newGit(t, srv, cache)
	before := srv.Len()
	if _, err := g.Load(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if srv.Len() == before {
		t.Fatal("first load did not contact the git server")
	}
	// A source with an empty repository but the same cache: a pinned,
	// cached commit is loaded without the server.
	again := newGit(t, srv, cache)
	before = srv.Len()
	ch, err := again.Load(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Since(before); len(got) != 0 {
		t.Errorf("cached commit still sent %v", got)
	}
	if ch.Values["message"] != "first" {
		t.Errorf("cached chart message %v", ch.Values["message"])
	}
	// The other commit is already fetched: read from the local objects.
	before = srv.Len()
	ref.Commit = second
	if _, err := g.Load(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if got := srv.Since(before); len(got) != 0 {
		t.Errorf("a fetched commit still sent %v", got)
	}
}

// TestGitLoadCommitNamesTheCommitRead checks the commit LoadCommit reports:
// the head read for a branch-head load, the pinned one otherwise, also from
// the cache, and through Explicit none for a chart of another source.
func TestGitLoadCommitNamesTheCommitRead(t *testing.T) {
	srv := chartstest.StartGitServer(t)
	first := srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "1.0.0", "first"), true))
	g := newGit(t, srv, NewCache(10, 1<<20))
	src := Explicit{Default: g, Override: namedSource("override")}
	ctx := context.Background()
	ref := Ref{Project: "sockshop", Stage: "staging", Service: "carts"}

	if _, commit, err := LoadCommit(ctx, src, ref); err != nil || commit != first {
		t.Errorf("branch head: commit %q (%v), want %s", commit, err, first)
	}
	second := srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "2.0.0", "second"), true))
	ch, commit, err := LoadCommit(ctx, src, ref)
	if err != nil || commit != second || ch.Metadata.Version != "2.0.0" {
		t.Errorf("new branch head: chart %v commit %q (%v), want 2.0.0 from %s", ch, commit, err, second)
	}
	pinned := ref
	pinned.Commit = first
	for range 2 { // fetched, then cached
		if ch, commit, err := LoadCommit(ctx, src, pinned); err != nil || commit != first || ch.Metadata.Version != "1.0.0" {
			t.Errorf("pinned: chart %v commit %q (%v), want 1.0.0 from %s", ch, commit, err, first)
		}
	}
	named := ref
	named.Chart = "oci://registry.example.com/shared/web"
	if ch, commit, err := LoadCommit(ctx, src, named); err != nil || commit != "" || ch.Metadata.Name != "override" {
		t.Errorf("a chart the trigger names: chart %v commit %q (%v), want the override's chart and no commit", ch, commit, err)
	}
}

// A gitcommitid of another stage's branch is not deployed to this stage:
// only the stage's branch is fetched, and the commit must be on it.
func TestGitCommitMustBeOnTheStagesBranch(t *testing.T) {
	srv := chartstest.StartGitServer(t)
	staging := srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "1.0.0", "staging"), true))
	prod := srv.Commit(t, "sockshop", "production", chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "2.0.0", "production"), true))
	g := newGit(t, srv, nil)
	ctx := context.Background()
	if _, err := g.Load(ctx, Ref{Project: "sockshop", Stage: "production", Service: "carts", Commit: prod}); err != nil {
		t.Fatalf("production's own commit: %v", err)
	}
	_, err := g.Load(ctx, Ref{Project: "sockshop", Stage: "production", Service: "carts", Commit: staging})
	if err == nil || !strings.Contains(err.Error(), staging) || !strings.Contains(err.Error(), "branch production") || !strings.Contains(err.Error(), prod) {
		t.Fatalf("staging's commit deployed to production: %v, want refused naming the commit, the branch and its head", err)
	}
}

// A chart in git over MAX_CHART_BYTES is refused, packed or not.
func TestGitChartOverTheLimit(t *testing.T) {
	for _, packed := range []bool{true, false} {
		srv := chartstest.StartGitServer(t)
		c := chartstest.Chart("carts", "1.0.0", "big")
		c.Files = append(c.Files, &chart.File{Name: "files/noise", Data: randomBytes(t, 200<<10)})
		srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", c, packed))
		g, err := NewGit(GitOptions{URL: srv.URL + "/{{.Project}}.git", MaxChartBytes: 64 << 10, RepoDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.Load(context.Background(), Ref{Project: "sockshop", Stage: "staging", Service: "carts"})
		var tooLarge *TooLargeError
		if !errors.As(err, &tooLarge) {
			t.Errorf("packed %v: a 200 KiB chart with a 64 KiB limit: %v, want a TooLargeError", packed, err)
		}
	}
}
