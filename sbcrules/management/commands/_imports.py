"""What the import commands share: arguments, progress, and turning bad lines into an exit status."""

from __future__ import annotations

import csv
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sbcrules.importing import Importer, ImportResult, open_text


class ImportCommand(BaseCommand):
    what = "rows"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file (UTF-8)")
        parser.add_argument("--batch-size", type=int, default=5000, help="rows written per statement (default 5000)")
        parser.add_argument("--replace", action="store_true", help="delete every stored row of this kind first (same transaction)")

    def importer(self, options: dict[str, Any]) -> Importer:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()

        def progress(result: ImportResult) -> None:
            self.stdout.write(f"{result.stored} {self.what} written ({result.lines} lines read, {time.monotonic() - started:.1f}s)")

        try:
            with open_text(options["file"]) as lines:
                result = self.importer(options).run(
                    lines, batch_size=max(1, options["batch_size"]), replace=options["replace"],
                    report=lambda message: self.stderr.write(message), progress=progress,
                )
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"{options['file']} is not a UTF-8 CSV file ({exc}); nothing was imported") from None
        if result.bad_lines:
            raise CommandError(f"{result.bad_lines} bad lines; nothing was imported")
        self.stdout.write(self.style.SUCCESS(f"imported {result.stored} {self.what} from {result.lines} lines in {time.monotonic() - started:.1f}s"))
