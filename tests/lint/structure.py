#!/usr/bin/env python3
"""structure.py SRC_DIR - the tree's structural rules, checked on every build.

1. No include cycle between modules. A module is a .c file with its .h;
   X_internal.h belongs to module X (its private header). An edge A -> B is
   a #include "B.h" in A.c or A.h.
2. No file in src/ over 1,500 lines.
"""
import collections
import os
import re
import sys

MAX_LINES = 1500


def module_of(filename):
    stem = re.sub(r"\.(c|h)$", "", filename)
    return re.sub(r"_internal$", "", stem)


def main(src):
    graph = collections.defaultdict(set)
    problems = []
    for name in sorted(os.listdir(src)):
        if not name.endswith((".c", ".h")):
            continue
        with open(os.path.join(src, name), encoding="utf-8") as f:
            text = f.read()
        nlines = text.count("\n")
        if nlines > MAX_LINES:
            problems.append(f"{name}: {nlines} lines (max {MAX_LINES})")
        mod = module_of(name)
        graph[mod]  # every module is a node
        for inc in re.findall(r'^#include "([A-Za-z0-9_]+)\.h"', text, re.M):
            dep = module_of(inc + ".h")
            if dep != mod:
                graph[mod].add(dep)

    # Tarjan's strongly connected components: any with 2+ modules is a cycle.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for comp in sccs:
        problems.append("include cycle between modules: " + " <-> ".join(comp))
    for p in problems:
        print("structure:", p)
    if problems:
        return 1
    print(f"structure: {len(graph)} modules, no include cycle, no file over {MAX_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
