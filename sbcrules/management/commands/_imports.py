"""What the import commands share: arguments, progress, and turning bad lines into an exit status."""

from __future__ import annotations

import csv
import os
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
        path = options["file"]
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        handle = None

        def progress(result: ImportResult) -> None:
            elapsed = time.monotonic() - started
            rate = result.lines / elapsed if elapsed > 0 else 0.0
            done = handle.buffer.tell() if handle is not None and size else 0  # bytes read so far
            if size:  # the input size is known: a bar with the total and the rate
                share = min(done / size, 1.0)
                bar = "#" * int(share * 30)
                line = (f"[{bar:<30}] {share:4.0%} {done / 1e6:.1f}/{size / 1e6:.1f} MB, "
                        f"{result.stored} {self.what} written, {rate:,.0f} lines/s")
            else:
                line = f"{result.stored} {self.what} written ({result.lines} lines read, {rate:,.0f} lines/s)"
            if self.stderr.isatty():
                self.stderr.write("\r" + line, ending="")
            else:
                self.stdout.write(line)

        try:
            with open_text(path) as lines:
                handle = lines
                result = self.importer(options).run(
                    lines, batch_size=max(1, options["batch_size"]), replace=options["replace"],
                    report=lambda message: self.stderr.write(message), progress=progress,
                )
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"{options['file']} is not a UTF-8 CSV file ({exc}); nothing was imported") from None
        if self.stderr.isatty():
            self.stderr.write("")  # end the progress line
        if result.bad_lines:
            raise CommandError(f"{result.bad_lines} bad lines; nothing was imported")
        self.stdout.write(self.style.SUCCESS(f"imported {result.stored} {self.what} from {result.lines} lines in {time.monotonic() - started:.1f}s"))
