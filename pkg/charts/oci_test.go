package charts

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/charts/chartstest"
)

func newOCI(t *testing.T, reg *chartstest.Registry, opts OCIOptions) *OCI {
	t.Helper()
	opts.Registry = reg.Host
	if reg.CAFile == "" {
		opts.PlainHTTP = true
	}
	o, err := NewOCI(opts)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// pulls counts the requests that fetch a manifest or a blob: what a cached
// chart must not need.
func pulls(requests []string) []string {
	var out []string
	for _, r := range requests {
		if strings.HasPrefix(r, "GET ") && (strings.Contains(r, "/manifests/") || strings.Contains(r, "/blobs/")) {
			out = append(out, r)
		}
	}
	return out
}

func TestOCIVersions(t *testing.T) {
	reg := chartstest.StartRegistry(t, chartstest.RegistryOptions{})
	reg.Push(t, "sockshop/carts", chartstest.Chart("carts", "1.2.0", "one-two"))
	digest10 := reg.Push(t, "sockshop/carts", chartstest.Chart("carts", "1.10.0", "one-ten"))
	reg.Push(t, "sockshop/carts", chartstest.Chart("carts", "1.9.0", "one-nine"))
	o := newOCI(t, reg, OCIOptions{})
	ctx := context.Background()
	ref := Ref{Project: "sockshop", Stage: "dev", Service: "carts"}

	for _, tc := range []struct {
		name, version, want string
	}{
		{"newest semver tag", "", "1.10.0"},
		{"explicit tag", "1.2.0", "1.2.0"},
		{"digest", digest10, "1.10.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ref
			r.Version = tc.version
			ch, err := o.Load(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if ch.Metadata.Version != tc.want {
				t.Errorf("version %s, want %s", ch.Metadata.Version, tc.want)
			}
		})
	}

	r := ref
	r.Version = "3.0.0"
	_, err := o.Load(ctx, r)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), reg.Host+"/sockshop/carts:3.0.0") {
		t.Errorf("unknown version: %v, want ErrNotFound naming the reference", err)
	}
	_, err = o.Load(ctx, Ref{Project: "sockshop", Stage: "dev", Service: "orders"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown repository: %v, want ErrNotFound", err)
	}
}

func TestOCIExplicitChart(t *testing.T) {
	reg := chartstest.StartRegistry(t, chartstest.RegistryOptions{})
	reg.Push(t, "shared/web", chartstest.Chart("web", "0.3.0", "shared"))
	o := newOCI(t, reg, OCIOptions{})
	ctx := context.Background()
	base := Ref{Project: "sockshop", Stage: "dev", Service: "carts"}

	for _, tc := range []struct{ chart, version string }{
		{"oci://" + reg.Host + "/shared/web", "0.3.0"},
		{"oci://" + reg.Host + "/shared/web:0.3.0", ""},
		{"oci://" + reg.Host + "/shared/web", ""},
	} {
		r := base
		r.Chart, r.Version = tc.chart, tc.version
		ch, err := o.Load(ctx, r)
		if err != nil {
			t.Fatalf("%s version %q: %v", tc.chart, tc.version, err)
		}
		if ch.Metadata.Name != "web" || ch.Values["message"] != "shared" {
			t.Errorf("%s: chart %s with %v", tc.chart, ch.Metadata.Name, ch.Values)
		}
	}
	r := base
	r.Chart, r.Version = "oci://"+reg.Host+"/shared/web:0.3.0", "0.4.0"
	if _, err := o.Load(ctx, r); err == nil || !strings.Contains(err.Error(), "0.4.0") {
		t.Errorf("tag and version disagreeing: %v", err)
	}
}

