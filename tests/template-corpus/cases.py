#!/usr/bin/env python3
"""The Go text/template corpus: templates over fixed JSON data. `oracle/` (Go) renders them with
Go's own text/template and Docker's functions; `make-expected` writes expected.jsonl, which the
Swift unit tests replay against GoTemplate. Regenerate only with Go installed."""
import json

D = {
    "Name": "web-1", "Id": "4f2c1d0e9a8b", "Count": 3, "Zero": 0, "Ratio": 0.25, "Big": 123456789012,
    "Empty": "", "True": True, "False": False, "Nil": None,
    "Tags": ["b", "a", "c"], "NoTags": [], "Nums": [1, 2, 3],
    "Labels": {"com.example.b": "two", "com.example.a": "one", "tier": "web"},
    "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0, "Health": None},
    "Config": {"Cmd": ["sh", "-c", "echo hi"], "Env": ["A=1", "PATH=/bin"], "Labels": {}},
    "Mounts": [{"Type": "volume", "Name": "data", "Destination": "/data", "RW": True},
               {"Type": "bind", "Source": "/srv", "Destination": "/srv", "RW": False}],
    "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "4000"}], "53/udp": None},
    "Text": "hello world_foo-bar", "Html": "<a href='x'>&</a>", "Path": "/usr/local/bin",
}

