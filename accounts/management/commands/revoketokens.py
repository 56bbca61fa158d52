"""revoketokens (EMAIL | --token RAW): end tokens at once, e.g. one that leaked. Prints how many ended."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Token, hash_token


class Command(BaseCommand):
    help = "End all tokens of an employee, or the one token given (read from --token or standard input with --token -)."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("email", nargs="?", help="end every token of this employee")
        target.add_argument("--token", help="end this one token (the raw value; '-' reads it from standard input)")

    def handle(self, *args: object, **options: object) -> None:
        if options["token"]:
            raw = sys.stdin.readline().strip() if options["token"] == "-" else str(options["token"])
            tokens = Token.objects.filter(key_hash=hash_token(raw))
            if not tokens.exists():
                raise CommandError("No such token (expired, already ended, or mistyped)")
        else:
            tokens = Token.objects.filter(employee__email=str(options["email"]).strip().lower())
        count, _ = tokens.delete()
        self.stdout.write(f"{count} token(s) ended")
