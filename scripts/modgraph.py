#!/usr/bin/env python3
"""The workspace's architecture, checked: the crate graph and each crate's module graph.

Prints the crate graph (normal dependencies between workspace crates; dev-dependencies
apart) and, for every crate, the cycles between its top-level modules (the children of
`lib.rs`/`main.rs`, with everything below them folded in). Fails (exit 1) when

* a hop crate depends on another hop crate (the data path is player -> redirector -> edge ->
  origin; each hop owns one crate and what crosses the network between hops lives in
  `serve::wire`), or
* a crate has a cycle between its top-level modules (an edge `a -> b` means a file under `a`
  names `crate::b`, or `super::b` from a direct child of the root). Test modules
  (`#[cfg(test)] mod tests`, at the end of a file by house style, or in a `tests.rs` of its
  own) and comments are ignored.

Usage: scripts/modgraph.py [--quiet]   (run from anywhere; test.sh runs it)
"""

import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The hops of the data path: none of them may depend on another (dev-dependencies included).
HOPS = {"origin", "edge", "redirector", "player-live"}


def workspace_crates():
    ws = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]
    crates = {}
    for member in ws["members"]:
        manifest = tomllib.loads((ROOT / member / "Cargo.toml").read_text())
        crates[manifest["package"]["name"]] = (ROOT / member, manifest)
    return crates


def crate_graph(crates):
    graph, dev = {}, {}
    for name, (_, manifest) in crates.items():
        graph[name] = sorted(d for d in manifest.get("dependencies", {}) if d in crates)
        dev[name] = sorted(d for d in manifest.get("dev-dependencies", {}) if d in crates)
    return graph, dev


USE_CRATE = re.compile(r"\bcrate::(\{[^}]*\}|[a-z_][a-z0-9_]*)")
USE_SUPER = re.compile(r"\bsuper::(\{[^}]*\}|[a-z_][a-z0-9_]*)")
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)


def code_lines(text):
    """The file's lines up to its test module, comments dropped."""
    out, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("#[cfg(test)]") and i + 1 < len(lines) and "mod " in lines[i + 1]:
            break
        if s.startswith("//"):
            continue
        out.append(line.split("//")[0] if "://" not in line else line)
    return "\n".join(out)


def names_in(group):
    if group.startswith("{"):
        return [n.strip().split("::")[0] for n in group[1:-1].split(",") if n.strip()]
    return [group]


def module_graph(src):
    root_file = src / "lib.rs" if (src / "lib.rs").exists() else src / "main.rs"
    tops = MOD_DECL.findall(code_lines(root_file.read_text()))
    graph = {m: set() for m in tops}
    for m in tops:
        files = [src / f"{m}.rs"] if (src / f"{m}.rs").exists() else []
        if (src / m).is_dir():
            files += sorted((src / m).rglob("*.rs"))
        for f in files:
            if f.name == "tests.rs":  # a test module in a file of its own (`#[cfg(test)] mod tests;`)
                continue
            text = code_lines(f.read_text())
            targets = [n for g in USE_CRATE.findall(text) for n in names_in(g)]
            direct_child = f.parent == src or f == src / m / "mod.rs"
            if direct_child:
                targets += [n for g in USE_SUPER.findall(text) for n in names_in(g)]
            graph[m] |= {t for t in targets if t in graph and t != m}
    return graph


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    quiet = "--quiet" in sys.argv
    crates = workspace_crates()
    graph, dev = crate_graph(crates)
    problems = []
    if not quiet:
        print("crate graph (normal dependencies; [dev] apart):")
    for name in sorted(graph):
        if not quiet:
            extra = f"   [dev: {', '.join(dev[name])}]" if dev[name] else ""
            print(f"  {name:12} -> {', '.join(graph[name]) or '-'}{extra}")
        if name in HOPS:
            for d in graph[name] + dev[name]:
                if d in HOPS:
                    problems.append(f"hop crate {name} depends on hop crate {d}")
    for name, (path, _) in sorted(crates.items()):
        src = path / "src"
        if not src.is_dir():
            continue
        for comp in cycles(module_graph(src)):
            problems.append(f"module cycle in {name}: {' <-> '.join(comp)}")
    for p in problems:
        print(f"modgraph: {p}", file=sys.stderr)
    if not quiet:
        print("no hop-to-hop dependency, no module cycle" if not problems else f"{len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
