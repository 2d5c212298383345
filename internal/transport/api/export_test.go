package api

// Routes lists "METHOD /api/v1/pattern" for every entry of the route table.
func Routes() []string {
	out := make([]string, len(routes))
	for i, r := range routes {
		out[i] = r.method + " " + Prefix + r.pattern
	}
	return out
}

// OpenAPISpec is the embedded document.
var OpenAPISpec = openAPISpec
