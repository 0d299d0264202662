import base64
import json
import os
import stat

import pytest

from pycontainerd.registry.auth import (AuthConfig, config_credentials, credentials_from_config,
                                        decode_registry_auth_header, encode_registry_auth_header,
                                        parse_www_authenticate, remove_credentials, store_credentials)


def test_parse_bearer_challenge():
    [c] = parse_www_authenticate(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:samalba/my-app:pull,push"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.example/token", "service": "registry.example",
                        "scope": "repository:samalba/my-app:pull,push"}


def test_parse_several_challenges_and_escapes():
    cs = parse_www_authenticate(['Basic realm="Registry Realm"',
                                 'Bearer realm="http://a/t", service=reg , error="invalid_token", '
                                 'Newauth realm="x\\"y", title=plain'])
    assert [c.scheme for c in cs] == ["basic", "bearer", "newauth"]
    assert cs[0].params == {"realm": "Registry Realm"}
    assert cs[1].params == {"realm": "http://a/t", "service": "reg", "error": "invalid_token"}
    assert cs[2].params == {"realm": 'x"y', "title": "plain"}


def test_parse_unquoted_url_values():
    [c] = parse_www_authenticate("Bearer realm=http://127.0.0.1:9/token,service=reg")
    assert c.params == {"realm": "http://127.0.0.1:9/token", "service": "reg"}


def test_parse_scheme_only_and_garbage():
    assert [c.scheme for c in parse_www_authenticate("Negotiate")] == ["negotiate"]
    assert parse_www_authenticate("") == []


def test_x_registry_auth_roundtrip_and_padding():
    cfg = AuthConfig(username="u", password="p?>", serveraddress="127.0.0.1:5000")
    enc = encode_registry_auth_header(cfg)
    assert decode_registry_auth_header(enc) == cfg
    assert decode_registry_auth_header(enc.rstrip("=")) == cfg  # docker CLI pads, others do not
    std = base64.b64encode(json.dumps({"Username": "a", "Password": "b"}).encode()).decode()
    assert decode_registry_auth_header(std).username == "a"
    assert decode_registry_auth_header("") is None
    assert decode_registry_auth_header(base64.urlsafe_b64encode(b"{}").decode()) is None
    with pytest.raises(ValueError, match="X-Registry-Auth"):
        decode_registry_auth_header("bm90IGpzb24")  # "not json"


def test_identity_token_header():
    enc = encode_registry_auth_header(AuthConfig(identitytoken="refresh"))
    assert decode_registry_auth_header(enc).identitytoken == "refresh"


def test_docker_config_store_load_remove(tmp_path):
    path = str(tmp_path / "d" / "config.json")
    store_credentials("127.0.0.1:5000", AuthConfig(username="alice", password="s3cr:et"), path)
    store_credentials("docker.io", AuthConfig(username="bob", password="pw"), path)
    with open(path) as f:
        data = json.load(f)
    assert data["auths"]["127.0.0.1:5000"]["auth"] == base64.b64encode(b"alice:s3cr:et").decode()
    assert "https://index.docker.io/v1/" in data["auths"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    creds = config_credentials(path)
    assert (creds("127.0.0.1:5000").username, creds("127.0.0.1:5000").password) == ("alice", "s3cr:et")
    assert creds("registry-1.docker.io").username == "bob"
    assert creds("other:1") is None
    assert remove_credentials("127.0.0.1:5000", path)
    assert not remove_credentials("127.0.0.1:5000", path)
    assert config_credentials(path)("127.0.0.1:5000") is None


def test_config_keys_as_urls():
    cfg = {"auths": {"https://myreg.example:5000/v2/": {"auth": base64.b64encode(b"x:y").decode()}}}
    c = credentials_from_config(cfg, "myreg.example:5000")
    assert (c.username, c.password) == ("x", "y")
