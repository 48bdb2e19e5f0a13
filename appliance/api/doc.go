// Package api serves Keywarden's HTTPS REST API: the NetHSM API v1 (same paths,
// JSON fields, enums, roles, states and status codes) plus Keywarden's own
// extensions, described in openapi.yaml.
//
// Every request goes through one dispatcher that applies, in order: the
// appliance state the endpoint needs (412), rate limiting of failed
// authentication (429), HTTP Basic authentication (401), the role and
// namespace the endpoint needs (403), and then the handler. Handlers return
// errors; one function maps them to status codes and a JSON {"message": ...}.
package api
