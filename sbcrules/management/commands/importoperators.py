"""`manage.py importoperators FILE`: CSV `code,name[,address]` (header optional), all or nothing."""

from typing import Any

from sbcrules.importing import Importer, operator_importer

from ._imports import ImportCommand


class Command(ImportCommand):
    help = "Import DK operators from CSV (code,name[,address]); an operator with the same code is replaced."
    what = "operators"

    def importer(self, options: dict[str, Any]) -> Importer:
        return operator_importer()
