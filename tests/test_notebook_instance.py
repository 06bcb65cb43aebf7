"""The notebook instance: its platform and metadata service, the on-start script's systemd timer, and the idle
check that timer runs, executed as installed against a real jupyter_server on 127.0.0.1 (HTTPS, self-signed,
as on the instance)."""

from __future__ import annotations

import asyncio
import base64
import configparser
import datetime
import glob
import json
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters

from local.template import REPO_ROOT
from stacks.notebook import IDLE_STOP_SOURCE, PLATFORM_IDENTIFIER, PLATFORM_KERNELS, notebook_instance_name

REGION = "us-east-1"
NOTEBOOK_NAME = notebook_instance_name("shardlab")
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")


# --- the template ---------------------------------------------------------------------------------------------


def _lifecycle(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (config,) = [r for r in template["Resources"].values()
                 if r["Type"] == "AWS::SageMaker::NotebookInstanceLifecycleConfig"]
    script, variables = config["Properties"]["OnStart"][0]["Content"]["Fn::Base64"]["Fn::Sub"]
    return script, variables


def rendered_on_start(template: dict[str, Any], filler: str = "resolved") -> str:
    """The on-start script as CloudFormation's Fn::Sub hands it to SageMaker (references replaced by filler)."""
    script, variables = _lifecycle(template)
    values = {name: (value if isinstance(value, str) else filler) for name, value in variables.items()}
    values["AWS::Region"] = REGION
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], script)
    assert "${" not in rendered
    return rendered


def written_file(script: str, path: str) -> str:
    """The text a `cat > PATH <<'MARK'` heredoc of the script writes."""
    match = re.search(rf"^cat > {re.escape(path)} <<'(\w+)'\n(.*?)\n\1$", script, re.MULTILINE | re.DOTALL)
    assert match, f"the on-start script writes no {path}"
    return match.group(2)


