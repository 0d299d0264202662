"""The compose YAML subset parser, checked against PyYAML (Debian's python3-yaml) when present."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from cli.compose.yamlparse import YAMLError, loads

REPO = Path(__file__).resolve().parents[3]

SAMPLES = [
    "a: 1\nb: two\nc: 'three'\nd: \"fo\\tur\"\ne:\nf: ~\ng: true\nh: 1.5\n",
    "list:\n  - a\n  - 'b c'\n  -  d # comment\n# whole-line comment\nflow: [1, \"two\", three]\nmap: {a: 1, b: [x, y]}\n",
    "services:\n  web:\n    command:\n      - sh\n      - -c\n      - |\n        echo a\n        echo b\n\n    ports: [\"80:80\"]\n",
    "s:\n- name: x\n  v: 1\n- name: y\n  nested:\n    k: v\n",
    "folded: >\n  one\n  two\n\n  three\nkeep: |+\n  x\n\nstrip: |-\n  y\nafter: z\n",
    "key with spaces: 'value: with colon'\nurl: http://x:80/a#frag\nq: 'it''s'\nempty_list: []\nempty_map: {}\n",
    "multi: [a,\n  b, c]\nport: \"127.0.0.1:${WEB_PORT:-18080}:80\"\nn: -3\noct: 0755\n",
]


def pyyaml(text: str):
    code = "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"
    cp = subprocess.run(["/usr/bin/python3", "-c", code], input=text, capture_output=True, text=True)
    if cp.returncode != 0:
        pytest.skip("python3-yaml is not available as an oracle")
    return json.loads(cp.stdout)


@pytest.mark.parametrize("text", SAMPLES)
def test_matches_pyyaml(text):
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no system python3")
    ours = loads(text)
    theirs = pyyaml(text)
    if "oct" in text:  # YAML 1.1 (PyYAML) reads 0755 as octal; compose files are YAML 1.2 (decimal string rules)
        ours.pop("oct"), theirs.pop("oct")
    assert ours == theirs


def test_project_compose_file():
    text = (REPO / "docker-compose.test.yml").read_text()
    assert loads(text) == pyyaml(text)


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "a: [1, 2\n", "just: 'unterminated\n"])
def test_errors(text):
    with pytest.raises(YAMLError):
        loads(text)


def test_dumps_round_trips():
    from cli.compose.yamlparse import dumps
    data = {"services": {"web": {"command": ["sh", "-c", "echo a: b\nx"], "ports": ["80:80"], "n": 3,
                                 "flag": True, "empty": None, "env": {"A": "1", "B": "yes"}},
                         "db": {"image": "busybox:latest", "list": [{"a": 1, "b": [1, 2]}, []]}},
            "volumes": {"v": {}}}
    text = dumps(data)
    assert loads(text) == data
    assert "  web:\n    command:\n      - sh\n" in text
