package httpapi

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
)

// docs serves the API's reference at /docs, rendered on the server from
// the OpenAPI document: no script and nothing from another host, so it
// works on a server without internet (the usual docs pages load their
// code from a CDN).
type docs struct {
	once sync.Once
	page []byte
	api  func() *huma.OpenAPI
}

func (d *docs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.once.Do(func() { d.page = renderDocs(d.api()) })
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = w.Write(d.page)
}

type docParam struct {
	Name, In, Type, Description string
	Required                    bool
}

type docOp struct {
	ID, Method, Path, Summary, Description string
	Params                                 []docParam
	Body                                   string // the request body's schema, as JSON
	BodyType                               string
	Responses                              []docResponse
}

type docResponse struct {
	Status, Description, Schema string
}

type docTag struct {
	Name string
	Ops  []docOp
}

func renderDocs(o *huma.OpenAPI) []byte {
	byTag := map[string][]docOp{}
	for path, item := range o.Paths {
		for method, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put,
			"PATCH": item.Patch, "DELETE": item.Delete} {
			if op == nil {
				continue
			}
			d := docOp{ID: op.OperationID, Method: method, Path: path, Summary: op.Summary, Description: op.Description}
			for _, p := range op.Parameters {
				d.Params = append(d.Params, docParam{Name: p.Name, In: p.In, Required: p.Required,
					Description: p.Description, Type: schemaType(o, p.Schema)})
			}
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Content {
					d.BodyType, d.Body = ct, schemaJSON(o, mt.Schema)
				}
			}
			for status, res := range op.Responses {
				r := docResponse{Status: status, Description: res.Description}
				if mt, ok := res.Content["application/json"]; ok {
					r.Schema = schemaJSON(o, mt.Schema)
				}
				d.Responses = append(d.Responses, r)
			}
			slices.SortFunc(d.Responses, func(a, b docResponse) int { return strings.Compare(a.Status, b.Status) })
			tag := "other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			byTag[tag] = append(byTag[tag], d)
		}
	}
	var tags []docTag
	for name, ops := range byTag {
		slices.SortFunc(ops, func(a, b docOp) int { return strings.Compare(a.Path+a.Method, b.Path+b.Method) })
		tags = append(tags, docTag{name, ops})
	}
	slices.SortFunc(tags, func(a, b docTag) int { return strings.Compare(a.Name, b.Name) })
	var b bytes.Buffer
	title, version := "Parley", ""
	if o.Info != nil {
		title, version = o.Info.Title, o.Info.Version
	}
	_ = docsTemplate.Execute(&b, map[string]any{"Title": title, "Version": version, "Tags": tags})
	return b.Bytes()
}

// schemaType is a parameter's type in a word.
func schemaType(o *huma.OpenAPI, s *huma.Schema) string {
	s = resolve(o, s)
	if s == nil {
		return ""
	}
	t := s.Type
	if len(s.Enum) > 0 {
		var vs []string
		for _, v := range s.Enum {
			b, _ := json.Marshal(v)
			vs = append(vs, string(b))
		}
		t += " (" + strings.Join(vs, ", ") + ")"
	}
	return t
}

// schemaJSON is a schema with its references resolved one level deep,
// indented: what a reader needs to write a body.
func schemaJSON(o *huma.OpenAPI, s *huma.Schema) string {
	s = resolve(o, s)
	if s == nil {
		return ""
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}

func resolve(o *huma.OpenAPI, s *huma.Schema) *huma.Schema {
	if s != nil && s.Ref != "" && o.Components != nil && o.Components.Schemas != nil {
		if r := o.Components.Schemas.SchemaFromRef(s.Ref); r != nil {
			return r
		}
	}
	return s
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1d2330}
nav{width:17rem;flex:none;height:100vh;overflow:auto;position:sticky;top:0;background:#f4f5f8;padding:1rem;box-sizing:border-box}
nav a{display:block;color:#1d2330;text-decoration:none;font-size:13px;padding:1px 0}
nav h2{font-size:13px;text-transform:uppercase;margin:1rem 0 .2rem;color:#555}
main{padding:1rem 2rem;max-width:60rem}
.op{border-top:1px solid #ddd;padding:1rem 0}
.m{font:bold 12px monospace;padding:2px 6px;border-radius:3px;color:#fff;background:#3a6ea5}
.m.POST{background:#3c8d40}.m.DELETE{background:#b33}.m.PATCH{background:#b07a00}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f4f5f8;padding:.6rem;overflow:auto;max-height:24rem}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
details summary{cursor:pointer}
.sr{position:absolute;left:-9999px}
</style></head><body>
<nav aria-label="Operations"><strong>{{.Title}} {{.Version}}</strong><br><a href="/openapi.json">openapi.json</a>
{{range .Tags}}<h2>{{.Name}}</h2>{{range .Ops}}<a href="#{{.ID}}"><code>{{.Method}}</code> {{.Path}}</a>{{end}}{{end}}
</nav><main>
<h1>{{.Title}} API reference</h1>
<p>Every call but health, metrics and these docs takes <code>Authorization: Bearer &lt;token&gt;</code>.
Errors are RFC 9457 problem JSON; <code>errors[].location</code> names the field at fault. The machine-readable
description is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
{{range .Tags}}<h2>{{.Name}}</h2>
{{range .Ops}}<section class="op" id="{{.ID}}" aria-labelledby="{{.ID}}-h">
<h3 id="{{.ID}}-h"><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code></h3>
<p>{{.Summary}}</p>{{if .Description}}<p>{{.Description}}</p>{{end}}
{{if .Params}}<table><caption class="sr">Parameters</caption><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code>{{if .Required}} (required){{end}}</td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}
</table>{{end}}
{{if .Body}}<details><summary>Request body ({{.BodyType}})</summary><pre>{{.Body}}</pre></details>{{end}}
{{range .Responses}}<details><summary>{{.Status}} {{.Description}}</summary>{{if .Schema}}<pre>{{.Schema}}</pre>{{end}}</details>{{end}}
</section>{{end}}{{end}}
</main></body></html>
`))