T = [
    # fields, printing
    "{{.Name}}", "{{.Id}} {{.Count}}", "{{.Missing}}", "{{.State.Status}}", "{{.State.Pid}}", "{{.Ratio}}", "{{.Big}}",
    "{{.True}} {{.False}}", "{{.Nil}}", "{{.Tags}}", "{{.NoTags}}", "{{.Labels}}", "{{.Config.Labels}}", "{{.Mounts}}",
    "{{.Ports}}", "{{.State.Health}}", "{{.}}", "{{.Missing.Deeper}}", "{{.State.Health.Status}}", "{{.Name.Foo}}",
    "plain text", "", "a{{/* comment */}}b", "a {{- /* c */ -}} b",
    # trim markers
    "x  {{- .Name -}}  y", "x  {{- .Name}}  y", "x  {{.Name -}}\n\n  y", "{{- .Name -}}", "a\n{{- 3 -}}\nb",
    # literals
    "{{1}} {{-2}} {{0x1F}} {{1.5}} {{1e3}} {{'a'}} {{\"q\\tq\"}} {{`raw\\n`}} {{true}} {{nil}}",
    # variables
    "{{$x := .Name}}{{$x}}", "{{$x := 1}}{{$x = 2}}{{$x}}", "{{$.Name}}", "{{with .State}}{{$.Name}}:{{.Status}}{{end}}",
    "{{$m := .Labels}}{{index $m \"tier\"}}", "{{$s := .State}}{{$s.Pid}}",
    # if / else
    "{{if .True}}yes{{end}}", "{{if .False}}yes{{else}}no{{end}}", "{{if .Empty}}a{{else if .Count}}b{{else}}c{{end}}",
    "{{if .Missing}}a{{else}}b{{end}}", "{{if .NoTags}}a{{else}}empty{{end}}", "{{if .Nil}}a{{else}}nil{{end}}",
    "{{if and .True .Count}}both{{end}}", "{{if or .Empty .Zero}}x{{else}}none{{end}}", "{{if not .False}}not{{end}}",
    "{{and .Count .Name}} {{or .Empty .Name}} {{and .Zero .Name}} {{or .Empty .Zero}}",
    # range
    "{{range .Tags}}[{{.}}]{{end}}", "{{range $i, $t := .Tags}}{{$i}}={{$t}} {{end}}", "{{range .NoTags}}x{{else}}none{{end}}",
    "{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}", "{{range .Labels}}{{.}},{{end}}", "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}",
    "{{range $p, $b := .Ports}}{{$p}}->{{if $b}}{{(index $b 0).HostPort}}{{else}}none{{end}} {{end}}",
    "{{range .Nums}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}}", "{{range .Nums}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}",
    "{{range $e := .Config.Env}}{{$e}} {{end}}", "{{range .Missing}}x{{else}}nothing{{end}}",
    # with
    "{{with .State}}{{.Status}}{{end}}", "{{with .Empty}}x{{else}}empty{{end}}", "{{with $x := .Count}}{{$x}}{{end}}",
    # pipes and functions
    "{{.Name | upper}}", "{{.Name | printf \"%s!\"}}", "{{.Text | title}}", "{{lower \"ABC\"}}", "{{upper .Name | lower}}",
    "{{json .}}", "{{json .Labels}}", "{{json .Tags}}", "{{json .Name}}", "{{json .Html}}", "{{json .Nil}}", "{{json .Missing}}",
    "{{join .Tags \",\"}}", "{{join .Config.Env \" \"}}", "{{join .Nums \"+\"}}", "{{join .Labels \"|\"}}", "{{split .Path \"/\"}}",
    "{{index (split .Path \"/\") 2}}", "{{len (split .Text \" \")}}", "{{pad .Name 2 3}}|", "{{pad .Empty 2 3}}|",
    "{{truncate .Id 4}}", "{{truncate .Id 40}}", "{{truncate .Id 12}}", "{{title \"hello-world foo_bar\"}}",
    "{{len .Tags}} {{len .Labels}} {{len .Name}}", "{{index .Tags 1}}", "{{index .Labels \"com.example.a\"}}",
    "{{index .Labels \"nope\"}}", "{{index .Mounts 1 | json}}", "{{(index .Mounts 0).Name}}", "{{slice .Name 1 3}}",
    "{{slice .Tags 1}}", "{{print .Name .Count}}", "{{print 1 2 \"a\" 3}}", "{{println .Name .Count}}",
    "{{printf \"%d-%s\" .Count .Name}}", "{{printf \"%5d|%-5d|%05d\" .Count .Count .Count}}", "{{printf \"%q\" .Name}}",
    "{{printf \"%v %v\" .Tags .True}}", "{{printf \"%.2f\" .Ratio}}", "{{printf \"%x %X\" .Count 255}}", "{{printf \"%t\" .True}}",
    "{{printf \"%10s|%-10s|\" .Name .Name}}", "{{printf \"%s\" .Count}}", "{{printf \"%d\"}}", "{{printf \"%d\" 1 2}}", "{{printf \"%%\"}}",
    "{{printf \"%v\" .Ratio}} {{printf \"%g\" .Ratio}} {{printf \"%e\" .Ratio}}", "{{printf \"%6.2f|\" .Ratio}}",
    "{{html .Html}}", "{{js .Html}}", "{{urlquery \"a b&c\"}}",
    # comparisons
    "{{eq .Count 3}} {{eq .Name \"web-1\"}} {{eq .Count 1 2 3}} {{ne .Count 3}}", "{{lt .Count 5}} {{le 3 .Count}} {{gt .Name \"a\"}} {{ge 1 2}}",
    "{{eq .State.Status \"running\"}}", "{{if eq .State.Status \"running\" \"paused\"}}up{{end}}", "{{eq .Nil nil}}",
    # parenthesized, chains
    "{{(.State).Status}}", "{{(index .Mounts 1).RW}}", "{{printf \"%s-%d\" (upper .Name) (len .Tags)}}",
    # define / template
    "{{define \"T\"}}<{{.}}>{{end}}{{template \"T\" .Name}}", "{{define \"T\"}}[{{.Status}}]{{end}}{{template \"T\" .State}}",
    "{{block \"B\" .Count}}b{{.}}{{end}}",
    # whitespace and newlines
    "{{.Name}}\t{{.Count}}\n", "{{ .Name }}", "{{\n.Name\n}}", "{{range .Tags -}}\n  {{.}}\n{{- end}}",
    # errors
    "{{.Name", "{{nope .Name}}", "{{end}}", "{{if .True}}x", "{{range}}{{end}}", "{{.Name .Count}}", "{{index .Tags 9}}",
    "{{upper .Count}}", "{{eq .Count \"3\"}}", "{{lt .Tags .Tags}}", "{{len .Count}}", "{{$y}}", "{{.Count.X}}", "{{else}}",
    "{{template \"none\"}}", "{{break}}", "{{\"unterminated}}", "{{(1}}", "{{1)}}", "{{json}}", "{{split .Name}}",
]

if __name__ == "__main__":
    import sys
    for t in T:
        sys.stdout.write(json.dumps({"T": t, "D": D}) + "\n")
