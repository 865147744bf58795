"""Lower everything before it to RUNBOOK.md: the ordered commands, with real values.

Secret values are read from environment variables at the moment a command runs; the
runbook names the variables and never holds a value.
"""

from __future__ import annotations

import shlex

from compiler import aws
from compiler.artifact import Artifact, Context
from compiler.passes.aws_log_reader import POLICY_PATH, TRUST_PATH, log_reader_role_name
from compiler.resolved import ResolvedSpec

PATH = "RUNBOOK.md"
CHART = "astronomer/astro-remote-execution-agent"
CHART_REPO = "https://helm.astronomer.io"
REGISTRY = "images.astronomer.cloud"


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


def _block(lines: list[str]) -> str:
    return "```sh\n" + "\n".join(lines) + "\n```\n"


def runbook(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """RUNBOOK.md for Remote Execution on EKS."""
    d = r.spec.deployment
    if r.spec.cloud.aws is None or d.astro is None:
        return []
    a, ns = r.aws, r.namespace
    c = a.cluster
    steps: list[tuple[str, str, list[str]]] = []
    env_needed = ["ASTRO_AGENT_TOKEN", "ASTRO_REGISTRY_PASSWORD"]
    for b in r.spec.bundles:
        if b.git.credentials_secret:
            env_needed += [env_var(b.name, "LOGIN"), env_var(b.name, "TOKEN")]

    steps.append(
        (
            "Check the environment",
            "Secret values come from these environment variables; the commands below read "
            "them and nothing in this folder holds one.",
            [f': "${{{v}:?set {v} first}}"' for v in env_needed],
        )
    )
    steps.append(
        (
            "Create the EKS cluster",
            "With the IAM OIDC provider (`iam.withOIDC`), control plane logging and the node groups.",
            [f"eksctl create cluster -f {_q('eksctl/cluster.yaml')}"],
        )
    )
    issuer_cmd = (
        f"aws eks describe-cluster --name {_q(c.name)} --region {_q(a.region)} "
        "--query cluster.identity.oidc.issuer --output text"
    )
    if r.oidc_issuer is None:
        steps.append(
            (
                "Record the cluster's OIDC issuer, then compile again",
                "The issuer exists only now that the cluster does. `airspec resolve` records it "
                "in the lock file beside the spec; the new compile writes `aws/trust-policy.json` "
                "and a runbook that goes on from here.",
                [
                    f"airspec resolve {_q(r.source)}",
                    f"airspec compile {_q(r.source)}",
                ],
            )
        )
    else:
        provider = aws.oidc_provider_arn(a.account_id, r.oidc_issuer, r.partition)
        steps.append(
            (
                "Check the OIDC issuer and its IAM provider",
                f"The first command must print `{r.oidc_issuer}`; the second must list "
                "`sts.amazonaws.com` as a client id.",
                [
                    issuer_cmd,
                    f"aws iam get-open-id-connect-provider --open-id-connect-provider-arn {_q(provider)}",
                ],
            )
        )
        iam_lines = []
        if ctx.find("aws.iam-policy") is not None:
            iam_lines.append(
                f"aws iam create-policy --policy-name {_q(a.role.policy_name)} "
                "--policy-document file://aws/iam-policy.json"
            )
        iam_lines.append(
            f"aws iam create-role --role-name {_q(a.role.name)} "
            "--assume-role-policy-document file://aws/trust-policy.json"
        )
        if ctx.find("aws.iam-policy") is not None:
            iam_lines.append(
                f"aws iam attach-role-policy --role-name {_q(a.role.name)} --policy-arn {_q(r.policy_arn)}"
            )
        steps.append(
            (
                "Create the agents' IAM role",
                "To update an existing role instead: `aws iam create-policy-version --policy-arn "
                f"{r.policy_arn} --policy-document file://aws/iam-policy.json --set-as-default` "
                f"and `aws iam update-assume-role-policy --role-name {a.role.name} "
                "--policy-document file://aws/trust-policy.json`.",
                iam_lines,
            )
        )
        if ctx.find("aws.log-reader-trust-policy") is not None:
            role = log_reader_role_name(r)
            steps.append(
                (
                    "Create the read-only role for Astro's log reader",
                    "Astro reads task logs through this role; it can only list and read the logs prefix.",
                    [
                        f"aws iam create-role --role-name {_q(role)} "
                        f"--assume-role-policy-document file://{TRUST_PATH}",
                        f"aws iam put-role-policy --role-name {_q(role)} --policy-name {_q(role + '-logs')} "
                        f"--policy-document file://{POLICY_PATH}",
                    ],
                )
            )
        secret_lines = [
            "kubectl apply -f k8s/namespace.yaml",
            _secret(
                ns,
                d.astro.agent_token_secret,
                "generic",
                '--from-literal=token="$ASTRO_AGENT_TOKEN"',
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
                conn = (
                    '"$(printf \'{"conn_type": "git", "login": "%s", "password": "%s", '
                    f'"host": "%s"}}\' "${env_var(b.name, "LOGIN")}" "${env_var(b.name, "TOKEN")}" '
                    f'{_q(b.git.repo)})"'
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
        steps.append(
            (
                "Create the namespace, its Secrets and ConfigMaps",
                "Create-or-update: safe to run again.",
                secret_lines,
            )
        )
        helm = (
            f"helm upgrade --install {_q(r.helm_release)} {CHART} --namespace {_q(ns)} "
            "--values helm/values.yaml"
        )
        if d.helm.chart_version:
            helm += f" --version {_q(d.helm.chart_version)}"
        steps.append(
            (
                "Install or upgrade the agents",
                "",
                [f"helm repo add astronomer {CHART_REPO} --force-update", helm],
            )
        )
        worker_sa = r.service_account("workers").name
        steps.append(
            (
                "Verify",
                "Pods become Ready, and the worker service account carries the role.",
                [
                    f"kubectl get pods --namespace {_q(ns)}",
                    f"kubectl get serviceaccount {_q(worker_sa)} --namespace {_q(ns)} "
                    "-o jsonpath='{.metadata.annotations.eks\\.amazonaws\\.com/role-arn}'",
                ],
            )
        )
    text = [
        f"<!-- generated by airspec from {r.source}; do not edit -->",
        f"# Runbook: {r.name}",
        "",
        f"Astro Remote Execution agents on EKS cluster `{c.name}` ({a.region}, account "
        f"`{a.account_id}`), namespace `{ns}`. Run the steps in order from the folder that "
        "holds this file.",
        "",
    ]
    for i, (title, note, lines) in enumerate(steps, 1):
        text.append(f"## {i}. {title}")
        text.append("")
        if note:
            text += [note, ""]
        text.append(_block(lines))
    return [Artifact(PATH, "runbook", "markdown", "\n".join(text).rstrip("\n") + "\n")]
