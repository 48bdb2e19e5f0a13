package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/client"
)

func TestParseSignature(t *testing.T) {
	tests := []struct {
		name    string
		answer  string
		want    string
		wantErr bool
	}{
		{"appliance spelling", `{"signature":"aGVsbG8="}`, "hello", false},
		{"other JSON spelling", "{ \"signature\" : \"aGVsbG8=\" }\n", "hello", false},
		{"extra field", `{"signature":"aGVsbG8=","x":1}`, "hello", false},
		{"bad base64", `{"signature":"a*b="}`, "", true},
		{"empty signature", `{"signature":""}`, "", true},
		{"no signature field", `{"message":"oops"}`, "", true},
		{"not JSON", `<html>`, "", true},
		{"empty answer", ``, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSignature([]byte(tt.answer), nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseSignature(%q) error = %v, want error %v", tt.answer, err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("parseSignature(%q) = %q, want %q", tt.answer, got, tt.want)
			}
		})
	}
}

// TestParseSignatureReusesBuffer checks the hot path does not allocate when
// the destination is large enough.
func TestParseSignatureReusesBuffer(t *testing.T) {
	answer := []byte(`{"signature":"` + strings.Repeat("QUFB", 86) + `"}`)
	dst := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if dst, err = parseSignature(answer, dst[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("parseSignature allocated %.0f times per call, want 0", allocs)
	}
	if want := bytes.Repeat([]byte("AAA"), 86); !bytes.Equal(dst, want) {
		t.Errorf("parseSignature = %q, want %q", dst, want)
	}
}

func TestReadAnswer(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"empty", 0, false},
		{"small", 100, false},
		{"larger than the buffer", 5000, false},
		{"at the limit", maxAnswer - 1, false},
		{"over the limit", maxAnswer + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Repeat([]byte{'x'}, tt.size)
			got, err := readAnswer(bytes.NewReader(in), make([]byte, 0, 16))
			if (err != nil) != tt.wantErr {
				t.Fatalf("readAnswer(%d bytes) error = %v, want error %v", tt.size, err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, in) {
				t.Errorf("readAnswer returned %d bytes, want %d", len(got), len(in))
			}
		})
	}
}

// TestWireRequest parses a prebuilt request with net/http's server-side
// parser, which is what the appliance runs.
func TestWireRequest(t *testing.T) {
	lc, err := newLoadClient(client.Options{URL: "https://127.0.0.1:8443/api/v1", Insecure: true}, "op1", "secret passphrase", 2)
	if err != nil {
		t.Fatalf("newLoadClient: %v", err)
	}
	body := []byte(`{"mode":"EdDSA","message":"aGk="}`)
	wire := lc.wireRequest("key/1", body)
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire)))
	if err != nil {
		t.Fatalf("ReadRequest(%q): %v", wire, err)
	}
	got, _ := io.ReadAll(r.Body)
	user, pass, _ := r.BasicAuth()
	checks := []struct{ name, got, want string }{
		{"method", r.Method, "POST"},
		{"path", r.URL.EscapedPath(), "/api/v1/keys/key%2F1/sign"},
		{"host", r.Host, "127.0.0.1:8443"},
		{"content type", r.Header.Get("Content-Type"), "application/json"},
		{"user", user, "op1"},
		{"passphrase", pass, "secret passphrase"},
		{"body", string(got), string(body)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if r.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length = %d, want %d", r.ContentLength, len(body))
	}
}

func TestNewLoadClientURL(t *testing.T) {
	tests := []struct {
		url      string
		wantAddr string
	}{
		{"https://10.0.0.5/api/v1", "10.0.0.5:443"},
		{"https://[::1]:8443/api/v1", "[::1]:8443"},
		{"http://10.0.0.5/api/v1", ""},
		{"10.0.0.5:8443", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			lc, err := newLoadClient(client.Options{URL: tt.url, Insecure: true}, "u", "p", 1)
			if tt.wantAddr == "" {
				if err == nil {
					t.Fatalf("newLoadClient(%q) = %+v, want an error", tt.url, lc)
				}
				return
			}
			if err != nil || lc.addr != tt.wantAddr {
				t.Fatalf("newLoadClient(%q) addr = %v, %v; want %q", tt.url, lc, err, tt.wantAddr)
			}
		})
	}
}
