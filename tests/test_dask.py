"""microalloc on Dask, on a LocalCluster of 2 worker processes on 127.0.0.1 started here: results
bit-identical to the single-machine calls (dense and factor covariances, arrays and DataFrames),
a worker killed mid-run, bad accounts, the covariance shipped as one key, one C++ thread per task,
and the `microalloc nightly` command (Parquet in and out, restarts without duplicated trades)."""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import time

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402

import microalloc as ma  # noqa: E402
import microalloc.dask as mad  # noqa: E402
from microalloc.__main__ import main  # noqa: E402
from microalloc.holdings import rebalance_holdings  # noqa: E402

# distributed's own sockets, closed late at a worker's kill or the cluster's close
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")

RNG = np.random.default_rng(17)
N, M = 40, 700
S = np.cov(RNG.normal(size=(120, N)).T) * 0.04
FACTOR = ma.FactorCovariance(RNG.normal(0, 0.2, (N, 3)), np.diag([0.03, 0.01, 0.02]), RNG.uniform(0.01, 0.05, N))
MU = RNG.normal(0.06, 0.03, (M, N))


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0")
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def same(a, b) -> None:
    """Every field equal bit for bit (NaN where NaN), but the times and `threads` (one per task)."""
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name in ("threads", "solve_time_s") or isinstance(x, dict):
            continue
        if dataclasses.is_dataclass(x):
            same(x, y)
        elif isinstance(x, (pd.DataFrame, pd.Series)):
            assert x.equals(y), f.name
        elif isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=f.name)
        else:
            assert x == y, f.name


# -- bit-identical to one machine -----------------------------------------------------------------
@pytest.mark.parametrize("cov", [S, ma.Covariance(S), FACTOR], ids=["array", "Covariance", "FactorCovariance"])
def test_batch_solves_equal_the_single_machine_call(client, cov):
    upper = np.where(np.arange(M) % 7 == 0, 0.01, 0.1)[:, None] * np.ones(N)  # rows 0, 7, ...: infeasible
    got = mad.solve_mean_variance_batch(cov, da.from_array(MU, chunks=(64, N)), risk_aversion=4.0,
                                        upper=da.from_array(upper, chunks=(100, N))).compute()
    want = ma.solve_mean_variance_batch(cov, MU, risk_aversion=4.0, upper=upper)
    same(got, want)
    assert (got.status[::7] == "INFEASIBLE").all() and (np.delete(got.status, np.s_[::7]) == "OPTIMAL").all()


def test_lazy_fields_are_dask_arrays_of_the_computed_values(client):
    res = mad.solve_mean_variance_batch(FACTOR, da.from_array(MU, chunks=(50, N)))
    assert isinstance(res.weights, da.Array) and res.weights.shape == (M, N) and res.status_code.dtype == np.int32
    want = ma.solve_mean_variance_batch(FACTOR, MU)
    np.testing.assert_array_equal(res.weights.compute(), want.weights)
    np.testing.assert_array_equal(res.gap.compute(), want.gap)
    np.testing.assert_array_equal(res.iterations.compute(), want.iterations)


@pytest.mark.parametrize("cov", [S, FACTOR], ids=["dense", "factor"])
def test_risk_contributions_equal_the_single_machine_call(client, cov):
    w = RNG.dirichlet(np.ones(N), M)
    b = np.full(N, 1 / N)
    got = mad.risk_contributions(cov, da.from_array(w, chunks=(70, N)), benchmark=b).compute()
    same(got, ma.risk_contributions(cov, w, benchmark=b))


def test_band_checks_and_trades_equal_the_single_machine_calls(client):
    w = RNG.dirichlet(np.ones(N), M)
    t = np.full(N, 1 / N)
    kw = dict(absolute=0.01, relative=0.3)
    same(mad.check_bands(da.from_array(w, chunks=(80, N)), t, **kw).compute(), ma.check_bands(w, t, **kw))
    same(mad.rebalance_trades(da.from_array(w, chunks=(80, N)), t, **kw).compute(), ma.rebalance_trades(w, t, **kw))
    labelled = pd.DataFrame(w, columns=[f"s{i}" for i in range(N)], index=[f"acc{i}" for i in range(M)])
    got = mad.rebalance_trades(dd.from_pandas(labelled, npartitions=3, sort=False), pd.Series(t, labelled.columns),
                               **kw)
    want = ma.rebalance_trades(labelled, pd.Series(t, labelled.columns), **kw)
    same(got.compute(), want)
    assert got.trades.compute().equals(want.trades)  # a lazy field: a dask DataFrame


