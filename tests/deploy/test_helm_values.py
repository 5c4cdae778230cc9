"""Values an operator gives the chart: names it makes of them, what it refuses as regtune would
refuse it, what it passes on to the pods and what an upgrade restarts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from regtune.service.settings import PLACEHOLDER_SECRETS, Settings
from tests.deploy.test_helm import (
    CHART,
    DATABASE_URL,
    KUBERNETES_VERSIONS,
    VALUE_SETS,
    container,
    manifests,
    one,
    template,
    validate,
)

DASHBOARD = ("--set", "dashboard.enabled=true")
LAYERS = {
    # the values schema, which helm checks first; then the templates' own check (regtune.validate)
    "schema": (),
    "template": ("--skip-schema-validation",),
}


@pytest.mark.parametrize("length", [53, 56, 62, 63])
def test_a_long_fullname_keeps_every_components_name_apart(length: int, helm: str) -> None:
    """Names are cut to 63 characters by cutting the fullname, not the component's suffix (was:
    a fullnameOverride of 62 or 63 characters named the API, worker, dashboard and migrate
    objects all alike)."""
    fullname = "regtune-" + "x" * (length - len("regtune-"))
    override = ("--set", f"fullnameOverride={fullname}")
    docs = manifests(template(*VALUE_SETS["defaults"], *DASHBOARD, *override))
    names: dict[str, set[str]] = {}
    for doc in docs:
        name = doc["metadata"]["name"]
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        assert len(name) <= 63, name
        if component != "secrets":
            assert name.endswith(f"-{component}"), name
            assert fullname.startswith(name.removesuffix(f"-{component}")), name
        names.setdefault(doc["kind"], set()).add(name)
        for version in KUBERNETES_VERSIONS:
            validate(doc, version)
    kinds = [doc["kind"] for doc in docs]
    assert {kind: len(found) for kind, found in names.items()} == {
        kind: kinds.count(kind) for kind in names
    }, "two objects of one kind share a name"


POSTGRESQL_SCHEMES = (
    "postgres",
    "postgresql",
    "postgresql+psycopg",
    "postgres+psycopg",  # was taken by the chart: SQLAlchemy knows no dialect "postgres"
    "postgresql+psycopg2",
    "postgresql+pg8000",
    "postgresql+asyncpg",
    "POSTGRESQL",
    "postgresql+PSYCOPG",
)


def regtune_takes(url: str) -> bool:
    try:
        Settings(database_url=url)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("scheme", POSTGRESQL_SCHEMES)
def test_the_chart_takes_the_postgresql_urls_regtune_takes(
    scheme: str, layer: str, helm: str
) -> None:
    """A URL the chart renders is one regtune starts with, and the reverse (was: the chart took
    ``postgres+psycopg://``, and every pod then exited refusing it)."""
    url = f"{scheme}://regtune:pw@db.example:5432/regtune"
    result = template("--set", f"database.url={url}", *LAYERS[layer])
    assert (result.returncode == 0) == regtune_takes(url), result.stderr
    if result.returncode == 0:
        secret = one(manifests(result), "Secret", "secrets")
        # KEDA's scaler (pgx) reads libpq URLs only
        assert secret["stringData"]["scaler-connection"].split("://")[0] in (
            "postgres",
            "postgresql",
        )
    elif layer == "template":
        assert "database.url must be a PostgreSQL URL" in result.stderr


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize(
    "url",
    [
        # regtune takes it, but one database file serves no pool of pods
        "sqlite:////data/regtune.db",
        # regtune's settings take it, but no engine of regtune's connects with it (an async
        # driver: MissingGreenlet), and KEDA's scaler cannot read it
        "postgresql+psycopg_async://regtune:pw@db.example:5432/regtune",
    ],
)
def test_urls_no_pool_runs_on_are_refused(url: str, layer: str, helm: str) -> None:
    result = template("--set", f"database.url={url}", *LAYERS[layer])
    assert result.returncode != 0


ADMIN_KEYS = {
    "random": "Zq3x9LwR7tYbK2mN",
    "words-and-spaces": "correct horse battery staple",
    "punctuation": "~!x-9_Lw.R7t/Yb+K2=mN",
    "almost-repeated": "abcabcabcabcabcX",
    "a-placeholder-twice": "changemechangeme",
    "a-pattern-repeated": "0123456701234567",
    "one-letter": "a" * 16,
    "short": "x9_Lw.R7t/Yb+K2",
    "a-placeholder": "changeme",
    "trailing-newline": "Zq3x9LwR7tYbK2mN\n",
    "leading-space": " Zq3x9LwR7tYbK2mN",
    "a-tab-inside": "Zq3x9Lw\tR7tYbK2mN",
    "not-ascii": "Zq3x9LwR7tYbK2mNé",
}


def regtune_takes_admin_key(key: str) -> bool:
    try:
        Settings(admin_key=key)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("case", list(ADMIN_KEYS))
def test_the_chart_takes_the_admin_keys_the_api_takes(case: str, tmp_path: Path, helm: str) -> None:
    """A key the API would refuse at start (exit 2) is refused at render, in words naming
    auth.adminKey and without the key (was: ``changemechangeme`` rendered, and every API pod
    exited)."""
    key = ADMIN_KEYS[case]
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump({"database": {"url": DATABASE_URL}, "auth": {"adminKey": key}})
    )
    result = template("-f", str(values))
    if regtune_takes_admin_key(key):
        assert result.returncode == 0, result.stderr
        assert one(manifests(result), "Secret", "secrets")["stringData"]["admin-key"] == key
    else:
        assert result.returncode != 0, f"the chart took {key!r}"
        assert "auth.adminKey must be" in result.stderr, result.stderr
        assert key.strip() not in result.stderr


