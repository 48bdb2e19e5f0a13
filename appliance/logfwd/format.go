package logfwd

import (
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Facility is the syslog facility of every forwarded message: daemon (3).
const Facility = 3

// SDID is the SD-ID of the element that carries a record's attributes.
// RFC 5424 reserves SD-IDs without '@' for IANA, so it needs a private
// enterprise number; 32473 is the one RFC 5612 sets aside for documentation,
// used until the project registers its own.
const SDID = "attrs@32473"

// MaxMessage bounds a datagram in octets: RFC 5426 says receivers should
// accept 2048, and larger datagrams risk fragmentation loss on the way.
const MaxMessage = 2048

// minMsgRoom is the message space attributes may not crowd out, so a record
// with huge attributes still says what happened.
const minMsgRoom = 256

// Header field bounds from RFC 5424 section 6.
const (
	maxHostname  = 255
	maxAppName   = 48
	maxParamName = 32
)

// bom marks MSG as UTF-8 (RFC 5424 section 6.4).
const bom = "\uFEFF"

// sdEscaper escapes the three characters RFC 5424 section 6.3.3 requires in
// PARAM-VALUE; it is safe for concurrent use.
var sdEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)

// severity maps a slog level to a syslog severity.
func severity(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	default:
		return 7
	}
}

// printable returns s with octets outside printable US-ASCII replaced by '_',
// cut to max octets, or the NILVALUE "-" when s is empty: the grammar of
// HOSTNAME, APP-NAME and PROCID.
func printable(s string, max int) string {
	if s == "" {
		return "-"
	}
	b := []byte(s[:min(len(s), max)])
	for i, c := range b {
		if c < '!' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}

// headerTail returns the fixed part of every header after TIMESTAMP:
// " HOSTNAME APP-NAME PROCID MSGID".
func headerTail(hostname, appName string, pid int) string {
	return " " + printable(hostname, maxHostname) + " " + printable(appName, maxAppName) +
		" " + strconv.Itoa(pid) + " -"
}

// timestamp formats t as an RFC 5424 TIMESTAMP, or "-" for a zero time or one
// whose year does not fit four digits.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "-"
	}
	return t.Format("2006-01-02T15:04:05.000000Z07:00")
}

// appendParams appends a as rendered SD-PARAMs (" name=\"value\"") with the
// open groups in prefix, following the slog.Handler rules: values resolved,
// empty attributes and empty groups dropped, groups without a key inlined.
func appendParams(dst []string, prefix string, a slog.Attr) []string {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return dst
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			dst = appendParams(dst, prefix, g)
		}
		return dst
	}
	return append(dst, " "+paramName(prefix+a.Key)+`="`+sdEscaper.Replace(valueString(a.Value))+`"`)
}

// paramName makes s a PARAM-NAME: printable US-ASCII except '=', ']' and '"',
// at most 32 octets, never empty.
func paramName(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s[:min(len(s), maxParamName)])
	for i, c := range b {
		if c < '!' || c > '~' || c == '=' || c == ']' || c == '"' {
			b[i] = '_'
		}
	}
	return string(b)
}

// valueString renders a resolved, non-group value as valid UTF-8; times use
// RFC 3339 like the header rather than time.Time.String.
func valueString(v slog.Value) string {
	if v.Kind() == slog.KindTime {
		return v.Time().Format(time.RFC3339Nano)
	}
	return strings.ToValidUTF8(v.String(), "\uFFFD")
}

// format renders r as one RFC 5424 message of at most MaxMessage octets;
// tail is headerTail's result, params the pre-rendered SD-PARAMs of
// WithAttrs and prefix the open groups for the record's own attributes.
func format(r slog.Record, tail string, params []string, prefix string) []byte {
	params = slices.Clip(params) // shared with the handler; append must copy
	r.Attrs(func(a slog.Attr) bool {
		params = appendParams(params, prefix, a)
		return true
	})
	msg := message(r.Message)
	b := make([]byte, 0, 256)
	b = append(b, '<')
	b = strconv.AppendInt(b, Facility*8+int64(severity(r.Level)), 10)
	b = append(b, ">1 "...)
	b = append(b, timestamp(r.Time)...)
	b = append(b, tail...)
	b = append(b, ' ')
	b = appendSD(b, params, MaxMessage-min(len(msg)+1, minMsgRoom))
	if msg == "" {
		return b
	}
	b = append(b, ' ')
	return append(b, truncate(msg, MaxMessage-len(b))...)
}

// message returns the MSG for text: valid UTF-8, with a BOM unless ASCII.
func message(text string) string {
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			return bom + strings.ToValidUTF8(text, "\uFFFD")
		}
	}
	return text
}

// appendSD appends the STRUCTURED-DATA for params, leaving out the params that
// would make b longer than limit, and "-" when none is left.
func appendSD(b []byte, params []string, limit int) []byte {
	start := len(b)
	b = append(b, "["+SDID...)
	n := 0
	for _, p := range params {
		if len(b)+len(p)+len("]") > limit {
			continue
		}
		b = append(b, p...)
		n++
	}
	if n == 0 {
		return append(b[:start], '-')
	}
	return append(b, ']')
}

// truncate cuts s to at most n octets without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
