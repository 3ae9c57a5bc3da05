"""Per-poll client CPU: PanelClient.get_rtlog vs zkaccess-c3's get_rt_log, same simulator, same run."""

from __future__ import annotations

from typing import Any

from .common import Figure, Results, ratio, run_worker, simulator

POLLS = 5_000
C3_PER_CLIENT = 200  # zkaccess-c3 breaks on request 259 of a session (see bench.worker.c3_polls)


def run(results: Results, reps: int, quick: bool, profile: bool) -> None:
    polls = 1_000 if quick else POLLS
    detail: dict[str, Any] = results.sections.setdefault("polls", {})
    samples: dict[str, list[dict[str, Any]]] = {"ours": [], "c3": [], "floor": []}
    # Idle polls (no pending event: the panel answers a door-status record), session firmware.
    with simulator(1, "--events-per-second", "0", "--firmware", "session") as (_sim, port):
        for _ in range(reps):  # interleaved, so drift hits every client alike
            samples["ours"].append(run_worker("ours-polls", {"port": port, "polls": polls}))
            samples["c3"].append(
                run_worker("c3-polls", {"port": port, "polls": polls, "per_client": C3_PER_CLIENT})
            )
            samples["floor"].append(run_worker("floor-polls", {"port": port, "polls": polls}))
        if profile:
            detail["ours_profile"] = run_worker(
                "ours-polls", {"port": port, "polls": polls, "profile": True}
            )["profile"]
    clients = (
        ("ours", "PanelClient.get_rtlog"),
        ("c3", "zkaccess-c3 get_rt_log"),
        ("floor", "floor: blocking socket + Session framing, no decode"),
    )
    for who, name in clients:
        for part in ("user", "sys"):
            results.add(
                Figure(
                    f"polls.{who}_{part}_us",
                    "polls",
                    f"{name}: {'user' if part == 'user' else 'kernel'} CPU per poll",
                    "µs/poll",
                    [s[part] / s["polls"] * 1e6 for s in samples[who]],
                    note="getrusage(RUSAGE_SELF) ru_utime / ru_stime over the same loop",
                )
            )
        results.add(
            Figure(
                f"polls.{who}_cpu_us",
                "polls",
                f"{name}: client CPU per real-time poll",
                "µs/poll",
                [s["cpu"] / s["polls"] * 1e6 for s in samples[who]],
                note=f"{polls:,} idle polls per repetition, time.process_time() of the client process"
                + (
                    f"; a fresh c3 client every {C3_PER_CLIENT} polls, connect not counted"
                    if who == "c3"
                    else ""
                )
                + (
                    "; a reference, not a client: what any Python client pays per poll"
                    if who == "floor"
                    else ""
                ),
            )
        )
        results.add(
            Figure(
                f"polls.{who}_wall_us",
                "polls",
                f"{name}: round trip per poll",
                "µs/poll",
                [s["wall"] / s["polls"] * 1e6 for s in samples[who]],
            )
        )
    results.add(
        Figure(
            "polls.user_cpu_ratio",
            "polls",
            "per-poll user-space CPU, ours / zkaccess-c3",
            "ratio",
            [s["user"] / c["user"] for s, c in zip(samples["ours"], samples["c3"], strict=True)],
            note="the part a client's own code decides; the kernel part is the same loopback work for both",
        )
    )
    ours, c3 = results.get("polls.ours_cpu_us"), results.get("polls.c3_cpu_us")
    share = ratio(ours, c3)
    results.add(
        Figure(
            "polls.cpu_ratio",
            "polls",
            "per-poll client CPU, ours / zkaccess-c3",
            "ratio",
            [
                s["cpu"] / s["polls"] / (c["cpu"] / c["polls"])
                for s, c in zip(samples["ours"], samples["c3"], strict=True)
            ],
            target="<= 0.5",
            met=share is not None and share <= 0.5,
            note="per repetition: ours and c3 measured back to back against the same simulator",
        )
    )