def test_the_charts_placeholder_secrets_are_regtunes() -> None:
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    found = re.search(r'{{- define "regtune.placeholderSecrets" -}}\n(.*)\n{{- end }}', helpers)
    assert found, "_helpers.tpl defines no regtune.placeholderSecrets"
    assert sorted(json.loads(found.group(1))) == sorted(PLACEHOLDER_SECRETS), (
        "deploy/helm/regtune/templates/_helpers.tpl: regtune.placeholderSecrets differs from "
        "service/settings.py's PLACEHOLDER_SECRETS"
    )


SECRET_CLASHES = {
    # the operator's Secret named as the chart's own (the release's fullname, `regtune` here)
    "database-beside-a-generated-key": (
        "database.existingSecret=regtune",
        'database.existingSecret "regtune"',
    ),
    "database-beside-a-given-key": (
        "database.existingSecret=regtune,auth.adminKey=Zq3x9LwR7tYbK2mN",
        'database.existingSecret "regtune"',
    ),
    "admin-key-beside-a-url": (
        f"database.url={DATABASE_URL},auth.existingSecret=regtune",
        'auth.existingSecret "regtune"',
    ),
}


@pytest.mark.parametrize("case", sorted(SECRET_CLASHES))
def test_an_existing_secret_named_as_the_charts_own_is_refused(case: str, helm: str) -> None:
    """The chart's Secret, a hook replaced on every install and upgrade, would delete the
    operator's of the same name, and the pods would read the chart's in its place (was: a Secret
    ``regtune`` of the admin key alone, the pods reading database-url from it)."""
    values, named = SECRET_CLASHES[case]
    result = template("--set", values)
    assert result.returncode != 0, f"{case} rendered"
    assert named in result.stderr and "the name of the chart's own Secret" in result.stderr
    assert "fullnameOverride" in result.stderr


@pytest.mark.parametrize(
    "values",
    [
        # the chart then creates no Secret
        "database.existingSecret=regtune,auth.existingSecret=regtune-admin",
        "database.existingSecret=regtune,auth.existingSecret=regtune",
        "database.existingSecret=regtune,auth.insecureNoAuth=true",
        # or names its own otherwise
        "database.existingSecret=regtune,fullnameOverride=tuning",
    ],
)
def test_an_existing_secret_of_that_name_is_taken_when_the_chart_makes_none(
    values: str, helm: str
) -> None:
    docs = manifests(template("--set", values))
    assert all(d["metadata"]["name"] != "regtune" for d in docs if d["kind"] == "Secret")


