"""Scale-out on Dask: the same work in one process and on a local Dask cluster of 1 and 2 worker
processes of one thread each (``distributed.LocalCluster(processes=True)``), in the same run, so
that the cluster's overhead at equal cores is a ratio of two medians of this run (see
bench/README.md).

* Nightly band check and trades from Parquet: long holdings (account, model, asset, units,
  price; 30 holdings per account, 10 model portfolios over a universe of 600 assets, drifted
  units), 20 files of 50,000 accounts (1,000,000 accounts, 30,000,000 rows) in full mode, 4 files
  of 5,000 in short mode, written once per session. Each file is one
  ``microalloc._nightly.run_partition`` (read, ``rebalance_holdings`` with bands of +-2 points or
  +-25%, the tighter, write trades then status). The single process loops over the files (the
  C++ core on all cores, its default outside Dask); the cluster maps over them
  (``client.map``, the targets scattered once). Every trades and status file is checked byte for
  byte against a serial run made before the timings.
* 100,000 mean-variance re-optimisations at n = 500 (2,000 in short mode) sharing one factor model
  (k = 20, bench/_factor.py), long-only, cap 5%, ra = 5, one mu row per account:
  ``microalloc.solve_mean_variance_batch(..., threads=2)`` against
  ``microalloc.dask.solve_mean_variance_batch`` over ``dask.array.from_array(mu, chunks=(CHUNK,
  500))`` computed on the cluster; also with mu already on the workers (persisted before the
  timings), which takes the shipping of mu out of the timed call. The weights must be
  bit-identical to the single-process call's.
* Dask's own overhead per task: ``client.map`` of a builtin that does nothing over 1,000 items,
  gathered, / 1,000.

``extra_info``: accounts/s or solves/s, the same per core (the single process counts as 2 cores:
its C++ core runs 2 threads), the ratio to the single process's median of this run (the goal:
the 2-worker cluster within 1.2 x), and where the time goes (per-phase times of one partition in
the single process; the task stream of the cluster's timed rounds: compute time per task, the
workers' busy fraction, the delay before the first task starts).
"""

from __future__ import annotations

import filecmp
import importlib
import importlib.util
import os
import pickle
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import microalloc as ma

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
mad = pytest.importorskip("microalloc.dask")

from microalloc._nightly import run_partition  # noqa: E402  (after the skips: needs pyarrow to run)


def _sibling(module: str, filename: str):
    """A module of bench/ loaded by path (the suite runs under --import-mode=importlib), once."""
    mod = sys.modules.get(module)
    if mod is None:
        spec = importlib.util.spec_from_file_location(module, Path(__file__).with_name(filename))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[module] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
    return mod


fm = _sibling("_bench_factor", "_factor.py")

FULL = os.environ.get("MICROALLOC_BENCH_FULL", "") == "1"
IMPLS = ("single process", "dask 1 worker", "dask 2 workers")
ON_WORKERS = "dask 2 workers, mu on the workers"
#: cores each row uses (the single process's C++ core runs 2 threads) and its Dask workers
CORES = {"single process": 2, "dask 1 worker": 1, "dask 2 workers": 2, ON_WORKERS: 2}
WORKERS = {"dask 1 worker": 1, "dask 2 workers": 2, ON_WORKERS: 2}
#: the scale-out goal: the 2-worker cluster's median at most this times the single process's
GOAL_RATIO = 1.2

# nightly band check: PARTS Parquet files of PART_ACCOUNTS accounts, HOLDINGS rows each
PARTS, PART_ACCOUNTS = (20, 50_000) if FULL else (4, 5_000)
MODELS, HOLDINGS, UNIVERSE = 10, 30, 600
OPTIONS = dict(absolute=0.02, relative=0.25)
NIGHTLY_ROUNDS = 3

# re-optimisations sharing a factor model
SOLVE_N, SOLVE_K = 500, 20
SOLVES, CHUNK = (100_000, 2_000) if FULL else (2_000, 500)
SOLVE_ROUNDS = 5 if FULL else 1
RISK_AVERSION, CAP = 5.0, 0.05

OVERHEAD_ITEMS = 1_000

#: (group, impl) -> median seconds of this run, for the ratios of the later rows; and
#: ("overhead per task", workers) -> Dask's overhead per task measured in this run
MEDIANS: dict[tuple, float] = {}


