package api

import _ "embed" // for OpenAPI

// OpenAPI is the OpenAPI 3.0 document of this API (YAML). It describes every
// route of the server, with the states and roles each one needs;
// openapi_test.go fails when the document and the route table disagree.
//
//go:embed openapi.yaml
var OpenAPI []byte
