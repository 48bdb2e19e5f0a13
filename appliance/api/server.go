package api

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/keywarden/keywarden/appliance/users"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// Server is the HTTP handler of the REST API.
type Server struct {
	backend Backend
	log     *slog.Logger
	mux     *http.ServeMux
	limiter *limiter
	// keygen bounds concurrent key generation: an RSA-8192 key costs many
	// CPU-seconds, and tenants must not starve each other's signing.
	keygen chan struct{}

	requests atomic.Uint64
	failures atomic.Uint64
}

// New returns the API handler for backend.
func New(backend Backend, logger *slog.Logger) *Server {
	s := &Server{backend: backend, log: logger, mux: http.NewServeMux(), limiter: newLimiter(), keygen: make(chan struct{}, 1)}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+Prefix+rt.path, s.dispatch(rt))
	}
	// Everything else, inside the API or not, is a JSON 404 too.
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "no such endpoint: " + r.Method + " " + r.URL.Path + " (the API is under " + Prefix + ")"})
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// Counters returns request statistics for /metrics.
func (s *Server) Counters() (requests, failures uint64) {
	return s.requests.Load(), s.failures.Load()
}

// access says who may call a route.
type access int

const (
	public               access = iota // anyone
	roles                              // an authenticated user with one of route.roles
	destructive                        // Administrator when Operational; unlock passphrase when Locked or Failed
	adminWhenOperational               // Administrator when Operational; anyone otherwise (diagnostics)
)

type route struct {
	method   string
	path     string
	states   []State
	access   access
	roles    []users.Role
	rootOnly bool // the caller must not be in a namespace
	produces string
	handle   func(c *call) error
}

// call is one request as a handler sees it.
type call struct {
	w    http.ResponseWriter
	r    *http.Request
	s    *Server
	sess *Session
	user users.User // zero for public routes
}

func (c *call) ctx() context.Context { return c.r.Context() }

// ns is the caller's namespace ("" for root users and public calls).
func (c *call) ns() string { return c.user.Namespace() }

func (s *Server) dispatch(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, s: s}
		if err := s.admit(rt, c); err != nil {
			s.failures.Add(1)
			s.writeError(w, r, err)
			return
		}
		if err := rt.handle(c); err != nil {
			s.failures.Add(1)
			s.writeError(w, r, err)
		}
	})
}

// admit applies the state, rate-limit, authentication, role and namespace
// checks in the reference API's order.
func (s *Server) admit(rt route, c *call) error {
	if rt.produces != "" && !accepts(c.r.Header.Get("Accept"), rt.produces) {
		return fail(http.StatusNotAcceptable, "this endpoint answers "+rt.produces+", which the Accept header does not allow")
	}
	state, _ := s.backend.State()
	if !slices.Contains(rt.states, state) {
		return fail(http.StatusPreconditionFailed, "the appliance is "+string(state)+"; this needs it "+statesText(rt.states))
	}
	switch rt.access {
	case public:
		return nil
	case adminWhenOperational:
		if state != Operational {
			return nil
		}
	case destructive:
		if state != Operational {
			return s.authUnlockPassphrase(c)
		}
	}
	u, err := s.authenticate(c)
	if err != nil {
		return err
	}
	c.user = u
	c.sess = s.backend.Session()
	if c.sess == nil {
		return fail(http.StatusPreconditionFailed, "the appliance was locked during the request")
	}
	roleOK := slices.Contains(rt.roles, u.Role) || (rt.access != roles && u.Role == users.Administrator)
	if !roleOK {
		return fail(http.StatusForbidden, "user "+u.ID+" is a "+string(u.Role)+"; this needs "+rolesText(rt.roles))
	}
	if rt.rootOnly && u.Namespace() != "" {
		return fail(http.StatusForbidden, "user "+u.ID+" is in namespace "+u.Namespace()+"; this needs a user without a namespace")
	}
	return nil
}

