"""`manage.py importnumbers [--ranges] FILE`: ported numbers (`number,operator`) or number-range
holders (`prefix,operator`), streamed in batches, all or nothing."""

from typing import Any

from django.core.management.base import CommandParser

from sbcrules.importing import Importer, number_importer

from ._imports import ImportCommand


class Command(ImportCommand):
    help = (
        "Import ported numbers (CSV number,operator) or, with --ranges, number-range holders "
        "(CSV prefix,operator). Numbers: +4570305050, 4570305050 or 70305050. A re-import replaces what it covers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--ranges", action="store_true", help="the file holds number ranges (prefix,operator)")

    def importer(self, options: dict[str, Any]) -> Importer:
        self.what = "ranges" if options["ranges"] else "numbers"
        return number_importer(ranges=options["ranges"])
