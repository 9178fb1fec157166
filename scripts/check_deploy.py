#!/usr/bin/env python3
"""Keeps the deployment files honest without Docker or Kubernetes (run by test.sh).

    python3 scripts/check_deploy.py [--bin target/debug/dashcdn]

1. Parse: docker-compose.yml and every manifest of deploy/k8s/ (kustomization resources
   exist, every ConfigMap / Secret a pod mounts is defined or generated).
2. Every command is accepted by the binary: each compose service's and each Kubernetes
   container's (init containers too) `dashcdn ...` runs with `--check` appended, which
   validates the configuration and exits. What the container would see at its mount paths
   is written to a temporary root first (ConfigMap keys, a token for Secrets, the compose
   bind mounts, empty dirs for volumes, the image's /usr/share/dashcdn/web = web/), and the
   mount paths in the arguments and in those files are rewritten to it. Kubernetes'
   `$(VAR)` references are expanded (fieldRef values get stand-ins).
3. Ports agree: origin, page, redirector HTTP and DNS listen on the same ports in compose
   (its defaults) and in Kubernetes; every listen port is a declared containerPort (DNS on
   UDP and TCP); every Service and probe port resolves to a containerPort of the pods it
   selects; edges reach the origin and the redirector on ports those actually serve.

Exit status 0 when all checks pass; every failure is printed.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:  # pyenv/venv pythons do not see Debian's python3-yaml
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    sys.exit("check_deploy.py needs PyYAML: apt-get install python3-yaml")

ROOT = Path(__file__).resolve().parent.parent
IMAGE_PATHS = {"/usr/share/dashcdn/web": ROOT / "web"}  # what the Dockerfile puts in the image
STAND_INS = {"metadata.name": "dashcdn-check-pod-0", "status.podIP": "10.0.0.7",
             "status.hostIP": "10.0.0.1", "metadata.namespace": "dashcdn"}

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}")


def ok(msg):
    print(f"ok   {msg}")


# --- compose -----------------------------------------------------------------------------

VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolate(s):
    """`${VAR:-default}` as compose does, with the defaults (the environment is ignored:
    the shipped defaults are what is checked)."""
    return VAR.sub(lambda m: m.group(2) or "", s) if isinstance(s, str) else s


def listen_port(args, flag):
    """The port of `flag ADDR` in args (`ADDR` = ip:port), or None."""
    for i, a in enumerate(args[:-1]):
        if a == flag:
            return int(args[i + 1].rsplit(":", 1)[1])
    return None


def flag_value(args, flag):
    for i, a in enumerate(args[:-1]):
        if a == flag:
            return args[i + 1]
    return None


def role_of(args):
    """origin / page / redirector / edge / package / player."""
    if args and args[0] == "origin" and flag_value(args, "--content") in IMAGE_PATHS:
        return "page"
    return args[0] if args else "?"


def compose_services():
    path = ROOT / "docker-compose.yml"
    doc = yaml.safe_load(path.read_text())
    services = doc.get("services") or {}
    if not services:
        fail("docker-compose.yml: no services")
    ok(f"docker-compose.yml parses: {len(services)} services ({', '.join(services)})")
    secrets = {name: ROOT / interpolate(s["file"]) for name, s in (doc.get("secrets") or {}).items()}
    for name, f in secrets.items():
        if not f.is_file():
            fail(f"docker-compose.yml: secret {name}: {f} does not exist")
    out = []
    for name, svc in services.items():
        args = [interpolate(a) for a in svc.get("command") or []]
        mounts = {}
        for s in svc.get("secrets") or []:
            sname = s if isinstance(s, str) else s["source"]
            target = s.get("target", sname) if isinstance(s, dict) else sname
            mounts[f"/run/secrets/{target}"] = ("file", secrets.get(sname))
        for v in svc.get("volumes") or []:
            src, dst = v.split(":")[:2]
            if src.startswith(".") or src.startswith("/"):
                mounts[dst] = ("file" if (ROOT / src).is_file() else "dir", (ROOT / src).resolve())
            else:
                mounts[dst] = ("empty", None)
        if svc.get("network_mode") != "host":
            fail(f"compose {name}: network_mode is not host (see docs/docker.md)")
        for a in args:
            if re.match(r"^\d+\.\d+\.\d+\.\d+:\d+$", a) and not a.startswith("127."):
                fail(f"compose {name}: listens on {a}, not on loopback")
        out.append((f"compose {name}", args, mounts, {}))
    return out


# --- kubernetes --------------------------------------------------------------------------

def k8s_docs():
    kdir = ROOT / "deploy" / "k8s"
    kust = yaml.safe_load((kdir / "kustomization.yaml").read_text())
    docs = []
    for res in kust.get("resources") or []:
        f = kdir / res
        if not f.is_file():
            fail(f"kustomization.yaml: resource {res} does not exist")
            continue
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                for key in ("apiVersion", "kind", "metadata"):
                    if key not in d:
                        fail(f"{res}: a document without {key}")
                docs.append((res, d))
    listed = set(kust.get("resources") or [])
    for f in sorted(kdir.glob("*.yaml")):
        if f.name != "kustomization.yaml" and f.name not in listed:
            fail(f"deploy/k8s/{f.name} is not in kustomization.yaml resources")
    generated = {g["name"] for g in kust.get("secretGenerator") or []}
    ok(f"deploy/k8s parses: {len(docs)} objects "
       f"({', '.join(sorted({d['kind'] for _, d in docs}))}), secrets generated: {sorted(generated)}")
    return docs, generated


def pod_specs(docs):
    """(object name, pod template labels, pod spec) of every workload."""
    for res, d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            t = d["spec"]["template"]
            yield d["metadata"]["name"], t["metadata"].get("labels") or {}, t["spec"]


def expand_k8s(s, env):
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), s)


def k8s_containers(docs, generated):
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for _, d in docs if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"] for _, d in docs if d["kind"] == "Secret"} | generated
    claims = {d["metadata"]["name"] for _, d in docs if d["kind"] == "PersistentVolumeClaim"}
    out = []
    for wname, _, spec in pod_specs(docs):
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for c in (spec.get("initContainers") or []) + spec["containers"]:
            env = {}
            for e in c.get("env") or []:
                if "value" in e:
                    env[e["name"]] = str(e["value"])
                elif "fieldRef" in e.get("valueFrom", {}):
                    env[e["name"]] = STAND_INS.get(e["valueFrom"]["fieldRef"]["fieldPath"], "x")
            cmd = c.get("command") or ["dashcdn"]
            if cmd != ["dashcdn"]:
                fail(f"k8s {wname}/{c['name']}: command {cmd} (the image's entrypoint is dashcdn)")
            args = [expand_k8s(str(a), env) for a in c.get("args") or []]
            mounts = {}
            for m in c.get("volumeMounts") or []:
                v = volumes.get(m["name"])
                if v is None:
                    fail(f"k8s {wname}/{c['name']}: mounts undefined volume {m['name']}")
                    continue
                if "configMap" in v:
                    name = v["configMap"]["name"]
                    if name not in configmaps:
                        fail(f"k8s {wname}: ConfigMap {name} is not defined")
                    mounts[m["mountPath"]] = ("data", configmaps.get(name, {}))
                elif "secret" in v:
                    name = v["secret"]["secretName"]
                    if name not in secrets:
                        fail(f"k8s {wname}: Secret {name} is neither defined nor generated")
                    mounts[m["mountPath"]] = ("data", {"token": "check-deploy-token"})
                elif "persistentVolumeClaim" in v:
                    if v["persistentVolumeClaim"]["claimName"] not in claims:
                        fail(f"k8s {wname}: PVC {v['persistentVolumeClaim']['claimName']} is not defined")
                    mounts[m["mountPath"]] = ("empty", None)
                else:
                    mounts[m["mountPath"]] = ("empty", None)
            out.append((f"k8s {wname}/{c['name']}", args, mounts, c))
    return out


# --- running the binary with --check -----------------------------------------------------

def materialize(mounts, tmp):
    """Writes each mount under tmp; returns container path -> host path, and rewrites the
    mount paths inside the written files."""
    paths = dict((p, str(h)) for p, h in IMAGE_PATHS.items())
    written = []
    for cpath, (kind, src) in mounts.items():
        host = tmp / cpath.lstrip("/")
        if kind == "file":
            host.parent.mkdir(parents=True, exist_ok=True)
            if src is not None and Path(src).is_file():
                shutil.copy(src, host)
                written.append(host)
        elif kind == "dir":
            shutil.copytree(src, host)
            written.extend(p for p in host.rglob("*") if p.is_file())
        elif kind == "data":
            host.mkdir(parents=True, exist_ok=True)
            for key, text in src.items():
                (host / key).write_text(text)
                written.append(host / key)
        else:
            host.mkdir(parents=True, exist_ok=True)
        paths[cpath] = str(host)
    pattern = re.compile("(" + "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True))
                         + r")(?=/|\"|'|$|\s)", re.M)
    for f in written:
        try:
            f.write_text(pattern.sub(lambda m: paths[m.group(1)], f.read_text()))
        except UnicodeDecodeError:
            pass
    return lambda a: pattern.sub(lambda m: paths[m.group(1)], a)


def check_commands(binary, entries):
    helps = {}

    def has_check(sub):
        """Whether `dashcdn SUB... --help` lists --check."""
        key = tuple(sub)
        if key not in helps:
            h = subprocess.run([binary, *sub, "--help"], capture_output=True, text=True)
            helps[key] = "--check" in h.stdout
        return helps[key]

    for label, args, mounts, _ in entries:
        if not args:
            fail(f"{label}: no command")
            continue
        with tempfile.TemporaryDirectory(prefix="check-deploy-") as t:
            rewrite = materialize(mounts, Path(t))
            run = [rewrite(a) for a in args]
            sub = args[:2] if args[0] == "player" else args[:1]
            if has_check(sub):
                cmd = [binary, *run, "--check"]
            elif args[0] == "package" and flag_value(args, "--out"):
                # `package` has no --check: run it for real into the packaged default
                # test.sh made (DASHCDN_CONTENT), where it is a no-op.
                content = os.environ.get("DASHCDN_CONTENT", "")
                if not Path(content, "default", "manifest.mpd").is_file():
                    print(f"skip {label}: `package` has no --check and DASHCDN_CONTENT is not packaged")
                    continue
                run[run.index("--out") + 1] = content
                cmd = [binary, *run]
            elif args[0] in ("origin", "edge", "redirector"):
                fail(f"{label}: `dashcdn {args[0]}` has no --check (every server role must)")
                continue
            else:
                print(f"skip {label}: `dashcdn {' '.join(sub)}` has no --check")
                continue
            env = {k: v for k, v in os.environ.items() if not k.startswith("DASHCDN_")}
            env["DASHCDN_LOG"] = "warn"
            env["RUST_BACKTRACE"] = "0"
            env["RUST_LIB_BACKTRACE"] = "0"
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)
            except subprocess.TimeoutExpired:
                fail(f"{label}: `{' '.join(args)} --check` did not exit within 30 s")
                continue
            if p.returncode != 0:
                fail(f"{label}: `dashcdn {' '.join(args)}` --check exited {p.returncode}:\n"
                     + (p.stderr or p.stdout).strip())
            else:
                ok(f"{label}: dashcdn {' '.join(args)}" + (" --check" if cmd[-1] == "--check" else " (no-op on packaged content)"))


# --- ports -------------------------------------------------------------------------------

def role_ports(args):
    role = role_of(args)
    if role in ("origin", "page", "edge"):
        return role, {"http": listen_port(args, "--listen")}
    if role == "redirector":
        return role, {"http": listen_port(args, "--http"), "dns": listen_port(args, "--dns")}
    return role, {}


def check_ports(compose, k8s, docs):
    cports, kports = {}, {}
    for label, args, _, _ in compose:
        role, ports = role_ports(args)
        cports.setdefault(role, []).append((label, ports))
    for label, args, _, c in k8s:
        role, ports = role_ports(args)
        kports.setdefault(role, []).append((label, ports))
        declared = {(p["containerPort"], p.get("protocol", "TCP")) for p in c.get("ports") or []}
        for name, port in ports.items():
            if port is None:
                continue
            want = [(port, "UDP"), (port, "TCP")] if name == "dns" else [(port, "TCP")]
            for w in want:
                if w not in declared:
                    fail(f"{label}: listens on {w[1]} {w[0]} ({name}) but declares no such containerPort")
    for role in ("origin", "page", "redirector"):
        seen = {(label, tuple(sorted(p.items()))) for label, p in cports.get(role, []) + kports.get(role, [])}
        values = {v for _, v in seen}
        if not cports.get(role) or not kports.get(role):
            fail(f"ports: role {role} missing in compose or in k8s")
        elif len(values) != 1:
            fail(f"ports: {role} disagrees: " + "; ".join(f"{l} {dict(v)}" for l, v in sorted(seen)))
        else:
            ok(f"ports: {role} {dict(next(iter(values)))} in compose and k8s")
    # Edges: compose replicas bind port 0 (the kernel's choice, announced); k8s pods all one port.
    ce = {p["http"] for _, p in cports.get("edge", [])}
    ke = {p["http"] for _, p in kports.get("edge", [])}
    if ce != {0}:
        fail(f"ports: compose edges must listen on port 0 (announced), got {ce}")
    if len(ke) != 1 or 0 in ke:
        fail(f"ports: k8s edges must share one fixed port, got {ke}")
    else:
        ok(f"ports: edges: compose port 0 (announced bound address), k8s {ke.pop()}")
    # Compose edges talk to the origin and redirector ports the compose file serves.
    origin = cports["origin"][0][1]["http"]
    redir = cports["redirector"][0][1]["http"]
    for label, args, _, _ in compose:
        if role_of(args) == "edge":
            up = flag_value(args, "--upstream") or ""
            ann = flag_value(args, "--announce") or ""
            if not up.endswith(f":{origin}"):
                fail(f"{label}: --upstream {up} is not the origin's port {origin}")
            if not ann.endswith(f":{redir}"):
                fail(f"{label}: --announce {ann} is not the redirector's port {redir}")
    # Kubernetes: Services and probes resolve to containerPorts of the pods they select.
    pods = list(pod_specs(docs))
    services = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "Service"}
    for sname, svc in services.items():
        sel = svc["spec"].get("selector") or {}
        targets = [(w, s) for w, labels, s in pods if sel and all(labels.get(k) == v for k, v in sel.items())]
        if not targets:
            fail(f"k8s Service {sname}: its selector matches no pod template")
        for sp in svc["spec"]["ports"]:
            tp = sp.get("targetPort", sp["port"])
            proto = sp.get("protocol", "TCP")
            for w, spec in targets:
                cps = [p for c in spec["containers"] for p in c.get("ports") or []]
                if not any((p.get("name") == tp or p["containerPort"] == tp) and p.get("protocol", "TCP") == proto
                           for p in cps):
                    fail(f"k8s Service {sname}: port {sp['port']}/{proto} -> {tp}: no such containerPort in {w}")
        ok(f"k8s Service {sname}: " + ", ".join(f"{p['port']}/{p.get('protocol', 'TCP')}->{p.get('targetPort')}"
                                                for p in svc["spec"]["ports"]))
    for w, _, spec in pods:
        for c in spec["containers"]:
            names = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                if port is not None and port not in names and port not in names.values():
                    fail(f"k8s {w}/{c['name']}: {probe} port {port} is not a containerPort")
    # k8s edges reach the origin and the redirector through their Services.
    for label, args, _, _ in k8s:
        if role_of(args) != "edge":
            continue
        for flag in ("--upstream", "--announce"):
            url = flag_value(args, flag) or ""
            m = re.match(r"^https?://([^/:]+)(?::(\d+))?", url)
            if not m or m.group(1) not in services:
                fail(f"{label}: {flag} {url} is not a Service of the manifests")
                continue
            port = int(m.group(2) or 80)
            if not any(p["port"] == port for p in services[m.group(1)]["spec"]["ports"]):
                fail(f"{label}: {flag} {url}: Service {m.group(1)} has no port {port}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=str(ROOT / "target" / "debug" / "dashcdn"))
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"no binary at {a.bin} (cargo build -p dashcdn)")
    compose = compose_services()
    docs, generated = k8s_docs()
    k8s = k8s_containers(docs, generated)
    check_commands(a.bin, compose + k8s)
    check_ports(compose, k8s, docs)
    if failures:
        print(f"\n{len(failures)} check(s) failed")
        sys.exit(1)
    print("\ndeployment files: all checks passed")


if __name__ == "__main__":
    main()
