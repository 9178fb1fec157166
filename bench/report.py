#!/usr/bin/python3
"""Renders bench/REPORT.md and bench/plots/*.png from a proof-suite run (bench/run).

Input: results.jsonl, one JSON object per line. Measurement rows carry "block", "case",
"server", "run" and numeric metrics; "_machine" describes the machine once; "_block" rows give
each block's load average before/after, duration and exit status. Every figure in the report is
computed here from those rows: medians over runs, the spread (min-max), ratios between servers
of the same run. Nothing is typed in by hand.

  /usr/bin/python3 bench/report.py RESULTS.jsonl --out bench/REPORT.md --plots bench/plots

Uses matplotlib (Debian's python3-matplotlib) for the plots; prints the headline table.
"""
import argparse
import json
import os
import statistics
import sys
from collections import OrderedDict, defaultdict

NOISY = 0.10  # spread (max - min) / median above which a figure is flagged as noisy


def load(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f'{path}:{n}: not JSON ({e}): {line[:120]}')
    return rows


class Stat:
    """Median and spread of one metric over runs."""

    def __init__(self, values):
        self.values = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        self.n = len(self.values)
        self.median = statistics.median(self.values) if self.values else None
        self.lo = min(self.values) if self.values else None
        self.hi = max(self.values) if self.values else None

    @property
    def spread(self):
        if not self.n or not self.median:
            return None
        return (self.hi - self.lo) / abs(self.median)

    @property
    def noisy(self):
        return self.spread is not None and self.spread > NOISY

    def fmt(self, digits=None, unit=''):
        if self.median is None:
            return '–'
        m = num(self.median, digits) + unit
        if self.n > 1:
            m += f' ({num(self.lo, digits)}–{num(self.hi, digits)})'
            if self.noisy:
                m += ' ⚠'
        return m


def num(v, digits=None):
    if v is None:
        return '–'
    if digits is not None:
        return f'{v:.{digits}f}'
    a = abs(v)
    if a >= 1000:
        return f'{v:,.0f}'
    if a >= 100:
        return f'{v:.0f}'
    if a >= 10:
        return f'{v:.1f}'
    if a >= 1:
        return f'{v:.2f}'
    return f'{v:.3g}'


class Results:
    def __init__(self, rows):
        self.machine = next((r for r in rows if r.get('block') == '_machine'), {})
        self.blocks = OrderedDict((r['name'], r) for r in rows if r.get('block') == '_block')
        self.rows = [r for r in rows if not str(r.get('block', '_')).startswith('_')]
        self.groups = OrderedDict()  # (block, case, server) -> [rows]
        for r in self.rows:
            self.groups.setdefault((r['block'], str(r.get('case', '')), str(r.get('server', ''))), []).append(r)

    def cases(self, block):
        return list(OrderedDict.fromkeys(c for (b, c, _) in self.groups if b == block))

    def servers(self, block, case=None):
        return list(OrderedDict.fromkeys(s for (b, c, s) in self.groups if b == block and (case is None or c == case)))

    def stat(self, block, case, server, metric):
        return Stat([r.get(metric) for r in self.groups.get((block, case, server), [])])

    def metrics(self, block):
        seen = OrderedDict()
        for (b, _, _), rows in self.groups.items():
            if b != block:
                continue
            for r in rows:
                for k, v in r.items():
                    if k not in ('block', 'case', 'server', 'run') and isinstance(v, (int, float)) and not isinstance(v, bool):
                        seen[k] = True
        return list(seen)

    def ratio(self, block, case, a, b, metric):
        """Median over runs of the per-run ratio a/b (runs are interleaved, so run k of a and run
        k of b saw the same load), with its min-max."""
        ra = {r.get('run'): r.get(metric) for r in self.groups.get((block, case, a), [])}
        rb = {r.get('run'): r.get(metric) for r in self.groups.get((block, case, b), [])}
        vals = [ra[k] / rb[k] for k in ra if k in rb and isinstance(ra[k], (int, float)) and isinstance(rb[k], (int, float)) and rb[k]]
        return Stat(vals)


# ----------------------------------------------------------------------------- placements

