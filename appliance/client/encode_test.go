package client

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// apiCase is one client call, the exchange it must produce on the wire
// (see recorder_test.go) and the value the call must return.
type apiCase struct {
	name string
	ex   exchange
	call func(ctx context.Context, c *Client) (any, error)
	want any
}

func runCases(t *testing.T, cases []apiCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, tc.ex)
			got, err := tc.call(t.Context(), rec.client(t))
			if err != nil {
				t.Fatalf("call: got error %v, want none", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("result: got %#v, want %#v", got, tc.want)
			}
			if n := rec.hits.Load(); n != 1 {
				t.Errorf("requests sent: got %d, want 1", n)
			}
		})
	}
}

// none adapts a call that returns only an error.
func none(err error) (any, error) { return nil, err }

// noContent and answer fill in the canned answer of an exchange.
func noContent(ex exchange) exchange {
	ex.status = 204
	return ex
}

func answer(ex exchange, status int, body string) exchange {
	ex.status, ex.respType, ex.respBody = status, mimeJSON, body
	return ex
}

func TestStateRequests(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	runCases(t, []apiCase{
		{"info", answer(exchange{method: "GET", uri: "/info", accept: mimeJSON}, 200, `{"vendor":"Keywarden","product":"Keywarden HSM"}`),
			func(ctx context.Context, c *Client) (any, error) { return c.Info(ctx) },
			Info{Vendor: "Keywarden", Product: "Keywarden HSM"}},
		{"state", answer(exchange{method: "GET", uri: "/health/state", accept: mimeJSON}, 200, `{"state":"Locked"}`),
			func(ctx context.Context, c *Client) (any, error) { return c.State(ctx) },
			StateLocked},
		{"provision sends UTC whole seconds", noContent(exchange{method: "POST", uri: "/provision", accept: mimeJSON, contentType: mimeJSON,
			body: `{"unlockPassphrase":"unlock passphrase","adminPassphrase":"admin passphrase","systemTime":"2018-10-30T11:20:50Z"}`}),
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.Provision(ctx, ProvisionRequest{UnlockPassphrase: "unlock passphrase", AdminPassphrase: "admin passphrase",
					SystemTime: time.Date(2018, 10, 30, 12, 20, 50, 999_000_000, cet)}))
			}, nil},
		{"unlock", noContent(exchange{method: "POST", uri: "/unlock", accept: mimeJSON, contentType: mimeJSON, body: `{"passphrase":"unlock passphrase"}`}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.Unlock(ctx, "unlock passphrase")) }, nil},
		{"lock has no body", noContent(exchange{method: "POST", uri: "/lock", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.Lock(ctx)) }, nil},
		{"random", answer(exchange{method: "POST", uri: "/random", accept: mimeJSON, contentType: mimeJSON, body: `{"length":5}`}, 200, `{"random":"VGhlIHE="}`),
			func(ctx context.Context, c *Client) (any, error) { return c.Random(ctx, 5) },
			[]byte("The q")},
		{"metrics", answer(exchange{method: "GET", uri: "/metrics", accept: mimeJSON}, 200, `{"keyOperations":1132412,"uptime":"3d"}`),
			func(ctx context.Context, c *Client) (any, error) { return c.Metrics(ctx) },
			map[string]any{"keyOperations": float64(1132412), "uptime": "3d"}},
	})
}