// authenticate checks Basic credentials against the users of the session.
func (s *Server) authenticate(c *call) (users.User, error) {
	id, pass, ok := c.r.BasicAuth()
	if !ok {
		c.w.Header().Set("WWW-Authenticate", `Basic realm="keywarden"`)
		return users.User{}, fail(http.StatusUnauthorized, "authentication required: send HTTP Basic credentials")
	}
	sess := s.backend.Session()
	if sess == nil {
		return users.User{}, fail(http.StatusPreconditionFailed, "the appliance is not Operational")
	}
	// Recently verified credentials need no Argon2id run and prove the
	// passphrase, so they are not rate-limited: a client with many
	// connections is never throttled.
	if sess.Sync != nil {
		if err := sess.Sync(c.ctx()); err != nil {
			return users.User{}, err
		}
	}
	if u, ok, err := sess.Users.Cached(c.ctx(), id, pass); ok || err != nil {
		return u, err
	}
	// Otherwise an attempt is charged before Argon2id runs (so parallel
	// guesses cannot all pass the check) and refunded unless it failed.
	ip := clientIP(c.r)
	charged := false
	admit := func() error {
		if !s.limiter.take(ip) {
			return fail(http.StatusTooManyRequests, "too many failed authentications from this address; wait and retry")
		}
		charged = true
		return nil
	}
	u, err := sess.Users.Authenticate(c.ctx(), id, pass, admit)
	if charged && statusOf(err) != http.StatusUnauthorized {
		s.limiter.refund(ip) // only a wrong credential costs an attempt
	}
	if err != nil {
		if statusOf(err) == http.StatusUnauthorized {
			s.log.Info("authentication failed", "user", id, "remote", ip)
			return users.User{}, fail(http.StatusUnauthorized, "authentication failed: unknown user or wrong passphrase")
		}
		return users.User{}, err
	}
	return u, nil
}

// authUnlockPassphrase authenticates a destructive action while no users can
// be read: the Basic-auth password must be the unlock passphrase (the user
// name is not checked; there is no user store to check it against).
func (s *Server) authUnlockPassphrase(c *call) error {
	_, pass, ok := c.r.BasicAuth()
	if !ok {
		c.w.Header().Set("WWW-Authenticate", `Basic realm="keywarden"`)
		return fail(http.StatusUnauthorized, "authentication required: while the appliance is not Operational, send the unlock passphrase as the HTTP Basic password")
	}
	ip := clientIP(c.r)
	if !s.limiter.take(ip) {
		return fail(http.StatusTooManyRequests, "too many failed authentications from this address; wait and retry")
	}
	err := s.backend.VerifyUnlockPassphrase(c.ctx(), pass)
	wrong := statusOf(err) == http.StatusForbidden || statusOf(err) == http.StatusUnauthorized
	if !wrong {
		s.limiter.refund(ip)
	}
	if err != nil {
		if wrong {
			s.log.Info("authentication with the unlock passphrase failed", "remote", ip)
			return fail(http.StatusUnauthorized, "authentication failed: wrong unlock passphrase")
		}
		return err
	}
	return nil
}

// clientIP is the rate-limit key of a request: its IPv4 address, or its IPv6
// /64 (one host usually owns a whole /64, so per-address buckets would be
// free to multiply).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil {
		return host
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// accepts reports whether an Accept header allows mediaType.
func accepts(accept, mediaType string) bool {
	if accept == "" {
		return true
	}
	major, _, _ := strings.Cut(mediaType, "/")
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		mt = strings.TrimSpace(mt)
		if mt == "*/*" || mt == mediaType || mt == major+"/*" {
			return true
		}
	}
	return false
}

func statesText(states []State) string {
	parts := make([]string, len(states))
	for i, st := range states {
		parts[i] = string(st)
	}
	return strings.Join(parts, " or ")
}

func rolesText(rs []users.Role) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r)
	}
	return strings.Join(parts, " or ")
}

var b64 = base64.StdEncoding
