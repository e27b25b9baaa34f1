package charts

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/template"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/errdef"
	orasregistry "oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
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
	// Username and Password are sent as basic auth when both are set.
	Username string
	Password string
	// CAFile is a PEM file of certificate authorities trusted besides the
	// system's.
	CAFile string
	// PlainHTTP talks HTTP instead of HTTPS, for a registry on loopback.
	PlainHTTP bool
	// Timeout bounds each request to the registry; one minute when zero.
	Timeout time.Duration
	// Cache keeps pulled charts by manifest digest; nil pulls every time.
	Cache *Cache
}

// OCI loads charts from an OCI registry with Helm's registry client. The
// version comes from Ref.Version, a tag or digest in Ref.Chart, or else is
// the newest semver tag of the repository. A tag is resolved to its manifest
// digest (one HEAD request); the chart is pulled only when no chart with that
// digest is cached, and a digest given outright needs no request at all.
//
// The credentials and plain HTTP are for the configured registry only: a
// chart on another host (named in a trigger) is fetched over HTTPS with no
// credentials of helm-service's, whatever that host answers.
type OCI struct {
	own      *registry.Client // for Registry: credentials, plain HTTP
	other    *registry.Client // for every other host
	template *template.Template
	registry string
	cache    *Cache
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
	common := []registry.ClientOption{registry.ClientOptHTTPClient(httpClient), registry.ClientOptEnableCache(true)}
	ownOpts := slices.Clone(common)
	if opts.Username != "" || opts.Password != "" {
		ownOpts = append(ownOpts, registry.ClientOptBasicAuth(opts.Username, opts.Password))
	}
	if opts.PlainHTTP {
		ownOpts = append(ownOpts, registry.ClientOptPlainHTTP())
	}
	own, err := registry.NewClient(ownOpts...)
	if err != nil {
		return nil, fmt.Errorf("OCI registry client: %w", err)
	}
	other, err := registry.NewClient(common...)
	if err != nil {
		return nil, fmt.Errorf("OCI registry client: %w", err)
	}
	return &OCI{own: own, other: other, template: tpl, registry: opts.Registry, cache: opts.Cache}, nil
}

// clientFor is the client for the repository's host: the configured
// registry's, with its credentials and plain HTTP, or one with neither.
func (o *OCI) clientFor(repo string) *registry.Client {
	if host, _, _ := strings.Cut(repo, "/"); o.registry != "" && host == o.registry {
		return o.own
	}
	return o.other
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

// Load implements Source.
func (o *OCI) Load(ctx context.Context, ref Ref) (*chart.Chart, error) {
	repo, version, err := o.target(ref)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	client := o.clientFor(repo)
	if version == "" {
		tags, err := client.Tags(repo)
		if err != nil {
			return nil, o.describe(err, "list the tags of chart oci://"+repo)
		}
		if len(tags) == 0 {
			return nil, fmt.Errorf("%w: oci://%s has no semver tag", ErrNotFound, repo)
		}
		version = tags[0]
	}
	digest := version
	if !isDigest(version) {
		desc, err := client.Resolve(repo + ":" + version)
		if err != nil {
			return nil, o.describe(err, fmt.Sprintf("resolve chart oci://%s:%s", repo, version))
		}
		digest = desc.Digest.String()
	}
	pinned := repo + "@" + digest
	key := "oci:" + pinned
	if ch, ok, err := o.cache.Load(key); ok {
		return ch, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res, err := client.Pull(pinned, registry.PullOptWithChart(true))
	if err != nil {
		return nil, o.describe(err, "pull chart oci://"+pinned)
	}
	files, err := loader.LoadArchiveFiles(bytes.NewReader(res.Chart.Data))
	if err != nil {
		return nil, fmt.Errorf("unpack chart oci://%s: %w", pinned, err)
	}
	return o.cache.loadFiles(key, "oci://"+pinned, files)
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

// describe wraps a registry error with what was being done, and says which
// setting to look at for the common refusals.
func (o *OCI) describe(err error, doing string) error {
	var resp *errcode.ErrorResponse
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%s: %w: %w", doing, ErrNotFound, err)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%s: the registry asks for credentials (set CHART_REGISTRY_USERNAME and CHART_REGISTRY_PASSWORD): %w", doing, err)
	}
	if errors.As(err, &resp) {
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s: the registry refused the credentials (HTTP %d; check CHART_REGISTRY_USERNAME and CHART_REGISTRY_PASSWORD): %w", doing, resp.StatusCode, err)
		case http.StatusNotFound:
			return fmt.Errorf("%s: %w: %w", doing, ErrNotFound, err)
		}
	}
	return fmt.Errorf("%s: %w", doing, err)
}
