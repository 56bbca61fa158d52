"""Token check benchmark (issue 8): run by hand, `.venv/bin/python bench/auth.py [--database-url URL]`.

The token rule (accounts.authentication.resolve_token, Employee.may_use_api) joins the
employee, its customer and two resellers above it so that "nothing above it is DELETED" costs no
query of its own. This prints, in one run, token checks per second for a customer three levels
down, against the baseline of the look-up the rule replaced (employee and customer only, no
chain check), and the queries each makes.

It uses a fresh SQLite file in a temporary directory, or `--database-url` (a scratch database:
its tables are migrated and rows are added).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from bench.scratch import setup  # noqa: E402  (after the path above)


def best_rates(checks: list, repeat: int, rounds: int = 7) -> list[float]:  # type: ignore[type-arg]
    """Checks per second of each, best of `rounds`, the rounds interleaved so load hits both alike."""
    best = [0.0] * len(checks)
    for _ in range(rounds):
        for n, check in enumerate(checks):
            started = time.perf_counter()
            for _ in range(repeat):
                check()
            best[n] = max(best[n], repeat / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    setup(args.database_url)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.authentication import resolve_token
    from accounts.models import AccessLevel, Customer, Employee, Token, hash_token

    top = Customer.objects.create(name="Bench top", is_reseller=True)
    sub = Customer.objects.create(name="Bench sub", is_reseller=True, parent_reseller=top)
    customer = Customer.objects.create(name="Bench customer", parent_reseller=sub)
    employee = Employee.objects.create_user(f"bench-{time.time_ns()}@example.com", None, customer=customer,
                                            access_level=AccessLevel.OWNER)
    _, raw = Token.objects.issue(employee, persist=True)

    def baseline() -> None:  # the look-up before issue 8: employee and customer, is_active only
        token = Token.objects.select_related("employee__customer").filter(key_hash=hash_token(raw)).first()
        assert token is not None and token.employee.is_active

    def rule() -> None:
        resolve_token(raw)

    for name, check in (("baseline", baseline), ("rule", rule)):
        with CaptureQueriesContext(connection) as queries:
            check()
        print(f"{name}: {len(queries)} quer{'y' if len(queries) == 1 else 'ies'} per check")
    old, new = best_rates([baseline, rule], args.repeat)
    print(f"{connection.vendor}: baseline {old:,.0f}/s, token rule {new:,.0f}/s, ratio {new / old:.2f}")


if __name__ == "__main__":
    main()
