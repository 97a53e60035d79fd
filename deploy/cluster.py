"""Run jmqa as a small cluster on one machine: one llama.cpp model server, N `jmqa serve` replicas that use
it (JMQA_LLM_BASE_URL), and nginx in front with deploy/nginx.conf. For trying the set-up by hand, and
used by tests/test_replicas.py and benchmarks/replicas.py.

    python deploy/cluster.py --replicas 2 --port 8080      # then http://127.0.0.1:8080/ and /v1
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
NGINX_CONF = HERE / "nginx.conf"
_REPLICA_LINE = re.compile(r"^(\s*)server 127\.0\.0\.1:(786[12])(.*)$")


@dataclass(frozen=True)
class Cluster:
    url: str  # nginx: the web chat at url, the OpenAI API at url + "v1"
    replicas: tuple[str, ...]  # each replica's own URL
    model_server: str
    logs: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_config(template: str, listen_port: int, replica_ports: Sequence[int]) -> str:
    """deploy/nginx.conf for these ports: each upstream lists every replica (the template's two lines,
    127.0.0.1:7861 and :7862, stand for them) and the server listens on `listen_port`."""
    out = []
    for line in template.splitlines():
        m = _REPLICA_LINE.match(line)
        if m is None:
            out.append(line.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{listen_port};"))
        elif m.group(2) == "7861":
            out += [f"{m.group(1)}server 127.0.0.1:{port}{m.group(3)}" for port in replica_ports]
    return "\n".join(out) + "\n"


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


def _start(command: Sequence[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with log.open("wb") as f:
        return subprocess.Popen(list(command), stdout=f, stderr=subprocess.STDOUT, env=env)


def _stop(processes: Sequence[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            p.terminate()
    for p in processes:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextlib.contextmanager
def cluster(workdir: Path, *, replicas: int = 2, port: int | None = None, corpus: Path | None = None,
            model: Path | None = None, threads: int = 2) -> Iterator[Cluster]:
    """Start the model server, `replicas` jmqa replicas over one shared index and nginx; stop them all
    on exit. Logs and the index go under `workdir`."""
    from jmqa.config import Settings
    from jmqa.model_file import resolve_model_path

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise RuntimeError("nginx is not installed: apt-get install nginx (Debian's package)")
    workdir.mkdir(parents=True, exist_ok=True)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    jmqa = [sys.executable, "-m", "jmqa.cli"]
    corpus_args = ["--corpus", str(corpus)] if corpus else []
    index_args = [*corpus_args, "--index", str(workdir / "index")]
    subprocess.run([*jmqa, "index", *index_args], check=True, capture_output=True)  # once, before the replicas
    started: list[subprocess.Popen] = []
    try:
        model_port = free_port()
        model_server = f"http://127.0.0.1:{model_port}"
        started.append(_start([sys.executable, "-m", "llama_cpp.server",
                               "--model", str(model or resolve_model_path(Settings())), "--host", "127.0.0.1",
                               "--port", str(model_port), "--n_threads", str(threads), "--n_ctx", "4096",
                               # by default a new request cuts off the one being answered: with replicas
                               # sending at once every answer came back empty; queue them instead
                               "--interrupt_requests", "False"],
                              logs / "model-server.log"))
        wait_until_up(f"{model_server}/v1/models", started[-1], logs / "model-server.log")
        # requests queue at the one model server: wait for the reply rather than give up after 2 minutes
        env = {**os.environ, "JMQA_LLM_BASE_URL": model_server, "JMQA_LLM_TIMEOUT": "1800"}
        ports = [free_port() for _ in range(replicas)]
        for i, p in enumerate(ports):
            started.append(_start([*jmqa, "serve", *index_args, "--port", str(p)], logs / f"replica-{i + 1}.log", env))
        for i, (p, process) in enumerate(zip(ports, started[1:])):
            wait_until_up(f"http://127.0.0.1:{p}/v1/models", process, logs / f"replica-{i + 1}.log")
        prefix = workdir / "nginx"
        for sub in ("logs", "temp"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        listen = port or free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_config(NGINX_CONF.read_text(encoding="utf-8"), listen, ports), encoding="utf-8")
        started.append(_start([nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log")],
                              logs / "nginx.log"))
        url = f"http://127.0.0.1:{listen}/"
        wait_until_up(f"{url}v1/models", started[-1], logs / "nginx.log", timeout_s=30)
        yield Cluster(url, tuple(f"http://127.0.0.1:{p}/" for p in ports), model_server, logs)
    finally:
        _stop(list(reversed(started)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=2, help="jmqa replicas (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port (default 8080)")
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: as `jmqa serve`)")
    parser.add_argument("--workdir", type=Path, default=Path("out/cluster"), help="index, logs and nginx files")
    args = parser.parse_args(argv)
    with cluster(args.workdir, replicas=args.replicas, port=args.port, corpus=args.corpus) as c:
        print(f"jmqa on {c.url} (OpenAI API: {c.url}v1), replicas {', '.join(c.replicas)}, model server "
              f"{c.model_server}; logs in {c.logs}. Ctrl-C stops everything.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
