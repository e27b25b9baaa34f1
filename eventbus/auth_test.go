package eventbus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// startSecuredServer starts a real NATS server with JetStream in process,
// secured by secure, on a free loopback port.
func startSecuredServer(t *testing.T, secure func(*server.Options)) string {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoSigs:    true,
		NoLog:     true,
	}
	secure(opts)
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// expectRoundTrip connects with auth in JetStream mode and proves
// everything helm-service needs works: the stream and a durable consumer,
// publishing an event and receiving it, acknowledging it, and a key-value
// bucket.
func expectRoundTrip(t *testing.T, url string, auth Auth) {
	t.Helper()
	b, err := Connect(context.Background(), Options{URL: url, Mode: ModeJetStream, Auth: auth, Log: quiet})
	if err != nil {
		t.Fatalf("connect with good credentials: %v", err)
	}
	defer b.Close()
	ctx := context.Background()
	kv, err := b.KeyValue(ctx, "auth-ledger", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "trigger-1", []byte("finished")); err != nil {
		t.Fatal(err)
	}
	if entry, err := kv.Get(ctx, "trigger-1"); err != nil || string(entry.Value()) != "finished" {
		t.Fatalf("key-value read back %v, %v", entry, err)
	}
	got := make(chan Delivery, 1)
	if err := b.Subscribe(ctx, []string{triggered}, "helm-service", func(_ context.Context, d Delivery) { got <- d }); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, testEvent("auth-1")); err != nil {
		t.Fatal(err)
	}
	d := receive(t, got)
	if d.DecodeErr != nil || d.Event.ID() != "auth-1" || !d.Settled() {
		t.Fatalf("received %+v, want event auth-1 from JetStream", d)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("ack: %v", err)
	}
}

// expectRefused connects with auth and checks that the error says each of
// wants.
func expectRefused(t *testing.T, url string, auth Auth, wants ...string) {
	t.Helper()
	b, err := Connect(context.Background(), Options{URL: url, Mode: ModeJetStream, Auth: auth, Log: quiet})
	if err == nil {
		b.Close()
		t.Fatal("connected with wrong credentials")
	}
	t.Logf("refused: %v", err)
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestAuthUserPassword(t *testing.T) {
	url := startSecuredServer(t, func(o *server.Options) { o.Username, o.Password = "helm", "s3cret" })
	expectRoundTrip(t, url, Auth{User: "helm", Password: "s3cret"})
	expectRefused(t, url, Auth{User: "helm", Password: "wrong"}, url, "authorization violation", "refused the credentials", "check NATS_USER/NATS_PASSWORD")
	expectRefused(t, url, Auth{}, "requires credentials", "set NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS_FILE or NATS_NKEY_FILE")
}

func TestAuthToken(t *testing.T) {
	url := startSecuredServer(t, func(o *server.Options) { o.Authorization = "t0ken" })
	expectRoundTrip(t, url, Auth{Token: "t0ken"})
	expectRefused(t, url, Auth{Token: "other"}, "authorization violation", "check NATS_TOKEN")
}

// writeFile writes data to name in a temporary directory and returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newUserKey(t *testing.T) (seedFile, public string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	public, _ = kp.PublicKey()
	return writeFile(t, "user.nk", seed), public
}

func TestAuthNKey(t *testing.T) {
	seedFile, public := newUserKey(t)
	url := startSecuredServer(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: public}} })
	expectRoundTrip(t, url, Auth{NKeyFile: seedFile})
	otherSeed, _ := newUserKey(t)
	expectRefused(t, url, Auth{NKeyFile: otherSeed}, "authorization violation", "check NATS_NKEY_FILE")
	expectRefused(t, url, Auth{NKeyFile: writeFile(t, "bad.nk", []byte("not a seed"))}, "NATS_NKEY_FILE")
}

// operator is a NATS operator with one account, in JWTs, as nsc makes
// them.
type operator struct {
	claims     *jwt.OperatorClaims
	resolver   *server.MemAccResolver
	system     string
	accountKey nkeys.KeyPair
}