def unit(script: str, name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(written_file(script, f"/etc/systemd/system/{name}"))
    return parser


def notebook_properties(template: dict[str, Any]) -> dict[str, Any]:
    (instance,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::NotebookInstance"]
    return dict(instance["Properties"])


def test_the_instance_runs_amazon_linux_2023_and_requires_imdsv2(template: dict[str, Any]) -> None:
    properties = notebook_properties(template)
    assert properties["PlatformIdentifier"] == PLATFORM_IDENTIFIER == "notebook-al2023-v1"
    assert properties["InstanceMetadataServiceConfiguration"] == {"MinimumInstanceMetadataServiceVersion": "2"}
    # What SageMaker's CreateNotebookInstance accepts (botocore's model, patterns included) ...
    request = {
        "NotebookInstanceName": properties["NotebookInstanceName"], "InstanceType": properties["InstanceType"],
        "RoleArn": "arn:aws:iam::123456789012:role/notebook", "KmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "LifecycleConfigName": "shardlab-notebook-on-start", "RootAccess": properties["RootAccess"],
        "DirectInternetAccess": properties["DirectInternetAccess"], "VolumeSizeInGB": properties["VolumeSizeInGB"],
        "PlatformIdentifier": properties["PlatformIdentifier"],
        "InstanceMetadataServiceConfiguration": properties["InstanceMetadataServiceConfiguration"],
    }
    shape = SAGEMAKER.operation_model("CreateNotebookInstance").input_shape
    validate_parameters(request, shape)
    imds = shape.members["InstanceMetadataServiceConfiguration"].members["MinimumInstanceMetadataServiceVersion"]
    assert re.fullmatch(shape.members["PlatformIdentifier"].metadata["pattern"], PLATFORM_IDENTIFIER)
    assert re.fullmatch(imds.metadata["pattern"], "2")
    # ... and what CloudFormation's resource schema (cfn-lint's copy) accepts.
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, "AWS::SageMaker::NotebookInstance").schema
    assert re.fullmatch(schema["properties"]["PlatformIdentifier"]["pattern"], PLATFORM_IDENTIFIER)
    assert PLATFORM_IDENTIFIER in PLATFORM_KERNELS  # the notebooks' kernel is checked against this platform


def test_the_idle_check_runs_from_a_systemd_timer_not_cron(template: dict[str, Any]) -> None:
    script = rendered_on_start(template)
    assert "cron" not in script  # Amazon Linux 2023 has no cron daemon
    # The file the timer runs is the tested module, byte for byte.
    assert written_file(script, "/usr/local/bin/shardlab-idle-stop") == IDLE_STOP_SOURCE.read_text().rstrip("\n")
    assert "chmod 755 /usr/local/bin/shardlab-idle-stop" in script
    service = unit(script, "shardlab-idle-stop.service")
    assert service["Service"]["Type"] == "oneshot"
    assert shlex.split(service["Service"]["ExecStart"]) == [
        "/usr/bin/python3", "/usr/local/bin/shardlab-idle-stop", "--idle-minutes", "60", "--region", REGION]
    assert service["Service"]["RuntimeDirectory"] == "shardlab-idle-stop"  # holds its --state-file
    assert service["Service"]["RuntimeDirectoryPreserve"] == "yes"  # between runs of the oneshot
    timer = unit(script, "shardlab-idle-stop.timer")
    assert timer["Timer"]["OnActiveSec"] == timer["Timer"]["OnUnitActiveSec"] == "5min"
    assert timer["Install"]["WantedBy"] == "timers.target"
    commands = [line.strip() for line in script.splitlines() if line.strip().startswith("systemctl")]
    assert commands == ["systemctl daemon-reload", "systemctl enable --now shardlab-idle-stop.timer"]
    assert script.index("shardlab-idle-stop.timer <<") < script.index("systemctl daemon-reload")


def test_the_on_start_script_fits_sagemakers_limit_with_the_longest_names(template: dict[str, Any]) -> None:
    # Every reference (bucket, state machine ARN, asset URL) at 300 characters, more than any can be.
    script = rendered_on_start(template, filler="x" * 300)
    assert len(base64.b64encode(script.encode())) <= 16384  # NotebookInstanceLifecycleHook.Content
    content = SAGEMAKER.shape_for("NotebookInstanceLifecycleConfigContent")
    assert content.metadata["max"] == 16384


def test_the_on_start_script_copies_the_notebooks_without_overwriting_edits(template: dict[str, Any],
                                                                            tmp_path: Path) -> None:
    script = rendered_on_start(template)
    match = re.search(r"^  /usr/bin/python3 - (\S+) \$PROJECT_DIR <<'PY'\n(.*?)\nPY$", script, re.MULTILINE | re.DOTALL)
    assert match and match.group(1) == "/tmp/shardlab-notebooks.zip"
    archive = tmp_path / "notebooks.zip"
    with zipfile.ZipFile(archive, "w") as notebooks:
        notebooks.writestr("explore.ipynb", "shipped explore")
        notebooks.writestr("shardlab_notebook.py", "shipped helper")
    project = tmp_path / "project"
    project.mkdir()
    (project / "explore.ipynb").write_text("the user's edits")
    subprocess.run([sys.executable, "-", str(archive), str(project)], input=match.group(2), text=True, check=True)
    assert (project / "explore.ipynb").read_text() == "the user's edits"
    assert (project / "shardlab_notebook.py").read_text() == "shipped helper"


def test_code_for_the_instance_uses_nothing_newer_than_its_pythons(tmp_path: Path) -> None:
    """The idle check runs on the system Python (3.9), the notebooks and their helper in conda_python3 (3.10)."""
    import nbformat

    def vermin(target: str, *paths: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())"]
        return subprocess.run([*command, f"-t={target}-", "--violations", "--no-tips", "--eval-annotations",
                               *map(str, paths)], capture_output=True, text=True, check=False)

    cells = []
    for name in ("explore", "evaluate"):
        notebook = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        path = tmp_path / f"{name}_cells.py"
        path.write_text("\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code"))
        cells.append(path)
    for target, paths in (("3.9", [IDLE_STOP_SOURCE]),
                          ("3.10", [REPO_ROOT / "notebooks" / "shardlab_notebook.py", *cells])):
        result = vermin(target, *paths)
        assert result.returncode == 0, result.stdout + result.stderr
    newer = tmp_path / "newer.py"  # the check does catch what the instance's Python lacks
    newer.write_text("import datetime\nprint(datetime.UTC)\n")
    assert vermin("3.10", newer).returncode != 0


# --- the idle check against a real Jupyter server -----------------------------------------------------------


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=7)).sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "jupyter.crt", folder / "jupyter.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


UNVERIFIED = ssl._create_unverified_context()  # the server's self-signed certificate


