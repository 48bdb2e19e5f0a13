package tlsconf

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"sync/atomic"
)

// Server serves the current Identity to TLS handshakes. SetIdentity takes
// effect on the next handshake; open connections and the listener are not
// disturbed. It is safe for concurrent use.
type Server struct {
	cfg     *tls.Config
	current atomic.Pointer[served]
}

// served is one installed identity: a snapshot for crypto/tls and a tag that
// ties session tickets to the certificate they were issued under.
type served struct {
	cert *tls.Certificate
	tag  []byte
}

// ticketTagPrefix marks our entry in tls.SessionState.Extra.
const ticketTagPrefix = "keywarden-cert:"

// NewServer returns a Server presenting id. It starts nothing.
func NewServer(id *Identity) *Server {
	s := &Server{}
	s.cfg = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: s.getCertificate,
		// Session tickets stay on: resumption spares clients that reconnect
		// often a full handshake. The hooks below tie each ticket to the
		// certificate it was issued under, so after SetIdentity every client
		// does a full handshake and sees the new certificate.
		WrapSession:   s.wrapSession,
		UnwrapSession: s.unwrapSession,
	}
	s.SetIdentity(id)
	return s
}

// TLSConfig returns the configuration to serve with, e.g. as
// http.Server.TLSConfig. Callers must not modify it; cloning is fine.
func (s *Server) TLSConfig() *tls.Config { return s.cfg }

// SetIdentity makes id the identity presented from the next handshake on. It
// takes a snapshot: later changes to id (SetCertificate) need another call.
func (s *Server) SetIdentity(id *Identity) {
	if id == nil {
		s.current.Store(nil)
		return
	}
	cert := id.Certificate()
	var leaf []byte
	if len(cert.Certificate) > 0 {
		leaf = cert.Certificate[0]
	}
	sum := sha256.Sum256(leaf)
	s.current.Store(&served{cert: &cert, tag: append([]byte(ticketTagPrefix), sum[:]...)})
}

func (s *Server) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cur := s.current.Load()
	if cur == nil || cur.cert.PrivateKey == nil {
		return nil, errors.New("tlsconf: no tls identity installed")
	}
	return cur.cert, nil
}

// wrapSession tags the ticket with the current certificate and encrypts it
// with the configuration's automatically rotated ticket keys. A ticket issued
// during a swap may carry the new tag although the handshake used the old
// certificate; that one resumption is harmless, the old one was just valid.
func (s *Server) wrapSession(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	if cur := s.current.Load(); cur != nil {
		ss.Extra = append(ss.Extra, cur.tag)
	}
	return s.cfg.EncryptTicket(cs, ss)
}

// unwrapSession declines (nil, nil: full handshake) tickets issued under a
// certificate other than the current one.
func (s *Server) unwrapSession(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
	ss, err := s.cfg.DecryptTicket(identity, cs)
	if err != nil || ss == nil {
		return nil, err
	}
	cur := s.current.Load()
	if cur == nil {
		return nil, nil
	}
	for _, extra := range ss.Extra {
		if bytes.Equal(extra, cur.tag) {
			return ss, nil
		}
	}
	return nil, nil
}
