"""AS222: agent pods that the declared EKS node groups cannot run (a warning with numbers).

Allocatable = the instance's vCPUs and memory minus what the EKS-optimized AMI's bootstrap
reserves for the kubelet and system (amazon-eks-ami, bootstrap: CPU 6% of the first core,
1% of the second, 0.5% of cores 3-4, 0.25% of the rest; memory 11 MiB per pod the instance
can hold plus 255 MiB) and the kubelet's 100 MiB hard eviction threshold. Instance sizes are
from the EC2 instance-type table, max pods from the AMI's eni-max-pods.txt. Nominal memory
is used, so the check errs on the side of silence: when it warns, the pods do not fit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from airspec.codes import SCHEDULING, make, rule
from airspec.diagnostics import Diagnostic, Severity
from airspec.kube import quantity_value
from airspec.model import NodeGroup, Resources
from airspec.platforms import SOFTWARE
from airspec.rules.context import RuleContext

GIB = Decimal(2**30)
MIB = Decimal(2**20)

# instance type -> (vCPUs, memory GiB, max pods with the VPC CNI)
INSTANCES: dict[str, tuple[int, int, int]] = {
    "t3.medium": (2, 4, 17),
    "t3.large": (2, 8, 35),
    "t3.xlarge": (4, 16, 58),
    "t3.2xlarge": (8, 32, 58),
    "c5.large": (2, 4, 29),
    "c5.xlarge": (4, 8, 58),
    "c5.2xlarge": (8, 16, 58),
    "c5.4xlarge": (16, 32, 234),
    "m5.large": (2, 8, 29),
    "m5.xlarge": (4, 16, 58),
    "m5.2xlarge": (8, 32, 58),
    "m5.4xlarge": (16, 64, 234),
    "m6i.large": (2, 8, 29),
    "m6i.xlarge": (4, 16, 58),
    "m6i.2xlarge": (8, 32, 58),
    "m6i.4xlarge": (16, 64, 234),
    "m7i.large": (2, 8, 29),
    "m7i.xlarge": (4, 16, 58),
    "m7i.2xlarge": (8, 32, 58),
    "r5.large": (2, 16, 29),
    "r5.xlarge": (4, 32, 58),
    "r5.2xlarge": (8, 64, 58),
    "r6i.large": (2, 16, 29),
    "r6i.xlarge": (4, 32, 58),
    "r6i.2xlarge": (8, 64, 58),
    "r6i.4xlarge": (16, 128, 234),
}


@dataclass(frozen=True)
class Allocatable:
    cpu: Decimal  # cores
    memory: Decimal  # bytes


def allocatable(instance_type: str) -> Allocatable | None:
    """What one node of this type offers to pods, or None for a type not in the table."""
    if instance_type not in INSTANCES:
        return None
    vcpus, gib, max_pods = INSTANCES[instance_type]
    reserved_m = Decimal(60) + (10 if vcpus > 1 else 0)
    reserved_m += Decimal(5) * max(0, min(vcpus, 4) - 2) + Decimal("2.5") * max(0, vcpus - 4)
    memory = gib * GIB - (11 * max_pods + 255 + 100) * MIB
    return Allocatable(Decimal(vcpus) - reserved_m / 1000, memory)


@dataclass(frozen=True)
class Pods:
    what: str
    replicas: int
    cpu: Decimal
    memory: Decimal
    selector: dict[str, str]
    at: tuple[str | int, ...]


def _pods(ctx: RuleContext) -> list[Pods] | None:
    spec = ctx.spec
    assert spec is not None
    d = spec.deployment

    def request(res: Resources) -> tuple[Decimal, Decimal] | None:
        cpu, memory = quantity_value(res.cpu), quantity_value(res.memory)
        return None if cpu is None or memory is None else (cpu, memory)

    out = []
    parts: list[tuple[str, int, Resources, dict[str, str], tuple[str | int, ...]]] = [
        (
            f"worker '{w.name}'",
            w.replicas,
            w.resources,
            w.node_selector,
            ("deployment", "workers", i),
        )
        for i, w in enumerate(d.workers)
    ]
    parts.append(
        ("the triggerer", d.triggerer.replicas, d.triggerer.resources, {}, ("deployment",))
    )
    parts.append(("the DAG processor", 1, d.dag_processor.resources, {}, ("deployment",)))
    for what, replicas, res, selector, at in parts:
        amounts = request(res)
        if amounts is None:
            return None  # AS213 reports the quantity
        out.append(Pods(what, replicas, *amounts, selector, at))
    return out


def _fits(pods: Pods, group: NodeGroup) -> bool:
    return all(group.labels.get(k) == v for k, v in pods.selector.items())


def _cores(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.001')).normalize():f}"


def _gib(value: Decimal) -> str:
    return f"{(value / GIB).quantize(Decimal('0.1'))}Gi"


@rule(SCHEDULING, "scheduling")
def pods_fit_node_groups(ctx: RuleContext) -> Iterator[Diagnostic]:
    """Agent pods the declared EKS node groups cannot run as created (a warning).

    Checked for Remote Execution specs that declare `nodeGroups`, with the requests each
    worker, the triggerer and the DAG processor make, against what each node group offers
    at `desiredCapacity` (nothing else scales a group unless a cluster autoscaler runs):

    - a worker whose `nodeSelector` matches no node group's `labels`, or only groups that
      start with 0 nodes, never runs;
    - one pod that requests more than a node of every group it may use can allocate never
      runs;
    - the pods' requests together exceed the node groups' allocatable CPU or memory.

    Allocatable follows the EKS-optimized AMI's kubelet reservations (see the module doc);
    instance types outside airspec's table are not checked. System pods (CNI, kube-proxy,
    CoreDNS) also need room, so a spec that passes may still be tight.
    """
    spec = ctx.spec
    assert spec is not None
    aws = spec.cloud.aws
    if aws is None or spec.deployment.platform == SOFTWARE or not aws.cluster.node_groups:
        return
    groups = aws.cluster.node_groups
    pods = _pods(ctx)
    if pods is None:
        return

    def warn(at: tuple[str | int, ...], message: str, hint: str) -> Diagnostic:
        return make(SCHEDULING, ctx.at(*at), message, hint, Severity.WARNING)

    for p in pods:
        if p.replicas == 0:
            continue
        eligible = [g for g in groups if _fits(p, g)]
        if not eligible:
            yield warn(
                (*p.at, "nodeSelector"),
                f"{p.what} selects {p.selector}, which no node group's labels match; its pods "
                "never run",
                "add the labels to a node group, or change the nodeSelector",
            )
            continue
        if all(g.desired_capacity == 0 for g in eligible):
            names = ", ".join(g.name for g in eligible)
            yield warn(
                (*p.at, "nodeSelector") if p.selector else p.at,
                f"{p.what} can only run on node group(s) {names}, which start with 0 nodes; "
                "nothing adds one unless a cluster autoscaler runs",
                "set desiredCapacity to at least 1, or install the cluster autoscaler",
            )
        sizes = [(g, allocatable(g.instance_type)) for g in eligible]
        known = [(g, a) for g, a in sizes if a is not None]
        too_big = all(p.cpu > a.cpu or p.memory > a.memory for _, a in known)
        if known and len(known) == len(sizes) and too_big:
            g, a = max(known, key=lambda ga: (ga[1].cpu, ga[1].memory))
            yield warn(
                (*p.at, "resources"),
                f"one pod of {p.what} requests {_cores(p.cpu)} CPU and {_gib(p.memory)}; "
                f"a {g.instance_type} node allocates at most {_cores(a.cpu)} CPU and "
                f"{_gib(a.memory)}",
                "lower the requests, or use a larger instance type",
            )

    capacity = [(g, allocatable(g.instance_type)) for g in groups]
    if any(a is None for _, a in capacity):
        return
    cpu = sum((a.cpu * g.desired_capacity for g, a in capacity if a), Decimal(0))
    memory = sum((a.memory * g.desired_capacity for g, a in capacity if a), Decimal(0))
    want_cpu = sum((p.cpu * p.replicas for p in pods), Decimal(0))
    want_memory = sum((p.memory * p.replicas for p in pods), Decimal(0))
    if want_cpu > cpu or want_memory > memory:
        nodes = ", ".join(f"{g.desired_capacity} x {g.instance_type}" for g in groups)
        yield warn(
            ("cloud", "aws", "cluster", "nodeGroups"),
            f"the agent pods request {_cores(want_cpu)} CPU and {_gib(want_memory)}; the node "
            f"groups start with {_cores(cpu)} CPU and {_gib(memory)} allocatable ({nodes})",
            "raise desiredCapacity, use larger instances, or lower the requests",
        )