@dataclass
class Jupyter:
    url: str
    kernel_name: str

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/api/{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=UNVERIFIED, timeout=30) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def status(self) -> dict[str, Any]:
        return dict(self.request("GET", "status"))  # /api/status is never counted as activity

    def kernel(self, kernel_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"kernels/{kernel_id}?no_track_activity=1"))

    def wait_for_state(self, kernel_id: str, state: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.kernel(kernel_id)["execution_state"] != state:
            assert time.monotonic() < deadline, f"kernel {kernel_id} never became {state}"
            time.sleep(0.2)

    def settled_status(self) -> dict[str, Any]:
        """/api/status once its last_activity stops moving (kernel start-up messages arrive for a while)."""
        status = self.status()
        for _ in range(100):
            time.sleep(0.5)
            again = self.status()
            if again["last_activity"] == status["last_activity"]:
                return again
            status = again
        raise AssertionError("Jupyter's last_activity never settled")

    def start_kernel(self) -> str:
        """A kernel that has started up and run something, as after a user opened a notebook."""
        kernel_id = str(self.request("POST", "kernels", {"name": self.kernel_name})["id"])
        self.execute(kernel_id, "pass", until="idle")
        return kernel_id

    def execute(self, kernel_id: str, code: str, until: str = "busy") -> None:
        """Send code to a kernel over its websocket (as JupyterLab does); return once it is executing (busy) or
        has finished (idle)."""
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        async def send() -> None:
            url = self.url.replace("https:", "wss:") + f"/api/kernels/{kernel_id}/channels"
            connection = await websocket_connect(HTTPRequest(url, validate_cert=False))
            msg_id = uuid.uuid4().hex
            await connection.write_message(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex,
                           "username": "test", "version": "5.3",
                           "date": datetime.datetime.now(datetime.UTC).isoformat()},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True},
            }))
            while True:
                message = json.loads(await asyncio.wait_for(connection.read_message(), 120))  # type: ignore[arg-type]
                if (message["msg_type"] == "status" and message["parent_header"].get("msg_id") == msg_id
                        and message["content"]["execution_state"] == until):
                    break
            connection.close()

        asyncio.run(send())
        self.wait_for_state(kernel_id, until)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jupyter]:
    home = tmp_path_factory.mktemp("jupyter")
    kernel_name = "shardlab-test-python"
    spec = home / "path" / "kernels" / kernel_name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "shardlab test", "language": "python",
    }))
    cert_file, key_file = _self_signed_certificate(home)
    environment = {**os.environ, "JUPYTER_PATH": str(home / "path"), "JUPYTER_CONFIG_DIR": str(home / "config"),
                   "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
                   "IPYTHONDIR": str(home / "ipython"), "JUPYTER_PLATFORM_DIRS": "1"}
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.open_browser=False", f"--ServerApp.root_dir={home}",
         # As on the instance: no token on localhost (SageMaker authenticates in front of it), HTTPS.
         "--IdentityProvider.token=", f"--ServerApp.certfile={cert_file}", f"--ServerApp.keyfile={key_file}",
         "--ServerApp.disable_check_xsrf=True", "--allow-root"],  # the test's own POSTs carry no XSRF cookie
        env=environment, stdout=subprocess.DEVNULL, stderr=(home / "server.log").open("w"),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not glob.glob(str(home / "runtime" / "jpserver-*.json")):
            assert server.poll() is None, (home / "server.log").read_text()
            assert time.monotonic() < deadline, "jupyter_server did not start"
            time.sleep(0.2)
        yield Jupyter(url=f"https://127.0.0.1:{port}", kernel_name=kernel_name)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture
def kernels(jupyter: Jupyter) -> Iterator[list[str]]:
    """Kernels a test starts; shut down after it."""
    started: list[str] = []
    yield started
    for kernel_id in started:
        jupyter.request("DELETE", f"kernels/{kernel_id}")


@dataclass
class IdleStop:
    """The idle check as the on-start script installs it, run the way its systemd unit runs it."""

    script: Path
    unit_arguments: list[str]
    folder: Path

    def run(self, jupyter_url: str, now: datetime.datetime) -> tuple[str, list[list[str]]]:
        calls = self.folder / "aws-calls.jsonl"
        calls.unlink(missing_ok=True)
        result = subprocess.run(
            [sys.executable, str(self.script), *self.unit_arguments, "--jupyter-url", jupyter_url,
             "--metadata-file", str(self.folder / "resource-metadata.json"),
             "--state-file", str(self.folder / "run" / "unreachable-since"), "--now", now.isoformat()],
            env={**os.environ, "PATH": f"{self.folder / 'bin'}{os.pathsep}{os.environ['PATH']}",
                 "FAKE_AWS_CALLS": str(calls)},
            capture_output=True, text=True, check=True, timeout=120,
        )
        made = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
        return result.stdout, made


STOP_CALL = ["sagemaker", "stop-notebook-instance", "--region", REGION, "--notebook-instance-name", NOTEBOOK_NAME]