# ---------------------------------------------------------------------------------------------
# data: long holdings by model portfolio (the logic of the generator used while developing
# microalloc.holdings), written once per session
# ---------------------------------------------------------------------------------------------


def models(seed: int = 1) -> pd.DataFrame:
    """MODELS model portfolios of HOLDINGS assets each (model, asset, target)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(MODELS):
        a = rng.choice(UNIVERSE, HOLDINGS, replace=False)
        t = rng.dirichlet(np.full(HOLDINGS, 5.0))
        rows.append(pd.DataFrame({"model": g, "asset": a, "target": t}))
    return pd.concat(rows, ignore_index=True)


def make(m: int, seed: int = 0, offset: int = 0, targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """m accounts (ids offset .. offset + m - 1), each holding its model's assets with drifted
    units (weights = targets * exp(N(0, 0.15)), values lognormal around 60,000)."""
    targets = models() if targets is None else targets
    rng = np.random.default_rng(seed)
    model = rng.integers(0, MODELS, m)
    price_of = rng.uniform(10, 100, UNIVERSE)
    tm = targets.sort_values(["model"], kind="stable")
    assets = tm["asset"].to_numpy().reshape(MODELS, HOLDINGS)
    tw = tm["target"].to_numpy().reshape(MODELS, HOLDINGS)
    value = rng.lognormal(11, 1, m)
    w = tw[model] * np.exp(rng.normal(0, 0.15, (m, HOLDINGS)))
    w /= w.sum(1, keepdims=True)
    price = price_of[assets[model]]
    units = np.round(w * value[:, None] / price, 4)
    return pd.DataFrame({"account": np.repeat(np.arange(offset, offset + m), HOLDINGS),
                         "model": np.repeat(model, HOLDINGS), "asset": assets[model].ravel(),
                         "units": units.ravel(), "price": price.ravel()})


@pytest.fixture(scope="session")
def holdings_files(tmp_path_factory):
    """(targets, [Parquet files], a small warm-up file): PARTS files of PART_ACCOUNTS accounts."""
    root = tmp_path_factory.mktemp("dask_holdings")
    targets = models()
    files = []
    for i in range(PARTS):
        path = root / f"f{i:03d}.parquet"
        make(PART_ACCOUNTS, seed=i + 10, offset=i * PART_ACCOUNTS, targets=targets).to_parquet(path, index=False)
        files.append(str(path))
    warm = root / "warm.parquet"
    make(500, seed=1, offset=10**9, targets=targets).to_parquet(warm, index=False)
    return targets, files, str(warm)


# ---------------------------------------------------------------------------------------------
# clusters
# ---------------------------------------------------------------------------------------------


def _warm(client, holdings) -> None:
    """Imports and a first call of each path in every worker, untimed."""
    for name in ("pandas", "pyarrow.parquet", "microalloc.holdings", "microalloc._nightly", "microalloc.dask"):
        client.run(importlib.import_module, name)
    targets, _, warm = holdings
    out = f"{Path(warm).with_suffix('')}-out-{len(client.scheduler_info()['workers'])}"
    client.gather(client.map(run_partition, range(4), [warm] * 4, targets=targets, out=out, options=OPTIONS,
                             pure=False))
    shutil.rmtree(out, ignore_errors=True)
    cov, mu = _small_solve()
    mad.solve_mean_variance_batch(cov, da.from_array(mu, chunks=(8, mu.shape[1])), risk_aversion=RISK_AVERSION,
                                  upper=CAP).compute(scheduler=client)
    client.gather(client.map(abs, range(100), pure=False))
    client.get_task_stream()  # installs the scheduler's task-stream plugin before the timings


def _small_solve():
    model = fm.factor_model(SOLVE_N, SOLVE_K)
    return ma.FactorCovariance(model.X, model.F, model.d), fm.expected_returns(SOLVE_N, seed_offset=3, m=32)


@pytest.fixture(scope="module")
def clusters(holdings_files):
    """workers -> Client of a LocalCluster of that many one-thread worker processes."""
    from distributed import Client, LocalCluster

    made, clients = [], {}
    try:
        for workers in (1, 2):
            # no dashboard; the scheduler's other HTTP routes (served even so, on port 8787 by default,
            # with a warning and a leaked socket when it is taken) on a free port
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            made.append(cluster)
            client = Client(cluster, set_as_default=False)
            made.append(client)
            _warm(client, holdings_files)
            clients[workers] = client
        yield clients
    finally:
        for obj in reversed(made):
            obj.close()


def _stream(client, spans, prefix: str) -> dict:
    """Where the cluster's timed rounds went, from the scheduler's task stream: compute seconds per
    task of `prefix`, the workers' busy fraction (their compute time over workers x wall time),
    the delay from the timed call's start to its first task's start, and the tail from the last
    task's end to the call's return (gathering the results to this process)."""
    workers = len(client.scheduler_info()["workers"])
    records = client.get_task_stream(start=spans[0][0], stop=spans[-1][1] + 1.0)
    per_task, busy, first, tail = [], 0.0, [], []
    for t0, t1 in spans:
        starts, stops = [], []
        for rec in records:
            key = rec["key"][0] if isinstance(rec["key"], tuple) else rec["key"]
            comp = [s for s in rec["startstops"] if s["action"] == "compute" and t0 <= s["start"] <= t1]
            if not comp:
                continue
            starts.append(min(s["start"] for s in comp))
            stops.append(max(s["stop"] for s in comp))
            d = sum(s["stop"] - s["start"] for s in comp)
            busy += d
            if str(key).startswith(prefix):
                per_task.append(d)
        if starts:
            first.append(min(starts) - t0)
            tail.append(t1 - max(stops))
    wall = sum(t1 - t0 for t0, t1 in spans)
    med = lambda v: float(np.median(v)) if v else None  # noqa: E731
    return {"task_compute_s_median": med(per_task), "tasks_seen": len(per_task),
            "workers_busy_fraction": busy / (workers * wall) if wall else None,
            "delay_to_first_task_s_median": med(first), "tail_after_last_task_s_median": med(tail)}


def _timed(fn, spans):
    """fn, recording its wall-clock span (the task stream's clock)."""
    def run(*args, **kwargs):
        t0 = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            spans.append((t0, time.time()))
    return run


def _ratio_info(benchmark, group: str, impl: str) -> None:
    """The median of this row in MEDIANS, and its ratio to the single process's of this run."""
    if benchmark.stats is None:  # timing disabled (the CI smoke run)
        return
    median = benchmark.stats.stats.median
    MEDIANS[(group, impl)] = median
    single = MEDIANS.get((group, "single process"))
    if impl != "single process" and single:
        benchmark.extra_info["ratio_to_single_process"] = median / single
        if impl.startswith("dask 2 workers"):
            benchmark.extra_info["meets_goal_1_2x"] = bool(median / single <= GOAL_RATIO)


# ---------------------------------------------------------------------------------------------
# Dask's own overhead per task
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["dask 1 worker", "dask 2 workers"])
def test_dask_task_overhead(benchmark, clusters, impl):
    client = clusters[WORKERS[impl]]
    benchmark.group = f"dask overhead: client.map of a no-op over {OVERHEAD_ITEMS:,} items"
    benchmark.extra_info.update(kind="dask_overhead", solver=impl, workers=WORKERS[impl], tasks=OVERHEAD_ITEMS)

    def fn():
        return client.gather(client.map(abs, range(-OVERHEAD_ITEMS, 0), pure=False))

    out = benchmark.pedantic(fn, rounds=5, iterations=1)
    assert out == list(range(OVERHEAD_ITEMS, 0, -1))
    if benchmark.stats is not None:
        per_task = benchmark.stats.stats.median / OVERHEAD_ITEMS
        benchmark.extra_info["overhead_per_task_s"] = per_task
        MEDIANS[("overhead per task", WORKERS[impl])] = per_task