PLACEMENT = {
    "nodeSelector": {"node-pool": "system"},
    "tolerations": [{"key": "system", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                ]
            }
        }
    },
}


def test_the_migrate_job_is_placed_as_the_other_components_are(helm: str) -> None:
    """nodeSelector, tolerations, affinity and podAnnotations reach the migrate hook's pod (was:
    ``--set migrate.nodeSelector.pool=a`` refused by the values schema, though the Job's template
    passed them on)."""
    values = [f"migrate.{field}={json.dumps(value)}" for field, value in PLACEMENT.items()]
    values.append('migrate.podAnnotations={"example.com/owner": "ml-platform"}')
    docs = manifests(
        template(*VALUE_SETS["defaults"], *(arg for v in values for arg in ("--set-json", v)))
    )
    job = one(docs, "Job", "migrate")
    pod = job["spec"]["template"]
    assert {field: pod["spec"][field] for field in PLACEMENT} == PLACEMENT
    assert pod["metadata"]["annotations"] == {"example.com/owner": "ml-platform"}
    for version in KUBERNETES_VERSIONS:
        validate(job, version)


def values_yaml_s3_example() -> str:
    """The S3 example values.yaml gives in its comments, as a values file."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "which all reach the store:" in line) + 1
    example = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        example.append(line.removeprefix("#   "))
    return "\n".join(example) + "\n"


def test_the_s3_store_gets_static_credentials_from_a_secret(tmp_path: Path, helm: str) -> None:
    """values.yaml's example: the API, the workers and the dashboard read AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY from a Secret (was: the schema refused ``worker.extraEnv``, and the
    chart gave pods regtune's variables only, so an S3 store outside AWS had no credentials)."""
    example = tmp_path / "s3.yaml"
    example.write_text(values_yaml_s3_example())
    docs = manifests(template(*VALUE_SETS["defaults"], *DASHBOARD, "-f", str(example)))
    for component in ("api", "worker", "dashboard"):
        env = {e["name"]: e for e in container(one(docs, "Deployment", component))["env"]}
        assert env["REGTUNE_ARTIFACT_STORE"]["value"] == "s3"
        assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
            "name": "regtune-s3",
            "key": "access-key-id",
        }, component
        assert "secretKeyRef" in env["AWS_SECRET_ACCESS_KEY"]["valueFrom"], component
    assert "AWS_ACCESS_KEY_ID" not in {
        e["name"] for e in container(one(docs, "Job", "migrate"))["env"]
    }
    for doc in docs:
        for version in KUBERNETES_VERSIONS:
            validate(doc, version)


def test_every_component_takes_extra_env_and_env_from(helm: str) -> None:
    sets: list[str] = []
    for component in ("api", "worker", "dashboard", "migrate"):
        sets += [
            "--set-json",
            f'{component}.extraEnv=[{{"name": "HTTPS_PROXY", "value": "http://{component}:3128"}}]',
            "--set-json",
            f'{component}.envFrom=[{{"secretRef": {{"name": "{component}-env"}}}}]',
        ]
    docs = manifests(template(*VALUE_SETS["defaults"], *DASHBOARD, *sets))
    for kind, component in (
        ("Deployment", "api"),
        ("Deployment", "worker"),
        ("Deployment", "dashboard"),
        ("Job", "migrate"),
    ):
        workload = one(docs, kind, component)
        spec = container(workload)
        assert spec["env"][-1] == {"name": "HTTPS_PROXY", "value": f"http://{component}:3128"}
        assert spec["env"][0]["name"] == "REGTUNE_DATABASE_URL", "regtune's own come first"
        assert spec["envFrom"] == [{"secretRef": {"name": f"{component}-env"}}]
        for version in KUBERNETES_VERSIONS:
            validate(workload, version)