// newOperator creates an operator, its system account and an account with
// JetStream enabled, and a memory resolver holding both accounts.
func newOperator(t *testing.T) *operator {
	t.Helper()
	opKey, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	opPub, _ := opKey.PublicKey()
	op := &operator{claims: jwt.NewOperatorClaims(opPub), resolver: &server.MemAccResolver{}}
	op.claims.Name = "test-operator"
	if _, err := op.claims.Encode(opKey); err != nil { // signs it
		t.Fatal(err)
	}
	addAccount := func(name string, jetStream bool) (nkeys.KeyPair, string) {
		key, err := nkeys.CreateAccount()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := key.PublicKey()
		claims := jwt.NewAccountClaims(pub)
		claims.Name = name
		if jetStream {
			claims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		token, err := claims.Encode(opKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := op.resolver.Store(pub, token); err != nil {
			t.Fatal(err)
		}
		return key, pub
	}
	_, op.system = addAccount("SYS", false)
	op.accountKey, _ = addAccount("KEPTN", true)
	return op
}

// creds writes a credentials file for a new user signed by accountKey.
func creds(t *testing.T, accountKey nkeys.KeyPair, expires time.Time) string {
	t.Helper()
	userKey, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := userKey.PublicKey()
	claims := jwt.NewUserClaims(pub)
	claims.Name = "helm-service"
	if !expires.IsZero() {
		claims.Expires = expires.Unix()
	}
	token, err := claims.Encode(accountKey)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := userKey.Seed()
	file, err := jwt.FormatUserConfig(token, seed)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "user.creds", file)
}

func TestAuthCredsFile(t *testing.T) {
	op := newOperator(t)
	url := startSecuredServer(t, func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{op.claims}
		o.AccountResolver = op.resolver
		o.SystemAccount = op.system
	})
	expectRoundTrip(t, url, Auth{CredsFile: creds(t, op.accountKey, time.Time{})})

	// A user of an account the server does not know.
	stranger, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	expectRefused(t, url, Auth{CredsFile: creds(t, stranger, time.Time{})}, "authorization violation", "check NATS_CREDS_FILE")
	// A user whose JWT has expired.
	expectRefused(t, url, Auth{CredsFile: creds(t, op.accountKey, time.Now().Add(-time.Minute))}, "the user JWT in NATS_CREDS_FILE", "expired at", "renew it")
	expectRefused(t, url, Auth{CredsFile: filepath.Join(t.TempDir(), "missing.creds")}, "NATS_CREDS_FILE", "no such file")
}

// pki is a certificate authority with a server and a client certificate,
// written as PEM files.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T, name string) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, kind string, der []byte) string {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (cert, key string) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(cn+".crt", "CERTIFICATE", der), write(cn+".key", "EC PRIVATE KEY", keyDER)
	}
	p := pki{caFile: write("ca.crt", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = issue(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = issue(3, "client", x509.ExtKeyUsageClientAuth, nil)
	return p
}

// tlsServer secures a server with the PKI's server certificate; verify
// also asks clients for a certificate signed by its CA.
func tlsServer(t *testing.T, p pki, verify bool) func(*server.Options) {
	t.Helper()
	cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.serverCert, KeyFile: p.serverKey, CaFile: p.caFile, Verify: verify})
	if err != nil {
		t.Fatal(err)
	}
	return func(o *server.Options) {
		o.TLS, o.TLSVerify, o.TLSConfig, o.TLSTimeout = true, verify, cfg, 2
	}
}

func TestAuthTLS(t *testing.T) {
	p := newPKI(t, "good")
	url := startSecuredServer(t, tlsServer(t, p, false))
	expectRoundTrip(t, url, Auth{TLSCAFile: p.caFile})
	expectRefused(t, url, Auth{}, "set NATS_TLS_CA")
	other := newPKI(t, "other")
	expectRefused(t, url, Auth{TLSCAFile: other.caFile}, "not signed by the CA in NATS_TLS_CA", other.caFile)
	expectRefused(t, url, Auth{TLSCAFile: writeFile(t, "ca.crt", []byte("no PEM here"))}, "NATS_TLS_CA", "holds no PEM certificate")
}

