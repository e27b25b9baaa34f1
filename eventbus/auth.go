package eventbus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// Auth holds how helm-service proves itself to the NATS server. Set at most
// one of user/password, token, credentials file and NKey seed file; TLS
// combines with any.
type Auth struct {
	User     string
	Password string
	Token    string
	// CredsFile is a NATS credentials file (JWT and NKey seed).
	CredsFile string
	// NKeyFile is a file holding an NKey seed.
	NKeyFile string
	// TLSCAFile verifies the server; TLSCertFile and TLSKeyFile are a
	// client certificate, for servers that ask for one.
	TLSCAFile   string
	TLSCertFile string
	TLSKeyFile  string
}

// The settings the fields come from, named in error messages.
const (
	settingUserPassword = "NATS_USER/NATS_PASSWORD"
	settingToken        = "NATS_TOKEN"
	settingCredsFile    = "NATS_CREDS_FILE"
	settingNKeyFile     = "NATS_NKEY_FILE"
	settingTLSCA        = "NATS_TLS_CA"
	settingTLSCert      = "NATS_TLS_CERT/NATS_TLS_KEY"
)

// method names the setting that holds the credentials in use, or "" when
// none are set.
func (a Auth) method() string {
	switch {
	case a.User != "" || a.Password != "":
		return settingUserPassword
	case a.Token != "":
		return settingToken
	case a.CredsFile != "":
		return settingCredsFile
	case a.NKeyFile != "":
		return settingNKeyFile
	}
	return ""
}

// Validate reports credentials that cannot work together or files that
// cannot be read, naming the settings.
func (a Auth) Validate() error {
	var set []string
	if a.User != "" || a.Password != "" {
		set = append(set, settingUserPassword)
	}
	if a.Token != "" {
		set = append(set, settingToken)
	}
	if a.CredsFile != "" {
		set = append(set, settingCredsFile)
	}
	if a.NKeyFile != "" {
		set = append(set, settingNKeyFile)
	}
	if len(set) > 1 {
		return fmt.Errorf("NATS credentials: %s are set; set only one of NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_CREDS_FILE and NATS_NKEY_FILE", strings.Join(set, " and "))
	}
	if a.User == "" && a.Password != "" {
		return errors.New("NATS credentials: NATS_PASSWORD is set without NATS_USER")
	}
	if a.CredsFile != "" {
		if _, err := os.ReadFile(a.CredsFile); err != nil {
			return fmt.Errorf("NATS_CREDS_FILE: %w", err)
		}
	}
	if a.NKeyFile != "" {
		if _, err := os.ReadFile(a.NKeyFile); err != nil {
			return fmt.Errorf("NATS_NKEY_FILE: %w", err)
		}
	}
	if a.TLSCAFile != "" {
		pem, err := os.ReadFile(a.TLSCAFile)
		if err != nil {
			return fmt.Errorf("NATS_TLS_CA: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fmt.Errorf("NATS_TLS_CA %s holds no PEM certificate", a.TLSCAFile)
		}
	}
	if (a.TLSCertFile == "") != (a.TLSKeyFile == "") {
		return errors.New("NATS TLS: set both NATS_TLS_CERT and NATS_TLS_KEY, or neither")
	}
	if a.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(a.TLSCertFile, a.TLSKeyFile); err != nil {
			return fmt.Errorf("NATS_TLS_CERT %s and NATS_TLS_KEY %s: %w", a.TLSCertFile, a.TLSKeyFile, err)
		}
	}
	return nil
}

// natsOptions returns the connection options for the credentials.
func (a Auth) natsOptions() ([]nats.Option, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	var opts []nats.Option
	switch {
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token))
	case a.CredsFile != "":
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	case a.NKeyFile != "":
		opt, err := nats.NkeyOptionFromSeed(a.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("NATS_NKEY_FILE %s: %w", a.NKeyFile, err)
		}
		opts = append(opts, opt)
	}
	if a.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(a.TLSCAFile))
	}
	if a.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(a.TLSCertFile, a.TLSKeyFile))
	}
	return opts, nil
}