@pytest.mark.parametrize(
    ("extra_env", "fragment"),
    [
        (
            '[{"name": "REGTUNE_LOG_LEVEL", "value": "DEBUG"}]',
            "worker.extraEnv: REGTUNE_LOG_LEVEL is a regtune setting: set it in config or "
            "worker.config by its name (log_level)",
        ),
        (  # regtune reads its settings' names in any case: this one would win over config's
            '[{"name": "regtune_tenant_max_running", "value": "9"}]',
            "worker.extraEnv: regtune_tenant_max_running is a regtune setting: set it in config "
            "or worker.config by its name (tenant_max_running)",
        ),
        (
            '[{"name": "AWS_REGION", "value": "a"}, {"name": "AWS_REGION", "value": "b"}]',
            "worker.extraEnv names AWS_REGION twice",
        ),
        ('[{"value": "no name"}]', "/worker/extraEnv/0"),
    ],
    ids=["a-setting", "a-setting-in-lower-case", "a-name-twice", "no-name"],
)
def test_extra_env_that_would_clash_is_refused(extra_env: str, fragment: str, helm: str) -> None:
    result = template(*VALUE_SETS["defaults"], "--set-json", f"worker.extraEnv={extra_env}")
    assert result.returncode != 0
    assert fragment in result.stderr, result.stderr


def test_a_setting_in_the_migrate_job_s_extra_env_is_sent_to_config_alone(helm: str) -> None:
    """The migrate Job has no config of its own: it named a migrate.config the schema refuses."""
    given = '[{"name": "REGTUNE_LOG_LEVEL", "value": "DEBUG"}]'
    result = template(*VALUE_SETS["defaults"], "--set-json", f"migrate.extraEnv={given}")
    assert result.returncode != 0
    assert (
        "migrate.extraEnv: REGTUNE_LOG_LEVEL is a regtune setting: set it in config by its name "
        "(log_level)"
    ) in result.stderr, result.stderr


DEPLOYMENTS = ("api", "worker", "dashboard")


def secret_checksums(*values: str) -> dict[str, str | None]:
    """Each Deployment's pod-template ``checksum/secret`` annotation (None: it has none)."""
    docs = manifests(template(*DASHBOARD, *values))
    found = {}
    for component in DEPLOYMENTS:
        pod = one(docs, "Deployment", component)["spec"]["template"]["metadata"]
        found[component] = pod.get("annotations", {}).get("checksum/secret")
    assert "checksum/secret" not in str(one(docs, "Job", "migrate")), "a hook Job runs anew"
    return found


def chart_secret(url: str, key: str) -> tuple[str, ...]:
    return ("--set", f"database.url={url}", "--set", f"auth.adminKey={key}")


def test_changing_the_charts_secret_restarts_the_pods_that_read_it(helm: str) -> None:
    """Pods read the Secret's values only as they start: a new database.url or auth.adminKey
    changes the pod template of each Deployment reading it, so ``helm upgrade`` rolls them (was:
    only the Secret differed, and old pods kept the old key while new ones, scaled up by KEDA,
    got the new)."""
    url, other_url = (f"postgresql://regtune:{pw}@db.example/regtune" for pw in ("p1", "p2"))
    key, other_key = "AAAAbbbbCCCCdddd1111", "EEEEffffGGGGhhhh2222"
    before = secret_checksums(*chart_secret(url, key))
    assert all(before.values()), before
    assert secret_checksums(*chart_secret(url, key)) == before, "the same values roll nothing"
    new_url = secret_checksums(*chart_secret(other_url, key))
    assert all(new_url[c] != before[c] for c in DEPLOYMENTS), new_url
    new_key = secret_checksums(*chart_secret(url, other_key))
    # only the API reads the admin key: the workers' trials are not interrupted for it
    assert new_key == before | {"api": new_key["api"]} and new_key["api"] != before["api"]


def test_pods_of_existing_secrets_carry_no_checksum_and_keep_their_annotations(
    helm: str,
) -> None:
    """The chart cannot see an existingSecret (values.yaml says to restart the pods after
    changing one); a component's podAnnotations stay beside the checksum."""
    assert secret_checksums(*VALUE_SETS["no-keda"]) == dict.fromkeys(DEPLOYMENTS)
    docs = manifests(template(*VALUE_SETS["defaults"], "--set", "worker.podAnnotations.team=ml"))
    annotations = one(docs, "Deployment", "worker")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["team"] == "ml" and annotations["checksum/secret"]