# ---------------------------------------------------------------------------------------------
# nightly band check and trades from Parquet
# ---------------------------------------------------------------------------------------------


def _serial(files, targets, out: str) -> list[dict]:
    return [run_partition(i, f, targets, out, OPTIONS) for i, f in enumerate(files)]


@pytest.fixture(scope="module")
def serial_output(holdings_files, tmp_path_factory):
    """The reference: every partition run once in this process before the timings (also the
    single process's warm-up); (out directory, counts)."""
    targets, files, _ = holdings_files
    out = tmp_path_factory.mktemp("dask_reference")
    counts = _serial(files, targets, str(out))
    yield out, counts
    shutil.rmtree(out, ignore_errors=True)


def _phases(file: str, targets, scratch: Path) -> dict:
    """The single process's time per phase of one partition, once (untimed by the benchmark)."""
    from microalloc.holdings import rebalance_holdings

    t0 = time.perf_counter()
    frame = pd.read_parquet(file)
    t1 = time.perf_counter()
    res = rebalance_holdings(frame, targets, **OPTIONS)
    t2 = time.perf_counter()
    rebalance_holdings(frame, targets, threads=1, **OPTIONS)
    t3 = time.perf_counter()
    scratch.mkdir(parents=True, exist_ok=True)
    res.trades.to_parquet(scratch / "t.parquet", index=False)
    res.status.to_parquet(scratch / "s.parquet", index=False)
    t4 = time.perf_counter()
    shutil.rmtree(scratch, ignore_errors=True)
    return {"read_s": t1 - t0, "rebalance_all_cores_s": t2 - t1, "rebalance_1_thread_s": t3 - t2,
            "write_s": t4 - t3}


