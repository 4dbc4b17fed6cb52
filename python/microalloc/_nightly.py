"""The nightly band check and rebalance of every account, on Dask: ``microalloc nightly``.

HOLDINGS is a Parquet file or a directory of them in long format (account, asset, units, price;
see microalloc.holdings), each file one partition: every account's rows in one file, which is how
platforms export holdings partitioned by account. TARGETS is a Parquet (or CSV) table of targets,
shared (asset, target[, price]), by model (model, asset, target; the holdings with a model
column) or per account (account, asset, target).

Each partition is one task: read, check, trade, write OUT/trades/part-NNNNN.parquet and then
OUT/status/part-NNNNN.parquet, each written to a temporary name and renamed into place, so a file
is whole or absent. A partition whose status file exists is done: a run that stopped (a killed
job, a failed partition) is restarted with the same command and writes only what is missing,
never a trade twice. A worker that dies mid-task is replaced and its tasks rerun by Dask.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

#: Exit codes: every partition written; some partition failed (rerun to finish); bad arguments.
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Summary:
    partitions: int
    skipped: int
    failed: dict[int, str]
    accounts: int
    traded: int
    invalid: int
    trades: int
    seconds: float


def partition_files(holdings: str) -> list[Path]:
    path = Path(holdings)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise InputError("HOLDINGS", f"no .parquet file under {holdings}")
        return files
    if not path.is_file():
        raise InputError("HOLDINGS", f"{holdings} is neither a Parquet file nor a directory of them")
    return [path]


def read_targets(targets: str) -> Any:
    import pandas as pd

    path = Path(targets)
    if not path.is_file():
        raise InputError("TARGETS", f"{targets} is not a file")
    table = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    if not {"asset", "target"} <= set(table.columns):
        raise InputError("TARGETS", f"expected columns asset and target (and account, price), got {list(table.columns)}")
    return table


def run_partition(index: int, source: str, targets: Any, out: str, options: dict[str, Any]) -> dict[str, Any]:
    """One partition, in a worker: read, rebalance, write trades then status atomically. Returns
    the counts the progress report adds up."""
    import pandas as pd

    from .holdings import rebalance_holdings

    res = rebalance_holdings(pd.read_parquet(source), targets, **options)
    name = f"part-{index:05d}.parquet"
    _write_atomic(res.trades, Path(out) / "trades" / name)
    _write_atomic(res.status, Path(out) / "status" / name)  # last: marks the partition done
    s = res.status
    return dict(accounts=len(s), traded=int(s["traded"].sum()), invalid=int((s["status"] != "OK").sum()),
                trades=len(res.trades))


def _write_atomic(frame: Any, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, target)  # atomic on one filesystem: the file is whole or absent
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def done(out: str, index: int) -> bool:
    return (Path(out) / "status" / f"part-{index:05d}.parquet").is_file()


def nightly(holdings: str, targets: str, out: str, *, scheduler: str | None = None, workers: int = 2,
            progress: bool = True, options: dict[str, Any]) -> Summary:
    """Run every partition not yet done on a Dask cluster (a local one of ``workers`` processes on
    127.0.0.1 unless a scheduler address is given)."""
    from distributed import Client, LocalCluster, as_completed

    from .holdings import _probe_arguments

    files = partition_files(holdings)
    table = read_targets(targets)
    _probe_arguments(options)  # argument mistakes raise here, once
    todo = [i for i in range(len(files)) if not done(out, i)]
    start = time.perf_counter()
    if not todo:
        return Summary(partitions=len(files), skipped=len(files), failed={}, accounts=0, traded=0, invalid=0,
                       trades=0, seconds=time.perf_counter() - start)
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                  host="127.0.0.1", dashboard_address="127.0.0.1:0")
    try:
        with Client(scheduler or cluster) as client:
            shared = client.scatter(table, broadcast=True)  # sent to each worker once
            futures = {client.submit(run_partition, i, str(files[i]), shared, out, options, pure=False): i
                       for i in todo}
            counts, failed = _gather(as_completed(futures), futures, len(todo), progress)
    finally:
        if cluster is not None:
            cluster.close()
    return Summary(partitions=len(files), skipped=len(files) - len(todo), failed=failed,
                   seconds=time.perf_counter() - start, **counts)


def _gather(completed: Any, futures: dict, total: int, progress: bool) -> tuple[dict[str, int], dict[int, str]]:
    from tqdm import tqdm

    counts = dict(accounts=0, traded=0, invalid=0, trades=0)
    failed: dict[int, str] = {}
    with tqdm(total=total, unit="part", disable=not progress, file=sys.stderr) as bar:
        for future in completed:
            if future.status == "error":  # this partition only: the others go on
                failed[futures[future]] = repr(future.exception())
            else:
                for k, v in future.result().items():
                    counts[k] += v
            bar.update(1)
    return counts, failed


def overlapping_accounts(out: str) -> list[Any]:
    """Accounts found in more than one partition's status (the input was not partitioned by
    account): their trades are not those of the whole account."""
    import pyarrow.parquet as pq

    seen: set[Any] = set()
    twice: list[Any] = []
    for f in sorted((Path(out) / "status").glob("part-*.parquet")):
        for a in pq.read_table(f, columns=["account"]).column("account").to_pylist():
            (twice.append if a in seen else seen.add)(a)
    return twice
