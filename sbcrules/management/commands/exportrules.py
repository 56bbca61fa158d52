"""`manage.py exportrules [FILE]`: every rule as CSV `type,condition,peer,note` (stdout without FILE)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sbcrules.importing import export_rules


class Command(BaseCommand):
    help = "Export the SBC rules as CSV (type,condition,peer,note), the format importrules reads."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="output file (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        handle = open(path, "w", encoding="utf-8", newline="") if path else None  # noqa: SIM115
        try:
            count = export_rules(handle or self.stdout)
        finally:
            if handle:
                handle.close()
        if path:
            self.stdout.write(f"exported {count} rules to {path}")