def _same_files(a: Path, b: Path) -> None:
    for kind in ("trades", "status"):
        names = sorted(p.name for p in (a / kind).glob("part-*.parquet"))
        assert names == sorted(p.name for p in (b / kind).glob("part-*.parquet")), kind
        assert len(names) == PARTS
        differ = [n for n in names if not filecmp.cmp(a / kind / n, b / kind / n, shallow=False)]
        assert not differ, f"{kind} files differ from the serial run: {differ}"


@pytest.mark.parametrize("impl", IMPLS)
def test_nightly_parquet(benchmark, holdings_files, serial_output, clusters, tmp_path, impl):
    targets, files, _ = holdings_files
    reference, ref_counts = serial_output
    accounts = PARTS * PART_ACCOUNTS
    group = f"nightly band check + trades, {accounts:,} accounts x {HOLDINGS} holdings in {PARTS} Parquet files"
    benchmark.group = group
    benchmark.extra_info.update(kind="dask_nightly", solver=impl, accounts=accounts, holdings=HOLDINGS,
                                partitions=PARTS, cores=CORES[impl])
    out = tmp_path / "out"

    def fresh():  # each round writes into an empty directory (untimed)
        shutil.rmtree(out, ignore_errors=True)
        return (), {}

    spans: list[tuple[float, float]] = []
    if impl == "single process":
        fn = _timed(lambda: _serial(files, targets, str(out)), spans)
    else:
        client = clusters[WORKERS[impl]]
        shared = client.scatter(targets, broadcast=True)  # once: one key on each worker

        def cluster_run():
            futures = client.map(run_partition, range(PARTS), files, targets=shared, out=str(out), options=OPTIONS,
                                 pure=False)
            return client.gather(futures)

        fn = _timed(cluster_run, spans)
    counts = benchmark.pedantic(fn, setup=fresh, rounds=NIGHTLY_ROUNDS, iterations=1)
    assert counts == ref_counts
    assert sum(c["invalid"] for c in counts) == 0 and sum(c["accounts"] for c in counts) == accounts
    _same_files(reference, out)
    shutil.rmtree(out, ignore_errors=True)
    _ratio_info(benchmark, group, impl)
    benchmark.extra_info["trades"] = sum(c["trades"] for c in counts)
    if benchmark.stats is None:
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(accounts_per_s=accounts / median, accounts_per_s_per_core=accounts / median / CORES[impl],
                                time_per_partition_s=median * WORKERS.get(impl, 1) / PARTS)  # wall x workers / files
    if impl == "single process":
        benchmark.extra_info["phases_one_partition"] = _phases(files[0], targets, tmp_path / "phases")
    else:
        benchmark.extra_info.update(_stream(clusters[WORKERS[impl]], spans, "run_partition"))
        benchmark.extra_info["dask_overhead_per_task_s"] = MEDIANS.get(("overhead per task", WORKERS[impl]))


