"""Hostile: AS225 (two specs compiled together never claim one live object) on GKE, where
a Workload Identity principal names the project's pool, a namespace and a Kubernetes
service account — and no cluster."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, SpecCli, git_repo
from hostile import finding

SPEC = ROOT / "specs" / "remote-exec-gke.airspec.yaml"


@finding("AS225 misses one Workload Identity principal on two clusters of a project")
def test_two_clusters_in_one_project_sharing_a_workload_identity_principal_are_refused(
    tmp_path: Path,
) -> None:
    """Team B runs the same agents on its own cluster in the same project: its own
    metadata.name, cluster, Google service account and buckets, the chart's default
    namespace and service account names. The principal
    `serviceAccount:acme-data-prod.svc.id.goog[airflow-agents/astro-agent-worker]` is the
    same for both clusters (one workload pool per project; the member names no cluster:
    GKE docs, "Workload Identity Federation for GKE", identity sameness), so each team's
    pods may impersonate the other's account. AS225 keys a service account by cluster and a
    binding by resource, and lets both specs through."""
    folder = git_repo(tmp_path)
    (folder / "a.airspec.yaml").write_text(SPEC.read_text())
    twin = (
        SPEC.read_text()
        .replace("name: gke-agents", "name: gke-agents-b")
        .replace("      name: airflow-agents\n", "      name: airflow-agents-b\n")
        .replace("serviceAccount: airflow-agents", "serviceAccount: airflow-agents-b")
        .replace("acme-airflow-logs", "acme-airflow-logs-b")
        .replace("acme-airflow-xcom", "acme-airflow-xcom-b")
    )
    assert twin.count("airflow-agents-b") == 2, twin  # the cluster and the GSA, not the namespace
    (folder / "b.airspec.yaml").write_text(twin)
    cli = SpecCli()
    cli.env = {}
    code, out, _ = cli.run("compile", str(folder), "--out", str(folder / "out"))
    if code == 0:  # show what was compiled: the one principal on both accounts
        member = "serviceAccount:acme-data-prod.svc.id.goog[airflow-agents/astro-agent-worker]"
        for name in ("gke-agents", "gke-agents-b"):
            bindings = json.loads((folder / "out" / name / "gcp" / "iam-bindings.json").read_text())
            gsa = bindings["resources"][0]
            assert member in json.dumps(gsa), (name, gsa)
    assert code == 1 and "AS225" in out, out


@finding("specs sharing buckets report each other's grants as broadening")
def test_two_specs_sharing_buckets_are_in_sync_right_after_applying_both(tmp_path: Path) -> None:
    """Two specs in one repository share the logs and XCom buckets and the project (each
    its own GSA, namespace and prefixes: AS225 accepts this, rightly). `apply specs/` makes
    both (exit 0). The very next `apply specs/ --dry-run` reports each spec's grants as
    "Security: live grants broader than compiled" in the other's report (exit 3, every
    day), and `apply a.airspec.yaml` lists the other spec's grants with the `gcloud …
    remove-iam-policy-binding` commands that would cut its access."""
    from conftest import variant
    from live_servers import FakeGcp

    with FakeGcp() as gcp:
        for resource in (
            "projects/_/buckets/acme-airflow-logs",
            "projects/_/buckets/acme-airflow-xcom",
            "projects/acme-data-prod",
        ):
            gcp.write(resource, [])
        folder = git_repo(tmp_path, "https://github.com/acme/platform")
        (folder / "a.airspec.yaml").write_text(SPEC.read_text())
        twin = variant(SPEC.read_text(), "b")
        twin = twin.replace("prefix: agents/logs", "prefix: agents-b/logs")
        (folder / "b.airspec.yaml").write_text(twin.replace("prefix: xcom,", "prefix: xcom-b,"))
        cli = SpecCli()
        cli.env = {
            "AIRSPEC_GCP_ENDPOINT": gcp.url,
            "AIRSPEC_READ_RETRIES": "0",
            "GOOGLE_CLOUD_PROJECT": "acme-data-prod",
        }
        out = folder / "out"
        assert cli.run("compile", str(folder), "--out", str(out))[0] == 0
        code, stdout, err = cli.run("apply", str(folder), "--out", str(out), "-t", "gcp-iam", "--yes")
        assert code == 0, stdout + err
        code, stdout, err = cli.run(
            "apply", str(folder), "--out", str(out), "-t", "gcp-iam", "--dry-run", "-f", "json"
        )
        report = json.loads(stdout)
        assert report["counts"]["broadening"] == 0, json.dumps(report["findings"], indent=1)
        assert code == 0, stdout
        code, stdout, err = cli.run(
            "apply", str(folder / "a.airspec.yaml"), "--out", str(out), "-t", "gcp-iam", "--yes"
        )
        assert "remove-iam-policy-binding" not in stdout, stdout
        assert code == 0, stdout + err
