package main

import (
	"reflect"
	"sort"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

func main() {
	// stdin: JSON lines {"t": template, "d": data}
	dec := json.NewDecoder(os.Stdin)
	funcs := template.FuncMap{
		"json": func(v interface{}) string {
			buf := &bytes.Buffer{}
			enc := json.NewEncoder(buf)
			enc.SetEscapeHTML(false)
			enc.Encode(v)
			return strings.TrimSpace(buf.String())
		},
		"split": strings.Split, "join": joinElements, "title": strings.Title, "lower": strings.ToLower, "upper": strings.ToUpper,
		"pad": func(s string, p, q int) string { if s == "" { return s }; return strings.Repeat(" ", p) + s + strings.Repeat(" ", q) },
		"truncate": func(s string, n int) string { if len(s) < n { return s }; return s[:n] },
	}
	for {
		var c struct{ T string; D json.RawMessage }
		if err := dec.Decode(&c); err != nil { break }
		var data interface{}
		d := json.NewDecoder(bytes.NewReader(c.D))
		d.UseNumber()
		d.Decode(&data)
		data = conv(data)
		out := ""
		tmpl, err := template.New("").Funcs(funcs).Parse(c.T)
		if err != nil { out = "ERR " + err.Error() } else {
			var b bytes.Buffer
			if err := tmpl.Execute(&b, data); err != nil { out = "ERR " + err.Error() } else { out = b.String() }
		}
		j, _ := json.Marshal(out)
		fmt.Println(string(j))
	}
}

func conv(v interface{}) interface{} {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil { return int(i) }
		f, _ := x.Float64(); return f
	case map[string]interface{}:
		for k, e := range x { x[k] = conv(e) }
	case []interface{}:
		for i, e := range x { x[i] = conv(e) }
	}
	return v
}

// joinElements is the docker CLI's `join` (v29+): any slice, or a map's values sorted.
func joinElements(elems interface{}, sep string) (string, error) {
	if elems == nil { return "", nil }
	if ss, ok := elems.([]string); ok { return strings.Join(ss, sep), nil }
	switch rv := reflect.ValueOf(elems); rv.Kind() {
	case reflect.Array, reflect.Slice:
		var b strings.Builder
		for i := 0; i < rv.Len(); i++ { if i > 0 { b.WriteString(sep) }; fmt.Fprint(&b, rv.Index(i).Interface()) }
		return b.String(), nil
	case reflect.Map:
		var out []string
		for _, k := range rv.MapKeys() { out = append(out, fmt.Sprint(rv.MapIndex(k).Interface())) }
		sort.Strings(out)
		return strings.Join(out, sep), nil
	default:
		return "", fmt.Errorf("expected slice, got %T", elems)
	}
}
