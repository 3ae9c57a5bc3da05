"""`python -m bench.worker TASK JSON`: one measurement in a fresh process; prints one JSON line.

The orchestrator (`bench.run`) starts the simulator in its own process and a worker per
measurement, so the CPU a worker reports (`time.process_time()`, every thread of the worker)
is the client's alone. Database tasks read DATABASE_URL from the environment, like the agent.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import resource
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


# -- zkpull client (no Django) ------------------------------------------------------------------------
def ours_download(args: dict[str, Any]) -> dict[str, Any]:
    """PanelClient.iter_transactions of the whole table; time and CPU of the pull."""
    from zkpull import PanelClient  # noqa: PLC0415 keep each task's imports to itself

    async def pull() -> dict[str, Any]:
        client = PanelClient.tcp(HOST, args["port"], timeout=30.0)
        await client.connect()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        count = 0
        async for _event in client.iter_transactions():
            count += 1
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        await client.disconnect()
        return {"count": count, "wall": wall, "cpu": cpu}

    return _profiled(args, lambda: asyncio.run(pull()))


def ours_table_read(args: dict[str, Any]) -> dict[str, Any]:
    """Our read of a small transaction table (the size zkaccess-c3 can still read), repeated."""
    from zkpull import PanelClient  # noqa: PLC0415

    async def pull() -> dict[str, Any]:
        client = PanelClient.tcp(HOST, args["port"], timeout=10.0)
        await client.connect()
        counts, walls, cpus = [], [], []
        for _ in range(args["reads"]):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            rows = [row async for row in client.iter_transactions()]
            walls.append(time.perf_counter() - wall0)
            cpus.append(time.process_time() - cpu0)
            counts.append(len(rows))
        await client.disconnect()
        return {"counts": counts, "walls": walls, "cpus": cpus}

    return asyncio.run(pull())


def ours_polls(args: dict[str, Any]) -> dict[str, Any]:
    """`polls` PanelClient.get_rtlog calls on one connection: CPU and wall time of the loop."""
    from zkpull import PanelClient  # noqa: PLC0415

    async def poll() -> dict[str, Any]:
        client = PanelClient.tcp(HOST, args["port"], timeout=10.0)
        await client.connect()
        records = 0
        usage0 = _usage()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for _ in range(args["polls"]):
            records += len(await client.get_rtlog())
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        user, system = _usage_since(usage0)
        await client.disconnect()
        return {
            "polls": args["polls"],
            "records": records,
            "wall": wall,
            "cpu": cpu,
            "user": user,
            "sys": system,
        }

    return _profiled(args, lambda: asyncio.run(poll()))


def floor_polls(args: dict[str, Any]) -> dict[str, Any]:
    """Reference floor: a blocking socket, zkpull's Session to frame requests, no decoding.

    What any Python client must spend per poll on this machine: two frames, one send, the
    receives, the kernel's loopback work. Not a client anyone would ship.
    """
    import socket  # noqa: PLC0415

    from zkpull.protocol.constants import Command, Dialect  # noqa: PLC0415
    from zkpull.protocol.session import Session  # noqa: PLC0415

    sock = socket.create_connection((HOST, args["port"]), timeout=10)
    session = Session()

    def exchange(data: bytes) -> None:
        sock.sendall(data)
        while session.next_reply() is None:
            session.receive(sock.recv(session.needed()))

    exchange(session.connect(Dialect.SESSION))
    usage0 = _usage()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(args["polls"]):
        exchange(session.request(Command.GET_REALTIME_LOG))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    user, system = _usage_since(usage0)
    sock.close()
    return {"polls": args["polls"], "wall": wall, "cpu": cpu, "user": user, "sys": system}


# -- zkaccess-c3 (GPL; only ever imported here, in a bench process) -------------------------------------
def c3_polls(args: dict[str, Any]) -> dict[str, Any]:
    """`polls` C3.get_rt_log calls; a fresh client every `per_client` polls, connect not timed.

    zkaccess-c3 0.0.15 garbles the length field on request 259 of a session (its counter
    starts at -258 and `connect()` does not reset it), so one client cannot make 5,000 polls.
    """
    from c3 import core  # noqa: PLC0415

    remaining, per_client = args["polls"], args["per_client"]
    wall = cpu = user = system = 0.0
    records = clients = 0
    while remaining:
        c3 = core.C3(HOST, args["port"])
        if not c3.connect():
            raise RuntimeError("zkaccess-c3 could not connect")
        clients += 1
        batch = min(per_client, remaining)
        usage0 = _usage()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for _ in range(batch):
            records += len(c3.get_rt_log())
        wall += time.perf_counter() - wall0
        cpu += time.process_time() - cpu0
        spent_user, spent_sys = _usage_since(usage0)
        user, system = user + spent_user, system + spent_sys
        remaining -= batch
        c3.disconnect()
    return {
        "polls": args["polls"],
        "records": records,
        "wall": wall,
        "cpu": cpu,
        "user": user,
        "sys": system,
        "clients": clients,
    }


def c3_table_read(args: dict[str, Any]) -> dict[str, Any]:
    """C3.get_device_data("transaction") `reads` times; an exception is reported, not raised."""
    from c3 import core  # noqa: PLC0415

    c3 = core.C3(HOST, args["port"])
    if not c3.connect():
        raise RuntimeError("zkaccess-c3 could not connect")
    counts, walls, cpus = [], [], []
    try:
        for _ in range(args["reads"]):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            rows = c3.get_device_data("transaction")
            walls.append(time.perf_counter() - wall0)
            cpus.append(time.process_time() - cpu0)
            counts.append(len(rows))
    except Exception as exc:  # c3 raises ValueError / ConnectionError: that is the finding
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "counts": counts}
    finally:
        if c3._sock is not None:
            c3._sock.close()
    return {"ok": True, "counts": counts, "walls": walls, "cpus": cpus}


# -- Django-backed tasks --------------------------------------------------------------------------------
def _django() -> None:
    import django  # noqa: PLC0415

    django.setup()


def _clear_events(device_id: int) -> None:
    from django.db import connection  # noqa: PLC0415

    from agent.models import DeviceEventLog, QuarantinedRecord  # noqa: PLC0415

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE agent_deviceeventlog, agent_quarantinedrecord")
            cursor.execute("VACUUM ANALYZE agent_deviceeventlog")
    else:
        DeviceEventLog.objects.filter(device_id=device_id).delete()
        QuarantinedRecord.objects.filter(device_id=device_id).delete()


def _bench_device(alias: str = "bench-1", port: int = 4370) -> int:
    from agent.models import CommType, Device  # noqa: PLC0415

    device, _ = Device.objects.update_or_create(
        alias=alias,
        defaults={
            "comm_type": CommType.TCP,
            "ipaddress": HOST,
            "ip_port": port,
            "timezone": "UTC",
            "acpanel_type": 4,
        },
    )
    return int(device.pk)


def _events(count: int, seed: int) -> list[Any]:
    """*count* transactions as the simulator makes them (distinct times), as zkpull RtEvents."""
    from zkpull import RtEvent, decode_time  # noqa: PLC0415
    from zkpull.simulator import FakePanel, PanelConfig  # noqa: PLC0415

    def clock() -> datetime:
        return datetime(2026, 12, 3, 12, 0, 0)  # noqa: DTZ001 panel wall clock

    panel = FakePanel(PanelConfig(seed=seed, transactions=count), clock=clock)
    return [
        RtEvent(decode_time(raw), pin, card, door, event, inout, verify, raw)
        for card, pin, verify, door, event, inout, raw in panel.transactions.rows()
    ]


def persist(args: dict[str, Any]) -> dict[str, Any]:
    """write_events_detailed in chunks of `batch` (one call per writer job), `reps` times."""
    _django()
    from agent import persistence  # noqa: PLC0415

    device_id = _bench_device()
    events = _events(args["count"], args.get("seed", 1))
    batch = args["batch"]
    samples = []
    stored = 0
    for _ in range(args["reps"]):
        _clear_events(device_id)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        stored = 0
        for start in range(0, len(events), batch):
            counts = persistence.write_events_detailed(
                device_id, events[start : start + batch], "tx", tz_name="UTC", batch_size=batch
            )
            stored += counts.stored
        samples.append(
            {
                "wall": time.perf_counter() - wall0,
                "cpu": time.process_time() - cpu0,
                "stored": stored,
            }
        )
    result: dict[str, Any] = {"samples": samples, "count": len(events)}
    if args.get("profile"):
        _clear_events(device_id)
        profiler = cProfile.Profile()
        profiler.enable()
        for start in range(0, len(events), batch):
            persistence.write_events_detailed(
                device_id, events[start : start + batch], "tx", tz_name="UTC", batch_size=batch
            )
        profiler.disable()
        result["profile"] = _top(profiler)
    _clear_events(device_id)
    return result


def persist_copy(args: dict[str, Any]) -> dict[str, Any]:
    """What-if for PostgreSQL, not the agent's code: the agent's event_fields(), then COPY.

    Same rows and the same idempotence (ON CONFLICT DO NOTHING on the natural key), one
    transaction per batch; what it leaves out is the ORM: no model instances, no per-field
    get_db_prep_save, no SELECT of existing keys first, no reconnect per call.
    """
    _django()
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    from django.db import connection, transaction  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    from agent.records import event_fields  # noqa: PLC0415

    device_id = _bench_device()
    events = _events(args["count"], args.get("seed", 1))
    batch, zone = args["batch"], ZoneInfo("UTC")
    columns = (
        "device_id, time, pin, card_no, verified, state, event_type, event_point_type, "
        "event_point_id, trigger_opt, source, description, created_at"
    )
    samples = []
    for _ in range(args["reps"]):
        _clear_events(device_id)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        stored = 0
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS bench_copy ON COMMIT DELETE ROWS AS "  # noqa: S608
                f"SELECT {columns} FROM agent_deviceeventlog WITH NO DATA"
            )
            for start in range(0, len(events), batch):
                now = timezone.now()
                with transaction.atomic():
                    with cursor.cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN") as copy:
                        for record in events[start : start + batch]:
                            item = event_fields(record, zone)
                            copy.write_row((
                                device_id, item.time, item.pin, item.card_no, item.verified,
                                item.state, item.event_type, item.event_point_type,
                                item.event_point_id, item.trigger_opt, "tx", item.description, now,
                            ))  # fmt: skip
                    cursor.execute(
                        f"INSERT INTO agent_deviceeventlog ({columns}) SELECT {columns} FROM bench_copy "  # noqa: S608
                        "ON CONFLICT DO NOTHING"
                    )
                    stored += cursor.rowcount
        samples.append(
            {
                "wall": time.perf_counter() - wall0,
                "cpu": time.process_time() - cpu0,
                "stored": stored,
            }
        )
    _clear_events(device_id)
    return {"samples": samples, "count": len(events)}


def download_persist(args: dict[str, Any]) -> dict[str, Any]:
    """Pull the table and store it through the agent's writer, as DeviceSession.download does.

    Same pieces as the agent: PanelClient.iter_transactions, WriteJobs of `batch` records
    submitted to a PersistenceWriter (bounded queue, one task; the jobs that queued up while
    one was stored go in one transaction, as ModernCommCenter._write_jobs does), stored on the
    agent's DbThread by persistence.write_events_detailed(batch_size=batch) while the next rows
    are read. The full table is read (new_only=False) so that every repetition reads the same
    100,000 rows. `"merge": false` stores each job in its own transaction instead.
    """
    _django()
    from django.db import transaction  # noqa: PLC0415

    from agent import persistence  # noqa: PLC0415
    from agent.dbthread import DbThread  # noqa: PLC0415
    from agent.metrics import Metrics  # noqa: PLC0415
    from agent.writer import PersistenceWriter, WriteJob  # noqa: PLC0415
    from zkpull import PanelClient  # noqa: PLC0415

    device_id = _bench_device()
    batch = args["batch"]

    async def once() -> dict[str, Any]:
        db = DbThread()

        async def store(job: WriteJob) -> int:
            counts = await db.run(
                persistence.write_events_detailed,
                job.device_id,
                job.records,
                job.source,
                tz_name="UTC",
                batch_size=batch,
            )
            return counts.stored

        def store_all(jobs: list[WriteJob]) -> list[int]:
            # As ModernCommCenter._write_jobs: the jobs that queued up, one transaction.
            with transaction.atomic():
                return [
                    persistence.write_events_detailed(
                        job.device_id, job.records, job.source, tz_name="UTC", batch_size=batch
                    ).stored
                    for job in jobs
                ]

        async def store_many(jobs: list[WriteJob]) -> list[int]:
            return await db.run(store_all, jobs)

        writer = PersistenceWriter(
            store,
            Metrics(),
            max_jobs=max(10, 100_000 // batch),
            store_many=store_many if args.get("merge", True) else None,
        )
        writer_task = asyncio.create_task(writer.run())
        client = PanelClient.tcp(HOST, args["port"], timeout=30.0)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await client.connect()
        jobs: list[WriteJob] = []
        chunk: list[Any] = []
        async for event in client.iter_transactions():
            chunk.append(event)
            if len(chunk) >= batch:
                jobs.append(await writer.submit(WriteJob("events", device_id, chunk, "tx")))
                chunk = []
        if chunk:
            jobs.append(await writer.submit(WriteJob("events", device_id, chunk, "tx")))
        pulled = time.perf_counter() - wall0
        stored = sum(await asyncio.gather(*(job.done for job in jobs)))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        await client.disconnect()
        await writer.stop()
        await writer_task
        await asyncio.to_thread(db.close)
        return {"wall": wall, "cpu": cpu, "pulled_at": pulled, "stored": stored}

    samples = []
    for _ in range(args["reps"]):
        _clear_events(device_id)
        samples.append(asyncio.run(once()))
    result: dict[str, Any] = {"samples": samples}
    if args.get("profile"):
        _clear_events(device_id)
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(once())
        profiler.disable()
        result["profile"] = _top(profiler)
    _clear_events(device_id)
    return result


def register(args: dict[str, Any]) -> dict[str, Any]:
    """Devices fleet-1..N on 127.0.0.1:base_port+i (the fleet's dedicated SQLite file)."""
    _django()
    from agent.models import CommType, Device  # noqa: PLC0415

    Device.objects.all().delete()
    Device.objects.bulk_create(
        [
            Device(
                alias=f"fleet-{i + 1}",
                comm_type=CommType.TCP,
                ipaddress=HOST,
                ip_port=args["base_port"] + i,
                timezone="UTC",
                acpanel_type=4,
            )
            for i in range(args["panels"])
        ],
        batch_size=500,
    )
    ports = dict(Device.objects.values_list("ip_port", "pk"))
    return {"device_by_port": {str(k): v for k, v in ports.items()}}


def fleet_check(args: dict[str, Any]) -> dict[str, Any]:
    """Event-to-database latency of the probe events, and ground truth vs DeviceEventLog."""
    _django()
    from agent import groundtruth  # noqa: PLC0415
    from agent.models import DeviceEventLog  # noqa: PLC0415

    device_by_port = {int(k): v for k, v in args["device_by_port"].items()}
    latencies: list[float] = []
    missing_probes = 0
    for probe in args["probes"]:
        when = datetime.fromisoformat(probe["time"]).replace(tzinfo=UTC)
        row = (
            DeviceEventLog.objects.filter(
                device_id=device_by_port[probe["port"]],
                time=when,
                event_type=probe["event_type"],
                pin=str(probe["pin"]) if probe["pin"] else "--",
                card_no=str(probe["card"]) if probe["card"] else "--",
            )
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if row is None:
            missing_probes += 1
            continue
        latencies.append(row.timestamp() - probe["wall"])
    truth = groundtruth.read_ground_truth(Path(args["truth"]), device_by_port)
    cutoff = args["cutoff"]  # panel-local ISO time: later events may not have been polled yet
    expected = type(truth)({k: n for k, n in truth.items() if k[1] <= cutoff})
    stored = groundtruth.stored_events(device_by_port.values())
    stored_cut = type(stored)({k: n for k, n in stored.items() if k[1] <= cutoff})
    report = groundtruth.compare(expected, stored_cut)
    return {
        "latencies": latencies,
        "missing_probes": missing_probes,
        "expected": report.expected,
        "stored": report.stored,
        "missing": len(report.missing),
        "unexpected": len(report.unexpected),
        "duplicated": len(report.duplicated),
    }


# -- helpers --------------------------------------------------------------------------------------------
def _usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _usage_since(start: tuple[float, float]) -> tuple[float, float]:
    user, system = _usage()
    return user - start[0], system - start[1]


def _profiled(args: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if not args.get("profile"):
        return run()
    profiler = cProfile.Profile()
    profiler.enable()
    result = run()
    profiler.disable()
    result["profile"] = _top(profiler)
    return result


def _top(profiler: cProfile.Profile, limit: int = 25) -> dict[str, Any]:
    """The heaviest functions by own time and by cumulative time, as text lines."""
    out: dict[str, Any] = {}
    for key in ("tottime", "cumulative"):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.strip_dirs().sort_stats(key).print_stats(limit)
        lines = [line for line in stream.getvalue().splitlines() if line.strip()]
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        out[key] = lines[start : start + limit + 1]
    total = sum(row[2] for row in pstats.Stats(profiler).stats.values())  # type: ignore[attr-defined]
    out["total_tottime"] = total
    return out


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ours-download": ours_download,
    "ours-table-read": ours_table_read,
    "ours-polls": ours_polls,
    "floor-polls": floor_polls,
    "c3-polls": c3_polls,
    "c3-table-read": c3_table_read,
    "persist": persist,
    "persist-copy": persist_copy,
    "download-persist": download_persist,
    "register": register,
    "fleet-check": fleet_check,
}


def main(argv: Sequence[str] | None = None) -> int:
    task, raw = (argv if argv is not None else sys.argv[1:])[:2]
    result = TASKS[task](json.loads(raw))
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