@pytest.fixture
def idle_stop(template: dict[str, Any], tmp_path: Path) -> IdleStop:
    on_start = rendered_on_start(template)
    script = tmp_path / "shardlab-idle-stop"
    script.write_text(written_file(on_start, "/usr/local/bin/shardlab-idle-stop") + "\n")
    exec_start = shlex.split(unit(on_start, "shardlab-idle-stop.service")["Service"]["ExecStart"])
    (tmp_path / "resource-metadata.json").write_text(json.dumps({
        "ResourceArn": f"arn:aws:sagemaker:{REGION}:123456789012:notebook-instance/{NOTEBOOK_NAME}",
        "ResourceName": NOTEBOOK_NAME}))
    # The AWS CLI the check calls to stop the instance: records its arguments.
    (tmp_path / "bin").mkdir()
    fake_aws = tmp_path / "bin" / "aws"
    fake_aws.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                        "with open(os.environ['FAKE_AWS_CALLS'], 'a') as calls:\n"
                        "    calls.write(json.dumps(sys.argv[1:]) + '\\n')\n")
    fake_aws.chmod(0o755)
    return IdleStop(script=script, unit_arguments=exec_start[2:], folder=tmp_path)


def _at(timestamp: str, minutes: float) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return moment + datetime.timedelta(minutes=minutes)


def test_an_idle_server_is_stopped_once_the_idle_minutes_have_passed(jupyter: Jupyter, idle_stop: IdleStop,
                                                                     kernels: list[str]) -> None:
    kernels.append(jupyter.start_kernel())  # an idle kernel does not keep it running
    last = jupyter.settled_status()["last_activity"]
    output, calls = idle_stop.run(jupyter.url, _at(last, 59))
    assert calls == [] and "keep running" in output
    output, calls = idle_stop.run(jupyter.url, _at(last, 61))
    assert calls == [STOP_CALL], output
    assert "stopping: idle for 61.0 min" in output


def test_a_busy_kernel_keeps_the_instance_running(jupyter: Jupyter, idle_stop: IdleStop,
                                                  kernels: list[str]) -> None:
    kernel_id = jupyter.start_kernel()
    kernels.append(kernel_id)
    jupyter.execute(kernel_id, "import time\ntime.sleep(600)")
    last = jupyter.status()["last_activity"]  # a silent computation sends no messages: this stays old
    for minutes in (61, 24 * 60):
        output, calls = idle_stop.run(jupyter.url, _at(last, minutes))
        assert calls == [] and f"busy: {kernel_id}" in output, output
    jupyter.request("POST", f"kernels/{kernel_id}/interrupt")
    jupyter.wait_for_state(kernel_id, "idle")
    last = jupyter.settled_status()["last_activity"]
    output, calls = idle_stop.run(jupyter.url, _at(last, 61))
    assert calls == [STOP_CALL], output  # it was the busy kernel, nothing else, that kept it running


def test_the_check_itself_does_not_count_as_activity(jupyter: Jupyter, idle_stop: IdleStop,
                                                     kernels: list[str]) -> None:
    kernel_id = jupyter.start_kernel()
    kernels.append(kernel_id)
    before = jupyter.settled_status()
    kernel_before = jupyter.kernel(kernel_id)["last_activity"]
    for _ in range(3):
        output, calls = idle_stop.run(jupyter.url, _at(before["last_activity"], 30))
        assert calls == [] and "keep running" in output
    assert jupyter.status()["last_activity"] == before["last_activity"]
    assert jupyter.kernel(kernel_id)["last_activity"] == kernel_before
    # What the old check did: a plain GET /api/kernels is activity, so reading it back never found idle time.
    jupyter.request("GET", "kernels")
    assert jupyter.status()["last_activity"] > before["last_activity"]


def test_a_jupyter_that_stops_answering_is_stopped_after_the_idle_minutes(jupyter: Jupyter,
                                                                          idle_stop: IdleStop) -> None:
    down = f"https://127.0.0.1:{_free_port()}"  # nothing listens there
    start = datetime.datetime.now(datetime.UTC)
    output, calls = idle_stop.run(down, start)
    assert calls == [] and "Jupyter not answering for 0.0 min" in output
    output, calls = idle_stop.run(down, start + datetime.timedelta(minutes=30))
    assert calls == [] and "not answering for 30.0 min" in output
    state_file = idle_stop.folder / "run" / "unreachable-since"
    assert state_file.exists()
    output, calls = idle_stop.run(jupyter.url, start + datetime.timedelta(minutes=31))
    assert not state_file.exists(), output  # answering again: the outage is forgotten
    output, calls = idle_stop.run(down, start + datetime.timedelta(minutes=90))
    assert calls == [] and "not answering for 0.0 min" in output  # counted afresh
    output, calls = idle_stop.run(down, start + datetime.timedelta(minutes=151))
    assert calls == [STOP_CALL], output
