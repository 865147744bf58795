"""Hostile: every way `airspec apply` can end must print exactly one document on stdout in
the chosen format, with no traceback, the documented exit code, and no live credential in
any of them (stderr included). Driven through the real CLI against moto, FakeKube and
plain HTTP servers that answer as a proxy or captive portal would."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, git_repo
from hostile import answering, cli, finding
from live_servers import FakeKube, RecordingMotoServer, moto_env, write_kubeconfig
from test_apply import World

FORMATS = ["text", "json", "markdown"]
TOKEN = "ghp_" + "H" * 36  # a GitHub token shape the redactor knows
PASSWORD = "NeverShownProxyPassword"
PAGE = b"<!doctype html><html><body>Please sign in to the guest network</body></html>"


@pytest.fixture
def world(tmp_path: Path, moto: RecordingMotoServer) -> Iterator[World]:
    with FakeKube() as kube:
        yield World(tmp_path, moto, kube)


@dataclass(frozen=True)
class Compiled:
    """The example EKS spec compiled in a git repository of its own; no live objects."""

    spec: Path
    out: Path

    def args(self, *more: str) -> list[str]:
        return ["apply", str(self.spec), "--out", str(self.out), "-t", "iam", *more]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    folder = git_repo(tmp_path_factory.mktemp("compiled"))
    shutil.copy(ROOT / "specs" / "constraints.txt", folder / "constraints.txt")
    spec = folder / "remote-exec-eks.airspec.yaml"
    shutil.copy(ROOT / "specs" / "remote-exec-eks.airspec.yaml", spec)
    assert cli(["compile", str(spec), "--out", str(folder / "out")], {})[0] == 0
    return Compiled(spec, folder / "out")


@pytest.fixture
def empty_moto(moto: RecordingMotoServer) -> RecordingMotoServer:
    urllib.request.urlopen(urllib.request.Request(f"{moto.url}/moto-api/reset", method="POST"))
    return moto


MODES = (["--dry-run"], ["--yes"])


def _check_one_document(fmt: str, out: str, dry: bool) -> None:
    if fmt == "json":
        doc = json.loads(out)  # one document, or this raises
        assert doc["error"]["message"], out
    elif fmt == "markdown":
        heading = "### airspec drift:" if dry else "### airspec apply:"
        assert out.count(heading) == 1, out


# --- AWS configuration the user got wrong: a traceback, nothing on stdout ---------------------


@finding("an unknown AWS_PROFILE, a broken AWS config file or endpoint is a traceback")
@pytest.mark.parametrize(
    "env",
    [
        {"AWS_PROFILE": "no-such-profile"},  # the commonest mistake of all
        {"AWS_CONFIG_FILE": "/etc/hostname"},  # not an INI file
        {"AWS_ENDPOINT_URL": "not-a-url"},
    ],
    ids=["unknown-profile", "broken-config-file", "bad-endpoint"],
)
def test_bad_aws_configuration_is_one_document_not_a_traceback(
    compiled: Compiled, empty_moto: RecordingMotoServer, env: dict[str, str]
) -> None:
    """botocore raises ProfileNotFound / ConfigParseError (BotoCoreErrors) or ValueError
    while the client is built, outside the readers' error handling: a traceback and an
    empty stdout, in every format, dry run or not."""
    for mode in MODES:
        for fmt in FORMATS:
            code, out, err, exc = cli(
                compiled.args(*mode, "-f", fmt), {**moto_env(empty_moto.url), **env}
            )
            assert exc is None, f"{mode} {fmt}: {type(exc).__name__}: {exc}"
            assert code == 1, out + err
            _check_one_document(fmt, out, mode == ["--dry-run"])


# --- a server's error message reaches JSON and stderr unredacted ------------------------------


@finding("server error messages reach the JSON report unredacted")
def test_a_credential_in_a_read_error_never_reaches_the_json(
    compiled: Compiled, empty_moto: RecordingMotoServer
) -> None:
    """GetRole answers AccessDenied with a message holding a token and a URL with userinfo
    (a proxy, a webhook, an SCP echoing input). Text and Markdown pass it through the
    redactor; the JSON report (dry run: the finding's message; apply: the plan's findings)
    carries it verbatim."""
    message = f"denied by https://svc:{PASSWORD}@policy.example.com (ref {TOKEN})"
    with answering(empty_moto, {"GetRole": (403, "AccessDenied", message)}):
        for mode in MODES:
            for fmt in FORMATS:
                code, out, err, exc = cli(
                    compiled.args(*mode, "-f", fmt), moto_env(empty_moto.url)
                )
                assert exc is None and code == 1, (mode, fmt, out + err)
                assert "AccessDenied" in out + err, (mode, fmt, out)
                for secret in (TOKEN, PASSWORD):
                    assert secret not in out + err, (mode, fmt, secret, out)


@finding("the stop message reaches stderr and JSON unredacted")
def test_a_credential_in_an_identity_error_never_reaches_any_output(compiled: Compiled) -> None:
    """The endpoint carries userinfo (so does the message): the stop message goes to
    stderr and into the JSON document without the redactor (Markdown redacts it)."""
    env = {**moto_env("http://127.0.0.1:9"), "AWS_ENDPOINT_URL": f"http://proxy:{PASSWORD}@127.0.0.1:9"}
    for fmt in FORMATS:
        code, out, err, exc = cli(compiled.args("--dry-run", "-f", fmt), env)
        assert exc is None and code == 1, out + err
        assert PASSWORD not in out, (fmt, out)
        assert PASSWORD not in err, (fmt, err)


@finding("stop lines on stderr are not escaped: a server writes its own airspec: lines")
def test_control_characters_from_a_server_never_reach_the_terminal(
    compiled: Compiled, empty_moto: RecordingMotoServer
) -> None:
    """STS answers with a carriage return and a newline in its error message (XML carries
    both): the stop lines on stderr are printed as received, so the server can overwrite
    the line and add its own `airspec:` lines."""
    message = "denied\r\nairspec: in sync (7 live objects read); nothing to do\r"
    with answering(empty_moto, {"GetCallerIdentity": (403, "AccessDenied", message)}):
        code, out, err, exc = cli(compiled.args("--dry-run"), moto_env(empty_moto.url))
    assert exc is None and code == 1, out + err
    assert "AccessDenied" in err
    assert "\nairspec: in sync" not in err, repr(err)  # a line the server wrote


@finding("an HTML page from a proxy is a KeyError / ResponseParserError traceback")
@pytest.mark.parametrize(
    ("status", "page"),
    [(200, b"<html><body>Sign in</body></html>"), (200, PAGE), (503, PAGE)],
    ids=["200-html", "200-doctype-html", "503-doctype-html"],
)
def test_an_unparsable_aws_answer_is_an_error_not_a_traceback(
    compiled: Compiled, empty_moto: RecordingMotoServer, status: int, page: bytes
) -> None:
    """A proxy or captive portal answers STS with an HTML page. botocore either parses it
    to an empty result, which `caller_account` indexes (KeyError), or raises
    ResponseParserError, which is not a BotoCoreError. Both escape as tracebacks."""
    with answering(empty_moto, {}, {"*": (status, page)}):
        for fmt in FORMATS:
            code, out, err, exc = cli(compiled.args("--dry-run", "-f", fmt), moto_env(empty_moto.url))
            assert exc is None, f"{fmt}: {type(exc).__name__}: {exc}"
            assert code == 1, out + err
            _check_one_document(fmt, out, True)


@finding("ResponseParserError mid-apply: traceback, calls made never reported")
def test_a_proxy_page_in_the_middle_of_apply_still_reports_the_calls_made(
    world: World, moto: RecordingMotoServer
) -> None:
    """The policy and the role's trust policy both drift (both this spec's). The new
    policy version is created, then a proxy answers UpdateAssumeRolePolicy with a 503
    HTML page. ResponseParserError is not caught by apply's call wrapper: a traceback, and
    neither the text nor the JSON says that a policy version was created."""
    arn = "arn:aws:iam::123456789012:policy/AirflowS3Access"
    owner = [{"Key": "airspec.io/owner", "Value": "github.com/acme/team-a/remote-exec-demo"}]
    world.iam.tag_policy(PolicyArn=arn, Tags=owner)
    world.iam.tag_role(RoleName="AirflowS3LoggerXComRole", Tags=owner)
    policy = json.loads(json.dumps(world.art["aws/iam-policy.json"]))
    policy["Statement"][0]["Sid"] = "Renamed"
    world.iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(policy), SetAsDefault=True)
    trust = json.loads(json.dumps(world.art["aws/trust-policy.json"]))
    trust["Statement"][0]["Sid"] = "Renamed"
    world.iam.update_assume_role_policy(
        RoleName="AirflowS3LoggerXComRole", PolicyDocument=json.dumps(trust)
    )
    with answering(moto, {}, {"UpdateAssumeRolePolicy": (503, PAGE)}):
        args = ["apply", str(world.spec), "--out", str(world.out), "-t", "iam", "--yes"]
        code, out, err, exc = cli([*args, "-f", "json"], world.env)
    assert exc is None, f"{type(exc).__name__}: {exc}"
    assert code == 1, out + err
    doc = json.loads(out)
    calls = [c for p in doc["plan"] for c in p["calls"]]
    assert any("CreatePolicyVersion" in c for c in calls), doc
    assert doc["result"]["failed"]["target"].endswith("role/AirflowS3LoggerXComRole"), doc


# --- Markdown: two documents ------------------------------------------------------------------


@finding("markdown apply prints two documents (plan, then result)")
def test_markdown_apply_with_only_steps_left_prints_one_document(world: World) -> None:
    """Only a pending Helm step (nothing airspec runs itself): the plan document is printed,
    then the result document — two `### airspec apply` summaries on stdout, which a job
    summary shows twice."""
    values = json.loads(json.dumps(world.art["helm/values.yaml"]))
    values["workers"][0]["replicas"] = 7
    world.kube.put_helm_release("airflow-agents", "remote-exec-demo", 2, values)
    args = ["apply", str(world.spec), "--out", str(world.out), "-t", "helm", "--yes"]
    code, out, err, exc = cli([*args, "-f", "markdown"], world.env)
    assert exc is None and code == 3, out + err
    assert out.count("### airspec apply:") == 1, out


class Portal:
    """An HTTP server that answers every request with 200 and an HTML page (a captive
    portal, a proxy's login page, a misrouted ingress)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

            do_GET = do_POST = do_PUT = do_PATCH = _serve

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def portal() -> Iterator[Portal]:
    server = Portal()
    yield server
    server.close()


@finding("an HTML page from the Google or Kubernetes endpoint is a traceback")
@pytest.mark.parametrize("target", ["gcp-iam", "gke", "kubernetes", "helm"])
def test_an_html_page_from_google_or_kubernetes_is_an_error_not_a_traceback(
    tmp_path: Path, portal: Portal, target: str
) -> None:
    """The Google API endpoint or the Kubernetes API server answers with an HTML page:
    the Google client hands back a string (AttributeError in the readers), the Kubernetes
    client fails to build its model (ValidationError). Tracebacks, nothing on stdout."""
    git_repo(tmp_path)
    spec = tmp_path / "remote-exec-gke.airspec.yaml"
    shutil.copy(ROOT / "specs" / "remote-exec-gke.airspec.yaml", spec)
    assert cli(["compile", str(spec), "--out", str(tmp_path / "out")], {})[0] == 0
    kubeconfig = write_kubeconfig(tmp_path, portal.url, token="t")
    env = {
        "AIRSPEC_GCP_ENDPOINT": portal.url,
        "AIRSPEC_READ_RETRIES": "0",
        "GOOGLE_CLOUD_PROJECT": "acme-data-prod",
        "KUBECONFIG": str(kubeconfig),
    }
    args = ["apply", str(spec), "--out", str(tmp_path / "out"), "-t", target, "--dry-run"]
    for fmt in FORMATS:
        code, out, err, exc = cli([*args, "-f", fmt], env)
        assert exc is None, f"{fmt}: {type(exc).__name__}: {exc}"
        assert code == 1, out + err
        if fmt == "json":
            assert json.loads(out)["counts"]["error"] >= 1, out
