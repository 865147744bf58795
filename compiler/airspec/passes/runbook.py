"""Lower everything before it to RUNBOOK.md: the ordered commands, with real values.

Sections follow the target: the cluster and its identity provider (eksctl on EKS, gcloud on
GKE), the cloud identity (IAM role, or GSA + bindings), then the platform: Helm for Remote
Execution agents, Houston + Astro CLI for Astronomer Software. Secret values are read from
environment variables at the moment a command runs; the runbook names the variables and never
holds a value.
"""

from __future__ import annotations

import json
import shlex

from airspec import aws, gcp
from airspec.artifact import Artifact, ArtifactKind, Context
from airspec.resolved import ResolvedSpec
from airspec.secret_stores import SEPARATORS, store_command, stored_name

PATH = "RUNBOOK.md"
CHART = "astronomer/astro-remote-execution-agent"
PLATFORM_CHART = "astronomer/astronomer"
CHART_REPO = "https://helm.astronomer.io"
REGISTRY = "images.astronomer.cloud"
WI_CHECK_IMAGE = "google/cloud-sdk:slim"

Step = tuple[str, str, list[str]]


def _q(value: str) -> str:
    return shlex.quote(value)


def env_var(bundle_name: str, what: str) -> str:
    return f"GIT_{bundle_name.upper().replace('-', '_')}_{what}"


def _secret(ns: str, name: str, kind: str, *flags: str) -> str:
    # create-or-update: render client-side, then apply
    return (
        f"kubectl create secret {kind} {_q(name)} --namespace {_q(ns)} "
        + " ".join(flags)
        + " \\\n  --dry-run=client -o yaml | kubectl apply -f -"
    )


def _path(ctx: Context, kind: ArtifactKind) -> str:
    """Where an earlier pass wrote the artifact of this kind (the runbook refers to it)."""
    found = ctx.find(kind)
    if found is None:
        raise LookupError(f"the runbook needs a {kind} artifact; no earlier pass wrote one")
    return found.path


def _block(lines: list[str]) -> str:
    return "```sh\n" + "\n".join(lines) + "\n```\n"


def _env_check(r: ResolvedSpec) -> list[Step]:
    if r.is_software:
        return []
    needed = ["ASTRO_AGENT_TOKEN", "ASTRO_REGISTRY_PASSWORD"]
    tools = []
    for b in r.spec.bundles:
        if b.git.credentials_secret:
            needed += [env_var(b.name, "LOGIN"), env_var(b.name, "TOKEN")]
            tools = ["command -v jq >/dev/null || { echo 'install jq first' >&2; false; }"]
    return [
        (
            "Check the environment",
            "Secret values come from these environment variables; the commands below read "
            "them and nothing in this folder holds one."
            + (
                " `jq` builds the git connection's JSON, so any token text is escaped."
                if tools
                else ""
            ),
            [f': "${{{v}:?set {v} first}}"' for v in needed] + tools,
        )
    ]


def _aws_cluster(r: ResolvedSpec, ctx: Context) -> list[Step]:
    if r.pod_identity:
        return _pod_identity(r, ctx)
    if r.cluster_exists:  # checked with the OIDC provider in the identity steps
        return []
    return [
        (
            "Create the EKS cluster",
            "With the IAM OIDC provider (`iam.withOIDC`), control plane logging and the node groups.",
            [f"eksctl create cluster -f {_q('eksctl/cluster.yaml')}"],
        )
    ]


