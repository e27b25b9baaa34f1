package eventbus

import (
	"os"
	"path/filepath"
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

// The embedded server's data directory is this user's alone, and its
// JetStream storage is bounded.
func TestEmbeddedDataIsPrivateAndBounded(t *testing.T) {
	parent := t.TempDir()
	fresh := filepath.Join(parent, "fresh")
	ns, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: fresh, MaxStore: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	limits := ns.JetStreamConfig()
	ns.Shutdown()
	if limits == nil || limits.MaxStore != 64<<20 || limits.MaxMemory != embeddedMaxMemory {
		t.Errorf("JetStream limits %+v, want store 64 MiB and memory 256 MiB", limits)
	}
	if info, err := os.Stat(fresh); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("new data dir: %v, mode %v; want 0700", err, info.Mode().Perm())
	}

	open := filepath.Join(parent, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	ns, err = StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: open})
	if err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	if info, _ := os.Stat(open); info.Mode().Perm() != 0o700 {
		t.Errorf("data dir open to all: mode %v after the start, want 0700", info.Mode().Perm())
	}

	link := filepath.Join(parent, "link")
	if err := os.Symlink(open, link); err != nil {
		t.Fatal(err)
	}
	if _, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: link}); err == nil || !strings.Contains(err.Error(), "NATS_DATA_DIR") {
		t.Errorf("data dir that is a link: %v, want refused naming NATS_DATA_DIR", err)
	}
}
