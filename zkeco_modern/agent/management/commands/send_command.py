"""`manage.py send_command DEVICE "DEVICE SET 1 1 5" --wait`: queue a legacy command.

Like the legacy "immediate" commands of the web UI: with --wait it polls the command row
until the agent records its outcome (legacy waited up to 50 s) and prints the return code
and content; the exit status is 0 only for a successful outcome.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from agent.commands import enqueue
from agent.models import FINAL_STATUSES, CommandStatus, Device
from agent.returncodes import describe_return_code

POLL_SECONDS = 0.2


class Command(BaseCommand):
    help = "Queue a legacy command (DEVICE SET, CONTROL NO, CANCEL ALARM, SET OPTION, ...) for a panel."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("device", help="alias, serial number or id")
        parser.add_argument("content", help='e.g. "DEVICE SET 1 1 5" (open door 1 for 5 s)')
        parser.add_argument("--immediate", action="store_true", help="run before queued commands")
        parser.add_argument("--priority", type=int, default=0)
        parser.add_argument("--wait", action="store_true", help="wait for the outcome")
        parser.add_argument(
            "--timeout", type=float, default=50.0, help="seconds to wait (legacy 50)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        device = _device(options["device"])
        command = enqueue(
            device, options["content"], immediate=options["immediate"], priority=options["priority"]
        )
        self.stdout.write(f"command {command.pk} for {device.alias}: {command.status}")
        if options["wait"] and command.status not in FINAL_STATUSES:
            deadline = time.monotonic() + options["timeout"]
            while command.status not in FINAL_STATUSES and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                command.refresh_from_db()
        if command.status in FINAL_STATUSES:
            code = command.return_code if command.return_code is not None else 0
            self.stdout.write(
                f"{command.status}: return code {code} ({describe_return_code(code)})"
            )
            if command.return_content:
                self.stdout.write(command.return_content)
            if command.status != CommandStatus.DONE:
                raise CommandError(f"command {command.pk} {command.status}")
        elif options["wait"]:
            raise CommandError(
                f"no outcome within {options['timeout']} s (is run_commcenter running?)"
            )


def _device(key: str) -> Device:
    query = Q(alias=key) | Q(sn=key)
    if key.isdigit():
        query |= Q(pk=int(key))
    found = list(Device.objects.filter(query)[:2])
    if len(found) != 1:
        raise CommandError(f"{'no' if not found else 'more than one'} device matches {key!r}")
    return found[0]
