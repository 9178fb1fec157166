#!/usr/bin/env python3
"""Independent reference for player-sim's compatibility tests.

Written from ../shared/abr-traces/MODELS.md only (not from the Rust code), in Python so the
float operations are evaluated as the original simulators evaluate them. It computes decision
sequences for:
  * Sabre model, simple download path (-noa), EWMA [3 s, 8 s]: THROUGHPUT (with IBR) and
    BOLA-BASIC (-ab), on a few shared Sabre traces;
  * Pensieve test environment: BB (bb.py) per trace, and robustMPC (mpc.py) over an ordered
    list of traces with its cross-video error history carried (B7.6); fastMPC = the same
    planner without the error discount (predicted = H) and with strict `>` ties (B7.7, the
    deltas of rl_server/mpc_server.py applied to mpc.py's B7.3-B7.5 planner).
Writes tests/fixtures/compat_expected.json. Run from the repository root:
    python3 player-sim/tests/reference/reference.py
"""
import json, math, os, sys

SHARED = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'shared', 'abr-traces')

# ----------------------------------------------------------------------------- Sabre (part A)
def sabre(movie, periods, abr, bmax=25000.0):
    D = movie['segment_duration_ms']; b = movie['bitrates_kbps']
    sizes = movie['segment_sizes_bits']; N = len(sizes); L = len(b)
    net = {'k': 0, 'ttn': periods[0]['duration_ms']}
    def next_period():
        net['k'] += 1
        if net['k'] == len(periods):
            net['k'] = 0
        net['ttn'] = periods[net['k']]['duration_ms']
    def advance(t):
        while t > net['ttn']:
            t -= net['ttn']; next_period()
        net['ttn'] -= t
    def latency():
        units = 1; total = 0
        while units > 0:
            lat = periods[net['k']]['latency_ms']; t = units * lat
            if t <= net['ttn']:
                net['ttn'] -= t; total += t; units = 0
            else:
                total += net['ttn']; units -= net['ttn'] / lat; next_period()
        return total
    def transfer(size):
        total = 0
        while size > 0:
            B = periods[net['k']]['bandwidth_kbps']
            if size <= net['ttn'] * B:
                t = size / B; net['ttn'] -= t; total += t; size = 0
            else:
                total += net['ttn']; size -= net['ttn'] * B; next_period()
        return total
    buf = []; st = {'fcc': 0}
    def level():
        return D * len(buf) - st['fcc']
    def play(t):
        if not buf:
            return
        if st['fcc'] > 0:
            if t + st['fcc'] < D:
                st['fcc'] += t; return
            t -= D - st['fcc']; buf.pop(0); st['fcc'] = 0
        while t > 0 and buf:
            if t >= D:
                buf.pop(0); t -= D
            else:
                st['fcc'] = t; t = 0
    # EWMA (A5.1)
    hs = [3000.0, 8000.0]; hl = [h / D for h in hs]
    T = [0.0, 0.0]; Lt = [0.0, 0.0]; W = {'t': 0.0, 'l': 0.0}; E = {}
    def push(dt, x, l):
        for i in range(2):
            a = math.pow(0.5, dt / hs[i]); T[i] = a * T[i] + (1 - a) * x
            a = math.pow(0.5, 1 / hl[i]); Lt[i] = a * Lt[i] + (1 - a) * l
        W['t'] += dt; W['l'] += 1
        E['tput'] = min(T[i] / (1 - math.pow(0.5, W['t'] / hs[i])) for i in range(2))
        E['lat'] = max(Lt[i] / (1 - math.pow(0.5, W['l'] / hl[i])) for i in range(2))
    def qft(x):
        q = 0
        while q + 1 < L and E['lat'] + D * b[q + 1] / x <= D:
            q += 1
        return q
    # ABRs
    state = {'ibr': 0.9, 'last': 0}
    v = [math.log(x) + -math.log(b[0]) for x in b]; gp = 5.0
    Vp = (bmax - D) / (v[-1] + gp)
    def decide():
        if abr == 'throughput':
            q = qft(E['tput'] * 0.9)
            safe = state['ibr'] * (level() - E['lat']) * E['tput']
            state['ibr'] = max(state['ibr'] * 0.9, 0.5)
            for j in range(q):
                if b[j + 1] * D > safe:
                    q = j; break
            return q
        if abr == 'bola-basic':
            B = level(); q = 0; best = None
            for i in range(L):
                s = (Vp * (v[i] + gp) - B) / b[i]
                if best is None or s > best:
                    best = s; q = i
            if q > state['last']:
                qt = qft(E['tput'])
                if q <= qt: pass
                elif state['last'] > qt: q = state['last']
                else: q = qt + 1
            state['last'] = q
            return q
        raise ValueError(abr)
    # session (A4.3), -noa
    q0 = 0
    ttfb = latency(); t = ttfb + transfer(sizes[0][q0]); buf.append(q0)
    push(t - ttfb, sizes[0][q0] / (t - ttfb), ttfb)
    out = [q0]; nxt = 1
    while nxt < N:
        wait = level() + D - bmax
        if wait > 0:
            play(wait); advance(wait)
        q = decide()
        ttfb = latency(); t = ttfb + transfer(sizes[nxt][q])
        play(t); buf.append(q); nxt += 1
        push(t - ttfb, sizes[nxt - 1][q] / (t - ttfb), ttfb)
        out.append(q)
    return out