def _pod_identity(r: ResolvedSpec, ctx: Context) -> list[Step]:
    """EKS Pod Identity: eksctl makes the add-on and the associations with a new cluster; an
    existing cluster gets them from the AWS CLI."""
    found = ctx.find(ArtifactKind.AWS_POD_IDENTITY_ASSOCIATIONS)
    a = r.aws
    on = f"--cluster-name {_q(a.cluster.name)} --region {_q(a.region)}"
    if not r.cluster_exists:
        associations = (
            ""
            if found is None
            else f", the Pod Identity associations of `{found.path}` (the role above must exist first)"
        )
        return [
            (
                "Create the EKS cluster",
                f"With the EKS Pod Identity agent add-on{associations}, control plane logging "
                "and the node groups.",
                [f"eksctl create cluster -f {_q('eksctl/cluster.yaml')}"],
            )
        ]
    if found is None:
        return []
    addon = found.content["addon"]
    lines = [
        f"aws eks describe-addon {on} --addon-name {addon} --query addon.status --output text "
        f"\\\n  || aws eks create-addon {on} --addon-name {addon}"
    ]
    for assoc in found.content["associations"]:
        lines.append(
            f"aws eks create-pod-identity-association {on} --namespace {_q(assoc['namespace'])} "
            f"--service-account {_q(assoc['serviceAccountName'])} --role-arn {_q(assoc['roleARN'])}"
        )
    return [
        (
            "Install the Pod Identity agent and associate the service accounts",
            f"airspec does not create or change the cluster `{a.cluster.name}`. EKS Pod "
            "Identity needs the `eks-pod-identity-agent` add-on (the first command installs it "
            "when it is missing) and one association per service account "
            f"(`{found.path}`). An association that exists already is refused; change its "
            "role with `aws eks update-pod-identity-association --association-id ID "
            "--role-arn ARN`.",
            lines,
        )
    ]


def _aws_identity(r: ResolvedSpec, ctx: Context) -> list[Step]:
    if r.pod_identity:  # no OIDC provider: the role can exist before the cluster does
        return _aws_role(r, ctx)
    a = r.aws
    existing = (
        f"airspec does not create or change the cluster `{a.cluster.name}`; IRSA needs its "
        "OIDC issuer registered as an IAM identity provider. "
        if r.cluster_exists
        else ""
    )
    if r.oidc_issuer is None:
        return [
            (
                "Record the cluster's OIDC issuer, then compile again",
                existing
                + ("" if r.cluster_exists else "The issuer exists only now that the cluster does. ")
                + "`airspec resolve` records it in the lock file beside the spec; the new "
                "compile writes `aws/trust-policy.json` and a runbook that goes on from here.",
                [
                    f"airspec resolve {_q(r.spec_from_runbook)}",
                    f"airspec compile {_q(r.spec_from_runbook)} --out ..",
                ],
            )
        ]
    provider = aws.oidc_provider_arn(a.account_id, r.oidc_issuer, r.partition)
    check: Step = (
        "Check the OIDC issuer and its IAM provider",
        existing + f"The first command must print `{r.oidc_issuer}`; the second must list "
        f"`{aws.STS_AUDIENCE}` as a client id."
        + (
            " If it finds no provider, register it: `eksctl utils "
            f"associate-iam-oidc-provider --cluster {a.cluster.name} --region {a.region} "
            "--approve`."
            if r.cluster_exists
            else ""
        ),
        [
            f"aws eks describe-cluster --name {_q(a.cluster.name)} --region {_q(a.region)} "
            "--query cluster.identity.oidc.issuer --output text",
            f"aws iam get-open-id-connect-provider --open-id-connect-provider-arn {_q(provider)}",
        ],
    )
    return [check, *_aws_role(r, ctx)]