func TestAuthMutualTLS(t *testing.T) {
	p := newPKI(t, "good")
	url := startSecuredServer(t, tlsServer(t, p, true))
	expectRoundTrip(t, url, Auth{TLSCAFile: p.caFile, TLSCertFile: p.clientCert, TLSKeyFile: p.clientKey})
	expectRefused(t, url, Auth{TLSCAFile: p.caFile}, "wants a client certificate", "set NATS_TLS_CERT and NATS_TLS_KEY")
	other := newPKI(t, "other")
	expectRefused(t, url, Auth{TLSCAFile: p.caFile, TLSCertFile: other.clientCert, TLSKeyFile: other.clientKey}, "refused the client certificate", other.clientCert, "check NATS_TLS_CERT/NATS_TLS_KEY")
	expectRefused(t, url, Auth{TLSCAFile: p.caFile, TLSCertFile: p.clientCert, TLSKeyFile: other.clientKey}, "NATS_TLS_CERT", "NATS_TLS_KEY", "private key does not match")
}

// TLS and credentials together: mutual TLS plus a user and password.
func TestAuthTLSWithUserPassword(t *testing.T) {
	p := newPKI(t, "good")
	secureTLS := tlsServer(t, p, true)
	url := startSecuredServer(t, func(o *server.Options) {
		secureTLS(o)
		o.Username, o.Password = "helm", "s3cret"
	})
	good := Auth{User: "helm", Password: "s3cret", TLSCAFile: p.caFile, TLSCertFile: p.clientCert, TLSKeyFile: p.clientKey}
	expectRoundTrip(t, url, good)
	wrong := good
	wrong.Password = "wrong"
	expectRefused(t, url, wrong, "check NATS_USER/NATS_PASSWORD")
}

func TestAuthRefusesConflictingSettings(t *testing.T) {
	seedFile, _ := newUserKey(t)
	credsFile := writeFile(t, "user.creds", []byte("x"))
	for name, c := range map[string]struct {
		auth  Auth
		wants []string
	}{
		"creds and nkey":        {Auth{CredsFile: credsFile, NKeyFile: seedFile}, []string{"NATS_CREDS_FILE and NATS_NKEY_FILE are set", "set only one"}},
		"user and token":        {Auth{User: "u", Password: "p", Token: "t"}, []string{"NATS_USER/NATS_PASSWORD and NATS_TOKEN are set"}},
		"password without user": {Auth{Password: "p"}, []string{"NATS_PASSWORD is set without NATS_USER"}},
		"cert without key":      {Auth{TLSCertFile: credsFile}, []string{"set both NATS_TLS_CERT and NATS_TLS_KEY"}},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.auth.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range c.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			// Connect refuses them before dialling.
			if _, err := Connect(context.Background(), Options{URL: "nats://127.0.0.1:1", Auth: c.auth, Log: quiet}); err == nil || strings.Contains(err.Error(), "connect to NATS") {
				t.Errorf("Connect: %v, want the settings error before any dial", err)
			}
		})
	}
}

// Dial, for the command line, takes the same credentials and explains a
// refusal the same way.
func TestAuthDial(t *testing.T) {
	url := startSecuredServer(t, func(o *server.Options) { o.Authorization = "t0ken" })
	nc, err := Auth{Token: "t0ken"}.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(triggered)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(triggered, []byte(eventJSON("dial-1"))); err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.NextMsg(5 * time.Second); err != nil || !strings.Contains(string(msg.Data), "dial-1") {
		t.Fatalf("received %v, %v", msg, err)
	}
	_, err = Auth{Token: "wrong"}.Dial(url)
	if err == nil || !strings.Contains(err.Error(), "check NATS_TOKEN") {
		t.Fatalf("Dial with a wrong token: %v, want one saying to check NATS_TOKEN", err)
	}
	if _, err := (Auth{Token: "t", NKeyFile: "x"}).Dial(url); err == nil || !strings.Contains(err.Error(), "set only one") {
		t.Fatalf("Dial with two kinds of credentials: %v", err)
	}
}
