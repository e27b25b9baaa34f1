package charts

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/semver/v3"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/helmpath"
	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	orasregistry "oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// DefaultOCITemplate is where OCI looks for a service's chart unless told
// otherwise.
const DefaultOCITemplate = "oci://{{.Registry}}/{{.Project}}/{{.Service}}"

// OCIOptions configure an OCI source.
type OCIOptions struct {
	// Registry is the host[:port] the template's {{.Registry}} stands for.
	Registry string
	// Template renders a service's chart repository from .Registry,
	// .Project, .Stage and .Service; DefaultOCITemplate when empty.
	Template string
	// Username and Password are sent as basic auth to Registry, and to no
	// other host, when both are set.
	Username string
	Password string
	// CAFile is a PEM file of certificate authorities trusted besides the
	// system's.
	CAFile string
	// PlainHTTP talks HTTP instead of HTTPS to Registry (only), for a
	// registry on loopback.
	PlainHTTP bool
	// Timeout bounds each request to a registry; one minute when zero.
	Timeout time.Duration
	// FetchTimeout bounds all the requests of one chart's fetch; two
	// minutes when zero.
	FetchTimeout time.Duration
	// MaxChartBytes refuses a chart whose packaged layer, or what it
	// unpacks to, is larger, before it is read; 10 MiB when zero.
	MaxChartBytes int64
	// Cache keeps pulled charts by manifest digest; nil pulls every time.
	Cache *Cache
}

// Bounds of what a registry's answers may hold.
const (
	// maxTagPages bounds the pages of a tag list followed (a registry's
	// Link headers could go on forever).
	maxTagPages = 50
	// maxManifestBytes bounds a chart's manifest.
	maxManifestBytes = 1 << 20
)

// OCI loads charts from an OCI registry. The version comes from
// Ref.Version, a tag or digest in Ref.Chart, or else is the newest semver
// tag of the repository. A tag is resolved to its manifest digest (one HEAD
// request); the chart is pulled only when no chart with that digest is
// cached, and a digest given outright needs no request at all.
//
// Every fetch ends within FetchTimeout, follows at most maxTagPages pages
// of tags and refuses a manifest or chart layer larger than its bound
// before reading it. The credentials and plain HTTP are for the configured
// registry only: a chart on another host (named in a trigger) is fetched
// over HTTPS with no credentials, whatever that host answers.
type OCI struct {
	httpClient   *http.Client
	authCache    auth.Cache
	static       *auth.Credential  // for registry only
	stored       credentials.Store // helm registry login and docker login, per host; may be nil
	plainHTTP    bool
	template     *template.Template
	registry     string
	fetchTimeout time.Duration
	maxBytes     int64
	cache        *Cache
}

// NewOCI returns an OCI source.
func NewOCI(opts OCIOptions) (*OCI, error) {
	text := opts.Template
	if text == "" {
		text = DefaultOCITemplate
	}
	tpl, err := template.New("chart").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse the OCI chart template %q: %w", text, err)
	}
	httpClient, err := registryHTTPClient(opts)
	if err != nil {
		return nil, err
	}
	o := &OCI{
		httpClient: httpClient, authCache: auth.NewCache(), plainHTTP: opts.PlainHTTP,
		template: tpl, registry: opts.Registry, fetchTimeout: opts.FetchTimeout, maxBytes: opts.MaxChartBytes, cache: opts.Cache,
	}
	if o.fetchTimeout <= 0 {
		o.fetchTimeout = 2 * time.Minute
	}
	if o.maxBytes <= 0 {
		o.maxBytes = 10 << 20
	}
	if opts.Username != "" && opts.Password != "" {
		o.static = &auth.Credential{Username: opts.Username, Password: opts.Password}
	}
	o.stored = storedCredentials()
	return o, nil
}

// storedCredentials are those `helm registry login` and `docker login`
// stored, each for its own host; nil when there are none to read. No
// credential helper program is run.
func storedCredentials() credentials.Store {
	opts := credentials.StoreOptions{}
	helmStore, err := credentials.NewStore(helmpath.ConfigPath(registry.CredentialsFileBasename), opts)
	if err != nil {
		return nil
	}
	if docker, err := credentials.NewStoreFromDocker(opts); err == nil {
		return credentials.NewStoreWithFallbacks(helmStore, docker)
	}
	return helmStore
}

// credential gives the configured credentials to the registry's host only,
// and to every host what was stored for it.
func (o *OCI) credential(ctx context.Context, hostport string) (auth.Credential, error) {
	if o.static != nil && hostport == o.registry {
		return *o.static, nil
	}
	if o.stored == nil {
		return auth.EmptyCredential, nil
	}
	return o.stored.Get(ctx, hostport)
}

