"""Lower everything before it to RUNBOOK.md: the ordered commands, with real values.

Sections follow the target: the cluster and its identity provider (eksctl on EKS, gcloud on
GKE), the cloud identity (IAM role, or GSA + bindings), then the platform: Helm for Remote
Execution agents, Houston + Astro CLI for Astronomer Software. Secret values are read from
environment variables at the moment a command runs; the runbook names the variables and never
holds a value.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import NamedTuple

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



class Step(NamedTuple):
    """One numbered runbook step: its commands, and what a reader must know before running
    them: what it changes beyond this deployment (checked first), what network it needs."""

    title: str
    note: str
    lines: list[str]
    beyond: str = ""  # the blast radius, when the step reaches past this deployment's objects
    network: str = ""  # egress or public images the step needs


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


# Where each value the runbook reads from the environment comes from (a secret never
# lives in the spec, an artifact or this file).
ENV_SOURCES = {
    "ASTRO_AGENT_TOKEN": "an agent token of the Astro Deployment: Astro UI, the Deployment, "
    "**Remote Agents** tab, **Tokens** view, **+ Agent Token** (shown once; at most 50 per "
    "Deployment)",
    "ASTRO_REGISTRY_PASSWORD": "a **Deployment API token** with the Deployment Admin role (or "
    "an Organization API token with the Org Owner role): Astro UI, the Deployment, **Access** "
    "tab, **API Tokens**. `images.astronomer.cloud` takes it as the password of the user `cli`",
}


def _git_sources(bundle: str, repo: str) -> dict[str, str]:
    return {
        env_var(bundle, "LOGIN"): f"the git user the token below belongs to, for `{repo}`: "
        "for a GitHub personal access token your GitHub user name; for a GitHub App "
        "installation token `x-access-token`",
        env_var(bundle, "TOKEN"): "a token that may read that repository (GitHub: a "
        "fine-grained personal access token with **Contents: read** on it), used as the "
        "connection's password",
    }


def _env_check(r: ResolvedSpec) -> list[Step]:
    if r.is_software:
        return []
    d = r.spec.deployment
    assert d.astro is not None
    needed = dict(ENV_SOURCES)
    tools = []
    for b in r.spec.bundles:
        if b.git.credentials_secret:
            needed.update(_git_sources(b.name, b.git.repo))
            tools = ["command -v jq >/dev/null || { echo 'install jq first' >&2; false; }"]
    where = "\n".join(f"- `{name}`: {source}." for name, source in needed.items())
    return [
        Step(
            "Check the environment",
            "Secret values come from these environment variables; the commands below read "
            "them and nothing in this folder holds one.\n\n"
            + where
            + "\n\nThe Deployment's API URL in `helm/values.yaml` (`astroDeploymentAPIURL`, "
            f"from the spec's `deployment.astro.apiUrl`: `{d.astro.api_url}`) is the one in "
            "the `values.yaml` the Astro UI offers under the Deployment's **Remote Agents** "
            "tab, **Agents** view, **Register a Remote Agent**, **Download**."
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
        Step(
            "Create the EKS cluster",
            "With the IAM OIDC provider (`iam.withOIDC`), control plane logging and the node "
            "groups. Skipped when the cluster exists (eksctl does not update a cluster).",
            [_eksctl_create(r)],
        )
    ]


def _eksctl_create(r: ResolvedSpec) -> str:
    a = r.aws
    return (
        f"eksctl get cluster --name {_q(a.cluster.name)} --region {_q(a.region)} >/dev/null "
        f"2>&1 \\\n  || eksctl create cluster -f {_q('eksctl/cluster.yaml')}"
    )


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
            Step(
                "Create the EKS cluster",
                f"With the EKS Pod Identity agent add-on{associations}, control plane logging "
                "and the node groups. Skipped when the cluster exists.",
                [_eksctl_create(r)],
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
        sa, role = _q(assoc["serviceAccountName"]), _q(assoc["roleARN"])
        ns = _q(assoc["namespace"])
        lines.append(
            f"id=$(aws eks list-pod-identity-associations {on} --namespace {ns} "
            f"--service-account {sa} --query 'associations[0].associationId' --output text)\n"
            f'if [ -n "$id" ] && [ "$id" != None ]; then\n'
            f'  aws eks update-pod-identity-association {on} --association-id "$id" '
            f"--role-arn {role}\n"
            "else\n"
            f"  aws eks create-pod-identity-association {on} --namespace {ns} "
            f"--service-account {sa} --role-arn {role}\n"
            "fi"
        )
    return [
        Step(
            "Install the Pod Identity agent and associate the service accounts",
            f"airspec does not create or change the cluster `{a.cluster.name}` itself. EKS Pod "
            "Identity needs the `eks-pod-identity-agent` add-on (the first command installs it "
            "when it is missing) and one association per service account "
            f"(`{found.path}`): an existing association is pointed at the role, a missing one "
            "created.",
            lines,
            beyond=f"the add-on is cluster-wide: it runs a DaemonSet on every node of "
            f"`{a.cluster.name}`, for every namespace. The first command only reads when the "
            "add-on is there already.",
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
            Step(
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
    check = Step(
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


def _policy_upsert(arn: str, name: str, document: str) -> str:
    """Create the managed policy, or make `document` its default version (a policy keeps at
    most five versions: the oldest non-default one goes first when it is full)."""
    at = f"--policy-arn {_q(arn)}"
    return (
        f"if aws iam get-policy {at} >/dev/null 2>&1; then\n"
        f"  if [ \"$(aws iam list-policy-versions {at} --query 'length(Versions)' --output text)\" "
        "-ge 5 ]; then\n"
        f"    aws iam delete-policy-version {at} --version-id \"$(aws iam list-policy-versions {at} "
        "--query 'Versions[?!IsDefaultVersion] | sort_by(@, &CreateDate)[0].VersionId' "
        '--output text)"\n'
        "  fi\n"
        f"  aws iam create-policy-version {at} --policy-document {document} --set-as-default\n"
        "else\n"
        f"  aws iam create-policy --policy-name {_q(name)} --policy-document {document}\n"
        "fi"
    )


def _role_upsert(name: str, trust: str) -> str:
    """Create the role, or set its trust policy when it exists."""
    return (
        f"if aws iam get-role --role-name {_q(name)} >/dev/null 2>&1; then\n"
        f"  aws iam update-assume-role-policy --role-name {_q(name)} --policy-document {trust}\n"
        "else\n"
        f"  aws iam create-role --role-name {_q(name)} --assume-role-policy-document {trust}\n"
        "fi"
    )


def _aws_role(r: ResolvedSpec, ctx: Context) -> list[Step]:
    a = r.aws
    steps: list[Step] = []
    has_policy = ctx.find(ArtifactKind.AWS_IAM_POLICY) is not None
    lines = []
    if has_policy:
        lines.append(_policy_upsert(r.policy_arn, a.role.policy_name, "file://aws/iam-policy.json"))
    lines.append(_role_upsert(a.role.name, "file://aws/trust-policy.json"))
    if has_policy:
        lines.append(
            f"aws iam attach-role-policy --role-name {_q(a.role.name)} --policy-arn {_q(r.policy_arn)}"
        )
    who = "the Deployment's" if r.is_software else "the agents'"
    steps.append(
        Step(
            f"Create or update {who} IAM role",
            "Create-or-update: a policy or role that exists gets the compiled document as its "
            "new version or trust policy, so the step can run again.",
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
            Step(
                "Create or update the read-only role for Astro's log reader",
                "Astro reads task logs through this role; it can only list and read the logs prefix.",
                [
                    _role_upsert(role, f"file://{trust.path}"),
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
    create = [
        f"gcloud container clusters describe {_q(c.name)} {on} >/dev/null 2>&1 \\\n"
        f"  || gcloud container clusters create {_q(c.name)} {on} {pool_flag} --num-nodes=1"
    ]
    update = [f"gcloud container clusters update {_q(c.name)} {on} {pool_flag}"]
    for p in c.node_pools:
        create.append(
            f"gcloud container node-pools describe {_q(p.name)} {where} >/dev/null 2>&1 \\\n"
            f"  || gcloud container node-pools create {_q(p.name)} {where} "
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
    create.append(  # gone already (a rerun): the delete fails and describe confirms it
        f"gcloud container node-pools delete default-pool {where} --quiet \\\n"
        f"  || ! gcloud container node-pools describe default-pool {where} >/dev/null 2>&1"
    )
    credentials = f"gcloud container clusters get-credentials {_q(c.name)} {on}"
    if r.cluster_exists:
        pool = gcp.workload_pool(g.project)
        return [
            Step(
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
        Step(
            "Create the GKE cluster with Workload Identity",
            "Each create is skipped when the object exists. "
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
        f"gcloud iam service-accounts describe {_q(email)} --project={_q(g.project)} "
        ">/dev/null 2>&1 \\\n"
        f"  || gcloud iam service-accounts create {_q(g.service_account)} "
        f"--project={_q(g.project)} --display-name={_q('airspec ' + r.name)}"
    ]
    bindings = ctx.find(ArtifactKind.GCP_IAM_BINDINGS)
    resources = [] if bindings is None else bindings.content["resources"]
    condition_files = {
        a.content["expression"]: a.path for a in ctx.all(ArtifactKind.GCP_IAM_CONDITION)
    }
    buckets = []
    for res in resources:
        if res["type"] == "storage.bucket":
            target = "gs://" + res["resource"].rsplit("/", 1)[1]
            buckets.append(target)
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
    steps = [_uniform_access(buckets)] if buckets else []
    steps.append(
        Step(
            "Create the Google service account and its bindings",
            "Workload Identity lets exactly the listed Kubernetes service accounts act as "
            f"`{email}`; bucket grants are limited to the backends' prefixes by the IAM "
            "conditions in `gcp/conditions/` (they need uniform bucket-level access, the step "
            "before). The service account is created when missing; adding a binding that "
            "exists changes nothing.",
            lines,
        )
    )
    return steps


UBLA_CONFIRM = "AIRSPEC_ENABLE_UNIFORM_ACCESS"


def _uniform_access(buckets: list[str]) -> Step:
    """Uniform bucket-level access: the IAM conditions need it, and it changes the bucket for
    everyone who uses it, so the commands check first and stop for a confirmation."""
    lines = []
    for target in buckets:
        describe = f"gcloud storage buckets describe {_q(target)}"
        lines.append(
            f"if [ \"$({describe} --format='value(uniform_bucket_level_access)')\" != True ]; then\n"
            f"  {describe} --format='yaml(acl,default_acl)'  # who has access by ACL today\n"
            f'  : "${{{UBLA_CONFIRM}:?read the ACLs above, then set {UBLA_CONFIRM}=yes}}"\n'
            f"  gcloud storage buckets update {_q(target)} --uniform-bucket-level-access\n"
            "fi"
        )
    return Step(
        "Check, then turn on uniform bucket-level access",
        "The IAM conditions that limit the grants to the backends' prefixes work only with "
        "uniform bucket-level access. A bucket that has it already is left alone; for one "
        "that does not, the command prints its ACLs and stops until "
        f"`{UBLA_CONFIRM}=yes` is set.",
        lines,
        beyond="the bucket may be shared: uniform bucket-level access disables every object "
        "and bucket ACL for all its users, not only this deployment (anyone reading through an "
        "ACL loses access), and after 90 days it can no longer be turned off.",
    )


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
        Step(
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
    note, network = title_note, ""
    if r.spec.cloud.gcp is not None:
        lines.append(_wi_check(ns, first))
        note += f" The last command must list `{r.gsa_email}` as the active account."
        network = (
            f"the last command runs the public image `{WI_CHECK_IMAGE}` from Docker Hub: the "
            "nodes need egress to `docker.io` (or a mirror of that image: change `--image`)."
        )
    return Step("Verify", note, lines, network=network)


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
    build = _build_image(r, ctx)
    helm = (
        f"helm upgrade --install {_q(r.helm_release)} {CHART} --namespace {_q(ns)} "
        f"--version {_q(r.chart_version)} --values helm/values.yaml"
    )
    return [
        Step(
            "Create the namespace, its Secrets and ConfigMaps",
            "Create-or-update: safe to run again.",
            secret_lines,
        ),
        *build,
        Step(
            "Install or upgrade the agents",
            f"Chart `{CHART}` version {r.chart_version}"
            + (
                " (the spec's `deployment.helm.chartVersion`)."
                if d.helm.chart_version
                else " (the version airspec is tested with: the spec pins none, warning AS231)."
            )
            + _install_note(r),
            [f"helm repo add astronomer {CHART_REPO} --force-update", helm],
            network=_agent_egress(r, ctx),
        ),
        _verify(r, ctx, "Pods become Ready, and the worker service account carries the identity."),
    ]


def _agent_egress(r: ResolvedSpec, ctx: Context) -> str:
    """What the agents reach outside the cluster once installed."""
    d = r.spec.deployment
    assert d.astro is not None
    host = d.astro.api_url.split("://", 1)[1].split("/", 1)[0]
    base = r.built_image or d.image
    images = sorted({w.image or base for w in d.workers} | {base})
    registries = sorted({i.split("/", 1)[0] for i in images if "/" in i})
    needs = [
        f"this machine reaches `{CHART_REPO}` (the chart)",
        f"the nodes pull {', '.join(f'`{i}`' for i in images)} from "
        + ", ".join(f"`{reg}`" for reg in registries),
        f"the agents reach the Deployment's API at `{host}` over HTTPS (Astronomer asks to "
        "allow it in the egress allowlist)",
    ]
    values = ctx.find(ArtifactKind.HELM_VALUES)
    content = {} if values is None else values.content
    parts = [*content.get("workers", []), content.get("triggerer", {}), content.get("dagProcessor", {})]
    if any("pip" in c.get("command", [])[:1] for p in parts for c in p.get("initContainers", [])):
        needs.append(
            "each component's `install-providers` init container runs pip against the package "
            "index (PyPI: `pypi.org`, `files.pythonhosted.org`) at every start"
        )
    if r.spec.bundles:
        needs.append(
            "the DAG processor and workers clone "
            + ", ".join(f"`{b.git.repo}`" for b in r.spec.bundles)
        )
    return "; ".join(needs) + "."


def _install_note(r: ResolvedSpec) -> str:
    """What the pods install at start, and the way around it."""
    if any(e.closure.installs for e in r.environments) and r.built_image is None:
        return (
            " Components whose image lacks a provider install it at start: the closure in "
            "`python/environments.json`, with `pip install --no-deps`. For a cluster without "
            "egress, `deployment.providers.install: image` builds them into the image instead."
        )
    return ""


def _registry_login(repository: str) -> str | None:
    """The command that logs docker in to the registry `repository` is pushed to, for the
    registries whose login airspec knows (ECR, Artifact Registry)."""
    host = repository.split("/", 1)[0]
    ecr = re.fullmatch(r"[0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?", host)
    if ecr:
        return (
            f"aws ecr get-login-password --region {_q(ecr.group(1))} "
            f"| docker login --username AWS --password-stdin {_q(host)}"
        )
    if host.endswith("-docker.pkg.dev"):
        return f"gcloud auth configure-docker {_q(host)} --quiet"
    return None


def _build_image(r: ResolvedSpec, ctx: Context) -> list[Step]:
    """`providers.install: image`: build the agent image with the providers, push it."""
    dockerfile = ctx.find(ArtifactKind.PROVIDER_IMAGE_DOCKERFILE)
    providers = r.spec.deployment.providers
    if r.built_image is None or dockerfile is None or providers is None:
        return []
    assert providers.image_repository is not None
    folder = dockerfile.path.rsplit("/", 1)[0]
    lines = [
        'printf \'%s\' "$ASTRO_REGISTRY_PASSWORD" '
        f"| docker login {REGISTRY} --username cli --password-stdin"
    ]
    login = _registry_login(providers.image_repository)
    host = providers.image_repository.split("/", 1)[0]
    if login is not None:
        lines.append(login)
    lines += [
        f"docker build --tag {_q(r.built_image)} {_q(folder + '/')}",
        f"docker push {_q(r.built_image)}",
    ]
    return [
        Step(
            "Build and push the agent image with the providers",
            f"`{dockerfile.path}` starts FROM the agent image and installs the closure in "
            f"`{folder}/requirements.txt` with `--no-deps` (nothing the image holds is "
            "installed again), so the pods need no package index at start; the cluster's "
            "nodes must be able to pull from the repository."
            + ("" if login else f" Log docker in to `{host}` before the push."),
            lines,
            network=f"the build pulls the agent image from `{REGISTRY}`, reaches the package "
            f"index (PyPI) and pushes to `{host}`",
        )
    ]


def _software(r: ResolvedSpec, ctx: Context) -> list[Step]:
    sw = r.spec.deployment.software
    assert sw is not None
    houston_config = _path(ctx, ArtifactKind.SOFTWARE_HOUSTON_CONFIG)
    astro_commands = _path(ctx, ArtifactKind.SOFTWARE_ASTRO_COMMANDS)
    return [
        Step(
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
            beyond=f"this upgrades the whole Astronomer platform release "
            f"`{sw.platform_release_name}` (every Deployment it runs), with the same chart "
            "version; the first command checks that version before anything changes.",
        ),
        Step(
            "Create the Deployment with its cloud role",
            f"For a Deployment that exists already: `bash {astro_commands} update` (it finds "
            "the Deployment's id by its release name, or takes `software.deploymentId`).",
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
    astro_commands = _path(ctx, ArtifactKind.SOFTWARE_ASTRO_COMMANDS)
    return [
        Step(
            "Configure the Deployment's Airflow backends",
            f"`{env.path}` holds the settings for remote task logs, XCom and the secrets "
            "backend as Dockerfile `ENV` lines (no secret values). They go into the Dockerfile "
            "of the Astro project deployed to this Deployment, replacing the block an earlier "
            "run added, so the image carries them to every component; the project's "
            "requirements.txt needs the provider packages. `ASTRO_PROJECT` is that project's "
            f"folder; `{astro_commands} deployment-id` finds the Deployment's id by its release "
            "name (or prints `software.deploymentId`).",
            [
                ': "${ASTRO_PROJECT:?set ASTRO_PROJECT to the Astro project folder}"',
                f"sed -i.bak {_q(block)} {dockerfile}",
                f"cat {env.path} >> {dockerfile}",
                f'DEPLOYMENT_ID="$(bash {astro_commands} deployment-id)"',
                '(cd "$ASTRO_PROJECT" && astro deploy "$DEPLOYMENT_ID")',
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
    for i, step in enumerate(steps, 1):
        text.append(f"## {i}. {step.title}")
        text.append("")
        if step.beyond:
            text += [f"> **Beyond this deployment:** {step.beyond}", ""]
        if step.network:
            text += [f"> **Network:** {step.network}", ""]
        if step.note:
            text += [step.note, ""]
        text.append(_block(step.lines))
    return [Artifact(PATH, ArtifactKind.RUNBOOK, "markdown", "\n".join(text).rstrip("\n") + "\n")]
