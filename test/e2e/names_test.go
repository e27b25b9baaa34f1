package e2e

import "testing"

// TestNameCollisionsAreRefused: the direct service shop-primary and the
// blue/green service shop would share the Helm release shop-primary (and
// cart-canary and cart the release cart-canary). Whichever comes second is
// refused, naming both, and the first one's releases are left as they are.
func TestNameCollisionsAreRefused(t *testing.T) {
	project, stage := suite.project("names"), "prod"
	ns := project + "-" + stage
	for _, svc := range []string{"shop", "shop-primary", "cart", "cart-canary"} {
		copyChart(t, project, svc, "carts")
	}

	t.Run("direct service named like a blue/green primary", func(t *testing.T) {
		suite.deployBlueGreen(t, project, stage, "shop", nil)
		before := helmRelease(t, ns, "shop-primary")
		_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "shop-primary", "direct", map[string]any{"image": "example/shop:2"})), deployTimeout)
		expectErrored(t, data, "service shop-primary", "release "+ns+"/shop-primary", "primary release of blue_green_service service shop", "rename")
		after := helmRelease(t, ns, "shop-primary")
		if after.revision != before.revision || after.status != "deployed" {
			t.Errorf("release shop-primary went from revision %s (%s) to %s (%s), want it untouched", before.revision, before.status, after.revision, after.status)
		}
		if img := image(t, ns, "shop-primary"); img == "example/shop:2" {
			t.Errorf("the primary of shop runs %s, the direct service's image", img)
		}
	})

	t.Run("blue/green service whose canary name a direct service has", func(t *testing.T) {
		_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "cart-canary", "direct", nil)), deployTimeout)
		expectSucceeded(t, data)
		before := helmRelease(t, ns, "cart-canary")
		_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "cart", "blue_green_service", nil)), deployTimeout)
		expectErrored(t, data, "service cart", "canary release "+ns+"/cart-canary", "direct service cart-canary", "rename")
		if n := releaseRecords(t, ns, "cart-primary"); n != 0 {
			t.Errorf("%d records of release cart-primary: the refused deployment installed a primary", n)
		}
		if after := helmRelease(t, ns, "cart-canary"); after.revision != before.revision {
			t.Errorf("release cart-canary went from revision %s to %s, want it untouched", before.revision, after.revision)
		}
	})
}