def _aws_role(r: ResolvedSpec, ctx: Context) -> list[Step]:
    a = r.aws
    steps: list[Step] = []
    has_policy = ctx.find(ArtifactKind.AWS_IAM_POLICY) is not None
    lines = []
    if has_policy:
        lines.append(
            f"aws iam create-policy --policy-name {_q(a.role.policy_name)} "
            "--policy-document file://aws/iam-policy.json"
        )
    lines.append(
        f"aws iam create-role --role-name {_q(a.role.name)} "
        "--assume-role-policy-document file://aws/trust-policy.json"
    )
    if has_policy:
        lines.append(
            f"aws iam attach-role-policy --role-name {_q(a.role.name)} --policy-arn {_q(r.policy_arn)}"
        )
    who = "the Deployment's" if r.is_software else "the agents'"
    steps.append(
        (
            f"Create {who} IAM role",
            "To update an existing role instead: `aws iam create-policy-version --policy-arn "
            f"{r.policy_arn} --policy-document file://aws/iam-policy.json --set-as-default` "
            f"and `aws iam update-assume-role-policy --role-name {a.role.name} "
            "--policy-document file://aws/trust-policy.json`.",
            lines,
        )
    )
    trust, policy = (
        ctx.find(ArtifactKind.AWS_LOG_READER_TRUST_POLICY),
        ctx.find(ArtifactKind.AWS_LOG_READER_POLICY),
    )
    if trust is not None and policy is not None and policy.live is not None:
        role, policy_name = policy.live.id.split("/", 1)
        steps.append(
            (
                "Create the read-only role for Astro's log reader",
                "Astro reads task logs through this role; it can only list and read the logs prefix.",
                [
                    f"aws iam create-role --role-name {_q(role)} "
                    f"--assume-role-policy-document file://{trust.path}",
                    f"aws iam put-role-policy --role-name {_q(role)} --policy-name {_q(policy_name)} "
                    f"--policy-document file://{policy.path}",
                ],
            )
        )
    return steps


def _gcp_cluster(r: ResolvedSpec) -> list[Step]:
    g = r.gcp
    c = g.cluster
    where = f"--cluster={_q(c.name)} --project={_q(g.project)} --location={_q(c.location)}"
    on = f"--project={_q(g.project)} --location={_q(c.location)}"
    pool_flag = f"--workload-pool={_q(gcp.workload_pool(g.project))}"
    create = [f"gcloud container clusters create {_q(c.name)} {on} {pool_flag} --num-nodes=1"]
    update = [f"gcloud container clusters update {_q(c.name)} {on} {pool_flag}"]
    for p in c.node_pools:
        create.append(
            f"gcloud container node-pools create {_q(p.name)} {where} "
            f"--machine-type={_q(p.machine_type)} --workload-metadata=GKE_METADATA "
            f"--enable-autoscaling --num-nodes={max(p.min_count, 1)} "
            f"--min-nodes={p.min_count} --max-nodes={p.max_count}"
        )
        update.append(
            f"gcloud container node-pools update {_q(p.name)} {where} "
            "--workload-metadata=GKE_METADATA"
        )
    # GKE cannot create a cluster without a pool; the one it makes is not in the spec, and
    # drift would report it forever, so it goes once the declared pools exist
    create.append(f"gcloud container node-pools delete default-pool {where} --quiet")
    credentials = f"gcloud container clusters get-credentials {_q(c.name)} {on}"
    if r.cluster_exists:
        pool = gcp.workload_pool(g.project)
        return [
            (
                "Check the existing cluster",
                f"airspec does not create or change `{c.name}`. Workload Identity needs the "
                f"workload pool `{pool}` (the first command must print it) and "
                "`GKE_METADATA` on the node pools that run the workloads (second command). "
                f"To enable them: `gcloud container clusters update {c.name} {on} "
                f"{pool_flag}`, then `gcloud container node-pools update POOL {where} "
                "--workload-metadata=GKE_METADATA` for each pool (this recreates its nodes).",
                [
                    f"gcloud container clusters describe {_q(c.name)} {on} "
                    "--format='value(workloadIdentityConfig.workloadPool)'",
                    f"gcloud container node-pools list {where} "
                    "--format='table(name, config.workloadMetadataConfig.mode)'",
                    credentials,
                ],
            )
        ]
    return [
        (
            "Create the GKE cluster with Workload Identity",
            "GKE creates the cluster with a `default-pool` the spec does not declare; the last "
            "command removes it once the declared pools exist. "
            "For an existing cluster run the update form instead: "
            + "; ".join(f"`{u}`" for u in update)
            + ".",
            [*create, credentials],
        )
    ]


