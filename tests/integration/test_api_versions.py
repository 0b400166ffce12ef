"""Behaviour keyed on the request's API version (berthd reports 1.44, as Docker 25): clients
that speak 1.41 keep 1.41's behaviour."""
import json
import socket
import time
import urllib.parse

import docker
import pytest


def raw(daemon, method, path, body=None):
    return daemon.api(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"} if body is not None else None)


def test_volume_prune_anonymous_only_from_1_42(daemon):
    c = docker.APIClient(base_url=daemon.host, version="1.44")
    c.create_volume("named-keep")
    cid = c.create_container("busybox", "true", volumes=["/anon"])["Id"]
    anon = [m["Name"] for m in c.inspect_container(cid)["Mounts"]][0]
    c.remove_container(cid)
    status, _, body = raw(daemon, "POST", "/v1.44/volumes/prune")
    deleted = json.loads(body)["VolumesDeleted"] or []
    assert anon in deleted and "named-keep" not in deleted
    status, _, body = raw(daemon, "POST", "/v1.44/volumes/prune?filters=" + urllib.parse.quote(json.dumps({"all": ["true"]})))
    assert "named-keep" in json.loads(body)["VolumesDeleted"]
    c.create_volume("named-old")
    status, _, body = raw(daemon, "POST", "/v1.41/volumes/prune")
    assert "named-old" in json.loads(body)["VolumesDeleted"]


def test_stream_media_type_names_multiplexed_streams_from_1_42(daemon):
    c = docker.APIClient(base_url=daemon.host, version="1.44")
    cid = c.create_container("busybox", ["echo", "hi"])["Id"]
    c.start(cid)
    c.wait(cid)
    _, h, _ = daemon.api("GET", f"/v1.44/containers/{cid}/logs?stdout=1")
    assert h["content-type"] == "application/vnd.docker.multiplexed-stream"
    _, h, _ = daemon.api("GET", f"/v1.41/containers/{cid}/logs?stdout=1")
    assert h["content-type"] == "application/vnd.docker.raw-stream"
    c.remove_container(cid)
    # the docker CLI (1.44) relies on the label: output must not show frame headers
    r = daemon.docker("run", "--rm", "busybox", "echo", "clean")
    assert r.stdout == "clean\n"


def test_short_id_alias_kept_after_exit_from_1_44(daemon):
    c = docker.APIClient(base_url=daemon.host, version="1.44")
    c.create_network("aliasnet")
    cid = c.create_container("busybox", "true", networking_config=c.create_networking_config(
        {"aliasnet": c.create_endpoint_config(aliases=["hello"])}), host_config=c.create_host_config(network_mode="aliasnet"))["Id"]
    c.start(cid)
    c.wait(cid)
    new = json.loads(daemon.api("GET", f"/v1.44/containers/{cid}/json")[2])
    old = json.loads(daemon.api("GET", f"/v1.41/containers/{cid}/json")[2])
    assert new["NetworkSettings"]["Networks"]["aliasnet"]["Aliases"] == ["hello", cid[:12]]
    assert old["NetworkSettings"]["Networks"]["aliasnet"]["Aliases"] == ["hello"]
    c.remove_container(cid)
    c.remove_network("aliasnet")


def test_image_virtual_size_gone_from_1_44(daemon):
    new = json.loads(daemon.api("GET", "/v1.44/images/json")[2])
    old = json.loads(daemon.api("GET", "/v1.41/images/json")[2])
    assert "VirtualSize" not in new[0] and "VirtualSize" in old[0]


def test_stop_signal_parameter_and_wait_condition_check(daemon):
    c = docker.APIClient(base_url=daemon.host, version="1.44")
    cid = c.create_container("busybox", ["sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"])["Id"]
    c.start(cid)
    time.sleep(0.3)
    status, _, _ = raw(daemon, "POST", f"/v1.44/containers/{cid}/stop?signal=USR1&t=5")
    assert status == 204
    assert c.inspect_container(cid)["State"]["ExitCode"] == 42
    status, _, body = daemon.api("POST", f"/v1.44/containers/{cid}/wait?condition=bogus")
    assert status == 400 and "invalid condition" in json.loads(body)["message"]
    c.remove_container(cid)


def test_health_start_interval_from_1_44(daemon):
    hc = {"Test": ["CMD", "true"], "Interval": 30_000_000_000, "StartPeriod": 10_000_000_000, "StartInterval": 200_000_000}
    status, _, body = raw(daemon, "POST", "/v1.44/containers/create", {"Image": "busybox", "Cmd": ["sleep", "30"], "Healthcheck": hc})
    cid = json.loads(body)["Id"]
    status, _, body = raw(daemon, "POST", "/v1.41/containers/create", {"Image": "busybox", "Cmd": ["sleep", "30"], "Healthcheck": hc})
    old = json.loads(body)["Id"]
    c = docker.APIClient(base_url=daemon.host, version="1.44")
    assert c.inspect_container(cid)["Config"]["Healthcheck"]["StartInterval"] == 200_000_000
    assert "StartInterval" not in c.inspect_container(old)["Config"]["Healthcheck"]
    c.start(cid)
    deadline = time.time() + 5
    while time.time() < deadline and c.inspect_container(cid)["State"]["Health"]["Status"] != "healthy":
        time.sleep(0.1)
    # probed at the start interval: healthy long before the 30 s interval
    assert c.inspect_container(cid)["State"]["Health"]["Status"] == "healthy"
    c.remove_container(cid, force=True)
    c.remove_container(old, force=True)


def test_several_networks_at_create_from_1_44_and_a_missing_one_fails_the_start(daemon):
    c = docker.APIClient(base_url=daemon.host, version="1.44")
    c.create_network("multi-a")
    c.create_network("multi-b")
    cid = c.create_container("busybox", "top", host_config=c.create_host_config(network_mode="multi-a"),
                             networking_config=c.create_networking_config({"multi-a": c.create_endpoint_config(aliases=["x"]),
                                                                           "multi-b": c.create_endpoint_config()}))["Id"]
    c.start(cid)
    nets = c.inspect_container(cid)["NetworkSettings"]["Networks"]
    assert set(nets) == {"multi-a", "multi-b"} and all(n["IPAddress"] for n in nets.values())
    c.remove_container(cid, force=True)
    cid = c.create_container("busybox", "top", host_config=c.create_host_config(network_mode="multi-a"),
                             networking_config=c.create_networking_config({"multi-a": c.create_endpoint_config(),
                                                                           "nosuchnet": c.create_endpoint_config()}))["Id"]
    with pytest.raises(docker.errors.NotFound):
        c.start(cid)
    c.remove_container(cid, force=True)
    c.remove_network("multi-a")
    c.remove_network("multi-b")
