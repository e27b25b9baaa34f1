package charts

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/helm-service/helm-service/pkg/charts/chartstest"
)

func newGit(t *testing.T, srv *chartstest.GitServer, cache *Cache) *Git {
	t.Helper()
	g, err := NewGit(GitOptions{URL: srv.URL + "/{{.Project}}.git", Cache: cache})
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