def _gcp_identity(r: ResolvedSpec, ctx: Context) -> list[Step]:
    g = r.gcp
    email = r.gsa_email
    lines = [
        f"gcloud iam service-accounts create {_q(g.service_account)} --project={_q(g.project)} "
        f"--display-name={_q('airspec ' + r.name)}"
    ]
    bindings = ctx.find(ArtifactKind.GCP_IAM_BINDINGS)
    resources = [] if bindings is None else bindings.content["resources"]
    condition_files = {
        a.content["expression"]: a.path for a in ctx.all(ArtifactKind.GCP_IAM_CONDITION)
    }
    for res in resources:
        if res["type"] == "storage.bucket":
            target = "gs://" + res["resource"].rsplit("/", 1)[1]
            lines.append(
                f"gcloud storage buckets update {_q(target)} --uniform-bucket-level-access"
            )
            verb = f"gcloud storage buckets add-iam-policy-binding {_q(target)}"
        elif res["type"] == "project":
            verb = f"gcloud projects add-iam-policy-binding {_q(g.project)}"
        else:
            verb = f"gcloud iam service-accounts add-iam-policy-binding {_q(email)} --project={_q(g.project)}"
        for b in sorted(res["bindings"], key=lambda b: b["role"]):
            for member in sorted(b["members"]):
                line = f"{verb} --role={_q(b['role'])} --member={_q(member)}"
                if "condition" in b:
                    condition_file = condition_files[b["condition"]["expression"]]
                    line += f" --condition-from-file={_q(condition_file)}"
                lines.append(line)
    return [
        (
            "Create the Google service account and its bindings",
            "Workload Identity lets exactly the listed Kubernetes service accounts act as "
            f"`{email}`; bucket grants are limited to the backends' prefixes by the IAM "
            "conditions in `gcp/conditions/` (they need uniform bucket-level access).",
            lines,
        )
    ]


def _secrets_store(r: ResolvedSpec) -> list[Step]:
    secrets = r.spec.backends.secrets
    if secrets is None or secrets.type not in SEPARATORS:
        return []
    aws_region = r.aws.region if r.spec.cloud.aws is not None else ""
    project = r.gcp.project if r.spec.cloud.gcp is not None else ""
    lines, names = [], []
    for prefix, key_var, value_var in (
        (secrets.connections_prefix, "CONN_ID", "CONN_URI"),
        (secrets.variables_prefix, "VAR_KEY", "VAR_VALUE"),
    ):
        if prefix is None:
            continue
        names.append(f"`{stored_name(secrets.type, prefix, '$' + key_var)}`")
        lines.append(
            store_command(
                secrets.type, prefix, key_var, value_var, region=aws_region, project=project
            )
        )
    return [
        (
            "Store connections and variables",
            "Airflow's secrets backend looks up " + " and ".join(names) + ". Set `CONN_ID` and "
            "`CONN_URI` (a connection URI or JSON), or `VAR_KEY` and `VAR_VALUE`, in the "
            "environment, then run the matching command (create-or-update), once per connection "
            "or variable.",
            lines,
        )
    ]


def _annotation_check(r: ResolvedSpec, ns: str, sa: str) -> str:
    return (
        f"kubectl get serviceaccount {_q(sa)} --namespace {_q(ns)} "
        f"-o jsonpath={_q(r.annotation_jsonpath)}"
    )


def _wi_check(ns: str, sa: str) -> str:
    overrides = {
        "apiVersion": "v1",
        "spec": {
            "nodeSelector": {"iam.gke.io/gke-metadata-server-enabled": "true"},
            "serviceAccountName": sa,
        },
    }
    return (
        f"kubectl run airspec-wi-check --namespace {_q(ns)} --rm -i --restart=Never "
        f"--image={WI_CHECK_IMAGE} --overrides={_q(json.dumps(overrides, sort_keys=True))} "
        "-- gcloud auth list"
    )


