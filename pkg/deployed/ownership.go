package deployed

import (
	"fmt"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// Owner is the Keptn service a release belongs to, as the labels of the
// records helm-service writes say (kube.LabelProject, kube.LabelStage,
// kube.LabelService).
type Owner struct {
	Project, Stage, Service string
}

// Labels are the labels of o's records.
func (o Owner) Labels() map[string]string {
	return map[string]string{kube.LabelProject: o.Project, kube.LabelStage: o.Stage, kube.LabelService: o.Service}
}

// ownerLabelKeys are the labels of ownership, in the order they are named.
var ownerLabelKeys = []string{kube.LabelProject, kube.LabelStage, kube.LabelService}

// ReleaseNotOwnedError refuses to change a release whose newest record
// does not name the trigger's project, stage and service.
type ReleaseNotOwnedError struct {
	Namespace, Release string
	Revision           int
	Owner              Owner
	// Found are the ownership labels of the record, those it lacks left
	// out.
	Found map[string]string
}

func (e *ReleaseNotOwnedError) Error() string {
	return fmt.Sprintf("release %s/%s (revision %d) is not helm-service's release of project %s, stage %s, service %s: its newest record has %s; helm-service upgrades, rolls back and uninstalls only releases whose records name the trigger's project, stage and service (a release installed by the helm CLI or another tool has none); to hand it over, add %s/%s to ADOPT_RELEASES: the next deployment labels its record, else pick another service name",
		e.Namespace, e.Release, e.Revision, e.Owner.Project, e.Owner.Stage, e.Owner.Service,
		kube.DescribeLabels(e.Found, ownerLabelKeys), e.Namespace, e.Release)
}

// CheckOwner returns nil when rec's labels name owner's project, stage and
// service, else a *ReleaseNotOwnedError saying what they name.
func CheckOwner(rec *helm.Record, owner Owner) error {
	found := map[string]string{}
	for _, k := range ownerLabelKeys {
		if v, ok := rec.Labels[k]; ok {
			found[k] = v
		}
	}
	for k, v := range owner.Labels() {
		if found[k] != v {
			return &ReleaseNotOwnedError{Namespace: rec.Namespace, Release: rec.Name, Revision: rec.Revision, Owner: owner, Found: found}
		}
	}
	return nil
}

// OfSibling says whether rec is a release of another service of owner's
// project and stage: the task of that service's own trigger acts on it,
// and a deployment refuses to share it (see the deployment's shared
// release check).
func OfSibling(rec *helm.Record, owner Owner) bool {
	l := rec.Labels
	return l[kube.LabelProject] == owner.Project && l[kube.LabelStage] == owner.Stage &&
		l[kube.LabelService] != "" && l[kube.LabelService] != owner.Service
}
