package helm

import (
	"context"
	"fmt"
	"io"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// Where the policy (policy.go) is enforced, on every action configuration
// a Client hands out (confined):
//
//   - The release storage. Helm writes a release's pending record, with
//     its manifest and every hook, before it runs a hook or applies an
//     object (install, upgrade, rollback). confinedDriver checks that
//     record as it is created: a refused chart leaves no record and
//     touches nothing. This is the one place hooks are seen before they
//     run (Helm does not post-render hooks).
//   - The kube client, as the last word: every list Helm applies, deletes
//     or waits on comes from its Build, and confinedKubeClient refuses a
//     list that breaks the policy whatever the path (a record changed
//     after it was checked, say).
//   - The verbs that act on stored records (Upgrade, Rollback, Recover,
//     Uninstall) check the records they act on first (checkStored):
//     a release record is anyone's input who may write Secrets in the
//     namespace, and acting on a forged one would delete or apply what it
//     lists. Install checks the chart's CRD files, which Helm applies
//     before it renders anything.

// SetAllowedClusterKinds sets the cluster-scoped kinds a release may hold
// (ALLOWED_CLUSTER_KINDS); none by default. Call it before the first
// action.
func (c *Client) SetAllowedClusterKinds(kinds ClusterKinds) { c.clusterKinds = kinds }

// confined returns source with the policy enforced in every configuration
// it gives (see above). A configuration source may hand out the same
// configuration more than once: it is confined once.
func (c *Client) confined(source ConfigSource) ConfigSource {
	return func(ctx context.Context, namespace string) (*action.Configuration, error) {
		cfg, err := source(ctx, namespace)
		if err != nil {
			return nil, err
		}
		if _, done := cfg.Releases.Driver.(*confinedDriver); done {
			return cfg, nil
		}
		inner := cfg.KubeClient
		conf := confinement{
			namespace: namespace,
			kinds:     c.clusterKinds,
			build: func(manifest string) (kube.ResourceList, error) {
				return inner.Build(strings.NewReader(manifest), false)
			},
		}
		cfg.Releases.Driver = &confinedDriver{Driver: cfg.Releases.Driver, conf: conf}
		if wc, ok := inner.(*waitingClient); ok {
			cfg.KubeClient = &confinedKubeClient{waitingClient: wc, conf: conf}
		}
		return cfg, nil
	}
}

// confinedDriver is a release storage driver that refuses to create a
// record whose manifest or hooks break the policy.
type confinedDriver struct {
	driver.Driver
	conf confinement
}

// Create implements driver.Driver.
func (d *confinedDriver) Create(key string, rls *release.Release) error {
	what := fmt.Sprintf("revision %d of release %s/%s", rls.Version, d.conf.namespace, rls.Name)
	if err := d.conf.release(rls, what, ""); err != nil {
		return err
	}
	return d.Driver.Create(key, rls)
}

// confinedKubeClient is helm-service's kube client with the policy applied
// to every list of objects Helm builds.
type confinedKubeClient struct {
	*waitingClient
	conf confinement
}

// Build implements kube.Interface.
func (c *confinedKubeClient) Build(r io.Reader, validate bool) (kube.ResourceList, error) {
	list, err := c.waitingClient.Build(r, validate)
	if err != nil {
		return list, err
	}
	if perr := c.conf.objects(list, "the objects Helm built from the release's manifest or hooks"); perr != nil {
		return nil, perr
	}
	return list, nil
}

// confinementOf is the policy of a configuration confined returned.
func confinementOf(cfg *action.Configuration) (confinement, error) {
	d, ok := cfg.Releases.Driver.(*confinedDriver)
	if !ok {
		return confinement{}, fmt.Errorf("the Helm configuration has no object policy")
	}
	return d.conf, nil
}

// checkStored refuses to act on stored records that list objects the
// policy refuses (a forged record, or one another tool wrote).
func checkStored(cfg *action.Configuration, records ...*release.Release) error {
	conf, err := confinementOf(cfg)
	if err != nil {
		return err
	}
	seen := map[int]bool{}
	for _, rel := range records {
		if rel == nil || seen[rel.Version] {
			continue
		}
		seen[rel.Version] = true
		what := fmt.Sprintf("the stored record of release %s/%s at revision %d", conf.namespace, rel.Name, rel.Version)
		if err := conf.release(rel, what, fmt.Sprintf("sh.helm.release.v1.%s.v%d", rel.Name, rel.Version)); err != nil {
			return err
		}
	}
	return nil
}

// checkCRDs refuses a chart whose CRD files (crds/, which Helm applies on
// install before anything else) hold objects the policy refuses.
func checkCRDs(cfg *action.Configuration, ch *chart.Chart) error {
	if ch == nil {
		return nil
	}
	conf, err := confinementOf(cfg)
	if err != nil {
		return err
	}
	for _, crd := range ch.CRDObjects() {
		if crd.File == nil {
			continue
		}
		if err := conf.manifest(string(crd.File.Data), "the chart's CRD file "+crd.Filename); err != nil {
			return err
		}
	}
	return nil
}
