"""Spark as a cluster: a standalone master and one worker on 127.0.0.1, started with pyspark's
own launcher (`bin/spark-class`, no downloads) and stopped at the end with nothing left
running; a model installed and a table scored through `sqlgpt score --table ...
--database spark://127.0.0.1:PORT`, each row's result equal to local mode's.

Where tables live is the cluster's configuration, as it would be for a user: a
`spark-defaults.conf` in `SPARK_CONF_DIR` names the warehouse and the metastore (here a
temporary directory that master, worker and drivers share, as a cluster shares storage).
The metastore is Derby's embedded one, which one driver at a time may open: the table is
made by one driver, scored by sqlgpt's, and its results read from the warehouse's parquet
files with pyarrow.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import sqlgpt

from .conftest import needs_spark
from .test_batch import texts

ROWS = [" ".join(text.split()[:6]) for text in texts(40, seed=11)] + [None, "", " ".join(texts(12, seed=4))]

MAKE_TABLE = """
import json, sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.master(sys.argv[1]).enableHiveSupport().getOrCreate()
spark.createDataFrame(list(enumerate(json.loads(sys.argv[2]))), "id INT, body STRING").write.saveAsTable("docs")
spark.stop()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(0.5)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def group_alive(process: subprocess.Popen) -> bool:
    try:
        os.killpg(process.pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(master URL, environment for drivers, the shared directory) of a running standalone
    cluster: one master, one worker with 2 cores."""
    needs_spark()
    import pyspark

    home = Path(pyspark.__file__).parent
    shared = tmp_path_factory.mktemp("cluster")
    conf = shared / "conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text(textwrap.dedent(f"""\
        spark.sql.warehouse.dir {shared / 'warehouse'}
        spark.hadoop.javax.jdo.option.ConnectionURL jdbc:derby:;databaseName={shared / 'metastore_db'};create=true
        spark.driver.extraJavaOptions -Dderby.system.home={shared}
        spark.executor.memory 1g
        spark.ui.enabled false
        """))
    env = dict(os.environ, SPARK_HOME=str(home), SPARK_CONF_DIR=str(conf), SPARK_LOCAL_IP="127.0.0.1",
               SPARK_LOG_DIR=str(shared / "logs"), PYSPARK_PYTHON=sys.executable, XDG_CACHE_HOME=str(shared / "cache"))
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    launch = [str(home / "bin" / "spark-class")]
    processes = []

    def start(args: list[str], log: str) -> subprocess.Popen:
        with open(shared / log, "wb") as out:  # the child keeps its own copy of the file
            process = subprocess.Popen(launch + args, env=env, cwd=shared, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # its own process group: stopped whole
        processes.append(process)
        return process

    try:
        start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
               "--webui-port", str(free_port())], "master.log")
        wait_for(lambda: listening(port), "the master listening")
        start(["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "2", "--memory", "2g",
               "--webui-port", str(free_port()), "--work-dir", str(shared / "work"), url], "worker.log")
        wait_for(lambda: "Registering worker" in (shared / "master.log").read_text(errors="replace"),
                 "the worker registering with the master")
        yield url, env, shared
    finally:
        for process in processes:
            if group_alive(process):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Spark's scripts exec the JVM in the group they were started in: the whole group is gone.
        wait_for(lambda: not any(group_alive(p) for p in processes), "the cluster's processes ending", 30)


def read_parquet_table(directory: Path) -> dict:
    import pyarrow.parquet as pq

    table = pq.read_table(directory)
    return {row["id"]: (row["tokens"], row["loss"]) for row in table.to_pylist()}


def test_a_table_scored_on_a_cluster_equals_local_mode(cluster, spark_session, tiny_dir):
    import json

    url, env, shared = cluster
    # Made in local mode: the cluster's spark-defaults.conf puts it in the shared warehouse and
    # metastore all the same, without executors launched on the worker for one small write.
    made = subprocess.run([sys.executable, "-c", MAKE_TABLE, "local[1]", json.dumps(ROWS)], env=env, cwd=shared,
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    done = subprocess.run([sys.executable, "-m", "sqlgpt", "score", "--table", "docs", "--column", "body", "--key", "id",
                           "--into", "docs_scores", "--model", str(tiny_dir), "--engine", "spark", "--database", url],
                          env=env, cwd=shared, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"scored {len(ROWS)} rows of docs" in done.stdout
    on_cluster = read_parquet_table(shared / "warehouse" / "docs_scores")
    # The executors ran the work: the worker launched one for sqlgpt's application.
    assert any((shared / "work").glob("app-*/*/stderr"))

    spark_session.createDataFrame(list(enumerate(ROWS)), "id INT, body STRING").write.mode("overwrite").saveAsTable("docs")
    try:
        with sqlgpt.load(tiny_dir, engine="spark", session=spark_session, progress=False) as gpt:
            gpt.score_table("docs", "body", key="id", into="docs_scores", replace=True)
        local = {r["id"]: (r["tokens"], r["loss"]) for r in spark_session.table("docs_scores").collect()}
    finally:
        spark_session.sql("DROP TABLE IF EXISTS docs")
        spark_session.sql("DROP TABLE IF EXISTS docs_scores")
    assert on_cluster.keys() == local.keys() == set(range(len(ROWS)))
    for key, (tokens, loss) in local.items():
        assert on_cluster[key][0] == tokens, key
        assert (loss is None and on_cluster[key][1] is None) or abs(on_cluster[key][1] - loss) <= 1e-6, key
    assert local[len(ROWS) - 3] == (None, None)  # NULL text
