"""`manage.py importrules FILE`: CSV `type,condition,peer,note` (header required), all or nothing."""

from typing import Any

from sbcrules.importing import Importer, rule_importer

from ._imports import ImportCommand


class Command(ImportCommand):
    help = "Import SBC rules from CSV (type,condition,peer,note); a rule with the same type and condition is replaced."
    what = "rules"

    def importer(self, options: dict[str, Any]) -> Importer:
        return rule_importer()
