package chartstest

import (
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// GitServer serves bare git repositories over smart HTTP with git
// http-backend, on loopback. Each project is one repository
// (<URL>/<project>.git) and each stage a branch, as Keptn kept them.
type GitServer struct {
	Counter
	// URL is the server's base URL; a project's repository is
	// URL + "/" + project + ".git".
	URL     string
	root    string
	work    string
	refusal atomic.Pointer[refusal]
}

// refusal is the answer a refusing server gives every request.
type refusal struct {
	status int
	body   string
}

// StartGitServer starts a git server for the rest of the test. It needs the
// git command.
func StartGitServer(t testing.TB) *GitServer {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("the git server needs the git command: %v", err)
	}
	out, err := exec.Command(gitPath, "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	g := &GitServer{root: t.TempDir(), work: t.TempDir()}
	backend := &cgi.Handler{
		Path:   filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:    []string{"GIT_PROJECT_ROOT=" + g.root, "GIT_HTTP_EXPORT_ALL=1"},
		Stderr: io.Discard, // "not a git repository" for a missing one; the client gets a 404
	}
	srv := httptest.NewServer(g.wrap(g.refusing(backend)))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// Commit writes files (path → content) into the project's repository on the
// stage's branch, replacing the top-level directories they are in, commits them and returns the
// commit id. The repository and branch are created on first use.
func (g *GitServer) Commit(t testing.TB, project, stage string, files map[string][]byte) string {
	t.Helper()
	bare := filepath.Join(g.root, project+".git")
	work := filepath.Join(g.work, project)
	if _, err := os.Stat(bare); os.IsNotExist(err) {
		g.git(t, g.root, "init", "--bare", "--quiet", bare)
		g.git(t, g.work, "init", "--quiet", work)
		g.git(t, work, "remote", "add", "origin", bare)
	}
	if out := g.git(t, work, "ls-remote", "--heads", "origin", stage); out != "" {
		g.git(t, work, "fetch", "--quiet", "origin", stage)
		g.git(t, work, "checkout", "--quiet", "-B", stage, "FETCH_HEAD")
	} else {
		g.git(t, work, "checkout", "--quiet", "--orphan", stage)
		g.git(t, work, "rm", "-r", "--quiet", "--force", "--ignore-unmatch", ".")
	}
	// Each top-level directory written is replaced as a whole.
	for name := range files {
		if err := os.RemoveAll(filepath.Join(work, strings.SplitN(name, "/", 2)[0])); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		path := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g.git(t, work, "add", "--all")
	g.git(t, work, "commit", "--quiet", "--allow-empty", "-m", "update "+stage)
	g.git(t, work, "push", "--quiet", "origin", "HEAD:refs/heads/"+stage)
	return g.git(t, work, "rev-parse", "HEAD")
}

// ChartFiles returns c in Keptn's layout for service: packed as
// <service>/helm/<service>.tgz, or unpacked under <service>/helm/<service>/.
func ChartFiles(t testing.TB, service string, c *chart.Chart, packed bool) map[string][]byte {
	t.Helper()
	if packed {
		return map[string][]byte{service + "/helm/" + service + ".tgz": Package(t, c)}
	}
	dir := t.TempDir()
	if err := chartutil.SaveDir(c, dir); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	src := filepath.Join(dir, c.Name())
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		files[service+"/helm/"+service+"/"+filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Refuse makes the server answer every request with status and body, as a
// server that refuses or fails does; status 0 serves the repositories
// again.
func (g *GitServer) Refuse(status int, body string) {
	if status == 0 {
		g.refusal.Store(nil)
		return
	}
	g.refusal.Store(&refusal{status: status, body: body})
}

func (g *GitServer) refusing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ref := g.refusal.Load(); ref != nil {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(ref.status)
			_, _ = io.WriteString(w, ref.body)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (g *GitServer) git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=chartstest", "GIT_AUTHOR_EMAIL=chartstest@example.com",
		"GIT_COMMITTER_NAME=chartstest", "GIT_COMMITTER_EMAIL=chartstest@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
