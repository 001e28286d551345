"""A real standalone Spark cluster for the tests: a master and a worker, each its own JVM on 127.0.0.1, started with
the `spark-class` launcher of the pyspark distribution (pyspark from PyPI ships Spark whole: its package folder
is a SPARK_HOME). The Spark engine's tests run against `spark://127.0.0.1:<port>` as well as `local[N]`: the
code paths a site's cluster takes (closures pickled to other JVMs, executors' Python workers started by a worker
daemon, results over the network) are exercised, not only local mode's shortcuts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.support.process import stop_process

WORKER_CORES = 2
WORKER_MEMORY = "2g"
START_TIMEOUT_S = 120.0


class SparkClusterError(RuntimeError):
    """The cluster could not start: the tests fail (never skip) on it."""


@dataclass(frozen=True)
class SparkCluster:
    master: str  # spark://127.0.0.1:<port>
    web_ui: str  # the master's web UI (its /json/ lists the workers)


def spark_home() -> Path:
    import pyspark

    home = Path(pyspark.__file__).resolve().parent
    if not (home / "bin" / "spark-class").is_file():
        raise SparkClusterError(f"no bin/spark-class in the pyspark distribution at {home}")
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def spark_cluster(work: Path) -> Iterator[SparkCluster]:
    """Start a master and one worker (WORKER_CORES cores, WORKER_MEMORY), wait until the worker has registered,
    yield, then stop both."""
    home = spark_home()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1",
           "PYSPARK_PYTHON": sys.executable, "SPARK_LOG_DIR": str(work / "logs"), "SPARK_WORKER_DIR": str(work)}
    work.mkdir(parents=True, exist_ok=True)
    port, ui, worker_ui = free_port(), free_port(), free_port()
    master = f"spark://127.0.0.1:{port}"
    spark_class = str(home / "bin" / "spark-class")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(_start([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                 "--port", str(port), "--webui-port", str(ui)], env, work / "master.log"))
        processes.append(_start([spark_class, "org.apache.spark.deploy.worker.Worker", master, "--host",
                                 "127.0.0.1", "--cores", str(WORKER_CORES), "--memory", WORKER_MEMORY,
                                 "--webui-port", str(worker_ui), "--work-dir", str(work / "worker")],
                                env, work / "worker.log"))
        web_ui = f"http://127.0.0.1:{ui}"
        _wait_for_worker(web_ui, processes, work)
        yield SparkCluster(master, web_ui)
    finally:
        for proc in reversed(processes):
            stop_process(proc, grace=20)


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:  # the child keeps its own descriptor
        return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)


def _wait_for_worker(web_ui: str, processes: list[subprocess.Popen[bytes]], work: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for name, proc in zip(("master", "worker"), processes, strict=False):
            if proc.poll() is not None:
                raise SparkClusterError(f"the Spark {name} exited with {proc.returncode}: {_tail(work)}")
        with suppress(OSError, ValueError):
            with urllib.request.urlopen(f"{web_ui}/json/", timeout=5) as response:
                state = json.load(response)
            if any(w.get("state") == "ALIVE" for w in state.get("workers", [])):
                return
        time.sleep(0.5)
    raise SparkClusterError(f"no worker registered with the master within {START_TIMEOUT_S:.0f} s: {_tail(work)}")


def _tail(work: Path) -> str:
    texts = []
    for name in ("master.log", "worker.log"):
        with suppress(OSError):
            texts.append(f"{name}: " + (work / name).read_text(errors="replace")[-1500:])
    return " | ".join(texts)
