package charts

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/helm-service/helm-service/pkg/charts/chartstest"
)

// A fetch error says what failed for which repository, without the
// credentials in CHART_GIT_URL and without the text the server answered.
func TestGitErrorsNameTheRepositoryNotTheServersText(t *testing.T) {
	const urlSecret, serverSecret = "urlSecret42", "serverSecret42"
	for name, tc := range map[string]struct {
		status  int
		body    string
		project string
		is      error
		want    []string
	}{
		"credentials refused": {http.StatusForbidden, "token of " + serverSecret + " expired", "sockshop", transport.ErrAuthorizationFailed,
			[]string{"refused the credentials", "CHART_GIT_TOKEN", "branch staging", "/sockshop.git"}},
		"credentials required": {http.StatusUnauthorized, "login as " + serverSecret, "sockshop", transport.ErrAuthenticationRequired,
			[]string{"refused the credentials", "/sockshop.git"}},
		"no such repository, with a body": {http.StatusNotFound, "no repo at " + serverSecret, "sockshop", transport.ErrRepositoryNotFound,
			[]string{"no such repository", "CHART_GIT_URL", "/sockshop.git"}},
		"server error": {http.StatusInternalServerError, "stack of " + serverSecret, "sockshop", nil,
			[]string{"branch staging", "/sockshop.git"}},
		"no such repository": {0, "", "nothere", transport.ErrRepositoryNotFound,
			[]string{"no such repository", "/nothere.git"}},
	} {
		t.Run(name, func(t *testing.T) {
			srv := chartstest.StartGitServer(t)
			srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "1.0.0", "x"), true))
			withCredentials := strings.Replace(srv.URL, "://", "://helm:"+urlSecret+"@", 1)
			dir := t.TempDir()
			g, err := NewGit(GitOptions{URL: withCredentials + "/{{.Project}}.git", RepoDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			srv.Refuse(tc.status, tc.body)
			_, err = g.Load(context.Background(), Ref{Project: tc.project, Stage: "staging", Service: "carts"})
			if err == nil {
				t.Fatal("loaded a chart from a refusing server")
			}
			msg := err.Error()
			for _, secret := range []string{urlSecret, serverSecret} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows %s", msg, secret)
				}
			}
			for _, w := range append(tc.want, srv.URL+"/"+tc.project+".git") {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", msg, tc.is)
			}
			// Nor are the credentials kept on disk.
			err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := os.ReadFile(path)
				if strings.Contains(string(data), urlSecret) {
					t.Errorf("%s holds the password of CHART_GIT_URL", path)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