# The end of a case name measured with wrk on CPU 0 and the servers on the other cores (the
# bench scripts' PLACEMENT=split); other cases ran with everything on all cores.
PLACED = ', wrk on its own core'
SHARED = ', shared cores'


def placement_label(case):
    """' (wrk on its own core)' or ' (shared cores)' from a case name's end; '' when it does not
    say (results from before both placements were measured)."""
    if case.endswith(PLACED):
        return ' (wrk on its own core)'
    return ' (shared cores)' if case.endswith(SHARED) else ''


def placement_note(R):
    """Why both placements are measured, with the edge/Varnish figures of this run's shared-core
    hits (req/s, CPU per request, and how many connections wrk's latency clock held)."""
    text = ('**CPU placement.** Origin and edge figures are measured twice: with wrk and the servers sharing '
            'every core, as the kernel schedules them, and with wrk on CPU 0 and every server started on the other '
            'cores (`PLACEMENT=split`; the servers size themselves for those cores). On shared cores the latency wrk '
            'reports depends on how the kernel interleaves wrk with the server\'s threads, not only on the server\'s '
            'work. wrk\'s clock runs from writing a request to reading the end of its response; *in window* '
            '(req/s × mean latency) estimates how many of the connections are on that clock at a time.')
    shared = next((c for c in R.cases('edge_hits') if c.endswith(SHARED)), None)
    if shared is not None:
        def med(server, metric):
            return R.stat('edge_hits', shared, server, metric).median
        figures = [med(s, m) for s in ('edge', 'varnish') for m in ('in_window', 'cpu_ms_per_req')]
        if None not in figures:
            e_win, e_cpu, v_win, v_cpu = figures
            text += (f' In this run, for edge hits on shared cores, the edge served {R.ratio("edge_hits", shared, "edge", "varnish", "rps").fmt(2, "×")} '
                     f'Varnish\'s req/s with {num(e_cpu, 3)} against {num(v_cpu, 3)} CPU ms per request, yet {num(e_win, 0)} '
                     f'connections were on the clock with the edge against {num(v_win, 0)} with Varnish: with Varnish, whose '
                     'hundreds of threads answer each request as soon as the kernel wakes them, more of the cycle passes in '
                     'wrk between one response and the next request, off the clock.')
    return text + (' With wrk on its own core the queue stays on the server\'s side for every server. *in window* is '
                   'only indicative: wrk\'s accounting lets it pass the number of connections when latencies have long '
                   'tails (Varnish on one core).')


# ----------------------------------------------------------------------------- headline goals

