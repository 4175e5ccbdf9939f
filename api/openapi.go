package api

import _ "embed"

// OpenAPIPath is where kilnd serves OpenAPI, the API's document.
const OpenAPIPath = Version + "/openapi.json"

// OpenAPI is the OpenAPI 3.1 document of the control API, every route
// kilnd serves on its socket and on its TCP listener, with the schemas of
// the requests and answers of this package. The daemon's tests hold it to
// the routes it serves and to the answers it gives.
//
//go:embed openapi.json
var OpenAPI []byte
