#!/usr/bin/python3
"""Per-function marginal instructions per message from two callgrind runs of
the same sink that differ only in the number of messages (as written by
`run_smtp.py --mode callgrind`; the files are listed in its JSON output):

  /usr/bin/python3 bench/cg_marginal.py SMALL.out LARGE.out EXTRA_MESSAGES [TOP]

Startup and shutdown cancel out, so what is left is the cost of one more
message, split by function (self cost, from callgrind_annotate).
"""
import re
import subprocess
import sys


def self_costs(path):
    p = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", "--tree=none", "--inclusive=no", path],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
    costs = {}
    for line in p.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if m and "PROGRAM TOTALS" not in line:
            name = re.sub(r"\s+\[[^\]]*\]$", "", m.group(2).strip())
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def main():
    small, large, extra = sys.argv[1], sys.argv[2], int(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 25
    a, b = self_costs(small), self_costs(large)
    diff = {k: (b.get(k, 0) - a.get(k, 0)) / extra for k in set(a) | set(b)}
    total = sum(diff.values())
    print("marginal Ir per message: %.0f" % total)
    for name, v in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
        print("%9.0f %5.1f%%  %s" % (v, 100 * v / total if total else 0, name))


if __name__ == "__main__":
    main()
