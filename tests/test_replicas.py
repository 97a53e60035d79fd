"""Two jmqa replicas behind nginx over one llama.cpp model server (deploy/cluster.py, deploy/nginx.conf):
20 users at once, each a two-turn conversation through the OpenAI API: no errors, no follow-up answered from
another conversation, all but one answered from their own, both replicas used."""

from __future__ import annotations

import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT))  # deploy/ is a folder of scripts beside the package, not part of it
from deploy import cluster  # noqa: E402

pytestmark = pytest.mark.slow

# (first question, follow-up, a phrase the follow-up's sources must hold): conversations on different topics
CONVERSATIONS = [
    ("What is Jiangmen known as?", "How many people does that refer to?", "Overseas Chinese"),
    ("What kind of hub does Jiangmen want to become?", "Tell me more about that.", "hub"),
    ("What does Jiangmen plan for health services?", "And for elderly care?", "elderly care"),
    ("What are Jiangmen's core industries?", "Which ones form its equipment manufacturing?", "equipment manufacturing"),
]
# 20 users, as the issue asks: one serial model server answers them in turn (each answer also checked), so the
# test takes ~560 s (measured 2026-12-02 on 9ef86f6: 561 s); CI has room for it since the shared prompt prefix
# (stop 25 ran 2629 s of 5400)
USERS = 20


def test_the_nginx_config_lists_every_replica_in_both_upstreams():
    conf = cluster.nginx_config(cluster.NGINX_CONF.read_text(), 9000, [7001, 7002, 7003])
    assert "listen 127.0.0.1:9000;" in conf
    assert conf.count("server 127.0.0.1:7001") == 2 and conf.count("server 127.0.0.1:7003 max_fails=1") == 1
    directives = [line for line in conf.splitlines() if not line.lstrip().startswith("#")]
    assert not any("7861" in line or "7862" in line for line in directives)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.fail("nginx is not installed; `make test` installs Debian's package (make nginx)")
    with cluster.cluster(tmp_path_factory.mktemp("cluster"), replicas=2, corpus=ROOT / "corpus") as c:
        yield c


def test_users_at_once_through_the_balancer_each_keep_their_own_conversation(running):
    from openai import OpenAI

    client = OpenAI(base_url=f"{running.url}v1", api_key="any", max_retries=0, timeout=900)

    def converse(user: int) -> tuple[str, str, set[str]]:
        first_q, follow_q, phrase = CONVERSATIONS[user % len(CONVERSATIONS)]
        first = client.chat.completions.with_raw_response.create(
            model="jmqa", messages=[{"role": "user", "content": first_q}])
        first_reply = first.parse()
        answer = first_reply.choices[0].message.content
        follow = client.chat.completions.with_raw_response.create(model="jmqa", messages=[
            {"role": "user", "content": first_q}, {"role": "assistant", "content": answer},
            {"role": "user", "content": follow_q}])
        extra = follow.parse().model_extra["jmqa"]
        quotes = " ".join(c["quote"] for c in extra["citations"])
        modes = {first_reply.model_extra["jmqa"]["mode"], extra["mode"]}
        return phrase, quotes, {first.headers.get("x-jmqa-replica", ""), follow.headers.get("x-jmqa-replica", "")}, modes

    with ThreadPoolExecutor(USERS) as pool:
        results = list(pool.map(converse, range(USERS)))  # any error is raised here
    # the shared model server wrote every answer: a replica that cannot reach it falls back to quoting
    assert set().union(*(modes for *_, modes in results)) == {"generative"}, results
    phrases = {phrase.lower() for _, _, phrase in CONVERSATIONS}
    own = [phrase.lower() in quotes.lower() for phrase, quotes, *_ in results]
    crossed = [(phrase, quotes) for (phrase, quotes, *_), ok in zip(results, own)
               if not ok and any(p in quotes.lower() for p in phrases - {phrase.lower()})]
    assert not crossed, f"follow-ups answered from another conversation: {crossed}"
    # an abstention is not cross-talk, but the follow-ups are answerable: all but one must be answered from their topic
    assert sum(own) >= USERS - 1, [(phrase, quotes) for (phrase, quotes, *_), ok in zip(results, own) if not ok]
    served_by = set().union(*(replicas for _, _, replicas, _ in results))
    assert len(served_by - {""}) == 2, served_by  # the balancer used both replicas