# -------------------------------------------------------------------------- Pensieve (part B)
R = [300, 750, 1200, 1850, 2850, 4300]

def load_cooked(path):
    t, bw = [], []
    for line in open(path):
        p = line.split()
        if len(p) < 2: break
        t.append(float(p[0])); bw.append(float(p[1]))
    return t, bw

def load_sizes(d):
    return [[int(l.split()[0]) for l in open(os.path.join(d, 'video_size_%d' % q))] for q in range(6)]

class Env:
    def __init__(self, traces, sizes):
        self.traces = traces; self.sizes = sizes; self.idx = 0
        self.t, self.bw = traces[0]; self.p = 1; self.last = self.t[0]; self.buf = 0.0; self.cnt = 0
    def get(self, q):
        S = self.sizes[q][self.cnt]; delay = 0.0; sent = 0
        while True:
            rate = self.bw[self.p] * 1000000.0 / 8.0
            dur = self.t[self.p] - self.last
            pay = rate * dur * 0.95
            if sent + pay > S:
                frac = (S - sent) / rate / 0.95
                delay += frac; self.last += frac; break
            sent += pay; delay += dur; self.last = self.t[self.p]; self.p += 1
            if self.p >= len(self.bw):
                self.p = 1; self.last = 0
        delay *= 1000.0; delay += 80
        rebuf = max(delay - self.buf, 0.0)
        self.buf = max(self.buf - delay, 0.0) + 4000.0
        if self.buf > 60000.0:
            sleep = math.ceil((self.buf - 60000.0) / 500.0) * 500.0
            self.buf -= sleep
            while True:
                dur = self.t[self.p] - self.last
                if dur > sleep / 1000.0:
                    self.last += sleep / 1000.0; break
                sleep -= dur * 1000.0; self.last = self.t[self.p]; self.p += 1
                if self.p >= len(self.bw):
                    self.p = 1; self.last = 0
        buf_s = self.buf / 1000.0
        self.cnt += 1; remain = 48 - self.cnt; eov = self.cnt >= 48
        if eov:
            self.buf = 0.0; self.cnt = 0; self.idx = (self.idx + 1) % len(self.traces)
            self.t, self.bw = self.traces[self.idx]; self.p = 1; self.last = self.t[0]
        return delay, buf_s, rebuf / 1000.0, S, eov, remain

def bb_run(trace, sizes):
    env = Env([trace], sizes); q = 1; out = []
    while True:
        delay, buf_s, rebuf, S, eov, remain = env.get(q); out.append(q)
        if buf_s < 5: q = 0
        elif buf_s >= 15: q = 5
        else: q = int((6 - 1) * (buf_s - 5) / 10.0)
        if eov: return out

