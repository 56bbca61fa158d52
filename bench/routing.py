"""Routing benchmark (issue 3): run by hand, `.venv/bin/python bench/routing.py`.

For 100, 10,000 and 200,000 PREFIX rules (plus ANUMBER, CUSTOMER and DKCPS rules) it prints,
in one run: look-ups per second from the in-memory index, the ratio of the largest to the
smallest rule set (should stay near 1), the ratio to a one-query-per-look-up ORM baseline
measured in the same run, the full `route_call` path, the rebuild time, and the index memory.

Then, with the last rule set, for 10 and 10,000 trunks (`--trunks`; each with one to three
sources: IPv4 addresses, IPv4 blocks, IPv6 blocks): look-ups by `source` (`route_call` with the
caller's address, 10 % of them strangers) against `route_call` without a source in the same run,
the source index alone, and the ratio of the largest to the smallest trunk count.

It uses a fresh SQLite file in a temporary directory, or `--database-url` (a scratch database:
its sbcrules tables are emptied).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from bench.scratch import setup  # noqa: E402  (after the path above)


def best_rate(look_up, items: list, repeat: int) -> float:
    """Look-ups per second, the best of `repeat` runs: the machine may be busy with other work."""
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            look_up(item)
        best = max(best, len(items) / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a scratch database (default: a temporary SQLite file)")
    parser.add_argument("--sizes", default="100,10000,200000")
    parser.add_argument("--lookups", type=int, default=200_000, help="index look-ups per size")
    parser.add_argument("--orm-lookups", type=int, default=5_000, help="ORM baseline look-ups per size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    parser.add_argument("--trunks", default="10,10000", help="trunk counts for the look-ups by source")
    args = parser.parse_args()
    setup(args.database_url)

    from django.db import connection, transaction
    from django.db.models.functions import Length

    from sbcrules.index import load_index, mark_routing_changed, routing_index
    from sbcrules.lookup import route_call
    from sbcrules.models import DkOperator, Host, NumberRange, Peer, PortedNumber, Rule
    from sbcrules.routing import decide

    rng = random.Random(42)
    country_codes = ["1", "33", "34", "39", "44", "45", "46", "47", "48", "49", "351", "358", "420", "852", "880"]

    def random_number() -> str:
        code = rng.choice(country_codes)
        return "+" + code + "".join(rng.choice("0123456789") for _ in range(rng.randint(8, 15 - len(code))))

    with transaction.atomic():
        for model in (Rule, Host, PortedNumber, NumberRange, DkOperator):
            model.objects.all().delete()
        Peer.objects.all().delete()
        peers = [Peer.objects.create(id=f"PEER{i}", default=(i == 0)) for i in range(20)]
        for peer in peers:
            Host.objects.create(peer=peer, address=f"192.0.2.{len(peer.id)}")
        DkOperator.objects.bulk_create([DkOperator(id=f"{10000 + i:05d}", name=f"Op {i}") for i in range(50)])
        NumberRange.objects.bulk_create([NumberRange(prefix=f"+45{i:02d}", operator_id=f"{10000 + i % 50:05d}") for i in range(10, 100)])

    sizes = [int(s) for s in args.sizes.split(",")]
    numbers = [random_number() for _ in range(args.lookups)]
    callers = [("+45" + str(rng.randint(10_000_000, 99_999_999))) for _ in range(1000)]
    rows = []
    for size in sizes:
        with transaction.atomic():
            Rule.objects.all().delete()
            prefixes: set[str] = set()
            while len(prefixes) < size:
                prefixes.add(random_number()[: rng.randint(2, 11)])
            others = [Rule(type="ANUMBER", condition=c, peer_id=rng.choice(peers).id) for c in callers]
            others += [Rule(type="CUSTOMER", condition=f"{i:024x}", peer_id=rng.choice(peers).id) for i in range(200)]
            others += [Rule(type="DKCPS", condition=f"{10000 + i:05d}", peer_id=rng.choice(peers).id) for i in range(0, 50, 5)]
            prefix_rules = [Rule(type="PREFIX", condition=p, peer_id=rng.choice(peers).id) for p in sorted(prefixes)]
            Rule.objects.bulk_create(prefix_rules + others, batch_size=5000)
            mark_routing_changed()

        started = time.perf_counter()
        index = load_index()
        rebuild = time.perf_counter() - started

        # what the index keeps alive: its maps, the rule tuples and their strings
        tracemalloc.start()
        measured = load_index()
        index_bytes = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del measured

        operators = {"+4570": "10005"}
        index_rate = best_rate(lambda number: decide(index, bnumber=number, operator_of=operators.get), numbers, args.repeat)

        routing_index.reset()
        route_call(bnumber="+4612345678")  # builds this process's index
        full_numbers = numbers[:20_000]
        full_rate = best_rate(lambda number: route_call(bnumber=number), full_numbers, args.repeat)
        dk_share = sum(n.startswith("+45") for n in full_numbers) / len(full_numbers)

        def orm_look_up(number: str) -> object:
            candidates = [number[:length] for length in range(2, len(number) + 1)]
            return (
                Rule.objects.filter(type="PREFIX", condition__in=candidates)
                .order_by(Length("condition").desc()).values_list("id", "peer_id").first()
            )

        orm_rate = best_rate(orm_look_up, numbers[: args.orm_lookups], args.repeat)
        rows.append((size, index.rule_count, index_rate, full_rate, orm_rate, rebuild, index_bytes, dk_share))

    print(f"database: {connection.vendor}; per size, best of {args.repeat} runs of {len(numbers)} index look-ups, 20000 route_call look-ups, {args.orm_lookups} ORM look-ups\n")
    print(f"{'PREFIX rules':>12} {'all rules':>9} {'index/s':>11} {'route_call/s':>12} {'ORM/s':>8} {'index/ORM':>9} {'rebuild s':>9} {'index MB':>8}")
    for size, total, index_rate, full_rate, orm_rate, rebuild, index_bytes, _ in rows:
        print(
            f"{size:>12,} {total:>9,} {index_rate:>11,.0f} {full_rate:>12,.0f} {orm_rate:>8,.0f} {index_rate / orm_rate:>9.1f} "
            f"{rebuild:>9.3f} {index_bytes / 2**20:>8.1f}"
        )
    largest, smallest = rows[-1], rows[0]
    print(f"\nindex look-ups/s, largest / smallest rule set: {largest[2] / smallest[2]:.2f} (1.00 = cost does not grow)")
    print(f"route_call look-ups/s, largest / smallest: {largest[3] / smallest[3]:.2f}")
    print(f"ORM baseline look-ups/s, largest / smallest: {largest[4] / smallest[4]:.2f}")
    print(f"index vs ORM baseline at {largest[0]:,} rules: {largest[2] / largest[4]:.0f}x; route_call vs ORM: {largest[3] / largest[4]:.1f}x")
    print(f"(route_call: {largest[7]:.0%} of numbers are Danish and cost one ported-number query, as a DKCPS rule exists)")
    trunk_rows(args, rng, numbers)


def trunk_rows(args: argparse.Namespace, rng: random.Random, numbers: list[str]) -> None:
    """Look-ups by source for each trunk count, against look-ups without a source in the same run."""
    import ipaddress

    from django.db import transaction

    from accounts.models import Customer
    from sbcrules.index import load_index, mark_routing_changed, routing_index
    from sbcrules.lookup import route_call
    from sbcrules.models import Trunk, TrunkSource
    from sbcrules.trunks import bounds, spell

    with transaction.atomic():
        Customer.objects.filter(name__startswith="bench trunk customer").delete()
        customers = Customer.objects.bulk_create([Customer(name=f"bench trunk customer {i}") for i in range(1000)])
    rows = []
    for count in [int(c) for c in args.trunks.split(",")]:
        addresses: list[str] = []
        with transaction.atomic():
            TrunkSource.objects.all().delete()
            Trunk.objects.all().delete()
            trunks, sources = [], []
            for n in range(count):
                networks = [ipaddress.ip_network(f"10.{n // 256 % 256}.{n % 256}.{16 * k}/{32 if k == 0 else 28}") for k in range(rng.randint(1, 2))]
                if n % 3 == 0:
                    networks.append(ipaddress.ip_network(f"2001:db8:{n:x}::/48"))
                trunk = Trunk(customer=customers[n % len(customers)], name=f"trunk {n}", sources=[spell(net) for net in networks],
                              max_calls=30, calls_per_second=5)
                trunks.append(trunk)
                for net in networks:
                    family, first, last = bounds(net)
                    sources.append(TrunkSource(trunk=trunk, network=spell(net), family=family, first=first, last=last))
                    addresses.append(str(net.network_address + (1 if net.num_addresses > 1 else 0)))
            Trunk.objects.bulk_create(trunks, batch_size=5000)
            TrunkSource.objects.bulk_create(sources, batch_size=5000)
            mark_routing_changed()
        started = time.perf_counter()
        index = load_index()
        rebuild = time.perf_counter() - started
        callers = [rng.choice(addresses) if rng.random() < 0.9 else f"198.51.100.{rng.randint(1, 254)}" for _ in range(20_000)]
        source_rate = best_rate(index.sources.find, callers, args.repeat)
        routing_index.reset()
        route_call(bnumber="+4612345678")  # builds this process's index
        calls = list(zip(numbers[:20_000], callers, strict=True))
        by_source = best_rate(lambda call: route_call(bnumber=call[0], source=call[1]), calls, args.repeat)
        plain = best_rate(lambda call: route_call(bnumber=call[0]), calls, args.repeat)
        lengths = sum(len(table) for table in index.sources.by_family.values())
        rows.append((count, index.sources.count, lengths, source_rate, by_source, plain, rebuild))
    print(f"\nlook-ups by source (the caller's address: 90 % a trunk's, 10 % strangers), best of {args.repeat} runs of 20000\n")
    print(f"{'trunks':>7} {'sources':>8} {'lengths':>7} {'index/s':>11} {'by source/s':>12} {'no source/s':>12} {'ratio':>6} {'rebuild s':>9}")
    for count, source_count, lengths, source_rate, by_source, plain, rebuild in rows:
        print(f"{count:>7,} {source_count:>8,} {lengths:>7} {source_rate:>11,.0f} {by_source:>12,.0f} {plain:>12,.0f} "
              f"{by_source / plain:>6.2f} {rebuild:>9.3f}")
    largest, smallest = rows[-1], rows[0]
    print(f"\nlook-ups by source/s, most / fewest trunks: {largest[4] / smallest[4]:.2f} (1.00 = cost does not grow); "
          f"source index alone: {largest[3] / smallest[3]:.2f}")


if __name__ == "__main__":
    main()
