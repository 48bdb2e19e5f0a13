// Package image will build and apply signed update bundles (A/B slots, boot
// assessment). It is empty until the update issue.
package image