def long_table(m, seed, offset=0, k=6, universe=15):
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(offset, offset + m):
        t = rng.dirichlet(np.full(k, 3.0))
        w = t * np.exp(rng.normal(0, 0.3, k))
        price = rng.uniform(5, 50, k)
        rows.append(pd.DataFrame({"account": a, "asset": rng.choice(universe, k, replace=False),
                                  "units": w / w.sum() * 1e4 / price, "price": price, "target": t}))
    return pd.concat(rows, ignore_index=True)


def test_holdings_on_partitions_equal_the_single_machine_call_with_bad_accounts(client):
    h = long_table(200, 1)
    h.loc[h.account == 5, "price"] = 0.0
    h.loc[h.account == 150, "target"] *= 1.5
    parts = dd.from_pandas(h.set_index("account", drop=False).rename_axis(None), npartitions=4, sort=True)
    got = mad.rebalance_holdings(parts, absolute=0.02, relative=0.25).compute()
    want = rebalance_holdings(h, absolute=0.02, relative=0.25)
    pd.testing.assert_frame_equal(got.trades, want.trades)
    pd.testing.assert_frame_equal(got.status, want.status)
    bad = got.status.set_index("account").loc[[5, 150]]
    assert (bad.status == "INVALID_INPUT").all() and bad.message.str.len().gt(0).all()


def test_an_account_split_across_partitions_is_refused(client):
    h = long_table(4, 2)
    split = dd.from_pandas(h, npartitions=3, sort=False)  # by row count: accounts straddle partitions
    with pytest.raises(ma.InputError, match="more than one partition") as e:
        mad.rebalance_holdings(split, absolute=0.02).compute()
    assert e.value.argument == "holdings"


# -- faults ---------------------------------------------------------------------------------------
def test_a_worker_killed_mid_run_leaves_the_same_result(client):
    mu = np.tile(MU, (4, 1))
    res = mad.solve_mean_variance_batch(S, da.from_array(mu, chunks=(30, N)), upper=0.08)
    pids = client.run(os.getpid)
    futures = client.compute(res.to_delayed())
    distributed.wait(futures, return_when="FIRST_COMPLETED")
    assert sum(f.done() for f in futures) < len(futures)  # mid-run
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    got = mad.concat(client.gather(futures))
    same(got, ma.solve_mean_variance_batch(S, mu, upper=0.08))
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it
    assert set(client.run(os.getpid).values()) != set(pids.values())


# -- shipping and threads -------------------------------------------------------------------------
def test_the_covariance_is_one_key_of_the_graph():
    """Ten chunks, one copy of the covariance in the graph (a copy per task would be ten)."""
    n = 300
    s = np.cov(RNG.normal(size=(400, n)).T)
    mu = RNG.normal(size=(50, n))
    res = mad.solve_mean_variance_batch(ma.Covariance(s), da.from_array(mu, chunks=(5, n)))
    graph = dict(dask.delayed(list)(res.to_delayed()).__dask_graph__())
    assert len(pickle.dumps(graph)) < 1.5 * s.nbytes + 2 * mu.nbytes


def test_objects_cross_to_workers_whole_and_a_corrupted_payload_is_refused_there(client):
    """A model and a result round-trip through a worker; the same bytes with one number changed are
    refused on the worker (CorruptPayloadError, raised back to the caller)."""
    res = ma.solve_mean_variance_batch(FACTOR, MU[:5])
    back_model, back_res = client.submit(lambda a, b: (a, b), FACTOR, res, pure=False).result()
    np.testing.assert_array_equal(back_model.loadings, FACTOR.loadings)
    np.testing.assert_array_equal(back_res.weights, res.weights)
    blob = pickle.dumps(ma.Covariance(S), protocol=pickle.HIGHEST_PROTOCOL)
    old = np.float64(S[3, 4]).tobytes()
    bad = blob.replace(old, np.float64(S[3, 4] * 0.9).tobytes())
    with pytest.raises(ma.CorruptPayloadError):
        client.submit(pickle.loads, bad, pure=False).result()
    assert client.submit(pickle.loads, blob, pure=False).result().psd_checked


