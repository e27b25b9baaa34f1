package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// gitServer serves bare git repositories over smart HTTP with git
// http-backend on loopback, for CHART_SOURCE=git: the project's repository,
// one branch per stage, every service's chart in Keptn's layout.
type gitServer struct {
	url  string
	root string
	srv  *http.Server
}

// startGitServer serves the repositories under root.
func startGitServer(root string) (*gitServer, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("the git chart source needs the git command: %w", err)
	}
	backend := &cgi.Handler{
		Path:   filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:    []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
		Stderr: io.Discard,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &gitServer{url: "http://" + ln.Addr().String(), root: root, srv: &http.Server{Handler: backend}}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

func (g *gitServer) close() { _ = g.srv.Close() }

// publish commits chart unpacked as <service>/helm/<service>/ for each
// service into the project's repository, once, and pushes that commit to
// each stage's branch.
func (g *gitServer) publish(work, project, chart string, services, stages []string) error {
	bare := filepath.Join(g.root, project+".git")
	tree := filepath.Join(work, "git-"+project)
	for _, s := range services {
		if err := os.CopyFS(filepath.Join(tree, s, "helm", s), os.DirFS(chart)); err != nil {
			return err
		}
	}
	steps := [][]string{{"init", "--quiet", "--bare", bare}, {"-C", tree, "init", "--quiet"}, {"-C", tree, "add", "--all"},
		{"-C", tree, "commit", "--quiet", "-m", "charts of " + project}}
	for _, stage := range stages {
		steps = append(steps, []string{"-C", tree, "push", "--quiet", bare, "HEAD:refs/heads/" + stage})
	}
	for _, args := range steps {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com",
			"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}