func registryHTTPClient(opts OCIOptions) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read the registry's CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("registry CA file %s holds no PEM certificate", opts.CAFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	return &http.Client{Transport: transport, Timeout: timeout}, nil
}

// repository is the remote repository repo (host/path), with the
// registry's credentials and plain HTTP when it is on the registry's host.
func (o *OCI) repository(repo string) (*remote.Repository, error) {
	r, err := remote.NewRepository(repo)
	if err != nil {
		return nil, err
	}
	client := &auth.Client{Client: o.httpClient, Cache: o.authCache, Credential: o.credential}
	if host, _, _ := strings.Cut(repo, "/"); o.registry != "" && host == o.registry {
		r.PlainHTTP = o.plainHTTP
	}
	r.Client = client
	return r, nil
}

// Load implements Source.
func (o *OCI) Load(ctx context.Context, ref Ref) (*chart.Chart, error) {
	repo, version, err := o.target(ref)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.fetchTimeout)
	defer cancel()
	r, err := o.repository(repo)
	if err != nil {
		return nil, fmt.Errorf("chart oci://%s: %w", repo, err)
	}
	if version == "" {
		if version, err = o.newestTag(ctx, r, repo); err != nil {
			return nil, err
		}
	}
	digest := version
	if !isDigest(version) {
		desc, err := r.Resolve(ctx, version)
		if err != nil {
			return nil, o.describe(ctx, err, fmt.Sprintf("resolve chart oci://%s:%s", repo, version))
		}
		digest = desc.Digest.String()
	}
	pinned := repo + "@" + digest
	key := "oci:" + pinned
	if ch, ok, err := o.cache.Load(key); ok {
		return ch, err
	}
	data, err := o.pull(ctx, r, pinned, digest)
	if err != nil {
		return nil, err
	}
	if err := checkUnpackedSize("oci://"+pinned, bytes.NewReader(data), int64(len(data)), o.maxBytes); err != nil {
		return nil, err
	}
	files, err := loader.LoadArchiveFiles(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("unpack chart oci://%s: %w", pinned, err)
	}
	return o.cache.loadFiles(key, "oci://"+pinned, files)
}

// newestTag is the highest semver tag of the repository, reading at most
// maxTagPages pages of tags.
func (o *OCI) newestTag(ctx context.Context, r *remote.Repository, repo string) (string, error) {
	var newest *semver.Version
	var tag string
	pages := 0
	err := r.Tags(ctx, "", func(tags []string) error {
		if pages++; pages > maxTagPages {
			return fmt.Errorf("oci://%s lists tags on more than %d pages; pin the chart's version (deployment.chart.version)", repo, maxTagPages)
		}
		for _, t := range tags {
			v, err := semver.StrictNewVersion(strings.ReplaceAll(t, "_", "+"))
			if err == nil && (newest == nil || v.GreaterThan(newest)) {
				newest, tag = v, t
			}
		}
		return nil
	})
	if err != nil {
		return "", o.describe(ctx, err, "list the tags of chart oci://"+repo)
	}
	if newest == nil {
		return "", fmt.Errorf("%w: oci://%s has no semver tag", ErrNotFound, repo)
	}
	return tag, nil
}

// pull reads the chart layer of the manifest digest, refusing a manifest
// or layer larger than its bound before reading it.
func (o *OCI) pull(ctx context.Context, r *remote.Repository, pinned, digest string) ([]byte, error) {
	desc, rc, err := r.Manifests().FetchReference(ctx, digest)
	if err != nil {
		return nil, o.describe(ctx, err, "pull chart oci://"+pinned)
	}
	defer rc.Close()
	if desc.Size > maxManifestBytes {
		return nil, fmt.Errorf("pull chart oci://%s: its manifest is %s, more than the %s a chart's manifest may be", pinned, formatBytes(desc.Size), formatBytes(maxManifestBytes))
	}
	raw, err := content.ReadAll(rc, desc)
	if err != nil {
		return nil, o.describe(ctx, err, "read the manifest of chart oci://"+pinned)
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return nil, fmt.Errorf("pull chart oci://%s: its manifest is not an OCI image manifest: %w", pinned, err)
	}
	var layer *ocispec.Descriptor
	for i, l := range manifest.Layers {
		if l.MediaType == registry.ChartLayerMediaType || l.MediaType == registry.LegacyChartLayerMediaType {
			layer = &manifest.Layers[i]
			break
		}
	}
	if layer == nil {
		return nil, fmt.Errorf("pull chart oci://%s: it is not a Helm chart: its manifest has no layer of type %s", pinned, registry.ChartLayerMediaType)
	}
	if layer.Size > o.maxBytes {
		return nil, &TooLargeError{Path: "oci://" + pinned, Size: layer.Size, Limit: o.maxBytes, What: MeasurePackaged}
	}
	lrc, err := r.Blobs().Fetch(ctx, *layer)
	if err != nil {
		return nil, o.describe(ctx, err, "pull chart oci://"+pinned)
	}
	defer lrc.Close()
	data, err := content.ReadAll(lrc, *layer) // checks the size and digest
	if err != nil {
		return nil, o.describe(ctx, err, "read chart oci://"+pinned)
	}
	return data, nil
}

