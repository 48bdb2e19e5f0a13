package logfwd

import (
	"fmt"
	"regexp"
	"strings"
)

// This file is in package logfwd but exports its parser, so the external
// tests (package logfwd_test) share it.

// Message is a parsed RFC 5424 message.
type Message struct {
	PRI                                 int
	Timestamp, Host, App, ProcID, MsgID string
	SD                                  map[string]map[string][]string // SD-ID -> name -> values
	Msg                                 string
	HasBOM                              bool
}

// RFC 5424 section 6 grammar, strictly: PRINTUSASCII header fields with their
// lengths, a full-date/time TIMESTAMP with at most six fraction digits,
// SD-NAMEs without '=', ' ', ']' or '"', and PARAM-VALUEs in which a
// backslash escapes only '"', '\' or ']' (this sender escapes every one).
const (
	sdName      = `[!#-<>-\\^-~]{1,32}`
	sdValue     = `(?:[^"\\\]]|\\["\\\]])*`
	sdParam     = sdName + `="` + sdValue + `"`
	sdElem      = `\[` + sdName + `(?: ` + sdParam + `)*\]`
	pattern5424 = `^<(\d{1,3})>1 ` +
		`(-|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})) ` +
		`([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) ` +
		`(-|(?:` + sdElem + `)+)` +
		`(?: ((?s).*))?$`
)

var (
	re5424   = regexp.MustCompile(pattern5424)
	reElem   = regexp.MustCompile(`\[(` + sdName + `)((?: ` + sdParam + `)*)\]`)
	reParam  = regexp.MustCompile(` (` + sdName + `)="(` + sdValue + `)"`)
	unescape = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\]`, `]`)
)

// ParseMessage parses b strictly as RFC 5424, unescaping SD-PARAM values and
// removing a leading BOM from MSG.
func ParseMessage(b []byte) (Message, error) {
	m := re5424.FindSubmatch(b)
	if m == nil {
		return Message{}, fmt.Errorf("not RFC 5424: %q", b)
	}
	var msg Message
	if _, err := fmt.Sscan(string(m[1]), &msg.PRI); err != nil || msg.PRI > 191 {
		return Message{}, fmt.Errorf("PRI %q out of range: %q", m[1], b)
	}
	msg.Timestamp, msg.Host, msg.App = string(m[2]), string(m[3]), string(m[4])
	msg.ProcID, msg.MsgID = string(m[5]), string(m[6])
	msg.SD = map[string]map[string][]string{}
	for _, e := range reElem.FindAllSubmatch(m[7], -1) {
		params := map[string][]string{}
		for _, p := range reParam.FindAllSubmatch(e[2], -1) {
			params[string(p[1])] = append(params[string(p[1])], unescape.Replace(string(p[2])))
		}
		msg.SD[string(e[1])] = params
	}
	msg.Msg, msg.HasBOM = strings.CutPrefix(string(m[8]), bom)
	return msg, nil
}
