package handler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// TestServiceNamedLikeABlueGreenReleaseIsRefused: a direct service
// carts-primary or carts-canary and the blue/green service carts would
// share Helm releases; whichever comes second is refused, before anything
// is written.
func TestServiceNamedLikeABlueGreenReleaseIsRefused(t *testing.T) {
	direct := func(name, owner string) *helm.Record {
		r := record(name, "direct", 1, "x:1")
		r.Labels[kube.LabelService] = owner
		return r
	}
	notFound := fmt.Errorf("release: %w", helm.ErrNotFound)
	cases := []struct {
		name    string
		trigger map[string]any
		expect  func(f *fixture)
		wants   []string
	}{
		{"direct carts-primary where blue/green carts is deployed", directTrigger("carts-primary"), func(f *fixture) {
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(primaryV1, nil).MaxTimes(1)
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(canaryV2, nil).MaxTimes(1)
		}, []string{"service carts-primary", "release sockshop-staging/carts-primary", "primary release of blue_green_service service carts"}},
		{"direct carts-canary where blue/green carts has only its primary", directTrigger("carts-canary"), func(f *fixture) {
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(primaryV1, nil)
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(nil, notFound).MaxTimes(1)
		}, []string{"service carts-canary", "release sockshop-staging/carts-canary", "canary release of blue_green_service service carts"}},
		{"blue/green carts where direct carts-primary is deployed", blueGreenTrigger(), func(f *fixture) {
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(direct("carts-primary", "carts-primary"), nil)
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(nil, notFound).MaxTimes(1)
		}, []string{"service carts", "release sockshop-staging/carts-primary", "direct service carts-primary"}},
		{"blue/green carts where direct carts-canary is deployed", blueGreenTrigger(), func(f *fixture) {
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(nil, notFound).MaxTimes(1)
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(direct("carts-canary", "carts-canary"), nil)
		}, []string{"service carts", "release sockshop-staging/carts-canary", "direct service carts-canary"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t) // no Ensure, Apply or Upgrade: nothing may be written
			f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).MaxTimes(1)
			c.expect(f)
			f.deliver(triggerEvent(t, c.trigger))
			_, data := f.published.finished(t)
			if data.Status != events.StatusErrored || data.Result != events.ResultFail {
				t.Fatalf("finished %s/%s: %s, want errored", data.Status, data.Result, data.Message)
			}
			for _, want := range append(c.wants, "rename") {
				if !strings.Contains(data.Message, want) {
					t.Errorf("message %q does not contain %q", data.Message, want)
				}
			}
		})
	}
}
