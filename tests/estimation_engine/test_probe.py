"""The container HEALTHCHECK probe asks the address and port the engine was told to listen on."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from estimation_engine.cli import PROBE_DEFAULT_PORT, main, probe_url
from estimation_engine.settings import DEFAULT_PORT


def test_the_probe_default_port_is_the_engine_default_port():
    assert PROBE_DEFAULT_PORT == DEFAULT_PORT


@pytest.mark.parametrize(
    ("host", "port", "environ", "url"),
    [
        (None, None, {}, "http://127.0.0.1:8080/health/ready"),
        (None, None, {"ENGINE_HOST": "0.0.0.0", "ENGINE_PORT": "9000"}, "http://127.0.0.1:9000/health/ready"),
        (None, None, {"ENGINE_HOST": "10.1.2.3"}, "http://10.1.2.3:8080/health/ready"),
        (None, None, {"ENGINE_HOST": "::"}, "http://[::1]:8080/health/ready"),
        (
            "fd00::7",
            81,
            {"ENGINE_HOST": "10.1.2.3", "ENGINE_PORT": "9000"},
            "http://[fd00::7]:81/health/ready",
        ),
    ],
)
def test_probe_url_follows_the_bind_address_and_port(host, port, environ, url):
    assert probe_url(host, port, "/health/ready", environ) == url


def test_probe_answers_0_for_a_ready_engine_on_the_configured_port_and_1_elsewhere(engine, monkeypatch):
    port = urlsplit(engine.url).port
    monkeypatch.setenv("ENGINE_HOST", "0.0.0.0")
    monkeypatch.setenv("ENGINE_PORT", str(port))
    assert main(["probe"]) == 0
    assert main(["probe", "--port", str(port), "--host", "127.0.0.1"]) == 0
    monkeypatch.setenv("ENGINE_PORT", "9")  # discard: nothing listens
    assert main(["probe", "--timeout", "2"]) == 1
    assert main(["probe", "--port", str(port)]) == 0