// explain turns an error connecting to the server into one that says what
// went wrong and which setting to check. Errors it does not recognise are
// returned as they are.
func (a Auth) explain(err error) error {
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	method := a.method()
	switch {
	case errors.Is(err, nats.ErrAuthorization) && method == "":
		return fmt.Errorf("the server requires credentials (authorization violation): set NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS_FILE or NATS_NKEY_FILE: %w", err)
	case errors.Is(err, nats.ErrAuthorization) && method == settingCredsFile:
		if expired, ok := credsExpiry(a.CredsFile); ok && expired.Before(time.Now()) {
			return fmt.Errorf("the server refused the credentials (authorization violation): the user JWT in NATS_CREDS_FILE (%s) expired at %s: renew it: %w", a.CredsFile, expired.UTC().Format(time.RFC3339), err)
		}
		return fmt.Errorf("the server refused the credentials (authorization violation): check NATS_CREDS_FILE (%s): is its account known to the server?: %w", a.CredsFile, err)
	case errors.Is(err, nats.ErrAuthorization):
		return fmt.Errorf("the server refused the credentials (authorization violation): check %s: %w", method, err)
	case errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAccountAuthExpired):
		return fmt.Errorf("the credentials have expired: renew %s: %w", method, err)
	case errors.Is(err, nats.ErrAuthRevoked):
		return fmt.Errorf("the credentials were revoked: replace %s: %w", method, err)
	case errors.As(err, &unknownCA) && a.TLSCAFile == "":
		return fmt.Errorf("the server's TLS certificate is signed by an authority this host does not trust: set NATS_TLS_CA to the CA that signed it: %w", err)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("the server's TLS certificate is not signed by the CA in NATS_TLS_CA (%s): check NATS_TLS_CA: %w", a.TLSCAFile, err)
	case errors.As(err, &badHost):
		return fmt.Errorf("the server's TLS certificate does not name the host in NATS_URL: connect through a name or address the certificate holds: %w", err)
	case errors.Is(err, nats.ErrSecureConnRequired):
		return fmt.Errorf("the server requires TLS: set NATS_TLS_CA to the CA that signed its certificate (or use a tls:// URL in NATS_URL): %w", err)
	case errors.Is(err, nats.ErrSecureConnWanted):
		return fmt.Errorf("TLS is configured (NATS_TLS_CA, NATS_TLS_CERT) but the server does not offer it: check NATS_URL and the server's TLS settings: %w", err)
	case clientCertRefused(err) && a.TLSCertFile == "":
		return fmt.Errorf("the server refused the TLS connection, it wants a client certificate: set NATS_TLS_CERT and NATS_TLS_KEY: %w", err)
	case clientCertRefused(err):
		return fmt.Errorf("the server refused the client certificate in NATS_TLS_CERT (%s): check NATS_TLS_CERT/NATS_TLS_KEY and that the server trusts their CA: %w", a.TLSCertFile, err)
	}
	return err
}

// clientCertRefused reports whether the server ended a TLS connection it
// had just agreed to: with a TLS alert, or, depending on timing, by
// closing it, as servers that ask for a client certificate do.
func clientCertRefused(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "remote error" {
		return true
	}
	return errors.Is(err, nats.ErrTLS) &&
		(errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET))
}

// credsExpiry reads when the user JWT of a credentials file expires.
func credsExpiry(path string) (time.Time, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, false
	}
	token, err := jwt.ParseDecoratedJWT(data)
	if err != nil {
		return time.Time{}, false
	}
	claims, err := jwt.DecodeUserClaims(token)
	if err != nil || claims.Expires == 0 {
		return time.Time{}, false
	}
	return time.Unix(claims.Expires, 0), true
}

// Dial opens a plain core NATS connection with these credentials, for
// short-lived clients such as the command line. Errors say what is wrong
// like Connect's.
func (a Auth) Dial(url string, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := a.natsOptions()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append(extra, opts...)...)
	if err != nil {
		return nil, a.explain(err)
	}
	return nc, nil
}
