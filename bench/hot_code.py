#!/usr/bin/env python3
"""Hot code of a request, from a callgrind profile.

    hot_code.py PROFILE N [--by-function]

PROFILE is written by `valgrind --tool=callgrind --dump-instr=yes` over a
run of N requests. Code that runs at least N times is code every request
runs; it prints how many 64-byte cache lines that code spans, and with
--by-function, how many lines each function holds.

End to end, between two requests the kernel's network path can evict the
server's code from the first-level instruction cache, so each line a
request runs may be fetched again. The count prices that, as the
instruction count prices the work (BENCHMARKS.md, "Method", measures the
difference with the `spin` mode).
"""

import collections
import re
import sys

LINE = 64
NAME = re.compile(r"(c?fn)=\((\d+)\)(?: (.*))?$")
COST = re.compile(r"(0x[0-9a-f]+|[+-]\d+|\*)\s+\S+\s+(\d+)")


def executions(path):
    """Executions per instruction address, and each address's function."""
    names, function, address, in_call = {}, "", 0, False
    counts, owner = collections.Counter(), {}
    with open(path) as profile:
        for line in profile:
            named = NAME.match(line)
            if named:
                kind, key, name = named.groups()
                if name:
                    names[key] = name
                if kind == "fn":
                    function = names.get(key, "")
                continue
            if line.startswith("calls="):
                # The next cost line is the call's inclusive cost.
                in_call = True
                continue
            cost = COST.match(line)
            if not cost:
                continue
            position, events = cost.groups()
            if position.startswith("0x"):
                address = int(position, 16)
            elif position != "*":
                address += int(position)
            if in_call:
                in_call = False
                continue
            counts[address] += int(events)
            owner[address] = function
    return counts, owner


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    path, runs = args[0], int(args[1])
    counts, owner = executions(path)
    if not counts:
        sys.exit(f"hot_code.py: no instruction counts in {path}")
    lines = {}
    for address, count in counts.items():
        if count >= runs:
            lines[address // LINE] = owner[address]
    print(len(lines))
    if "--by-function" in sys.argv:
        by_function = collections.Counter(lines.values())
        for name, count in by_function.most_common():
            print(f"{count:5} {name}")


if __name__ == "__main__":
    main()