# ---------------------------------------------------------------------------------------------
# re-optimisations sharing a factor model
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def solve_data():
    """(FactorCovariance, mu (SOLVES x n), the single-process result with threads=2, probes)."""
    model = fm.factor_model(SOLVE_N, SOLVE_K)
    cov = ma.FactorCovariance(model.X, model.F, model.d)
    mu = fm.expected_returns(SOLVE_N, seed_offset=11, m=SOLVES)  # one row per account, N(0.06, 0.04)
    mu.setflags(write=False)
    kw = dict(risk_aversion=RISK_AVERSION, upper=CAP)
    ref = ma.solve_mean_variance_batch(cov, mu, threads=2, **kw)
    assert np.all(np.asarray(ref.status) == ma.Status.OPTIMAL)
    # one chunk, one thread, in this process: the compute inside one task, without Dask
    t0 = time.perf_counter()
    chunk = ma.solve_mean_variance_batch(cov, mu[:CHUNK], threads=1, **kw)
    one_chunk = time.perf_counter() - t0
    t0 = time.perf_counter()
    blob = pickle.dumps(chunk, protocol=5)
    t1 = time.perf_counter()
    pickle.loads(blob)
    t2 = time.perf_counter()
    probes = {"chunk_1_thread_in_process_s": one_chunk, "chunk_result_pickle_s": t1 - t0,
              "chunk_result_unpickle_s": t2 - t1, "chunk_result_bytes": len(blob),
              "mu_bytes": mu.nbytes, "median_iterations": float(np.median(ref.iterations))}
    return cov, mu, ref, probes


# from_array embeds mu in the graph (the point of this row): distributed warns about the graph's size
@pytest.mark.filterwarnings("ignore:Sending large graph:UserWarning")
@pytest.mark.parametrize("impl", IMPLS + (ON_WORKERS,))
def test_factor_batch_dask(benchmark, solve_data, clusters, impl):
    cov, mu, ref, probes = solve_data
    group = f"{SOLVES:,} mean-variance solves, n={SOLVE_N}, one factor model (k={SOLVE_K})"
    benchmark.group = group
    tasks = -(-SOLVES // CHUNK)
    benchmark.extra_info.update(kind="dask_batch", solver=impl, n=SOLVE_N, k=SOLVE_K, m=SOLVES, chunk=CHUNK,
                                tasks=tasks, cores=CORES[impl], **probes)
    kw = dict(risk_aversion=RISK_AVERSION, upper=CAP)
    spans: list[tuple[float, float]] = []
    if impl == "single process":
        fn = _timed(lambda: ma.solve_mean_variance_batch(cov, mu, threads=2, **kw), spans)
    else:
        client = clusters[WORKERS[impl]]
        if impl == ON_WORKERS:
            from distributed import wait

            with client.as_current():  # untimed: mu sent once, its chunks kept on the workers
                on_workers = client.persist(da.from_array(mu, chunks=(CHUNK, SOLVE_N)))
                wait(on_workers)

            def cluster_run():
                return mad.solve_mean_variance_batch(cov, on_workers, **kw).compute(scheduler=client)
        else:
            def cluster_run():
                return mad.solve_mean_variance_batch(cov, da.from_array(mu, chunks=(CHUNK, SOLVE_N)),
                                                     **kw).compute(scheduler=client)
        fn = _timed(cluster_run, spans)
    res = benchmark.pedantic(fn, rounds=SOLVE_ROUNDS, iterations=1)
    np.testing.assert_array_equal(np.asarray(res.status_code), np.asarray(ref.status_code))
    w, w_ref = np.asarray(res.weights), np.asarray(ref.weights)
    assert w.shape == w_ref.shape and w.tobytes() == w_ref.tobytes(), "weights not bit-identical"
    _ratio_info(benchmark, group, impl)
    if benchmark.stats is None:
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(solves_per_s=SOLVES / median, solves_per_s_per_core=SOLVES / median / CORES[impl],
                                time_per_solve_core_s=median * CORES[impl] / SOLVES)
    if impl != "single process":
        client = clusters[WORKERS[impl]]
        benchmark.extra_info.update(_stream(client, spans, "_call"))
        benchmark.extra_info["time_per_task_s"] = median * WORKERS[impl] / tasks  # wall x workers / tasks
        benchmark.extra_info["dask_overhead_per_task_s"] = MEDIANS.get(("overhead per task", WORKERS[impl]))