def goal_rows(R):
    """(what, figure, goal, met) — met is True/False/None (no goal, or not measured)."""
    out = []

    def add(what, st, goal, cmp, note=''):
        if st.median is None:
            out.append((what, 'not measured', goal, None))
            return
        met = None if cmp is None else cmp(st.median)
        out.append((what, st.fmt(2, '×') + (f' {note}' if note else ''), goal, met))

    # Each HTTP comparison may be measured in two CPU placements (see placement_note): the case
    # names end in PLACED for the load generator on its own core; both get goal rows.
    origin_suffixes = [sfx for sfx in ('', PLACED) if f'seg1m.m4s{sfx}' in R.cases('origin')] or ['']
    for sfx in origin_suffixes:
        where = placement_label(sfx) or (' (shared cores)' if len(origin_suffixes) > 1 else '')
        for case, label in (('seg1m.m4s', '1 MiB segment'), ('seg4m.m4s', '4 MiB segment')):
            case += sfx
            add(f'Origin vs nginx, {label}{where}: req/s', R.ratio('origin', case, 'origin', 'nginx', 'rps'), '≥ 1.0×', lambda v: v >= 1.0)
            add(f'Origin vs nginx, {label}{where}: p99', R.ratio('origin', case, 'origin', 'nginx', 'p99_ms'), '≤ 1.0×', lambda v: v <= 1.0)
            add(f'Origin vs nginx, {label}{where}: CPU s per GB', R.ratio('origin', case, 'origin', 'nginx', 'cpu_s_per_gb'), '< 1.0×', lambda v: v < 1.0)
        add(f'Origin vs nginx, MPD{where}: req/s', R.ratio('origin', 'manifest.mpd' + sfx, 'origin', 'nginx', 'rps'), '(no goal)', None)
    for hit_case in R.cases('edge_hits'):
        where = placement_label(hit_case)
        add(f'Edge vs Varnish, cache hits{where}: req/s', R.ratio('edge_hits', hit_case, 'edge', 'varnish', 'rps'), '≥ 1.0×', lambda v: v >= 1.0)
        add(f'Edge vs Varnish, cache hits{where}: p99', R.ratio('edge_hits', hit_case, 'edge', 'varnish', 'p99_ms'), '≤ 1.0×', lambda v: v <= 1.0)
        add(f'Edge vs nginx proxy_cache, cache hits{where}: req/s', R.ratio('edge_hits', hit_case, 'edge', 'nginx', 'rps'), '(no goal)', None)
    if not R.cases('edge_hits'):
        add('Edge vs Varnish, cache hits', Stat([]), '≥ 1.0× req/s, p99 ≤', None)
    dns_case = next(iter(R.cases('dns')), None)
    add('Redirector vs Knot + geoip: DNS queries/s', R.ratio('dns', dns_case, 'redirector', 'knot', 'qps') if dns_case else Stat([]), '≥ 1.0×', lambda v: v >= 1.0)
    add('Redirector vs Knot + geoip: server CPU per query', R.ratio('dns', dns_case, 'redirector', 'knot', 'cpu_us_per_query') if dns_case else Stat([]), '(no goal)', None)
    for case in R.cases('packager'):
        add(f'Packager vs Shaka Packager, {case} input: wall time', R.ratio('packager', case, 'dashcdn', 'shaka', 'wall_s'), '≤ 0.2×', lambda v: v <= 0.2)
    if not R.cases('packager'):
        add('Packager vs Shaka Packager: wall time', Stat([]), '≤ 0.2×', None)
    return out


# ----------------------------------------------------------------------------- sections

def md_table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(lines)


LABELS = {
    'rps': 'req/s', 'qps': 'queries/s', 'p50_ms': 'p50 ms', 'p99_ms': 'p99 ms', 'cpu_s_per_gb': 'CPU s/GB',
    'wall_s': 'wall s', 'cpu_s': 'CPU s', 'rss_mib': 'peak RSS MiB', 'cpu_us_per_query': 'CPU µs/query', 'playbacks_per_s': 'playbacks/s',
    'secs': 's', 'hit_ratio': 'hit ratio', 'byte_hit_ratio': 'byte hit ratio', 'origin_bytes': 'origin bytes',
    'upstream': 'upstream requests', 'cpu_ms_per_req': 'CPU ms/request', 'object_bytes': 'object bytes', 'upstream_requests': 'origin requests', 'self_hit_ratio': 'own header hit ratio',
    'in_window': 'in window', 'mean_ms': 'mean ms', 'wrk_cpu_ms_per_req': 'wrk ms/req',
    'cache_bytes_peak': 'cache bytes peak', 'cache_bytes_end': 'cache bytes end', 'warm_p50_ms': 'warm p50 ms', 'one_fetch_ms': '1 origin fetch ms',
}
SKIP = {'size_bytes', 'conns', 'input_mb', 'playbacks', 'cores', 'load1', 'duration_s', 'threads'}


def block_table(R, block, metrics=None, ref=None, ratio_metrics=()):
    """One row per (case, server): median (min–max) of each metric; with `ref`, a column per
    ratio metric: this server / ref server (per-run ratios, median)."""
    metrics = metrics or [m for m in R.metrics(block) if m not in SKIP]
    header = ['case', 'server'] + [LABELS.get(m, m) for m in metrics] + [f'{LABELS.get(m, m)} / {ref}' for m in ratio_metrics]
    rows = []
    for case in R.cases(block):
        for server in R.servers(block, case):
            runs = len(R.groups[(block, case, server)])
            row = [case, f'{server} ×{runs}' if runs > 1 else server]
            row += [R.stat(block, case, server, m).fmt() for m in metrics]
            for m in ratio_metrics:
                row.append('' if server == ref else R.ratio(block, case, server, ref, m).fmt(2))
            rows.append(row)
    return md_table(header, rows) if rows else '_no results_'


