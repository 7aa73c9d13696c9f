#!/usr/bin/env python3
"""Dependency check over the compiled objects of a build folder (CI runs it):
which object calls which through `nm` (a function defined in one object and
undefined in another is an edge), lifted to
  - parts of the library: src/<part>/ (core, transform, ...). The part graph
    must be acyclic (DESIGN.md layering: core at the bottom, algo above the
    maths, report and the CLI on top);
  - files of the CLI: tools/spex/*.c. The file graph must be acyclic, and no
    target file (target_*.c) may call a function of another target file;
and the #include graph of every file under src/, include/ and tools/ must be
acyclic. Prints each violation with the symbols behind it; exit 1 if any.
Usage: scripts/check_deps.py BUILD_DIR   (from the project root)"""
import os, re, subprocess, sys
from collections import defaultdict

def objects(build):
    out = []
    for root, _, files in os.walk(build):
        for f in files:
            if f.endswith('.c.o'):
                p = os.path.join(root, f)
                m = re.search(r'/(src/[^/]+/[^/]+|tools/spex/[^/]+)\.c\.o$', p)
                if m and ('spex_objects.dir' in p or '/spex.dir/' in p):
                    out.append((m.group(1) + '.c', p))
    return out

def symbols(path):
    txt = subprocess.run(['nm', path], capture_output=True, text=True, check=True).stdout
    defined, undef = set(), set()
    for line in txt.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == 'U': undef.add(parts[1])
        elif len(parts) == 3 and parts[1] in 'TDBR': defined.add(parts[2])
    return defined, undef

def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in list(graph): 
        if v not in index: visit(v)
    return out

def main():
    build = sys.argv[1] if len(sys.argv) > 1 else 'build'
    objs = objects(build)
    if not objs:
        print(f'check_deps: no objects under {build}'); return 1
    owner, undefs = {}, {}
    for name, path in objs:
        d, u = symbols(path)
        for s in d: owner[s] = name
        undefs[name] = u
    edges = defaultdict(lambda: defaultdict(set))  # file -> file -> symbols
    for name, u in undefs.items():
        for s in u:
            if s in owner and owner[s] != name: edges[name][owner[s]].add(s)
    bad = 0
    part = lambda f: f.split('/')[1] if f.startswith('src/') else 'cli'
    pg = defaultdict(set)
    for a, bs in edges.items():
        for b in bs:
            if a.startswith('src/') and b.startswith('src/') and part(a) != part(b):
                pg[part(a)].add(part(b))
            if a.startswith('tools/') and b.startswith('src/'):
                pass  # the CLI is on top: any call down is fine (public API: test_install.sh)
            if a.startswith('src/') and b.startswith('tools/'):
                print(f'library file {a} calls the CLI {b}: {sorted(edges[a][b])[:5]}'); bad += 1
    for comp in cycles(pg):
        bad += 1
        print('cycle among library parts: ' + ' -> '.join(comp))
        for a in comp:
            for b in comp:
                for fa, fbs in edges.items():
                    if part(fa) == a and fa.startswith('src/'):
                        for fb, syms in fbs.items():
                            if fb.startswith('src/') and part(fb) == b and a != b:
                                print(f'    {fa} -> {fb}: {", ".join(sorted(syms)[:4])}')
    tg = {a: {b for b in bs if b.startswith('tools/')} for a, bs in edges.items() if a.startswith('tools/')}
    for comp in cycles(tg):
        bad += 1
        print('cycle among CLI files: ' + ', '.join(comp))
    for a, bs in tg.items():
        for b in bs:
            if os.path.basename(a).startswith('target_') and os.path.basename(b).startswith('target_'):
                bad += 1
                print(f'target {a} calls target {b}: {", ".join(sorted(edges[a][b]))}')
    # include graph
    ig = defaultdict(set)
    roots = ['src', 'include', 'tools']
    files = [os.path.join(r, f) for top in roots for r, _, fs in os.walk(top) for f in fs if f.endswith(('.c', '.h'))]
    known = {f: f for f in files}
    for f in files:
        for m in re.finditer(r'^\s*#\s*include\s+"([^"]+)"', open(f, errors='replace').read(), re.M):
            inc = m.group(1)
            for cand in (os.path.join(os.path.dirname(f), inc), os.path.join('src', inc), os.path.join('include', inc)):
                if cand in known: ig[f].add(cand); break
    for comp in cycles(ig):
        bad += 1
        print('#include cycle: ' + ', '.join(comp))
    n_edges = sum(len(b) for b in edges.values())
    print(f'check_deps: {len(objs)} objects, {n_edges} file edges, {len(pg)} parts calling others: '
          f'{"OK" if not bad else str(bad) + " problem(s)"}')
    return 1 if bad else 0

if __name__ == '__main__':
    sys.exit(main())