func TestOCIBasicAuth(t *testing.T) {
	reg := chartstest.StartRegistry(t, chartstest.RegistryOptions{BasicAuth: true})
	reg.Push(t, "sockshop/carts", chartstest.Chart("carts", "1.0.0", "hi"))
	ref := Ref{Project: "sockshop", Stage: "dev", Service: "carts", Version: "1.0.0"}

	good := newOCI(t, reg, OCIOptions{Username: reg.Username, Password: reg.Password})
	if _, err := good.Load(context.Background(), ref); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	for name, opts := range map[string]OCIOptions{
		"wrong password": {Username: reg.Username, Password: "wrong"},
		"none":           {},
	} {
		_, err := newOCI(t, reg, opts).Load(context.Background(), ref)
		if err == nil || !strings.Contains(err.Error(), "credentials") || !strings.Contains(err.Error(), "CHART_REGISTRY_PASSWORD") {
			t.Errorf("%s: %v, want the registry's refusal naming the settings", name, err)
		}
	}
}

func TestOCITLSWithCAFile(t *testing.T) {
	reg := chartstest.StartRegistry(t, chartstest.RegistryOptions{TLS: true})
	reg.Push(t, "sockshop/carts", chartstest.Chart("carts", "1.0.0", "tls"))
	ref := Ref{Project: "sockshop", Stage: "dev", Service: "carts"}

	if _, err := newOCI(t, reg, OCIOptions{CAFile: reg.CAFile}).Load(context.Background(), ref); err != nil {
		t.Fatalf("with CHART_REGISTRY_CA_FILE: %v", err)
	}
	if _, err := newOCI(t, reg, OCIOptions{}).Load(context.Background(), ref); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v, want a certificate error", err)
	}
	if _, err := NewOCI(OCIOptions{CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Error("a missing CA file was accepted")
	}
}