def block_meta(R, name):
    b = R.blocks.get(name)
    if not b:
        return '_not run_'
    s = f"load average before {b['load_before'][0]:.2f} / after {b['load_after'][0]:.2f} (1-min), {b['secs']:.0f} s"
    if b.get('note'):
        s += f" — {b['note']}"
    if b.get('rc'):
        s += f" — **the block failed (exit {b['rc']})**: figures below are partial"
    return s


def noisy_note(R, block):
    bad = []
    for (b, case, server), rows in R.groups.items():
        if b != block:
            continue
        for m in R.metrics(block):
            st = R.stat(block, case, server, m)
            if st.noisy and m not in SKIP:
                bad.append(f'{server} {case} {LABELS.get(m, m)} ±{st.spread * 50:.0f} %')
    return ('Noisy (min–max range above 10 % of the median; ± is half the range): ' + '; '.join(bad[:12]) + ('…' if len(bad) > 12 else '') + '.') if bad else 'No figure spread more than 10 % of its median.'


# ----------------------------------------------------------------------------- plots

def plots(R, outdir):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    os.makedirs(outdir, exist_ok=True)
    made = {}
    colours = {'origin': '#1f77b4', 'edge': '#1f77b4', 'dashcdn': '#1f77b4', 'redirector': '#1f77b4',
               'nginx': '#2ca02c', 'varnish': '#d62728', 'knot': '#9467bd', 'shaka': '#ff7f0e'}

    def bars(ax, block, cases, servers, metric, log=False):
        width = 0.8 / max(1, len(servers))
        for i, s in enumerate(servers):
            xs, ys, lo, hi = [], [], [], []
            for j, c in enumerate(cases):
                st = R.stat(block, c, s, metric)
                if st.median is None:
                    continue
                xs.append(j + (i - (len(servers) - 1) / 2) * width)
                ys.append(st.median)
                lo.append(st.median - st.lo)
                hi.append(st.hi - st.median)
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=s, color=colours.get(s.split('-')[0]))
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels(cases, fontsize=8)
        ax.set_ylabel(LABELS.get(metric, metric))
        if log:
            ax.set_yscale('log')
        ax.legend(fontsize=8, loc='center left', bbox_to_anchor=(1.0, 0.5))
        ax.grid(axis='y', alpha=0.3)

    def save(fig, name, what):
        fig.tight_layout()
        path = os.path.join(outdir, name)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made[name] = what

    if R.cases('origin'):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        servers = R.servers('origin')
        for ax, m in zip(axes, ('rps', 'p99_ms', 'cpu_s_per_gb')):
            bars(ax, 'origin', R.cases('origin'), servers, m, log=(m == 'rps'))
        fig.suptitle('Origin vs nginx (wrk -c64; bars: median, whiskers: min–max over runs)', fontsize=10)
        save(fig, 'origin.png', 'origin vs nginx')
    if R.cases('edge_hits'):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for ax, m in zip(axes, ('rps', 'p50_ms', 'p99_ms')):
            bars(ax, 'edge_hits', R.cases('edge_hits'), R.servers('edge_hits'), m)
        fig.suptitle('Cache hits: edge vs Varnish vs nginx proxy_cache', fontsize=10)
        save(fig, 'edge_hits.png', 'edge hits')
    if R.cases('edge_zipf'):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        for ax, m in zip(axes, ('hit_ratio', 'byte_hit_ratio')):
            bars(ax, 'edge_zipf', R.cases('edge_zipf'), R.servers('edge_zipf'), m)
        fig.suptitle('Zipf workload, memory budget 10 % of the working set', fontsize=10)
        save(fig, 'edge_zipf.png', 'Zipf hit ratios')
    if R.cases('packager'):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        for ax, m in zip(axes, ('wall_s', 'rss_mib')):
            bars(ax, 'packager', R.cases('packager'), R.servers('packager'), m, log=(m == 'wall_s'))
        fig.suptitle('dashcdn package vs Shaka Packager', fontsize=10)
        save(fig, 'packager.png', 'packager')
    if R.cases('sim_abr'):
        case = R.cases('sim_abr')[0]
        algs = R.servers('sim_abr', case)
        fig, ax = plt.subplots(figsize=(11, 3.8))
        ys = [R.stat('sim_abr', case, a, 'playbacks_per_s').median for a in algs]
        ax.bar(range(len(algs)), ys, color='#1f77b4', label='dashcdn player (Rust)')
        py = {'bba': 'python-bb', 'robustmpc': 'python-robustmpc'}
        for i, a in enumerate(algs):
            if a in py and R.cases('sim_python'):
                st = R.stat('sim_python', R.cases('sim_python')[0], py[a], 'playbacks_per_s')
                if st.median:
                    ax.bar(i + 0.3, st.median, 0.35, color='#ff7f0e', label='Python (same model)' if a == 'bba' else None)
        ax.set_xticks(range(len(algs)))
        ax.set_xticklabels(algs, rotation=30, fontsize=8)
        ax.set_yscale('log')
        ax.set_ylabel('playbacks/s, 1 thread')
        ax.legend(fontsize=8)
        ax.grid(axis='y', alpha=0.3)
        ax.set_title('Simulator: HSDPA playbacks per second per algorithm', fontsize=10)
        save(fig, 'sim.png', 'simulator speed')
    sw = sorted(R.groups.get(('swarm', R.cases('swarm')[0], 'dashcdn'), []) if R.cases('swarm') else [], key=lambda r: r['players'])
    if sw:
        fig, ax = plt.subplots(figsize=(8, 3.6))
        n = [r['players'] for r in sw]
        ax.plot(n, [r['cdn_cores'] for r in sw], 'o-', label='CDN cores used')
        ax.plot(n, [r['players_cores'] for r in sw], 's--', label='player swarm cores used')
        ax.set_xlabel('players')
        ax.set_ylabel('cores (CPU s / wall s)')
        ax2 = ax.twinx()
        ax2.plot(n, [100 * r['rebuffer_ratio_mean'] for r in sw], 'r^:', label='mean rebuffer %')
        ax2.set_ylabel('rebuffer %', color='r')
        ax.legend(fontsize=8, loc='upper left')
        ax.grid(alpha=0.3)
        ax.set_title('Swarm through the local CDN', fontsize=10)
        save(fig, 'swarm.png', 'swarm capacity')
    return made


