"""Device input is validated before persistence: bad records go to quarantine, counted by reason.

Record level (every rule), persistence level (rows and reasons), and a real agent run in
which simulated panels send garbage over the wire: a key/value (firmware 5.4.3) panel with
impossible numbers in its real-time log, and a binary panel whose transaction table holds
an impossible date and a far-future one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent import persistence
from agent.metrics import Metrics
from agent.models import DeviceEventLog, DeviceRealtimeLog, QuarantinedRecord
from agent.records import (
    BIG_MAX,
    MAX_FUTURE,
    SMALL_MAX,
    InvalidRecordError,
    QuarantineReason,
    RealtimeLine,
    event_fields,
    reason_code,
)
from tests.agent.e2e_support import Rig, wait_for
from tests.agent.factories import event, local, make_device
from zkpull import RtEvent
from zkpull.protocol.timecodec import encode_time
from zkpull.simulator import make_configs
from zkpull.simulator.store import TRANSACTION_RECORD

UTCZ = ZoneInfo("UTC")
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
# 2024-02-31 08:00:00 in the panel's packing: a day that does not exist.
FEB_31 = ((24 * 12 + 1) * 31 + 30) * 86400 + 8 * 3600


@pytest.mark.parametrize(
    ("fields", "code", "text"),
    [
        ({"time": None, "time_raw": FEB_31}, QuarantineReason.TIME_INVALID, "impossible"),
        ({"time": local(2030, 1, 1)}, QuarantineReason.TIME_OUT_OF_RANGE, "days ahead"),
        ({"event_type": 255}, QuarantineReason.STATUS_RECORD, "status record"),
        ({"pin": -5}, QuarantineReason.PIN_INVALID, "pin -5"),
        ({"pin": 10**20}, QuarantineReason.PIN_INVALID, "at most 20 digits"),
        ({"card": 10**40}, QuarantineReason.CARD_INVALID, "41 digits"),
        ({"event_type": 70000}, QuarantineReason.CODE_OUT_OF_RANGE, "event type 70000"),
        ({"verified": -1}, QuarantineReason.CODE_OUT_OF_RANGE, "verify mode -1"),
        ({"inout": 40000}, QuarantineReason.CODE_OUT_OF_RANGE, "in/out state"),
        ({"door": 99999}, QuarantineReason.CODE_OUT_OF_RANGE, "door 99999"),
    ],
)
def test_each_rule_raises_a_typed_error_with_its_reason(
    fields: dict[str, object], code: QuarantineReason, text: str
) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        event_fields(event(**fields), UTCZ, now=NOW)
    assert caught.value.code is code
    assert caught.value.reason.startswith(f"{code}: ")
    assert text in caught.value.reason
    assert reason_code(caught.value.reason) is code
    assert len(caught.value.reason) <= 200  # fits QuarantinedRecord.reason


def test_the_edges_are_accepted() -> None:
    assert event_fields(event(time=local(2000, 1, 1)), UTCZ, now=NOW)  # a reset panel clock
    soon = (NOW + MAX_FUTURE - timedelta(seconds=1)).replace(tzinfo=None)
    assert event_fields(event(time=soon), UTCZ, now=NOW)
    big = event_fields(event(pin=10**20 - 1, card=10**20 - 1, verified=SMALL_MAX), UTCZ, now=NOW)
    assert (len(big.pin), len(big.card_no)) == (20, 20)


def test_unknown_codes_are_stored_and_flagged() -> None:
    unknown_event = event_fields(event(event_type=150), UTCZ, now=NOW)
    assert unknown_event.event_type == 150
    assert unknown_event.description == "Unknown event code 150"
    unknown_verify = event_fields(event(verified=99), UTCZ, now=NOW)
    assert unknown_verify.description == "Unknown verify mode 99"
    assert event_fields(event(), UTCZ, now=NOW).description == ""
    aux = event_fields(event(event_type=220, verified=99), UTCZ, now=NOW)  # verify reused
    assert aux.description == ""


def test_realtime_lines_saturate_the_columns_and_keep_the_line() -> None:
    garbage = RtEvent(local(2024, 3, 5, 8, 0), -3, 10**30, 70000, 80000, 90000, 2**40, 0)
    line = RealtimeLine.from_record(garbage, NOW, 0)
    assert (line.pin, line.card, line.door) == (0, BIG_MAX, SMALL_MAX)
    assert (line.event_type, line.inout, line.verified) == (SMALL_MAX,) * 3
    assert str(10**30) in line.line
    assert "70000" in line.line


def test_metrics_count_by_reason_code() -> None:
    metrics = Metrics()
    reasons = ["time_invalid: x", "pin_invalid: y", "pin_invalid: z", "legacy text"]
    metrics.count_quarantined("door-1", reasons, total=5)
    counter = metrics.events_quarantined_total
    assert counter.labels("door-1", "pin_invalid")._value.get() == 2
    assert counter.labels("door-1", "time_invalid")._value.get() == 1
    assert counter.labels("door-1", "invalid")._value.get() == 2  # no code, and the rest


@pytest.mark.django_db
def test_persistence_quarantines_with_reasons_and_stores_the_rest() -> None:
    device = make_device()
    records = [
        event(),
        event(time=None, time_raw=FEB_31),
        event(pin=-1),
        event(card=10**25),
        event(event_type=150, time=local(2024, 3, 5, 9, 0)),
    ]
    counts = persistence.write_events_detailed(device.pk, records, "rt")
    assert (counts.stored, counts.quarantined, counts.duplicates) == (2, 3, 0)
    assert sorted(reason_code(r) for r in counts.quarantine_reasons) == sorted(
        [QuarantineReason.TIME_INVALID, QuarantineReason.PIN_INVALID, QuarantineReason.CARD_INVALID]
    )
    rows = {row.raw: row.reason for row in QuarantinedRecord.objects.filter(device=device)}
    assert rows[f"invalid:{FEB_31},1001,12345678,1,0,0,4"].startswith("time_invalid: ")
    assert any(raw.startswith("2024-03-05 08:15:32,-1,") for raw in rows)
    flagged = DeviceEventLog.objects.get(device=device, event_type=150)
    assert flagged.description == "Unknown event code 150"
    again = persistence.write_events_detailed(device.pk, records, "rt")
    assert (again.stored, again.quarantined, again.quarantine_reasons) == (0, 0, ())


@pytest.mark.django_db
def test_out_of_range_realtime_numbers_are_stored_not_a_database_error() -> None:
    device = make_device()
    garbage = RtEvent(local(2024, 3, 5, 8, 0), 5, 10**30, 1, 0, 0, 2**40, 0)
    lines = persistence.lines_from_records([(NOW, garbage)])
    assert persistence.write_realtime_lines(device.pk, lines) == 1
    row = DeviceRealtimeLog.objects.get(device=device)
    assert (row.card_no, row.verified) == (BIG_MAX, SMALL_MAX)
    assert str(10**30) in row.line


# --- garbage from simulated panels, through the real protocol ---------------------------------


def _rt(pin: int, card: int, event_type: int, *, verified: int = 1) -> RtEvent:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return RtEvent(now, pin, card, 1, event_type, 0, verified, encode_time(now))


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_garbage_from_panels_is_quarantined_counted_and_the_agent_goes_on(
    tmp_path: Path,
) -> None:
    configs = make_configs(2, seed=21, events_per_second=0.0, transactions=5)
    configs[0] = dataclasses.replace(configs[0], kv_rtlog=True)
    async with Rig(tmp_path, configs) as rig:
        kv_device, binary_device = await rig.register()
        kv_panel, binary_panel = rig.panels
        # Transaction table of the binary panel: an impossible date and one in 2130.
        future = encode_time(datetime(2130, 1, 1, 8, 0))  # noqa: DTZ001 (panel local)
        for packed in (FEB_31, future):
            binary_panel.transactions.add(
                packed, TRANSACTION_RECORD.pack(555, 77, 1, 1, 0, 0, packed)
            )
        rig.start_agent()
        assert rig.center is not None
        assert rig.metrics is not None
        await wait_for(
            lambda: all(rig.center.status.online.get(d) for d in (kv_device, binary_device)),  # type: ignore[union-attr]
            10,
            "both panels online",
        )
        # Real-time log of the key/value panel: numbers no column can hold, an unknown code.
        kv_panel._ring.extend(
            [
                _rt(-7, 1234, 0),
                _rt(42, 10**25, 0),
                _rt(42, 1234, 70000),
                _rt(43, 4321, 150),
            ]
        )

        def quarantined() -> int:
            return QuarantinedRecord.objects.count()

        await wait_for(lambda: rig.orm(lambda: quarantined() >= 5), 15, "5 quarantined records")
        await asyncio.sleep(0.5)
        metrics = rig.metrics
        await rig.stop_agent()
        rows = await rig.orm(lambda: list(QuarantinedRecord.objects.values("device", "reason")))
        flagged = await rig.orm(
            lambda: list(DeviceEventLog.objects.filter(event_type=150).values("description"))
        )
        stored = await rig.orm(DeviceEventLog.objects.count)

    codes = sorted((row["device"], str(reason_code(row["reason"]))) for row in rows)
    assert codes == sorted(
        [
            (kv_device, "pin_invalid"),
            (kv_device, "card_invalid"),
            (kv_device, "code_out_of_range"),
            (binary_device, "time_invalid"),
            (binary_device, "time_out_of_range"),
        ]
    )
    assert flagged == [{"description": "Unknown event code 150"}]
    assert stored >= 10 + 1  # the preloaded transactions and the flagged event
    counter = metrics.events_quarantined_total
    assert counter.labels("sim-1", "pin_invalid")._value.get() == 1
    assert counter.labels("sim-1", "card_invalid")._value.get() == 1
    assert counter.labels("sim-1", "code_out_of_range")._value.get() == 1
    assert counter.labels("sim-2", "time_invalid")._value.get() == 1
    assert counter.labels("sim-2", "time_out_of_range")._value.get() == 1
    for where in ("persistence", "session", "device"):
        assert metrics.unexpected_errors_total.labels(where)._value.get() == 0