// target returns the repository (host/path, no scheme) and the version
// asked for, if any.
func (o *OCI) target(ref Ref) (repo, version string, err error) {
	raw := ref.Chart
	if raw == "" {
		var b strings.Builder
		data := map[string]string{"Registry": o.registry, "Project": ref.Project, "Stage": ref.Stage, "Service": ref.Service}
		if err := o.template.Execute(&b, data); err != nil {
			return "", "", fmt.Errorf("render the OCI chart template: %w", err)
		}
		raw = b.String()
	}
	parsed, err := ParseOCIReference(raw)
	if err != nil {
		return "", "", err
	}
	version = ref.Version
	if parsed.Reference != "" {
		if version != "" && version != parsed.Reference {
			return "", "", fmt.Errorf("chart %s names version %s, the trigger asks for %s", raw, parsed.Reference, version)
		}
		version = parsed.Reference
	}
	if version != "" {
		if err := ValidateOCIVersion(version); err != nil {
			return "", "", err
		}
	}
	parsed.Reference = ""
	return parsed.String(), version, nil
}

// ParseOCIReference parses oci://host[:port]/path[:tag|@digest].
func ParseOCIReference(raw string) (orasregistry.Reference, error) {
	rest, ok := strings.CutPrefix(raw, registry.OCIScheme+"://")
	if !ok {
		return orasregistry.Reference{}, fmt.Errorf("%q is not an OCI reference: it must start with oci://", raw)
	}
	// Helm stores the + of a semver build as _ in tags.
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") && !strings.Contains(rest, "@") {
		rest = rest[:i] + strings.ReplaceAll(rest[i:], "+", "_")
	}
	ref, err := orasregistry.ParseReference(rest)
	if err != nil {
		return orasregistry.Reference{}, fmt.Errorf("%q is not a valid OCI reference: %w", raw, err)
	}
	return ref, nil
}

// ValidateOCIVersion checks that v can name a chart version in a registry: a
// tag (semver + becomes _) or a digest.
func ValidateOCIVersion(v string) error {
	r := orasregistry.Reference{Reference: strings.ReplaceAll(v, "+", "_")}
	if isDigest(v) {
		if err := r.ValidateReferenceAsDigest(); err != nil {
			return fmt.Errorf("%q is not a valid digest: %w", v, err)
		}
		return nil
	}
	if err := r.ValidateReferenceAsTag(); err != nil {
		return fmt.Errorf("%q is not a valid tag: %w", v, err)
	}
	return nil
}

func isDigest(v string) bool { return strings.Contains(v, ":") }

// describe wraps a registry error with what was being done, says which
// setting to look at for the common refusals, and leaves out what the
// registry wrote in its answer (its status code is kept).
func (o *OCI) describe(ctx context.Context, err error, doing string) error {
	var resp *errcode.ErrorResponse
	switch {
	case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: not done within %s (CHART_FETCH_TIMEOUT): %w", doing, o.fetchTimeout, context.DeadlineExceeded)
	case errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%s: %w", doing, ErrNotFound)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%s: the registry asks for credentials (set CHART_REGISTRY_USERNAME and CHART_REGISTRY_PASSWORD; they are sent to CHART_REGISTRY's host only): %w", doing, auth.ErrBasicCredentialNotFound)
	case errors.As(err, &resp):
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s: the registry refused the credentials (HTTP %d; check CHART_REGISTRY_USERNAME and CHART_REGISTRY_PASSWORD)", doing, resp.StatusCode)
		case http.StatusNotFound:
			return fmt.Errorf("%s: %w (HTTP 404)", doing, ErrNotFound)
		}
		return fmt.Errorf("%s: the registry answered HTTP %d", doing, resp.StatusCode)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