# ----------------------------------------------------------------------------- document

def render(R, plot_files, plots_rel):
    m = R.machine
    v = m.get('versions', {})
    L = []
    L.append('# dashcdn proof suite — report')
    L.append('')
    L.append('Generated by `bench/run` (run by hand, not in CI; `bench/run --help`) from '
             '`bench/REPORT.jsonl` (the run\'s raw results, one JSON line per measurement); every figure below is computed from that file by '
             '`bench/report.py`. Medians over runs, with (min–max); ⚠ marks a spread above 10 % of the '
             'median. Ratios are medians of per-run ratios: the servers of one block run interleaved, '
             'so run *k* of each saw the same load.')
    L.append('')
    if m.get('quick'):
        L.append('> **Quick run** (`--quick`: one short run per figure). It checks the pipeline; do not quote these figures.')
        L.append('')
    L.append(f"- **Run**: {m.get('date_utc', '?')}, commit `{m.get('commit', '?')}`{' (with uncommitted changes)' if m.get('dirty') else ''}")
    L.append(f"- **Machine**: {m.get('cores', '?')} cores ({m.get('cpu', '?')}), {m.get('mem_gib', '?')} GiB, {m.get('os', '?')}, Linux {m.get('kernel', '?')}; everything on loopback, servers and load generators sharing the same cores except in the rows marked *wrk on its own core*")
    L.append(f"- **Peers**: nginx {v.get('nginx', '?')}, Varnish {v.get('varnish', '?')}, Knot {v.get('knot', '?')}, Shaka Packager {shaka_version(R)}; tools: wrk {v.get('wrk', '?')}, dnsperf {v.get('dnsperf', '?')}, rustc {m.get('tools', v).get('rustc', '?')} (Debian package versions)")
    total = sum(b.get('secs', 0) for b in R.blocks.values())
    per_block = ', '.join('%s %.0f s' % (k, b['secs']) for k, b in R.blocks.items())
    L.append(f'- **Blocks**: {per_block} (total {total / 60:.1f} min)')
    L.append('')
    L.append('## Headline: the performance goals')
    L.append('')
    rows = goal_rows(R)
    L.append(md_table(['what (dashcdn / peer)', 'ratio, median (min–max)', 'goal', 'met'],
                      [(w, f, g, {True: '✅ yes', False: '❌ no', None: ''}[met]) for w, f, g, met in rows]))
    L.append('')
    for w, f, g, met in rows:
        if met is False:
            L.append(f'- Not met: {w} = {f} (goal {g}).')
    L.append('')

    def section(title, blockname, body, plot=None):
        L.append(f'## {title}')
        L.append('')
        L.append(block_meta(R, blockname))
        L.append('')
        L.extend(body)
        if plot and plot in plot_files:
            L.append('')
            L.append(f'![{plot_files[plot]}]({plots_rel}/{plot})')
        L.append('')

    section('Origin vs nginx', 'origin', [
        'Command: `origin/bench/origin_vs_nginx.sh` (`dashcdn origin` and Debian\'s nginx with sendfile, '
        'tcp_nopush, open_file_cache, one worker per core, on the same content directory; wrk -t2 -c64, 10 s after a '
        '2 s warm-up, 3 interleaved runs; once on shared cores, then with `PLACEMENT=split`, see the CPU placement '
        'note under the edge). CPU s/GB: user + system seconds of the server (and nginx\'s workers) from '
        '/proc per 10⁹ body bytes served.',
        '',
        block_table(R, 'origin', ['rps', 'p50_ms', 'p99_ms', 'cpu_s_per_gb'], ref='nginx', ratio_metrics=('rps', 'p99_ms', 'cpu_s_per_gb')),
        '', noisy_note(R, 'origin')], 'origin.png')
    section('Edge vs Varnish and nginx proxy_cache', 'edge', [
        'Command: `edge/bench/edge_vs_varnish_nginx.sh` (the same objects behind the same slow-first-byte origin proxy; '
        'hits: wrk -t2 -c64 over 20 warm objects of 100 KB–2 MB, in both CPU placements, interleaved; cold bursts: N concurrent clients for one uncached '
        'object, upstream requests counted at the origin proxy).',
        '', placement_note(R), '',
        '**Hits**', '',
        block_table(R, 'edge_hits', ref='varnish', ratio_metrics=('rps', 'p99_ms')),
        '', '**Cold bursts**', '',
        block_table(R, 'edge_burst'),
        '', noisy_note(R, 'edge_hits')], 'edge_hits.png')
    section('Edge under a Zipf workload with a 10 % budget', 'zipf', [
        'Command: `edge/bench/zipf_budget.sh` (one seeded Zipf request sequence replayed against each cache, each '
        'started empty with a memory budget of 10 % of the working set; hit ratios from the upstream counter).',
        '',
        block_table(R, 'edge_zipf', ['hit_ratio', 'byte_hit_ratio', 'upstream_requests', 'origin_bytes', 'self_hit_ratio',
                                     'cache_bytes_peak', 'cache_bytes_end', 'rps']),
        ''] + zipf_notes(R), 'edge_zipf.png')
    section('Redirector vs Knot + mod-geoip', 'dns', [
        'Command: `redirector/bench/bench.sh 10 3` (dnsperf, 4 clients, ECS on every query, the same 2,003 subnets '
        'in both servers; the two servers alternate each round; HTTP 302 with wrk -t2 -c64).',
        '',
        block_table(R, 'dns', ['qps', 'cpu_us_per_query'], ref='knot', ratio_metrics=('qps', 'cpu_us_per_query')),
        '',
        block_table(R, 'http302'),
        '', noisy_note(R, 'dns')])
    section('Packager vs Shaka Packager', 'packager', [
        'Command: `media/bench/vs_shaka.sh` (1080p30 H.264 + AAC: 2 minutes, the same 4×, and 2 hours; both '
        'packagers alternate, 3 runs each; wall, user + system CPU and peak RSS from wait4).',
        '',
        block_table(R, 'packager', ['wall_s', 'cpu_s', 'rss_mib'], ref='shaka', ratio_metrics=('wall_s', 'rss_mib')),
        '', noisy_note(R, 'packager')], 'packager.png')
    sim = ['Commands: `cargo run --release -p player-sim --example per_abr` (each built-in algorithm over the 142 '
           'HSDPA traces, Pensieve model, one thread, repeated for ≥ 0.3 s), `bench/study_time.sh` (the README\'s full '
           'study, all algorithms, both cores, outputs and plots written), `bench/sim_python.py`.',
           '',
           'Sabre\'s and Pensieve\'s own simulators are published on GitHub only, which this machine cannot reach, '
           'so they do not run here. The Python rows are the stand-in: `player-sim/tests/reference/reference.py`, an '
           'independent Python transcription of the same two models (the compatibility tests check it decision for '
           'decision against `dashcdn player`), with its environment and planner written the way `fixed_env.py` and '
           '`mpc.py` are; Python robustMPC plays the first 8 traces only (seconds per trace).',
           '',
           block_table(R, 'sim_abr', ['playbacks_per_s', 'mean_qoe']),
           '',
           block_table(R, 'sim_python', ['playbacks_per_s']),
           '']
    for a, p in (('bba', 'python-bb'), ('robustmpc', 'python-robustmpc')):
        ca, cp = next(iter(R.cases('sim_abr')), None), next(iter(R.cases('sim_python')), None)
        if ca and cp:
            x, y = R.stat('sim_abr', ca, a, 'playbacks_per_s'), R.stat('sim_python', cp, p, 'playbacks_per_s')
            if x.median and y.median:
                sim.append(f'- {a}: dashcdn {num(x.median)} playbacks/s vs Python {num(y.median)}: **{x.median / y.median:,.0f}×**.')
    st_case = next(iter(R.cases('sim_study')), None)
    if st_case:
        st = R.stat('sim_study', st_case, 'dashcdn', 'secs')
        n = R.stat('sim_study', st_case, 'dashcdn', 'playbacks')
        sim.append(f'- The full HSDPA study ({num(n.median)} playbacks, outputs written): {st.fmt(2)} s.')
    section('Simulator', 'sim', sim, 'sim.png')
    sw = sorted(R.groups.get(('swarm', R.cases('swarm')[0], 'dashcdn'), []) if R.cases('swarm') else [], key=lambda r: r['players'])
    body = ['Command: `bench/swarm_capacity.sh` (scripts/swarm.sh: an origin, two edges and the redirector\'s 302 on '
            'loopback; real `dashcdn player swarm` players in real time, arriving over 10 s, 8 titles Zipf 0.8, 40 s '
            'each with an 8 s buffer, BOLA-E, unshaped; one run per step). Cores = CPU seconds / wall seconds of the '
            'swarm; players per CDN core = peak concurrent players / CDN cores used. QoE bar: no failed player and mean '
            'rebuffer ratio below 1 %.', '']
    if sw:
        body.append(md_table(['players', 'ok / failed', 'peak concurrent', 'rebuffer mean / p90', 'bitrate kbps', 'startup s',
                              'CDN cores', 'player cores', 'players per CDN core', 'hit ratio', 'meets QoE'],
                             [(r['players'], f"{r['players_ok']} / {r['players_failed']}", r['peak_concurrent'],
                               f"{100 * r['rebuffer_ratio_mean']:.2f} % / {100 * (r.get('rebuffer_ratio_p90') or 0):.2f} %",
                               num(r['bitrate_kbps_mean']), num(r['startup_s_mean']), num(r['cdn_cores']), num(r['players_cores']),
                               num(r['players_per_cdn_core']), num(r['hit_ratio_players']), '✅' if r['meets_qoe'] else '❌') for r in sw]))
        ok = [r for r in sw if r['meets_qoe']]
        if ok:
            best = max(ok, key=lambda r: r['players'])
            body += ['', f"Largest step meeting the QoE bar: **{best['players']} players** on {m.get('cores', '?')} cores shared with "
                     f"the players themselves; the CDN used {num(best['cdn_cores'])} cores for them, "
                     f"**{num(best['players_per_cdn_core'])} players per CDN core**."]
    else:
        body.append('_no results_')
    section('Swarm through the local CDN', 'swarm', body, 'swarm.png')
    return '\n'.join(L).rstrip() + '\n'


