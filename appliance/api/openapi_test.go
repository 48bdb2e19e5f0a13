package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/users"
	"sigs.k8s.io/yaml"
)

// apiDoc is the part of openapi.yaml the checks read, with the operations
// flattened to "METHOD /path" keys.
type apiDoc struct {
	version  string
	security []map[string][]string
	ops      map[string]opDoc
	// responses are the shared responses under components, by name.
	responses map[string]responseDoc
}

type opDoc struct {
	OperationID string                 `json:"operationId"`
	Summary     string                 `json:"summary"`
	Route       string                 `json:"x-keywarden-route"` // set on aliases
	Access      string                 `json:"x-keywarden-access"`
	Roles       []string               `json:"x-keywarden-roles"`
	RootOnly    *bool                  `json:"x-keywarden-root-only"`
	States      []string               `json:"x-keywarden-states"`
	Security    *[]map[string][]string `json:"security"`
	Responses   map[string]responseDoc `json:"responses"`
}

type responseDoc struct {
	Ref     string         `json:"$ref"`
	Content map[string]any `json:"content"`
}

var pathItemFields = []string{"summary", "description", "servers", "parameters"}

// parseDoc reads the document; unknown keys in a path item (a misspelt
// method, say) are errors, so no operation can hide from the checks.
func parseDoc(b []byte) (*apiDoc, error) {
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	var raw struct {
		OpenAPI    string                                `json:"openapi"`
		Security   []map[string][]string                 `json:"security"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Responses map[string]responseDoc `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("decode openapi.yaml: %w", err)
	}
	doc := &apiDoc{version: raw.OpenAPI, security: raw.Security, ops: map[string]opDoc{}, responses: raw.Components.Responses}
	for path, item := range raw.Paths {
		for key, body := range item {
			if slices.Contains(pathItemFields, key) {
				continue
			}
			method := strings.ToUpper(key)
			if !slices.Contains([]string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"}, method) {
				return nil, fmt.Errorf("path %s: unexpected key %q", path, key)
			}
			var op opDoc
			if err := json.Unmarshal(body, &op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			doc.ops[method+" "+path] = op
		}
	}
	return doc, nil
}

var accessNames = map[access]string{public: "public", roles: "roles", destructive: "destructive", adminWhenOperational: "admin-when-operational"}

// documentedRoles is who the dispatcher lets in: destructive routes admit
// Administrators while Operational whatever rt.roles says.
func documentedRoles(rt route) []string {
	var out []string
	if rt.access != public {
		for _, r := range rt.roles {
			out = append(out, string(r))
		}
	}
	if (rt.access == destructive || rt.access == adminWhenOperational) && !slices.Contains(out, string(users.Administrator)) {
		out = append(out, string(users.Administrator))
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

// checkDocument returns every disagreement between doc and the route table.
func checkDocument(doc *apiDoc, rts []route) []string {
	var problems []string
	byKey := map[string]route{}
	for _, rt := range rts {
		key := rt.method + " " + rt.path
		byKey[key] = rt
		if _, ok := doc.ops[key]; !ok {
			problems = append(problems, key+": route is not documented")
		}
	}
	for key, op := range doc.ops {
		target := key
		if op.Route != "" {
			target = op.Route
		}
		rt, ok := byKey[target]
		if !ok {
			problems = append(problems, key+": documented, but the server has no route "+target)
			continue
		}
		for _, p := range checkOperation(doc, op, rt) {
			problems = append(problems, key+": "+p)
		}
	}
	slices.Sort(problems)
	return problems
}

// checkOperation compares one operation with the route that serves it.
func checkOperation(doc *apiDoc, op opDoc, rt route) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	var states []string
	for _, st := range rt.states {
		states = append(states, string(st))
	}
	if !sameSet(op.States, states) {
		add("x-keywarden-states is %v, want %v", op.States, states)
	}
	if want := documentedRoles(rt); !sameSet(op.Roles, want) {
		add("x-keywarden-roles is %v, want %v", op.Roles, want)
	}
	if op.Access != accessNames[rt.access] {
		add("x-keywarden-access is %q, want %q", op.Access, accessNames[rt.access])
	}
	if op.RootOnly == nil || *op.RootOnly != rt.rootOnly {
		add("x-keywarden-root-only is %v, want %v", boolOrAbsent(op.RootOnly), rt.rootOnly)
	}
	p = append(p, checkSecurity(doc, op, rt)...)
	p = append(p, checkStatusCodes(doc, op, rt)...)
	return p
}

func boolOrAbsent(b *bool) any {
	if b == nil {
		return "absent"
	}
	return *b
}

func checkSecurity(doc *apiDoc, op opDoc, rt route) []string {
	sec := doc.security
	if op.Security != nil {
		sec = *op.Security
	}
	hasBasic := slices.ContainsFunc(sec, func(req map[string][]string) bool { _, ok := req["basic"]; return ok })
	if rt.access == public && (op.Security == nil || len(sec) != 0) {
		return []string{"public route must declare security: []"}
	}
	if rt.access != public && !hasBasic {
		return []string{"authenticated route must require the basic scheme"}
	}
	return nil
}

// checkStatusCodes asks for the codes the dispatcher produces for this route
// and refuses those it cannot produce.
func checkStatusCodes(doc *apiDoc, op opDoc, rt route) []string {
	var p []string
	need := func(code int, why string, want bool) {
		_, has := op.Responses[strconv.Itoa(code)]
		switch {
		case want && !has:
			p = append(p, fmt.Sprintf("response %d is missing (%s)", code, why))
		case !want && has:
			p = append(p, fmt.Sprintf("response %d is documented but never sent (%s)", code, why))
		}
	}
	need(http.StatusNotAcceptable, "Accept is checked only when the route produces a body type", rt.produces != "")
	need(http.StatusPreconditionFailed, "the route is refused in some states", len(rt.states) < len(anyState))
	need(http.StatusUnauthorized, "credentials are checked", rt.access != public)
	if rt.access != public {
		need(http.StatusForbidden, "roles are checked", true)
		need(http.StatusTooManyRequests, "failed authentication is rate-limited", true)
	}
	if rt.produces != "" && !producesOnSuccess(doc, op, rt.produces) {
		p = append(p, "no 2xx response has content "+rt.produces)
	}
	return p
}

func producesOnSuccess(doc *apiDoc, op opDoc, mediaType string) bool {
	for code, resp := range op.Responses {
		if !strings.HasPrefix(code, "2") {
			continue
		}
		if name, ok := strings.CutPrefix(resp.Ref, "#/components/responses/"); ok {
			resp = doc.responses[name]
		}
		if _, ok := resp.Content[mediaType]; ok {
			return true
		}
	}
	return false
}

func loadDoc(t *testing.T) *apiDoc {
	t.Helper()
	doc, err := parseDoc(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func serverRoutes() []route {
	return New(nil, slog.New(slog.DiscardHandler)).routes()
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	for _, p := range checkDocument(loadDoc(t), serverRoutes()) {
		t.Error(p)
	}
}

// TestOpenAPICheckDetectsDrift shows that checkDocument notices each kind of
// disagreement, so a passing TestOpenAPIMatchesRoutes means something.
func TestOpenAPICheckDetectsDrift(t *testing.T) {
	find := func(rts []route, method, path string) *route {
		for i := range rts {
			if rts[i].method == method && rts[i].path == path {
				return &rts[i]
			}
		}
		t.Fatalf("no route %s %s", method, path)
		return nil
	}
	tests := []struct {
		name   string
		mutate func(doc *apiDoc, rts []route) []route
		want   string
	}{
		{"new route", func(_ *apiDoc, rts []route) []route {
			return append(rts, route{method: "GET", path: "/cluster/undocumented", states: operational, access: roles, roles: admin})
		}, "GET /cluster/undocumented: route is not documented"},
		{"operation removed from the doc", func(doc *apiDoc, rts []route) []route {
			delete(doc.ops, "POST /lock")
			return rts
		}, "POST /lock: route is not documented"},
		{"route removed", func(_ *apiDoc, rts []route) []route {
			return slices.DeleteFunc(rts, func(rt route) bool { return rt.path == "/random" })
		}, "POST /random: documented, but the server has no route"},
		{"states changed", func(_ *apiDoc, rts []route) []route {
			find(rts, "POST", "/lock").states = anyState
			return rts
		}, "POST /lock: x-keywarden-states"},
		{"roles changed", func(_ *apiDoc, rts []route) []route {
			find(rts, "GET", "/keys").roles = admin
			return rts
		}, "GET /keys: x-keywarden-roles"},
		{"alias target changed", func(_ *apiDoc, rts []route) []route {
			find(rts, "GET", "/keys/{KeyID}").roles = operator
			return rts
		}, "GET /keys/{KeyPrefix}*: x-keywarden-roles"},
		{"root-only changed", func(_ *apiDoc, rts []route) []route {
			find(rts, "GET", "/users").rootOnly = true
			return rts
		}, "GET /users: x-keywarden-root-only"},
		{"access changed", func(_ *apiDoc, rts []route) []route {
			find(rts, "GET", "/health/state").access = roles
			return rts
		}, "GET /health/state: x-keywarden-access"},
		{"body type added", func(_ *apiDoc, rts []route) []route {
			find(rts, "DELETE", "/keys/{KeyID}").produces = typeJSON
			return rts
		}, "DELETE /keys/{KeyID}: response 406 is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := loadDoc(t)
			problems := checkDocument(doc, tt.mutate(doc, serverRoutes()))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, tt.want) }) {
				t.Errorf("got problems %q, want one starting with %q", problems, tt.want)
			}
		})
	}
}

