"""The dashcdn ABR plug-in protocol (version 1) in Python: write a `decide` function, call `run`.

    # my_abr.py -- run with: dashcdn player study ... --abr 'bba,plugin:python3 my_abr.py'
    from dashcdn_abr import run

    def decide(s, m):
        # s: the playback (s.bitrates_kbps, s.segment_ms, s.segments, s.model, s.sizes_bits, ...)
        # m: this request (m["index"], m["buffer_ms"], m["last_quality"], m["throughput_kbps"], ...)
        return 0 if m["buffer_ms"] < 10000 else s.levels - 1

    run(decide)

The full protocol is documented in player-sim/src/abr/plugin.rs. This module reads one JSON line
per message from stdin, calls your functions and writes the answers to stdout (so print your
debugging to stderr). One process serves many playbacks in turn; `s` is new for each, and
`s.state` is a dict for your per-playback state. An exception in your code fails only that
playback (its message is reported by dashcdn) and the process goes on with the next one.
"""

import json
import sys
import traceback

VERSION = 1


class Session:
    """One playback: the fields of the `start` message as attributes, plus `state` (a dict)."""

    def __init__(self, msg):
        self.model = msg["model"]  # "sabre", "pensieve" or "generic"
        self.sizes = msg["sizes"]  # "exact" (simulator) or "nominal" (play/swarm)
        self.levels = msg["levels"]
        self.bitrates_kbps = msg["bitrates_kbps"]
        self.segment_ms = msg["segment_ms"]
        self.segments = msg["segments"]
        self.buffer_max_ms = msg["buffer_max_ms"]
        self.sizes_bits = msg["sizes_bits"]  # [segment][quality]
        self.state = {}


def _answer_quality(ans):
    """`decide` may return a quality, a (quality, delay_ms) pair, or a dict."""
    if isinstance(ans, dict):
        return json.dumps(ans)
    if isinstance(ans, tuple):
        q, delay = ans
        return '{"quality":%d,"delay_ms":%r}' % (q, float(delay))
    return '{"quality":%d}' % ans


def run(decide, first_quality=None, on_download=None, on_delay=None, check_abandon=None,
        on_start=None, on_end=None, stdin=sys.stdin, stdout=sys.stdout):
    """Serves the protocol until stdin closes.

    decide(s, m) -> quality | (quality, delay_ms) | dict: the quality of segment m["index"].
    first_quality(s, m) -> quality: segment 0 under the sabre/generic models (default 0).
    on_download(s, r) / on_delay(s, r): the reports (downloads, full-buffer idles), in order,
      just before the request they came with (or at the end of the playback).
    check_abandon(s, m) -> None | quality: during downloads; only asked when given.
    on_start(s) / on_end(s): a playback starts / ends.
    """
    wants = '["abandon"]' if check_abandon else "[]"
    hello = '{"type":"hello","version":%d,"wants":%s}\n' % (VERSION, wants)
    write, flush = stdout.write, stdout.flush
    s = None
    start_error = None
    for line in stdin:
        m = json.loads(line)
        kind = m["type"]
        if kind == "start":
            if m["version"] != VERSION:
                sys.exit("dashcdn_abr: protocol version %r, this module speaks %d"
                         % (m["version"], VERSION))
            s = Session(m)
            start_error = None
            try:
                if on_start:
                    on_start(s)
            except Exception as e:
                start_error = e  # answered at the first request
            write(hello)
            flush()
            continue
        try:
            if start_error is not None:
                e, start_error = start_error, None
                raise e
            for r in m.get("reports", ()):
                if r["type"] == "download":
                    if on_download:
                        on_download(s, r)
                elif on_delay:
                    on_delay(s, r)
            if kind == "end":
                if on_end:
                    on_end(s)
                continue
            if kind == "decide":
                out = _answer_quality(decide(s, m))
            elif kind == "first":
                out = '{"quality":%d}' % (first_quality(s, m) if first_quality else 0)
            elif kind == "abandon":
                to = check_abandon(s, m)
                out = '{"abandon_to":null}' if to is None else '{"abandon_to":%d}' % to
            else:
                out = json.dumps({"error": "unknown message type %r" % kind})
        except Exception as e:
            if kind == "end":
                continue
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            traceback.print_exc(file=sys.stderr)
            out = json.dumps({"error": last})
        write(out + "\n")
        flush()