def mpc_run(traces, sizes, robust=True):
    env = Env(traces, sizes); q = last_q = 1
    errors, ests = [], []; hist = [0.0] * 8
    runs, cur = [], []
    import itertools
    plans = list(itertools.product(range(6), repeat=5))
    while len(runs) < len(traces):
        delay, buf_s, rebuf, S, eov, remain = env.get(q); cur.append(q)
        last_q = q
        hist = hist[1:] + [float(S) / float(delay) / 1000.0]
        err = 0
        if ests: err = abs(ests[-1] - hist[-1]) / float(hist[-1])
        errors.append(err)
        win = hist[-5:]
        while win[0] == 0.0: win = win[1:]
        s = 0
        for x in win: s += 1 / float(x)
        H = 1.0 / (s / len(win))
        pos = -5 if len(errors) >= 5 else -len(errors)
        pred = H / (1 + float(max(errors[pos:]))) if robust else H
        ests.append(H)
        n = 48 - remain; h = 5 if 48 - n >= 5 else 48 - n
        best = -100000000; bq = 0
        seen = set()
        for plan in plans:
            pre = plan[:h]
            if pre in seen: continue
            seen.add(pre)
            buf = buf_s; stall = 0.0; rate = 0; sw = 0; prev = last_q
            for j in range(h):
                c = pre[j]
                dt = (sizes[c][n + j + 1] / 1000000.) / pred
                if buf < dt: stall += dt - buf; buf = 0
                else: buf -= dt
                buf += 4
                rate += R[c]; sw += abs(R[c] - R[prev]); prev = c
            val = rate / 1000. - 4.3 * stall - sw / 1000.
            if val > best or (robust and val == best): best = val; bq = pre[0] if h > 0 else 0
        q = bq
        if eov:
            runs.append(cur); cur = []; q = last_q = 1; hist = [0.0] * 8
    return runs

def main():
    out = {'sabre': {}, 'pensieve_bb': {}, 'pensieve_robustmpc': {}, 'pensieve_fastmpc': {}}
    movie = json.load(open(os.path.join(SHARED, 'sabre', 'movie.json')))
    sabre_traces = ['network.json', '3Glogs_every3rd/' + sorted(os.listdir(os.path.join(SHARED, 'sabre', '3Glogs_every3rd')))[0],
                    '4Glogs/' + sorted(os.listdir(os.path.join(SHARED, 'sabre', '4Glogs')))[0],
                    'fcc_sd_first50/' + sorted(os.listdir(os.path.join(SHARED, 'sabre', 'fcc_sd_first50')))[0]]
    for tr in sabre_traces:
        periods = json.load(open(os.path.join(SHARED, 'sabre', tr)))
        for abr in ['throughput', 'bola-basic']:
            out['sabre']['%s|%s' % (tr, abr)] = sabre(movie, periods, abr)
    sizes = load_sizes(os.path.join(SHARED, 'pensieve', 'envivio'))
    names = ['hsdpa_test/norway_bus_1', 'hsdpa_test/norway_car_6', 'hsdpa_test/norway_tram_43', 'hsdpa_test/norway_ferry_14',
             'fcc_test_every6th/' + sorted(os.listdir(os.path.join(SHARED, 'pensieve', 'fcc_test_every6th')))[0]]
    traces = [load_cooked(os.path.join(SHARED, 'pensieve', n)) for n in names]
    for n, t in zip(names, traces):
        out['pensieve_bb'][n] = bb_run(t, sizes)
    for n, r in zip(names, mpc_run(traces, sizes)):
        out['pensieve_robustmpc'][n] = r
    for n, r in zip(names, mpc_run(traces, sizes, robust=False)):
        out['pensieve_fastmpc'][n] = r
    out = {k: {n: ','.join(map(str, seq)) for n, seq in v.items()} for k, v in out.items()}
    path = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'compat_expected.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write('\n')

if __name__ == '__main__':
    main()