def _verify(r: ResolvedSpec, ctx: Context, title_note: str) -> Step:
    ns = r.namespace
    first = r.identities[0].name if r.identities else r.service_accounts[0].name
    if r.is_software:
        lines = [f"bash {_path(ctx, ArtifactKind.SOFTWARE_ASTRO_COMMANDS)} verify"]
    elif r.pod_identity:
        a = r.aws
        lines = [
            f"kubectl get pods --namespace {_q(ns)}",
            f"aws eks list-pod-identity-associations --cluster-name {_q(a.cluster.name)} "
            f"--region {_q(a.region)} --namespace {_q(ns)} "
            "--query 'associations[].serviceAccount' --output text",
        ]
        title_note = (
            "Pods become Ready, and the service accounts that need the role have their Pod "
            "Identity associations (the last command lists them)."
        )
    else:
        lines = [f"kubectl get pods --namespace {_q(ns)}", _annotation_check(r, ns, first)]
    note = title_note
    if r.spec.cloud.gcp is not None:
        lines.append(_wi_check(ns, first))
        note += f" The last command must list `{r.gsa_email}` as the active account."
    return ("Verify", note, lines)


def _agents(r: ResolvedSpec, ctx: Context) -> list[Step]:
    d = r.spec.deployment
    assert d.astro is not None
    ns = r.namespace
    secret_lines = [
        "kubectl apply -f k8s/namespace.yaml",
        _secret(
            ns, d.astro.agent_token_secret, "generic", '--from-literal=token="$ASTRO_AGENT_TOKEN"'
        ),
        _secret(
            ns,
            d.astro.image_pull_secret,
            "docker-registry",
            f"--docker-server={REGISTRY} --docker-username=cli",
            '--docker-password="$ASTRO_REGISTRY_PASSWORD"',
        ),
    ]
    for b in r.spec.bundles:
        if b.git.credentials_secret:
            # jq encodes the values: a token holding '"' or '\\' stays valid JSON
            conn = (
                f'"$(jq -cn --arg login "${env_var(b.name, "LOGIN")}" '
                f'--arg password "${env_var(b.name, "TOKEN")}" --arg host {_q(b.git.repo)} '
                '\'{conn_type: "git", login: $login, password: $password, host: $host}\')"'
            )
            secret_lines.append(
                _secret(
                    ns,
                    b.git.credentials_secret,
                    "generic",
                    f"--from-literal={b.git.credentials_secret_key}={conn}",
                )
            )
    secret_lines.append("kubectl apply -f k8s/")
    helm = (
        f"helm upgrade --install {_q(r.helm_release)} {CHART} --namespace {_q(ns)} "
        "--values helm/values.yaml"
    )
    if d.helm.chart_version:
        helm += f" --version {_q(d.helm.chart_version)}"
    return [
        (
            "Create the namespace, its Secrets and ConfigMaps",
            "Create-or-update: safe to run again.",
            secret_lines,
        ),
        (
            "Install or upgrade the agents",
            "",
            [f"helm repo add astronomer {CHART_REPO} --force-update", helm],
        ),
        _verify(r, ctx, "Pods become Ready, and the worker service account carries the identity."),
    ]


def _software(r: ResolvedSpec, ctx: Context) -> list[Step]:
    sw = r.spec.deployment.software
    assert sw is not None
    houston_config = _path(ctx, ArtifactKind.SOFTWARE_HOUSTON_CONFIG)
    astro_commands = _path(ctx, ArtifactKind.SOFTWARE_ASTRO_COMMANDS)
    return [
        (
            "Let Houston annotate Deployment service accounts",
            f"Merges `{houston_config}` into the platform's values and keeps the rest. "
            f"`--version` pins the chart the platform runs ({sw.platform_chart_version}, from "
            "the spec): without it helm would upgrade the whole platform to the newest chart. "
            "The first command must show that version.",
            [
                f"helm list --namespace {_q(sw.platform_namespace)} "
                f"--filter '^{sw.platform_release_name}$' --output json | jq -r '.[0].chart'",
                f"helm repo add astronomer {CHART_REPO} --force-update",
                f"helm upgrade {_q(sw.platform_release_name)} {PLATFORM_CHART} "
                f"--namespace {_q(sw.platform_namespace)} "
                f"--version {_q(sw.platform_chart_version)} "
                f"--reuse-values --values {houston_config}",
            ],
        ),
        (
            "Create the Deployment with its cloud role",
            f"For a Deployment that exists already: `bash {astro_commands} update <deployment-id>`.",
            [f"bash {astro_commands} create"],
        ),
        *_software_env(r, ctx),
        _verify(r, ctx, "Every service account that needs the identity carries the annotation."),
    ]


