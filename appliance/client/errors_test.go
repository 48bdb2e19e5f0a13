package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestAPIErrorDecoding(t *testing.T) {
	long := strings.Repeat("a", maxErrorBody+100)
	tests := []struct {
		name               string
		status             int
		respType, respBody string
		want               APIError
		wantText           string
	}{
		{"json message", 412, mimeJSON, `{"message":"appliance is Locked"}`,
			APIError{412, "appliance is Locked"}, "412 Precondition Failed: appliance is Locked"},
		{"json message without content type", 403, "", `{"message":"access denied"}`,
			APIError{403, "access denied"}, "403 Forbidden: access denied"},
		{"empty json message", 400, mimeJSON, `{"message":""}`, APIError{400, ""}, "400 Bad Request"},
		{"empty body", 401, "", "", APIError{401, ""}, "401 Unauthorized"},
		{"plain text body", 502, "text/plain", "upstream down\n", APIError{502, "upstream down"}, "502 Bad Gateway: upstream down"},
		{"json without message", 409, mimeJSON, `{"error":"exists"}`, APIError{409, `{"error":"exists"}`}, `409 Conflict: {"error":"exists"}`},
		{"huge body is cut", 500, "text/plain", long, APIError{500, long[:maxErrorBody]}, "500 Internal Server Error: " + long[:maxErrorBody]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, exchange{method: "DELETE", uri: "/keys/k1", accept: mimeJSON,
				status: tc.status, respType: tc.respType, respBody: tc.respBody})
			err := rec.client(t).DeleteKey(t.Context(), "k1")
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error: got %T %v, want *APIError", err, err)
			}
			if *apiErr != tc.want {
				t.Errorf("APIError: got %+v, want %+v", *apiErr, tc.want)
			}
			if err.Error() != tc.wantText {
				t.Errorf("Error(): got %q, want %q", err.Error(), tc.wantText)
			}
		})
	}
}

func TestStatusCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"api error", &APIError{Status: 404}, 404},
		{"wrapped api error", fmt.Errorf("show key: %w", &APIError{Status: 412}), 412},
		{"transport error", context.DeadlineExceeded, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := StatusCode(tc.err); got != tc.want {
				t.Errorf("StatusCode: got %d, want %d", got, tc.want)
			}
		})
	}
}

// TestBase64Strictness pins that byte fields use the standard, padded
// alphabet both ways, and that anything else in an answer is an error
// rather than silently wrong bytes.
func TestBase64Strictness(t *testing.T) {
	tests := []struct {
		name, respBody string
		want           []byte
		wantErr        bool
	}{
		{"standard alphabet with padding", `{"signature":"+/8="}`, []byte{0xfb, 0xff}, false},
		{"every byte value", `{"signature":"AAECA/z9/v8="}`, []byte{0, 1, 2, 3, 0xfc, 0xfd, 0xfe, 0xff}, false},
		{"url-safe alphabet", `{"signature":"-_8="}`, nil, true},
		{"missing padding", `{"signature":"+/8"}`, nil, true},
		{"not base64", `{"signature":"not base64!"}`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, answer(exchange{method: "POST", uri: "/keys/k1/sign", accept: mimeJSON, contentType: mimeJSON,
				body: `{"mode":"ECDSA","message":"AAECA/z9/v8="}`}, 200, tc.respBody))
			got, err := rec.client(t).Sign(t.Context(), "k1", SignRequest{Mode: SignModeECDSA, Message: []byte{0, 1, 2, 3, 0xfc, 0xfd, 0xfe, 0xff}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error: got %v, want error %v", err, tc.wantErr)
			}
			if err != nil && StatusCode(err) != 0 {
				t.Errorf("decode error: got status %d, want 0 (not an API error)", StatusCode(err))
			}
			if string(got) != string(tc.want) {
				t.Errorf("signature: got %x, want %x", got, tc.want)
			}
		})
	}
}

func TestRandomLengthChecked(t *testing.T) {
	rec := newRecorder(t, answer(exchange{method: "POST", uri: "/random", accept: mimeJSON, contentType: mimeJSON, body: `{"length":8}`},
		200, `{"random":"AAEC"}`))
	if got, err := rec.client(t).Random(t.Context(), 8); err == nil {
		t.Errorf("random: got %x and no error for 3 of 8 bytes, want an error", got)
	}
}