def zipf_notes(R):
    """What the Zipf table needs said: the floor, S3-FIFO vs LRU, live vs simulated, and the
    budget each peer actually kept (nginx enforces max_size asynchronously)."""
    out = []
    for case in R.cases('edge_zipf'):
        rows = {s: R.groups[('edge_zipf', case, s)][0] for s in R.servers('edge_zipf', case)}
        any_row = next(iter(rows.values()))
        if 'max_hit_ratio' in any_row:
            out.append(f"- Compulsory-miss floor: no cache can exceed a hit ratio of {any_row['max_hit_ratio']:.3f} "
                       f"(byte {any_row.get('max_byte_hit_ratio', 0):.3f}) on this sequence; budget "
                       f"{any_row.get('budget_bytes', 0) / 1e6:.1f} MB of a {any_row.get('working_set_bytes', 0) / 1e6:.1f} MB working set.")
        s3, lru = rows.get('edge-s3fifo'), rows.get('edge-lru')
        if s3 and lru and lru.get('origin_bytes'):
            out.append(f"- S3-FIFO vs LRU in the live edge: hit ratio {s3['hit_ratio']:.3f} vs {lru['hit_ratio']:.3f}; "
                       f"origin bytes {100 * (1 - s3['origin_bytes'] / lru['origin_bytes']):.0f} % fewer.")
        for live, sim in (('edge-s3fifo', 'sim-s3fifo'), ('edge-lru', 'sim-lru')):
            if live in rows and sim in rows:
                out.append(f"- {live} live {rows[live]['hit_ratio']:.3f} vs the in-process simulation of the same policy code "
                           f"{rows[sim]['hit_ratio']:.3f} (the live edge coalesces concurrent misses for one object).")
        ng = rows.get('nginx')
        if ng and ng.get('cache_bytes_peak') and ng.get('budget_bytes'):
            out.append(f"- nginx is not held to its budget: its cache manager enforces `max_size` asynchronously (a pass "
                       f"that finds the cache under the limit sleeps ~10 s), so its cache peaked at "
                       f"{ng['cache_bytes_peak'] / ng['budget_bytes']:.1f}× the budget (mean "
                       f"{ng.get('cache_bytes_mean', 0) / ng['budget_bytes']:.1f}×); its hit ratio is that larger cache's, "
                       f"not a like-for-like figure.")
        if 'varnish' in rows:
            out.append('- Varnish runs with its defaults: its LRU moves a hit object to the front at most once per '
                       '`lru_interval` (2 s), which costs it hit ratio here; with `VARNISH_PARAMS="-p lru_interval=0"` '
                       'it matched the edge\'s LRU in edge/bench/RESULTS.md.')
    return out


def shaka_version(R):
    for (b, c, s), rows in R.groups.items():
        if b == 'packager' and s == 'shaka':
            return rows[0].get('version', '?')
    return '?'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('results')
    ap.add_argument('--out', required=True)
    ap.add_argument('--plots', required=True)
    a = ap.parse_args()
    R = Results(load(a.results))
    try:
        made = plots(R, a.plots)
    except ImportError as e:
        print(f'no plots ({e}): install python3-matplotlib', file=sys.stderr)
        made = {}
    rel = os.path.relpath(a.plots, os.path.dirname(os.path.abspath(a.out)))
    with open(a.out, 'w') as f:
        f.write(render(R, made, rel))
    print(f'wrote {a.out} and {len(made)} plots in {a.plots}')
    print()
    print('Headline (dashcdn / peer, medians of per-run ratios):')
    for w, fig, g, met in goal_rows(R):
        mark = {True: 'met', False: 'NOT MET', None: ''}[met]
        print(f'  {w:<58} {fig:<28} goal {g:<10} {mark}')


if __name__ == '__main__':
    main()
