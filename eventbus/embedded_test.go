package eventbus

import (
	"strings"
	"testing"
)

func startEmbeddedWith(t *testing.T, opts EmbeddedOptions) (string, error) {
	t.Helper()
	opts.DataDir = t.TempDir()
	ns, err := StartEmbedded(opts)
	if err != nil {
		return "", err
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL(), nil
}

func TestEmbeddedAsksForTheServiceCredentials(t *testing.T) {
	seedFile, _ := newUserKey(t)
	for name, auth := range map[string]Auth{
		"user and password": {User: "helm", Password: "s3cret"},
		"token":             {Token: "t0ken"},
		"NKey seed":         {NKeyFile: seedFile},
	} {
		t.Run(name, func(t *testing.T) {
			url, err := startEmbeddedWith(t, EmbeddedOptions{Listen: "127.0.0.1:0", Auth: auth})
			if err != nil {
				t.Fatal(err)
			}
			expectRoundTrip(t, url, auth)
			expectRefused(t, url, Auth{}, "requires credentials")
		})
	}
}

func TestEmbeddedBeyondLoopbackNeedsCredentials(t *testing.T) {
	_, err := startEmbeddedWith(t, EmbeddedOptions{Listen: "0.0.0.0:0"})
	if err == nil {
		t.Fatal("the embedded server listens on every interface without credentials")
	}
	for _, want := range []string{`NATS_LISTEN "0.0.0.0:0"`, "set NATS_TOKEN", "127.0.0.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := startEmbeddedWith(t, EmbeddedOptions{Listen: "0.0.0.0:0", Auth: Auth{Token: "t0ken"}}); err != nil {
		t.Fatalf("with a token: %v", err)
	}
	if _, err := startEmbeddedWith(t, EmbeddedOptions{Listen: "localhost:0"}); err != nil {
		t.Fatalf("on localhost without credentials: %v", err)
	}
}

func TestEmbeddedRefusesSettingsForExternalServers(t *testing.T) {
	p := newPKI(t, "good")
	for name, c := range map[string]struct {
		auth Auth
		want string
	}{
		"creds file": {Auth{CredsFile: writeFile(t, "user.creds", []byte("x"))}, "NATS_CREDS_FILE needs an external NATS server"},
		"TLS":        {Auth{TLSCAFile: p.caFile}, "the embedded server does not serve TLS"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := startEmbeddedWith(t, EmbeddedOptions{Listen: "127.0.0.1:0", Auth: c.auth})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}