func TestConfigRequests(t *testing.T) {
	const pemText = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n"
	pemResp := func(ex exchange) exchange {
		ex.status, ex.respType, ex.respBody = 200, mimePEM, pemText
		return ex
	}
	runCases(t, []apiCase{
		{"unlock passphrase", noContent(exchange{method: "PUT", uri: "/config/unlock-passphrase", accept: mimeJSON, contentType: mimeJSON,
			body: `{"newPassphrase":"new passphrase","currentPassphrase":"old passphrase"}`}),
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.SetUnlockPassphrase(ctx, PassphraseChange{NewPassphrase: "new passphrase", CurrentPassphrase: "old passphrase"}))
			}, nil},
		{"backup passphrase", noContent(exchange{method: "PUT", uri: "/config/backup-passphrase", accept: mimeJSON, contentType: mimeJSON,
			body: `{"newPassphrase":"new passphrase","currentPassphrase":""}`}),
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.SetBackupPassphrase(ctx, PassphraseChange{NewPassphrase: "new passphrase"}))
			}, nil},
		{"unattended boot get", answer(exchange{method: "GET", uri: "/config/unattended-boot", accept: mimeJSON}, 200, `{"status":"on"}`),
			func(ctx context.Context, c *Client) (any, error) { return c.UnattendedBoot(ctx) }, SwitchOn},
		{"unattended boot set", noContent(exchange{method: "PUT", uri: "/config/unattended-boot", accept: mimeJSON, contentType: mimeJSON, body: `{"status":"off"}`}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.SetUnattendedBoot(ctx, SwitchOff)) }, nil},
		{"tls public key", pemResp(exchange{method: "GET", uri: "/config/tls/public.pem", accept: mimePEM}),
			func(ctx context.Context, c *Client) (any, error) { return c.TLSPublicPEM(ctx) }, []byte(pemText)},
		{"tls cert get", pemResp(exchange{method: "GET", uri: "/config/tls/cert.pem", accept: mimePEM}),
			func(ctx context.Context, c *Client) (any, error) { return c.TLSCert(ctx) }, []byte(pemText)},
		{"tls cert set", exchange{method: "PUT", uri: "/config/tls/cert.pem", accept: mimeJSON, contentType: mimePEM, body: pemText, status: 201},
			func(ctx context.Context, c *Client) (any, error) { return none(c.SetTLSCert(ctx, []byte(pemText))) }, nil},
		{"tls csr", pemResp(exchange{method: "POST", uri: "/config/tls/csr.pem", accept: mimePEM, contentType: mimeJSON,
			body: `{"countryName":"DE","localityName":"Berlin","commonName":"hsm.example","subjectAltNames":["hsm.example","IP:192.0.2.1"]}`}),
			func(ctx context.Context, c *Client) (any, error) {
				return c.TLSCSR(ctx, DistinguishedName{CountryName: "DE", LocalityName: "Berlin", CommonName: "hsm.example",
					SubjectAltNames: []string{"hsm.example", "IP:192.0.2.1"}})
			}, []byte(pemText)},
		{"tls generate", noContent(exchange{method: "POST", uri: "/config/tls/generate", accept: mimeJSON, contentType: mimeJSON, body: `{"type":"RSA","length":2048}`}),
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.GenerateTLSKey(ctx, TLSKeyGenerateRequest{Type: TLSKeyTypeRSA, Length: 2048}))
			}, nil},
		{"tls generate without length", noContent(exchange{method: "POST", uri: "/config/tls/generate", accept: mimeJSON, contentType: mimeJSON, body: `{"type":"EC_P256"}`}),
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.GenerateTLSKey(ctx, TLSKeyGenerateRequest{Type: TLSKeyTypeECP256}))
			}, nil},
		{"time get", answer(exchange{method: "GET", uri: "/config/time", accept: mimeJSON}, 200, `{"time":"2018-10-30T11:20:50Z"}`),
			func(ctx context.Context, c *Client) (any, error) {
				got, err := c.Time(ctx)
				return got.Format(time.RFC3339Nano), err
			}, "2018-10-30T11:20:50Z"},
		{"time set", noContent(exchange{method: "PUT", uri: "/config/time", accept: mimeJSON, contentType: mimeJSON, body: `{"time":"2018-10-30T11:20:50Z"}`}),
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.SetTime(ctx, time.Date(2018, 10, 30, 11, 20, 50, 400, time.UTC)))
			}, nil},
	})
}

func TestSystemRequests(t *testing.T) {
	info := `{"softwareVersion":"1.0","softwareBuild":"abc123","firmwareVersion":"fw1","hardwareVersion":"vm","deviceId":"DEV1",` +
		`"akPub":{"P256":"MFkw"},"pcr":{"0":"0f60","2":"2b0d"}}`
	runCases(t, []apiCase{
		{"info", answer(exchange{method: "GET", uri: "/system/info", accept: mimeJSON}, 200, info),
			func(ctx context.Context, c *Client) (any, error) { return c.SystemInfo(ctx) },
			SystemInfo{SoftwareVersion: "1.0", SoftwareBuild: "abc123", FirmwareVersion: "fw1", HardwareVersion: "vm", DeviceID: "DEV1",
				AKPub: map[string]string{"P256": "MFkw"}, PCR: map[string]string{"0": "0f60", "2": "2b0d"}}},
		{"reboot", noContent(exchange{method: "POST", uri: "/system/reboot", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.Reboot(ctx)) }, nil},
		{"shutdown", noContent(exchange{method: "POST", uri: "/system/shutdown", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.Shutdown(ctx)) }, nil},
		{"factory reset", noContent(exchange{method: "POST", uri: "/system/factory-reset", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.FactoryReset(ctx)) }, nil},
	})
}
