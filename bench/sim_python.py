#!/usr/bin/env python3
"""Times a Python ABR simulator on the HSDPA study, as the proof suite's stand-in for Sabre's
and Pensieve's own simulators.

Sabre (sabre.py) and Pensieve (sim/fixed_env.py + test/mpc.py) are published on GitHub only;
this machine reaches package registries, not GitHub, so their own code does not run here.
The nearest thing that does is player-sim/tests/reference/reference.py: an independent Python
transcription of the same models (written from ../shared/abr-traces/MODELS.md), which the
compatibility tests already check decision for decision against `dashcdn player`. Its
Pensieve environment and planner are written the way fixed_env.py and mpc.py are (plain Python
loops over the same 7,776 five-chunk plans), so its speed is a fair proxy for theirs.

Prints one JSON line per algorithm and run:
  {"block":"sim_python","server":"python-bb","run":1,"playbacks":142,"secs":...,"playbacks_per_s":...}
BB plays all 142 HSDPA traces; robustMPC plays the first MPC_TRACES (default 8, sorted names)
because the Python planner takes seconds per trace; the report scales playbacks/s, not totals.

  python3 bench/sim_python.py [RUNS]
"""
import importlib.util
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, '..', 'player-sim', 'tests', 'reference', 'reference.py')
spec = importlib.util.spec_from_file_location('reference', REF)
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
mpc_traces = int(os.environ.get('MPC_TRACES', '8'))
pens = os.path.join(ref.SHARED, 'pensieve')
sizes = ref.load_sizes(os.path.join(pens, 'envivio'))
names = sorted(os.listdir(os.path.join(pens, 'hsdpa_test')))
traces = [ref.load_cooked(os.path.join(pens, 'hsdpa_test', n)) for n in names]
case = f'Envivio x HSDPA traces, pensieve model, 1 thread, Python {sys.version.split()[0]}'
for run in range(1, runs + 1):
    t0 = time.perf_counter()
    for t in traces:
        ref.bb_run(t, sizes)
    secs = time.perf_counter() - t0
    print(json.dumps({'block': 'sim_python', 'case': case, 'server': 'python-bb', 'run': run,
                      'playbacks': len(traces), 'secs': round(secs, 6),
                      'playbacks_per_s': round(len(traces) / secs, 2)}), flush=True)
    t0 = time.perf_counter()
    ref.mpc_run(traces[:mpc_traces], sizes, robust=True)
    secs = time.perf_counter() - t0
    print(json.dumps({'block': 'sim_python', 'case': case, 'server': 'python-robustmpc', 'run': run,
                      'playbacks': mpc_traces, 'secs': round(secs, 6),
                      'playbacks_per_s': round(mpc_traces / secs, 3)}), flush=True)