def test_one_cpp_thread_per_task_by_default(client, monkeypatch):
    from microalloc._validate import default_threads

    assert client.submit(default_threads, pure=False).result() == 1
    assert default_threads() == (os.cpu_count() or 1)
    monkeypatch.setenv("MICROALLOC_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("MICROALLOC_THREADS", "many")
    with pytest.raises(ma.InputError) as e:
        default_threads()
    assert e.value.argument == "MICROALLOC_THREADS"


def test_no_dask_argument_is_refused():
    with pytest.raises(ma.InputError, match="no argument is a dask collection"):
        mad.check_bands(np.ones((2, 2)) / 2, np.ones(2) / 2, absolute=0.1)
    with pytest.raises(ma.InputError) as e:
        mad.solve_mean_variance_batch(S, da.from_array(MU, chunks=(64, N)), lower=da.zeros(N, chunks=N))
    assert e.value.argument == "lower"


# -- the nightly command --------------------------------------------------------------------------
def write_partitions(root, k=4, m=60):
    src = root / "holdings"
    src.mkdir()
    tables = [long_table(m, 10 + i, offset=i * m).drop(columns="target") for i in range(k)]
    for i, t in enumerate(tables):
        t.to_parquet(src / f"part{i}.parquet", index=False)
    rng = np.random.default_rng(3)
    targets = pd.DataFrame({"asset": np.arange(15), "target": rng.dirichlet(np.ones(15)),
                            "price": rng.uniform(5, 50, 15)})
    targets.to_parquet(root / "targets.parquet", index=False)
    return src, root / "targets.parquet", pd.concat(tables, ignore_index=True), targets


def read_output(out):
    def read(kind):
        return pd.concat([pd.read_parquet(f) for f in sorted((out / kind).glob("part-*.parquet"))], ignore_index=True)
    return read("trades"), read("status")


def test_nightly_writes_the_single_machine_trades_and_restarts_without_duplicates(client, tmp_path, capsys):
    src, targets, h, t = write_partitions(tmp_path)
    out = tmp_path / "out"
    args = ["nightly", str(src), str(targets), "--out", str(out), "--scheduler", client.scheduler.address,
            "--absolute", "0.02", "--relative", "0.25", "--no-progress"]
    assert main(args) == 0
    assert "4 partitions (0 already written), 240 accounts checked" in capsys.readouterr().out
    want = rebalance_holdings(h, t, absolute=0.02, relative=0.25)
    trades, status = read_output(out)
    pd.testing.assert_frame_equal(trades, want.trades, check_dtype=False)
    pd.testing.assert_frame_equal(status, want.status, check_dtype=False)
    stamps = {f: f.stat().st_mtime_ns for f in out.rglob("*.parquet")}
    assert main(args) == 0 and "4 already written" in capsys.readouterr().out
    assert {f: f.stat().st_mtime_ns for f in out.rglob("*.parquet")} == stamps  # nothing rewritten
    # a partition that failed (an unreadable file): the others are written, exit 1; fixed, rerun: whole
    (out / "status" / "part-00002.parquet").unlink()
    (out / "trades" / "part-00002.parquet").unlink()
    good = (src / "part2.parquet").read_bytes()
    (src / "part2.parquet").write_bytes(b"not parquet")
    assert main(args) == 1
    assert "partition 2 failed" in capsys.readouterr().err and not (out / "status" / "part-00002.parquet").exists()
    (src / "part2.parquet").write_bytes(good)
    assert main(args) == 0 and "3 already written" in capsys.readouterr().out
    trades, status = read_output(out)
    pd.testing.assert_frame_equal(trades, want.trades, check_dtype=False)
    assert not status.account.duplicated().any() and not list(out.rglob(".part-*"))  # no leftovers


def test_nightly_on_its_own_local_cluster_with_a_bad_account(tmp_path, capsys):
    src, targets, h, t = write_partitions(tmp_path, k=2, m=20)
    bad = pd.read_parquet(src / "part1.parquet")
    bad.loc[bad.account == 25, "price"] = np.nan
    bad.to_parquet(src / "part1.parquet", index=False)
    out = tmp_path / "out"
    assert main(["nightly", str(src), str(targets), "--out", str(out), "--workers", "1", "--absolute", "0.02",
                 "--no-progress"]) == 0
    _, status = read_output(out)
    row = status.set_index("account").loc[25]
    assert row.status == "INVALID_INPUT" and "price" in row.message and (status.status == "OK").sum() == 39


def test_nightly_reports_accounts_split_across_files_and_bad_arguments(client, tmp_path, capsys):
    src, targets, h, t = write_partitions(tmp_path, k=2, m=10)
    pd.read_parquet(src / "part0.parquet").to_parquet(src / "part1b.parquet", index=False)  # the same accounts
    out = tmp_path / "out"
    base = ["nightly", str(src), str(targets), "--out", str(out), "--scheduler", client.scheduler.address,
            "--no-progress"]
    assert main(base + ["--absolute", "0.02"]) == 1
    assert "appear in more than one partition" in capsys.readouterr().err
    assert main(base + ["--absolute", "-1"]) == 2
    assert "absolute" in capsys.readouterr().err
    assert main(["nightly", str(tmp_path / "none"), str(targets), "--out", str(out), "--absolute", "0.02"]) == 2
    assert "HOLDINGS" in capsys.readouterr().err