def _software_env(r: ResolvedSpec, ctx: Context) -> list[Step]:
    env = ctx.find(ArtifactKind.SOFTWARE_DEPLOYMENT_ENV)
    if env is None:
        return []
    dockerfile = '"$ASTRO_PROJECT/Dockerfile"'
    block = f"/^# airspec:begin {r.name}$/,/^# airspec:end {r.name}$/d"
    return [
        (
            "Configure the Deployment's Airflow backends",
            f"`{env.path}` holds the settings for remote task logs, XCom and the secrets "
            "backend as Dockerfile `ENV` lines (no secret values). They go into the Dockerfile "
            "of the Astro project deployed to this Deployment, replacing the block an earlier "
            "run added, so the image carries them to every component; the project's "
            "requirements.txt needs the provider packages. `ASTRO_PROJECT` is that project's "
            "folder.",
            [
                ': "${ASTRO_PROJECT:?set ASTRO_PROJECT to the Astro project folder}"',
                f"sed -i.bak {_q(block)} {dockerfile}",
                f"cat {env.path} >> {dockerfile}",
                '(cd "$ASTRO_PROJECT" && astro deploy <deployment-id>)',
            ],
        )
    ]


def _intro(r: ResolvedSpec) -> str:
    if r.spec.cloud.aws is not None:
        a = r.aws
        where = f"EKS cluster `{a.cluster.name}` ({a.region}, account `{a.account_id}`)"
    else:
        g = r.gcp
        where = f"GKE cluster `{g.cluster.name}` ({g.cluster.location}, project `{g.project}`)"
    if r.is_software:
        sw = r.spec.deployment.software
        assert sw is not None
        what = f"Astronomer Software Deployment `{sw.release_name}`"
    else:
        what = "Astro Remote Execution agents"
    return (
        f"{what} on {where}, namespace `{r.namespace}`. Run the steps in order from the folder "
        "that holds this file."
    )


def runbook(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """RUNBOOK.md for any target: Remote Execution or Software, on EKS or GKE."""
    if not r.is_software and r.spec.deployment.astro is None:
        return []
    steps = _env_check(r)
    if r.spec.cloud.aws is not None and r.pod_identity:
        steps += _aws_identity(r, ctx) + _aws_cluster(r, ctx)
        ready = True
    elif r.spec.cloud.aws is not None:
        steps += _aws_cluster(r, ctx) + _aws_identity(r, ctx)
        ready = r.oidc_issuer is not None
    else:
        steps += _gcp_cluster(r) + _gcp_identity(r, ctx)
        ready = True
    steps += _secrets_store(r)
    if ready:
        steps += _software(r, ctx) if r.is_software else _agents(r, ctx)
    text = [
        f"<!-- generated by airspec from {r.source}; do not edit -->",
        f"# Runbook: {r.name}",
        "",
        _intro(r),
        "",
    ]
    for i, (title, note, lines) in enumerate(steps, 1):
        text.append(f"## {i}. {title}")
        text.append("")
        if note:
            text += [note, ""]
        text.append(_block(lines))
    return [Artifact(PATH, ArtifactKind.RUNBOOK, "markdown", "\n".join(text).rstrip("\n") + "\n")]
