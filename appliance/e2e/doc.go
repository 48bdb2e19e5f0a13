// Package e2e holds Keywarden's end-to-end tests: the real keywardend binary,
// started by apptest in a temporary data directory, driven over HTTPS by the
// Go API client exactly as an operator's tools would drive an appliance.
package e2e
