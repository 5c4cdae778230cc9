"""The Helm chart lints, renders manifests that Kubernetes and KEDA accept, and cannot drift from
the code: its commands are real ``regtune`` commands, its variables are settings the code reads,
it agrees with the compose file and the image, and its scaler query is the store's."""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from regtune.service.settings import Settings
from regtune.service.store.scheduling.scaling import SCALER_QUERY, scaler_query
from tests.support import ROOT
from tests.test_compose import (
    COMPOSE,
    assert_regtune_command,
    dockerfile_instructions,
    seconds,
)

CHART = ROOT / "deploy" / "helm" / "regtune"
SCHEMAS = Path(__file__).with_name("schemas")
RELEASE = "regtune"
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
KEDA_CRDS = {
    "ScaledObject": "keda.sh_scaledobjects.yaml",
    "TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
}
DATABASE_URL = "postgresql+psycopg://regtune:s3cret-for-tests@db.example:5432/regtune"
VALUE_SETS: dict[str, tuple[str, ...]] = {
    # the chart's defaults plus the one value they cannot have: where the database is
    "defaults": ("--set", f"database.url={DATABASE_URL}"),
    "production": ("-f", str(CHART / "ci" / "production-values.yaml")),
    "no-keda": (
        "--set",
        "database.existingSecret=regtune-db,keda.enabled=false,auth.insecureNoAuth=true",
    ),
}
Manifest = dict[str, Any]


# ---------------------------------------------------------------------------- running helm


def helm_binary() -> str:
    beside = Path(sys.executable).with_name("helm")
    found = str(beside) if beside.exists() else shutil.which("helm")
    assert found, "helm not found: run `make helm` (scripts/install_helm.py)"
    return found


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=60, check=False
    )


def template(*values: str) -> subprocess.CompletedProcess[str]:
    return run_helm("template", RELEASE, str(CHART), "--namespace", "ml", *values)


def manifests(result: subprocess.CompletedProcess[str]) -> list[Manifest]:
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@functools.cache
def rendered(value_set: str) -> tuple[Manifest, ...]:
    return tuple(manifests(template(*VALUE_SETS[value_set])))


def one(docs: tuple[Manifest, ...] | list[Manifest], kind: str, component: str) -> Manifest:
    found = [
        d
        for d in docs
        if d["kind"] == kind and d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    assert len(found) == 1, f"{len(found)} {kind} of {component}"
    return found[0]


def container(workload: Manifest) -> Manifest:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def workloads(docs: tuple[Manifest, ...]) -> dict[str, Manifest]:
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    }


# ---------------------------------------------------------------------------- validating


@functools.cache
def keda_schema(kind: str) -> Manifest:
    """KEDA's CRD schema, made strict as the API server's field validation is: an unknown field
    is an error (a CRD schema only says so through pruning)."""
    crd = yaml.safe_load((SCHEMAS / KEDA_CRDS[kind]).read_text())
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["served"] and v["storage"]]
    assert version["name"] == "v1alpha1"
    return strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))


def strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        for value in schema.values():
            strict(value)
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        for item in schema:
            strict(item)
    return schema


def validate(manifest: Manifest, kubernetes_version: str) -> None:
    """Raise if Kubernetes ``kubernetes_version`` (or KEDA's CRD) would reject ``manifest``."""
    if manifest["apiVersion"].startswith("keda.sh/"):
        assert manifest["apiVersion"] == "keda.sh/v1alpha1", manifest["apiVersion"]
        jsonschema.Draft7Validator(keda_schema(manifest["kind"])).validate(manifest)
    else:
        kubernetes_validate.validate(manifest, kubernetes_version, strict=True)


# ---------------------------------------------------------------------------- lint, render, schemas


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint_is_clean(value_set: str, helm: str) -> None:
    result = run_helm("lint", str(CHART), "--strict", *VALUE_SETS[value_set])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_manifest_validates_strictly(
    value_set: str, kubernetes_version: str, helm: str
) -> None:
    docs = rendered(value_set)
    for manifest in docs:
        validate(manifest, kubernetes_version)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "Job"} <= kinds
    assert ({"ScaledObject", "TriggerAuthentication"} <= kinds) == (value_set != "no-keda")