func TestOCICacheSkipsThePull(t *testing.T) {
	reg := chartstest.StartRegistry(t, chartstest.RegistryOptions{BasicAuth: true})
	digest := reg.Push(t, "sockshop/carts", chartstest.Chart("carts", "1.0.0", "cached"))
	o := newOCI(t, reg, OCIOptions{Username: reg.Username, Password: reg.Password, Cache: NewCache(10, 1<<20)})
	ctx := context.Background()
	ref := Ref{Project: "sockshop", Stage: "dev", Service: "carts", Version: "1.0.0"}

	before := reg.Len()
	if _, err := o.Load(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if got := pulls(reg.Since(before)); len(got) == 0 {
		t.Fatalf("first load fetched nothing: %v", reg.Since(before))
	}

	// Same tag again: resolved to its digest, not pulled.
	before = reg.Len()
	ch, err := o.Load(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := pulls(reg.Since(before)); len(got) != 0 {
		t.Errorf("second load of a cached chart fetched %v", got)
	}
	if ch.Values["message"] != "cached" {
		t.Errorf("cached chart values %v", ch.Values)
	}

	// Pinned by digest: no request at all.
	before = reg.Len()
	ref.Version = digest
	if _, err := o.Load(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if got := reg.Since(before); len(got) != 0 {
		t.Errorf("a cached digest still sent %v", got)
	}

	// A tag moved to another chart is pulled again.
	reg.Push(t, "sockshop/carts", chartstest.Chart("carts", "1.0.0", "moved"))
	ref.Version = "1.0.0"
	ch, err = o.Load(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Values["message"] != "moved" {
		t.Errorf("after the tag moved the chart says %v, want the new chart", ch.Values["message"])
	}
}

func TestOCIReferenceValidation(t *testing.T) {
	for _, bad := range []string{"carts", "https://example.com/carts", "oci://", "oci://Example.com/UPPER", "oci://example.com/carts:bad tag"} {
		if _, err := ParseOCIReference(bad); err == nil {
			t.Errorf("ParseOCIReference(%q) accepted it", bad)
		}
	}
	for _, good := range []string{"oci://example.com/carts", "oci://127.0.0.1:5000/a/b:1.0.0+build.1", "oci://example.com/c@sha256:" + strings.Repeat("a", 64)} {
		if _, err := ParseOCIReference(good); err != nil {
			t.Errorf("ParseOCIReference(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"1.0 0", "sha256:xyz", "-1"} {
		if err := ValidateOCIVersion(bad); err == nil {
			t.Errorf("ValidateOCIVersion(%q) accepted it", bad)
		}
	}
	if err := ValidateOCIVersion("1.2.3+build.4"); err != nil {
		t.Errorf("semver with build metadata: %v", err)
	}
	if _, err := NewOCI(OCIOptions{Template: "oci://{{.Registry"}); err == nil {
		t.Error("a broken template was accepted")
	}
}

func BenchmarkOCILoad(b *testing.B) {
	reg := chartstest.StartRegistry(b, chartstest.RegistryOptions{})
	reg.Push(b, "sockshop/carts", chartstest.Chart("carts", "1.0.0", "bench"))
	ref := Ref{Project: "sockshop", Stage: "dev", Service: "carts", Version: "1.0.0"}
	for _, bc := range []struct {
		name  string
		cache *Cache
	}{{"cold", nil}, {"cached", NewCache(10, 1<<20)}} {
		b.Run(bc.name, func(b *testing.B) {
			o, err := NewOCI(OCIOptions{Registry: reg.Host, PlainHTTP: true, Cache: bc.cache})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := o.Load(context.Background(), ref); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// authRecorder is a registry-like HTTPS server that asks every request for
// basic auth and records the Authorization header each one carried.
type authRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func startAuthRecorder(t *testing.T, alsoTrust string) (*authRecorder, string) {
	t.Helper()
	r := &authRecorder{}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Method+" "+req.URL.Path+" auth="+req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="recorder"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(r.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate().Raw})
	other, err := os.ReadFile(alsoTrust)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, append(other, cert...), 0o600); err != nil {
		t.Fatal(err)
	}
	return r, ca
}

// The credentials configured for CHART_REGISTRY never go to another host,
// even one that asks for basic auth.
func TestOCICredentialsStayWithTheirRegistry(t *testing.T) {
	own := chartstest.StartRegistry(t, chartstest.RegistryOptions{BasicAuth: true, TLS: true})
	own.Push(t, "sockshop/carts", chartstest.Chart("carts", "1.0.0", "own"))
	recorder, ca := startAuthRecorder(t, own.CAFile)
	o := newOCI(t, own, OCIOptions{Username: own.Username, Password: own.Password, CAFile: ca})

	if _, err := o.Load(context.Background(), Ref{Project: "sockshop", Stage: "dev", Service: "carts", Version: "1.0.0"}); err != nil {
		t.Fatalf("the configured registry with its credentials: %v", err)
	}
	other := strings.TrimPrefix(recorder.URL, "https://")
	_, err := o.Load(context.Background(), Ref{Project: "sockshop", Stage: "dev", Service: "carts", Chart: "oci://" + other + "/shared/web:1.0.0"})
	if err == nil {
		t.Fatal("the recorder served a chart")
	}
	recorder.mu.Lock()
	seen := slices.Clone(recorder.seen)
	recorder.mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("no request reached the other registry")
	}
	for _, s := range seen {
		if !strings.HasSuffix(s, "auth=") {
			t.Errorf("a request to another host carried credentials: %s", s)
		}
	}

}

// Plain HTTP is for the configured registry only: another host on plain
// HTTP is not fetched.
func TestOCIPlainHTTPStaysWithItsRegistry(t *testing.T) {
	own := chartstest.StartRegistry(t, chartstest.RegistryOptions{})
	own.Push(t, "sockshop/carts", chartstest.Chart("carts", "1.0.0", "own"))
	o := newOCI(t, own, OCIOptions{})
	if _, err := o.Load(context.Background(), Ref{Project: "sockshop", Stage: "dev", Service: "carts", Version: "1.0.0"}); err != nil {
		t.Fatalf("the configured registry on plain HTTP: %v", err)
	}
	plain := chartstest.StartRegistry(t, chartstest.RegistryOptions{})
	plain.Push(t, "shared/web", chartstest.Chart("web", "1.0.0", "plain"))
	if _, err := o.Load(context.Background(), Ref{Project: "sockshop", Stage: "dev", Service: "carts", Chart: "oci://" + plain.Host + "/shared/web:1.0.0"}); err == nil {
		t.Error("a chart on another host was fetched over plain HTTP")
	}
}

// A chart layer larger than MAX_CHART_BYTES is refused from its manifest,
// before its blob is requested.
func TestOCIRefusesALargeLayerBeforeReadingIt(t *testing.T) {
	reg := chartstest.StartRegistry(t, chartstest.RegistryOptions{})
	big := chartstest.Chart("carts", "1.0.0", "big")
	big.Files = append(big.Files, &chart.File{Name: "files/noise", Data: randomBytes(t, 200<<10)})
	reg.Push(t, "sockshop/carts", big)
	o := newOCI(t, reg, OCIOptions{MaxChartBytes: 64 << 10})
	before := reg.Len()
	_, err := o.Load(context.Background(), Ref{Project: "sockshop", Stage: "dev", Service: "carts", Version: "1.0.0"})
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) {
		t.Fatalf("a 200 KiB chart with a 64 KiB limit: %v, want a TooLargeError", err)
	}
	for _, r := range reg.Since(before) {
		if strings.Contains(r, "/blobs/") {
			t.Errorf("the oversized layer was requested: %s", r)
		}
	}
}

// A registry whose tag list goes on page after page is read for
// maxTagPages pages, then refused with a message saying to pin a version;
// one that does not answer is given up on after the fetch deadline. The
// deadline is shortened to 1 s here (the default is CHART_FETCH_TIMEOUT's
// 2 minutes) to keep the test short.
func TestOCIBoundsEndlessTagsAndSlowRegistries(t *testing.T) {
	var pages atomic.Int64
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case strings.HasSuffix(req.URL.Path, "/tags/list"):
			n := pages.Add(1)
			w.Header().Set("Link", fmt.Sprintf(`</v2/sockshop/carts/tags/list?last=t%d&n=10>; rel="next"`, n))
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"name":"sockshop/carts","tags":["0.0.%d"]}`, n)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(endless.Close)
	o, err := NewOCI(OCIOptions{Registry: strings.TrimPrefix(endless.URL, "http://"), PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Load(context.Background(), Ref{Project: "sockshop", Stage: "dev", Service: "carts"})
	if err == nil || !strings.Contains(err.Error(), "more than 50 pages") || !strings.Contains(err.Error(), "deployment.chart.version") {
		t.Fatalf("endless tag pages: %v, want refused after 50 pages, saying to pin the version", err)
	}
	if n := pages.Load(); n > maxTagPages+1 {
		t.Errorf("read %d pages of tags, want at most %d", n, maxTagPages+1)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	o, err = NewOCI(OCIOptions{Registry: strings.TrimPrefix(slow.URL, "http://"), PlainHTTP: true, FetchTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = o.Load(context.Background(), Ref{Project: "sockshop", Stage: "dev", Service: "carts", Version: "1.0.0"})
	if err == nil || !strings.Contains(err.Error(), "CHART_FETCH_TIMEOUT") {
		t.Fatalf("a registry that does not answer: %v, want the fetch deadline naming CHART_FETCH_TIMEOUT", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("gave up after %s, want about the 1 s deadline", took)
	}
}

// The chart mounts a docker config.json and points DOCKER_CONFIG at its
// directory (charts.registry.dockerConfigKey): the credentials there are
// used for their host when no CHART_REGISTRY_USERNAME/PASSWORD are set.
func TestOCIDockerConfigFromDOCKER_CONFIG(t *testing.T) {
	reg := chartstest.StartRegistry(t, chartstest.RegistryOptions{BasicAuth: true})
	reg.Push(t, "sockshop/carts", chartstest.Chart("carts", "1.0.0", "hi"))
	ref := Ref{Project: "sockshop", Stage: "dev", Service: "carts", Version: "1.0.0"}
	t.Setenv("HELM_CONFIG_HOME", t.TempDir()) // no `helm registry login` of the machine's

	for _, tc := range []struct {
		name     string
		password string
		wantErr  string
	}{
		{name: "the registry's credentials", password: reg.Password},
		{name: "a wrong password", password: "wrong", wantErr: "credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			auth := base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + tc.password))
			config := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, reg.Host, auth)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("DOCKER_CONFIG", dir)
			_, err := newOCI(t, reg, OCIOptions{}).Load(context.Background(), ref)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("load with the docker config: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("load = %v, want an error naming %q", err, tc.wantErr)
			}
		})
	}
}