func TestOpenAPIWellFormed(t *testing.T) {
	doc := loadDoc(t)
	if !strings.HasPrefix(doc.version, "3.0.") {
		t.Errorf("got openapi %q, want 3.0.x", doc.version)
	}
	seen := map[string]string{}
	for key, op := range doc.ops {
		if op.OperationID == "" || op.Summary == "" {
			t.Errorf("%s: got operationId %q and summary %q, want both set", key, op.OperationID, op.Summary)
		}
		if prev, dup := seen[op.OperationID]; dup {
			t.Errorf("%s: operationId %q is also used by %s", key, op.OperationID, prev)
		}
		seen[op.OperationID] = key
	}
}

// TestOpenAPIRefsResolve checks that every $ref points into the document.
func TestOpenAPIRefsResolve(t *testing.T) {
	js, err := yaml.YAMLToJSON(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := json.Unmarshal(js, &root); err != nil {
		t.Fatal(err)
	}
	var refs []string
	collectRefs(root, &refs)
	if len(refs) == 0 {
		t.Fatal("got no $ref at all, want many")
	}
	for _, ref := range refs {
		if !resolves(root, ref) {
			t.Errorf("$ref %q does not resolve", ref)
		}
	}
}

func collectRefs(v any, refs *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				*refs = append(*refs, s)
			}
			collectRefs(x, refs)
		}
	case []any:
		for _, x := range v {
			collectRefs(x, refs)
		}
	}
}

// resolves follows a local JSON pointer ("#/a/b"); the document uses no
// escaped characters in its component names.
func resolves(root any, ref string) bool {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	cur := root
	for part := range strings.SplitSeq(ptr, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}