BROKEN = {
    # the chart's values schema stops these before anything renders
    # a worker beating every 30 s under the API's 20 s grace period: its live trials swept
    "grace-under-three-beats": (
        ("--set", "config.heartbeat_interval=30"),
        "helm",
        "config.grace_period (REGTUNE_GRACE_PERIOD, 20) must be at least 3 × config.heartbeat",
    ),
    "grace-for-workers-only": (
        ("--set", "worker.config.grace_period=60"),
        "helm",
        "worker.config.grace_period: set heartbeat_interval and grace_period in config",
    ),
    "public-url-twice": (
        (
            "--set",
            "api.publicUrl=https://a.example",
            "--set",
            "config.public_url=https://b.example",
        ),
        "helm",
        "config.public_url: the chart sets REGTUNE_PUBLIC_URL itself, from api.publicUrl",
    ),
    "no-auth-as-config": (
        ("--set", "config.insecure_no_auth=true"),
        "helm",
        "config.insecure_no_auth: the chart sets REGTUNE_INSECURE_NO_AUTH itself",
    ),
    "a-misspelt-setting": (
        ("--set", "config.heartbeat_intervall=10"),
        "helm",
        "heartbeat_intervall",
    ),
    "tenant-cap-as-text": (
        ("--set-string", "config.tenant_max_running=many"),
        "helm",
        "tenant_max_running (REGTUNE_TENANT_MAX_RUNNING) must be a whole number of trials, 0 or "
        'more, got "many"',
    ),
    "replicas-as-text": (("--set-string", "api.replicaCount=three"), "helm", "/api/replicaCount"),
    "bad-quantity": (
        ("--set", "worker.resources.limits.memory=lots"),
        "helm",
        "/worker/resources/limits/memory",
    ),
    # passed through as they are: the Kubernetes schema catches them
    "security-context-typo": (
        ("--set", "securityContext.runAsNonroot=true"),
        "kubernetes",
        "runAsNonroot",
    ),
    "affinity-typo": (
        ("--set-json", 'worker.affinity={"nodeAffinity":{"preferredDuringScheduling":[]}}'),
        "kubernetes",
        "preferredDuringScheduling",
    ),
    # and KEDA's CRD these
    "keda-behavior-typo": (
        (
            "--set",
            "keda.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown"
            ".stabilisationWindowSeconds=600",
        ),
        "keda",
        "stabilisationWindowSeconds",
    ),
    "keda-policy-type": (
        (
            "--set-json",
            "keda.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.policies="
            '[{"type":"Pods","value":"one","periodSeconds":60}]',
        ),
        "keda",
        "'one'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_value_fails_validation(case: str, helm: str) -> None:
    extra, layer, fragment = BROKEN[case]
    result = template(*VALUE_SETS["defaults"], *extra)
    if layer == "helm":
        assert result.returncode != 0, f"helm rendered {case}"
        assert fragment in result.stderr, result.stderr
        return
    docs = manifests(result)
    errors: list[str] = []
    for manifest in docs:
        for version in KUBERNETES_VERSIONS:
            try:
                validate(manifest, version)
            except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
                errors.append(f"{manifest['kind']}: {exc}")
    assert errors, f"{case} validated"
    assert all(fragment in e for e in errors), errors
    keda_kinds = {"ScaledObject", "TriggerAuthentication"}
    assert all((e.split(":")[0] in keda_kinds) == (layer == "keda") for e in errors), errors


def test_no_database_fails_with_a_message_naming_the_values(helm: str) -> None:
    result = template()
    assert result.returncode != 0
    assert "database.url" in result.stderr and "database.existingSecret" in result.stderr


# ---------------------------------------------------------------------------- drift from the code


def test_the_values_schema_names_every_setting_and_no_other() -> None:
    """``config`` takes a setting by name; a name that is none (``heartbeat_intervall``) was
    rendered into every pod as a variable nothing reads."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["definitions"]["config"]["propertyNames"]["enum"] == sorted(
        Settings.model_fields
    ), "values.schema.json: config's names differ from service/settings.py's settings"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_containers_run_real_commands_with_real_settings(value_set: str, helm: str) -> None:
    known = {f"REGTUNE_{name.upper()}" for name in Settings.model_fields}
    found = workloads(rendered(value_set))
    assert set(found) == {"api", "worker", "migrate"} | (
        {"dashboard"} if value_set == "production" else set()
    )
    for component, workload in found.items():
        spec = container(workload)
        # no `command`: the image's entrypoint (tini, then regtune) stays, so SIGTERM reaches
        # the worker
        assert "command" not in spec, component
        assert spec["args"][0] == component
        assert_regtune_command(spec["args"])
        names = [e["name"] for e in spec["env"]]
        assert len(names) == len(set(names)), names
        unknown = set(names) - known
        assert not unknown, f"{component}: variables the code does not read: {sorted(unknown)}"
        # and the values given as text are ones the code accepts
        literal = {
            e["name"].removeprefix("REGTUNE_").lower(): e["value"]
            for e in spec["env"]
            if "value" in e
        }
        Settings(**literal)


def compose_services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_chart_agrees_with_compose_and_the_image(helm: str) -> None:
    services = compose_services()
    found = workloads(rendered("production"))
    for component, workload in found.items():
        spec = container(workload)
        assert spec["args"] == services[component]["command"], component
        compose_env = set(services[component].get("environment", {}))
        missing = compose_env - {e["name"] for e in spec["env"]}
        assert not missing, f"{component}: compose sets {sorted(missing)}, the chart does not"
        for port in spec.get("ports", []):
            assert str(port["containerPort"]) == spec["args"][spec["args"].index("--port") + 1]
    defaults = workloads(rendered("defaults"))
    for component in defaults:
        assert container(defaults[component])["args"] == services[component]["command"]
    image = values_file(CHART / "values.yaml")["image"]
    repositories = {"worker": image["repository"]}  # the worker image; the API image elsewhere
    for component, workload in defaults.items():
        compose_image = re.fullmatch(
            r"\$\{REGTUNE_(?:API_)?IMAGE:-(.+):(.+)\}", services[component]["image"]
        )
        assert compose_image, services[component]["image"]
        repository = repositories.get(component, image["apiRepository"])
        assert compose_image.group(1) == repository, component
        assert container(workload)["image"].rsplit(":", 1)[0] == repository, component
    chart = values_file(CHART / "Chart.yaml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"], "the default image tag is the project's"


def test_pods_run_as_the_image_user_with_writable_data(helm: str) -> None:
    instructions = dockerfile_instructions()
    user, group = (int(x) for x in [v for k, v in instructions if k == "USER"][-1].split(":"))
    workdir = [v for k, v in instructions if k == "WORKDIR"][-1]
    artifact_dir = re.search(r"REGTUNE_ARTIFACT_DIR=(\S+)", " ".join(v for _, v in instructions))
    assert artifact_dir
    for value_set in VALUE_SETS:
        for component, workload in workloads(rendered(value_set)).items():
            pod = workload["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsUser"] == user, component
            assert pod["securityContext"]["runAsGroup"] == group, component
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["automountServiceAccountToken"] is False
            spec = container(workload)
            assert spec["securityContext"]["allowPrivilegeEscalation"] is False
            assert spec["resources"]["requests"] and spec["resources"]["limits"], component
            mounts = {m["mountPath"]: m["name"] for m in spec["volumeMounts"]}
            if spec["securityContext"].get("readOnlyRootFilesystem"):
                assert {"/tmp", workdir} <= set(mounts), component
            if value_set == "production":
                assert mounts[artifact_dir.group(1)] == "artifacts", component


def values_file(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity (``4Gi``, ``512Mi``, ``1G``) in MiB."""
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024**2, "K": 1e3 / 2**20}
    units |= {"M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for suffix in sorted(units, key=len, reverse=True):
        if quantity.endswith(suffix):
            return float(quantity.removesuffix(suffix)) * units[suffix]
    return float(quantity) / 2**20


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_a_workers_own_memory_cap_is_under_its_pods_limit(value_set: str, helm: str) -> None:
    """A trial too big fails with MemoryError (counted, retried) before the cgroup's OOM killer
    takes the pod: the worker's cap (REGTUNE_WORKER_MEMORY_MB) is under the container's limit,
    with room for the interpreter and torch."""
    spec = container(workloads(rendered(value_set))["worker"])
    env = {e["name"]: e.get("value") for e in spec["env"]}
    cap = int(env["REGTUNE_WORKER_MEMORY_MB"])
    limit = mebibytes(spec["resources"]["limits"]["memory"])
    assert 0 < cap <= limit - 256, (cap, limit)


def test_shutdown_drains_the_api_and_lets_workers_hand_trials_back(helm: str) -> None:
    default_grace = values_file(CHART / "values.yaml")["worker"]["terminationGracePeriodSeconds"]
    # the chart gives a stopping worker at least as long as compose does
    assert default_grace >= seconds(compose_services()["worker"]["stop_grace_period"])
    production = values_file(CHART / "ci" / "production-values.yaml")
    for value_set, grace in (
        ("defaults", default_grace),
        ("production", production["worker"]["terminationGracePeriodSeconds"]),
    ):
        docs = rendered(value_set)
        api = one(docs, "Deployment", "api")
        probes = container(api)
        assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
        sleep = probes["lifecycle"]["preStop"]["exec"]["command"]
        assert sleep[0] == "sleep" and int(sleep[1]) > 0
        assert api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > int(sleep[1])
        pdb = one(docs, "PodDisruptionBudget", "api")
        assert pdb["spec"]["selector"] == api["spec"]["selector"]

        worker = one(docs, "Deployment", "worker")
        assert "lifecycle" not in container(worker), "a preStop hook eats the grace period"
        assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == grace


def test_migrate_job_is_a_hook_that_runs_after_its_secret(helm: str) -> None:
    docs = rendered("defaults")
    job = one(docs, "Job", "migrate")
    hooks = job["metadata"]["annotations"]
    assert set(hooks["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert container(job)["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    secret = one(docs, "Secret", "secrets")
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == hooks["helm.sh/hook"]
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        hooks["helm.sh/hook-weight"]
    )
    data = secret["stringData"]
    assert data["database-url"] == DATABASE_URL
    # KEDA's scaler (pgx) reads libpq URLs; regtune maps those back to its driver itself
    assert data["scaler-connection"] == DATABASE_URL.replace("+psycopg", "")
    assert len(data["admin-key"]) == 32
    env = {e["name"]: e for e in container(job)["env"]}
    assert env["REGTUNE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": secret["metadata"]["name"],
        "key": "database-url",
    }


def test_existing_secrets_are_used_and_none_is_created(helm: str) -> None:
    docs = rendered("production")
    assert not [d for d in docs if d["kind"] == "Secret"]
    env = {e["name"]: e for e in container(one(docs, "Deployment", "api"))["env"]}
    assert env["REGTUNE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "regtune-db-app",
        "key": "uri",
    }
    assert env["REGTUNE_ADMIN_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "regtune-admin",
        "key": "admin-key",
    }
    worker_env = {e["name"] for e in container(one(docs, "Deployment", "worker"))["env"]}
    assert "REGTUNE_ADMIN_KEY" not in worker_env, "only the API needs the admin key"


def test_dashboard_is_off_by_default_and_cluster_internal_when_on(helm: str) -> None:
    components = {
        d["metadata"]["labels"]["app.kubernetes.io/component"] for d in rendered("defaults")
    }
    assert "dashboard" not in components
    service = one(rendered("production"), "Service", "dashboard")
    assert service["spec"]["type"] == "ClusterIP"
    services = compose_services()
    assert (
        container(one(rendered("production"), "Deployment", "dashboard"))["args"]
        == (services["dashboard"]["command"])
    )


# ---------------------------------------------------------------------------- autoscaling


def test_chart_file_is_the_store_query_byte_for_byte() -> None:
    assert (CHART / "files" / "scaler.sql").read_bytes() == SCALER_QUERY.encode(), (
        "deploy/helm/regtune/files/scaler.sql differs from service/store/scheduling/scaling.py: "
        "run `make chart-sync`"
    )


@pytest.mark.parametrize("value_set", ["defaults", "production"])
def test_scaled_object_runs_the_store_query_on_the_workers(value_set: str, helm: str) -> None:
    docs = rendered(value_set)
    scaled = one(docs, "ScaledObject", "worker")["spec"]
    worker = one(docs, "Deployment", "worker")
    assert "replicas" not in worker["spec"], "KEDA owns the worker count"
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": worker["metadata"]["name"],
    }
    assert scaled["minReplicaCount"] == 0
    assert scaled["maxReplicaCount"] >= 1
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "postgresql"
    assert trigger["metadata"]["query"] == scaler_query("postgresql", tenant_max_running=0)
    assert trigger["metadata"]["targetQueryValue"] == "1", "one trial per worker"
    scale_down = scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert scale_down["stabilizationWindowSeconds"] >= 300
    assert scaled["cooldownPeriod"] >= 300

    auth = one(docs, "TriggerAuthentication", "worker")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "connection"
    url_ref = {e["name"]: e for e in container(worker)["env"]}["REGTUNE_DATABASE_URL"]
    assert ref["name"] == url_ref["valueFrom"]["secretKeyRef"]["name"]


TENANT_CAPS = {
    "config": (("--set", "config.tenant_max_running=3"), 3),
    "worker-config-over-config": (
        ("--set", "config.tenant_max_running=5", "--set", "worker.config.tenant_max_running=2"),
        2,
    ),
    # a component's 0 overrides config's (was: sprig's merge took 0 for unset, and the cap was 5)
    "worker-config-zero-over-config": (
        ("--set", "config.tenant_max_running=5", "--set", "worker.config.tenant_max_running=0"),
        0,
    ),
    "as-a-float": (("--set-json", "config.tenant_max_running=4.0"), 4),
    "api-config-only": (("--set", "api.config.tenant_max_running=4"), 0),
}


@pytest.mark.parametrize("case", sorted(TENANT_CAPS))
def test_the_scaler_keeps_to_the_workers_tenant_cap(case: str, helm: str) -> None:
    """The workers claim under REGTUNE_TENANT_MAX_RUNNING; KEDA binds no parameter, so the chart
    writes the workers' cap into the query (was: the query asked for a tenant's every open slot,
    3 pods for a study of max_parallel 3 under a cap of 1)."""
    extra, cap = TENANT_CAPS[case]
    docs = manifests(template(*VALUE_SETS["defaults"], *extra))
    (trigger,) = one(docs, "ScaledObject", "worker")["spec"]["triggers"]
    assert trigger["metadata"]["query"] == scaler_query("postgresql", tenant_max_running=cap)
    env = {e["name"]: e.get("value") for e in container(one(docs, "Deployment", "worker"))["env"]}
    assert int(env.get("REGTUNE_TENANT_MAX_RUNNING") or 0) == cap


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (("config.warm_up=true", "worker.config.warm_up=false"), "false"),
        (("config.warm_up=false",), "false"),
    ],
)
def test_a_components_config_overrides_the_global_one_with_any_value(
    given: tuple[str, ...], expected: str, helm: str
) -> None:
    """A component's setting wins over ``config``'s, false and 0 too (was: sprig's merge took
    false for unset, and the worker ran with ``config``'s true)."""
    name = given[-1].split("=")[0].split(".")[-1]
    sets = [arg for value in given for arg in ("--set-json", value)]
    docs = manifests(template(*VALUE_SETS["defaults"], *sets))
    env = {e["name"]: e.get("value") for e in container(one(docs, "Deployment", "worker"))["env"]}
    assert env[f"REGTUNE_{name.upper()}"] == expected


def test_without_keda_the_worker_count_is_fixed(helm: str) -> None:
    docs = rendered("no-keda")
    assert one(docs, "Deployment", "worker")["spec"]["replicas"] == 2
    api_env = {e["name"]: e for e in container(one(docs, "Deployment", "api"))["env"]}
    assert api_env["REGTUNE_INSECURE_NO_AUTH"]["value"] == "true"
    assert "REGTUNE_ADMIN_KEY" not in api_env
