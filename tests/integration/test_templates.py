"""The --format corpus against the real docker CLI: both CLIs talk to the same berthd, the docker
CLI renders each template client-side, and `berth` must print exactly the same bytes."""
import pytest

TEMPLATES = {
    "ps": [
        "{{.ID}} {{.Names}} {{.Image}}", "{{json .Names}}", "table {{.Names}}\\t{{.Status}}\\t{{.Command}}",
        "{{.Label \"tier\"}}|{{.Labels}}", "table {{.Names}}\\t{{.Label \"tier\"}}", "{{.State}} {{upper .Names}}",
        "{{if eq .State \"running\"}}UP {{.Names}}{{else}}DOWN {{.Names}}{{end}}", "{{.Command | printf \"%-30s|\"}}",
        "{{.CreatedAt}}", "table", "{{pad .Names 1 2}}|{{truncate .ID 5}}", "{{title .State}} {{lower .Names}}",
        "{{split .Labels \",\"}}", "{{.Mounts}}:{{.Networks}}:{{.Ports}}", "{{.Size}}", "table {{.ID}}\\t{{.Size}}",
    ],
    "images": [
        "{{.Repository}}:{{.Tag}} {{.ID}}", "table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}", "{{.Digest}} {{.CreatedAt}}",
        "{{json .Repository}}", "{{.Containers}} {{.SharedSize}} {{.UniqueSize}}",
    ],
    "inspect": [
        "{{.Name}} {{.State.Status}} {{.State.ExitCode}}", "{{json .Config.Labels}}", "{{.Config.Labels}}",
        "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "{{index .Config.Labels \"tier\"}}",
        "{{.Config.Cmd}} {{len .Config.Cmd}} {{index .Config.Cmd 0}}", "{{join .Config.Cmd \" \"}}",
        "{{range .Config.Env}}{{println .}}{{end}}", "{{with .State}}{{.Running}}/{{.Paused}}{{end}}",
        "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Memory}}", "{{.Config.Image}} {{.Image}}",
        "{{if .State.Running}}running{{else}}not running{{end}}", "{{json .Config.Cmd}}", "{{.Id | printf \"%.12s\"}}",
        "{{.RestartCount}} {{.Driver}} {{.Path}} {{.Args}}", "{{.ID}}", "{{index .Config.Labels \"nope\"}}|",
        "{{- range $i, $e := .Config.Env}}{{if $i}},{{end}}{{$e}}{{end -}}", "json",
    ],
}


@pytest.fixture(scope="module")
def corpus_daemon(daemon):
    d = daemon
    for name, labels, cmd in [("tpl-a", ["tier=web", "app=shop"], ["sleep", "300"]),
                              ("tpl-b", ["tier=db"], ["sh", "-c", "echo a very long command line; sleep 300"]),
                              ("tpl-c", [], ["true"])]:
        d.berth("rm", "-f", name)
        args = ["run", "-d", "--name", name, "-e", "A=1", "--restart", "no", "-m", "64m"]
        for l in labels + ["corpus=1"]:
            args += ["--label", l]
        d.berth(*args, "busybox", *cmd, check=True)
    d.berth("wait", "tpl-c")
    yield d
    d.berth("rm", "-f", "tpl-a", "tpl-b", "tpl-c")


def both(d, *args):
    """Runs the docker CLI and berth with the same arguments. Relative times ("Up 2 seconds",
    "1 second ago") can tick between the two runs, so a mismatch is retried: a real difference
    persists across every attempt."""
    for _ in range(4):
        a = d.docker(*args)
        b = d.berth(*args)
        if a.stdout == b.stdout:
            break
    return a, b


@pytest.mark.parametrize("template", TEMPLATES["ps"])
def test_ps_format_matches_docker(corpus_daemon, template):
    a, b = both(corpus_daemon, "ps", "-a", "--filter", "label=corpus=1", "--format", template.replace("\\t", "\t"))
    assert a.returncode == 0, a.stderr
    assert b.stdout == a.stdout, (template, a.stdout, b.stdout, b.stderr)


@pytest.mark.parametrize("template", TEMPLATES["images"])
def test_images_format_matches_docker(corpus_daemon, template):
    a, b = both(corpus_daemon, "images", "--format", template)
    assert a.returncode == 0, a.stderr
    assert b.stdout == a.stdout, (template, a.stdout, b.stdout, b.stderr)


@pytest.mark.parametrize("template", TEMPLATES["inspect"])
def test_inspect_format_matches_docker(corpus_daemon, template):
    a, b = both(corpus_daemon, "inspect", "--format", template, "tpl-a", "tpl-c")
    assert a.returncode == 0, a.stderr
    assert b.stdout == a.stdout, (template, a.stdout, b.stdout, b.stderr)


def test_default_tables_match_docker(corpus_daemon):
    d = corpus_daemon
    for args in [("ps", "-a", "--filter", "label=corpus=1"), ("ps", "-a", "--no-trunc", "--filter", "label=corpus=1"),
                 ("images",), ("history", "busybox"), ("history", "--no-trunc", "-H=false", "busybox"),
                 ("stats", "--no-stream", "--format", "table {{.Name}}\t{{.ID}}\t{{.PIDs}}", "tpl-a"),
                 ("version", "--format", "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}}"),
                 ("info", "--format", "{{.Containers}} {{.Driver}} {{json .Name}}")]:
        a, b = both(d, *args)
        assert a.returncode == 0, (args, a.stderr)
        assert b.stdout == a.stdout, (args, a.stdout, b.stdout, b.stderr)


def test_events_format_matches_docker(corpus_daemon):
    d = corpus_daemon
    since = d.berth("inspect", "--format", "{{.Created}}", "tpl-a").stdout.strip()
    until = d.berth("inspect", "--format", "{{.State.FinishedAt}}", "tpl-c").stdout.strip()
    for t in ["{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", "{{.ID}} {{.Status}} {{.From}}", "{{json .Actor.Attributes}}", "json"]:
        a, b = both(d, "events", "--since", since, "--until", until, "--filter", "label=corpus=1", "--format", t)
        assert a.returncode == 0, a.stderr
        assert b.stdout == a.stdout and a.stdout, (t, a.stdout, b.stdout, b.stderr)


def test_template_errors(corpus_daemon):
    d = corpus_daemon
    a, b = both(d, "ps", "--format", "{{nope .ID}}")
    assert a.returncode != 0 and b.returncode != 0
    assert 'function "nope" not defined' in b.stderr
    a, b = both(d, "inspect", "--format", "{{.ID", "tpl-a")
    assert a.returncode == b.returncode == 64, (a.returncode, b.returncode)
    assert "template parsing error" in b.stderr
