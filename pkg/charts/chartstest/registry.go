// Package chartstest runs chart sources for tests: an OCI registry
// (distribution/distribution, in process) and a git server (git
// http-backend), both on loopback and counting the requests they serve.
package chartstest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"

	// The registry's in-memory storage and htpasswd authentication.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Counter counts HTTP requests by method and path.
type Counter struct {
	mu       sync.Mutex
	requests []string
}

func (c *Counter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.requests = append(c.requests, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// Requests returns the requests served so far, as "METHOD /path".
func (c *Counter) Requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.requests...)
}

// Since returns the requests served after the first n.
func (c *Counter) Since(n int) []string { return c.Requests()[n:] }

// Len returns how many requests were served.
func (c *Counter) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.requests)
}

// Registry is an OCI registry on loopback.
type Registry struct {
	Counter
	// Host is host:port, as used in oci:// references.
	Host string
	// CAFile is the PEM certificate of a TLS registry; empty for plain
	// HTTP.
	CAFile string
	// Username and Password are the only credentials a registry with basic
	// auth accepts.
	Username, Password string

	client *registry.Client
}

// RegistryOptions choose how the registry is served.
type RegistryOptions struct {
	// BasicAuth requires Username and Password.
	BasicAuth bool
	// TLS serves HTTPS with a certificate of its own CA (Registry.CAFile).
	TLS bool
}

// StartRegistry starts a registry on 127.0.0.1 for the rest of the test.
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	dir := t.TempDir()
	cfg := &configuration.Configuration{}
	cfg.Storage = configuration.Storage{"inmemory": configuration.Parameters{}}
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "error"
	r := &Registry{}
	if opts.BasicAuth {
		r.Username, r.Password = "deployer", "s3cret"
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", r.Username, hash), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "chartstest", "path": htpasswd}}
	}
	// The registry logs every request through logrus' standard logger,
	// which it offers no other way to quiet.
	logrus.SetLevel(logrus.FatalLevel)
	app := handlers.NewApp(context.Background(), cfg)
	srv := httptest.NewUnstartedServer(r.wrap(app))
	if opts.TLS {
		srv.StartTLS()
		r.CAFile = filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(r.CAFile, pemCertificate(srv), 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(strings.TrimPrefix(srv.URL, "http://"), "https://")

	clientOpts := []registry.ClientOption{registry.ClientOptHTTPClient(srv.Client()), registry.ClientOptCredentialsFile(filepath.Join(dir, "credentials.json"))}
	if opts.BasicAuth {
		clientOpts = append(clientOpts, registry.ClientOptBasicAuth(r.Username, r.Password))
	}
	if !opts.TLS {
		clientOpts = append(clientOpts, registry.ClientOptPlainHTTP())
	}
	client, err := registry.NewClient(clientOpts...)
	if err != nil {
		t.Fatal(err)
	}
	r.client = client
	return r
}

// Push packages c and pushes it to oci://<host>/<repository>:<its version>
// with Helm's registry client, and returns the manifest digest.
func (r *Registry) Push(t testing.TB, repository string, c *chart.Chart) string {
	t.Helper()
	data := Package(t, c)
	ref := fmt.Sprintf("%s/%s:%s", r.Host, repository, c.Metadata.Version)
	res, err := r.client.Push(data, ref)
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return res.Manifest.Digest
}

// Package returns c as a .tgz archive.
func Package(t testing.TB, c *chart.Chart) []byte {
	t.Helper()
	dir := t.TempDir()
	path, err := chartutil.Save(c, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
