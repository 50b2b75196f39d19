"""AWX / Automation Platform: the collection's credential types, project layout and a job run with ansible-runner.

AWX runs a job by injecting the job's credentials (files written to the
job's private data directory, environment variables and extra variables,
rendered from the credential type's injectors with Jinja) and then running
ansible-playbook through ansible-runner. ``inject`` below does the injection
the way AWX's ``CredentialType.inject_credential`` does it (AWX's source:
awx/main/models/credential/__init__.py), and the tests run the project's
wrapper playbooks with ``ansible_runner.run()`` and those results, against
the lab's clusters.

The move's destination credential leaves its CA field empty. The lab's RAPI
certificates are self-signed, so no default trust holds them; the job's
environment then gives the destination's certificate through
REQUESTS_CA_BUNDLE, the place the Python requests library takes its default
trust from (in AWX: the execution environment's image, or the job
environment setting AWX_TASK_ENV). What the runs establish:

* with the CA field empty, the destination connection loads no CA file (no
  OpenSSL NO_CERTIFICATE_OR_CRL_FOUND for the empty file AWX writes) and
  still verifies the certificate: without the destination's certificate in
  the default trust the job fails on certificate verification;
* with it in the default trust, the move runs; the source connection, whose
  credential carries its CA, verifies against that injected file (the
  default trust holds only the destination's certificate);
* an injector of the older documented form, which points the CA variable at
  the empty file, gets the same default trust (the modules' rule: a blank CA
  file is no CA file).

The lab tests need the lab (GANETI_LAB_DIR); the others run anywhere.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from types import SimpleNamespace

import pytest
import yaml
from jinja2 import StrictUndefined
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fleettest import REPO, _collections_path, connection
from fleetlab import helpers

AWX = os.path.join(REPO, "extensions", "awx")
TYPES = os.path.join(AWX, "credential_types")
PROJECT = os.path.join(AWX, "project")
PLAYBOOKS = os.path.join(REPO, "playbooks")
NAME = "vm58.lab"
SIZE_MIB = 128

# AWX refuses injected environment variables with these names, and any ANSIBLE_* one
# (awx/main/constants.py ENV_BLOCKLIST, awx/main/fields.py validate_env_var_allowed).
AWX_ENV_BLOCKLIST = frozenset([
    "VIRTUAL_ENV", "PATH", "PYTHONPATH", "PROOT_TMP_DIR", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID",
    "INVENTORY_UPDATE_ID", "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES", "CALLBACK_QUEUE",
    "CALLBACK_CONNECTION", "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS", "AWX_HOST", "PROJECT_REVISION",
    "SUPERVISOR_WEB_CONFIG_PATH"])
# The keys an input field may have (awx/main/fields.py CredentialTypeInputField).
AWX_FIELD_KEYS = frozenset(["type", "format", "choices", "id", "label", "help_text", "multiline", "secret",
                            "ask_at_runtime", "default"])


def credential_type(name):
    with open(os.path.join(TYPES, name + ".yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# ----------------------------------------------------------------------
# AWX's injection


def inject(ctype, inputs, private_data_dir):
    """Inject a credential of CTYPE with INPUTS as AWX does; return ``(env, extra_vars_args)``.

    As AWX's CredentialType.inject_credential: string inputs that are empty
    are left out of the template namespace (so they are undefined), boolean
    fields missing from the inputs are False, every file injector is
    rendered and written (mode 0600, in PRIVATE_DATA_DIR/env) and named in
    ``tower.filename`` (``template``) or ``tower.filename.NAME``
    (``template.NAME``), then the env and extra_vars injectors are rendered
    in a sandboxed Jinja environment. AWX names files by their path inside
    the execution environment's container; without a container that is the
    path on this machine.
    """
    tower = SimpleNamespace()
    namespace = {"tower": tower}
    for field_id, value in inputs.items():
        if isinstance(value, bool) or len(value):
            namespace[field_id] = value
    for field in ctype["inputs"].get("fields", []):
        if field["type"] == "boolean" and field["id"] not in inputs:
            namespace[field["id"]] = False
    sandbox = ImmutableSandboxedEnvironment()
    env_dir = os.path.join(private_data_dir, "env")
    os.makedirs(env_dir, exist_ok=True)
    for label, template in ctype["injectors"].get("file", {}).items():
        data = sandbox.from_string(template).render(**namespace)
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as out:
            out.write(data)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." not in label:
            tower.filename = path
        else:
            if not isinstance(getattr(tower, "filename", None), SimpleNamespace):
                tower.filename = SimpleNamespace()
            setattr(tower.filename, label.split(".")[1], path)
    env = {}
    for name, template in ctype["injectors"].get("env", {}).items():
        env[name] = sandbox.from_string(template).render(**namespace)
    args = []
    extra_vars = {name: sandbox.from_string(template).render(**namespace)
                  for name, template in ctype["injectors"].get("extra_vars", {}).items()}
    if extra_vars:
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as out:
            yaml.safe_dump(extra_vars, out)
        os.chmod(path, stat.S_IRUSR)
        args = ["-e", "@" + path]
    return env, args


def awx_validate(ctype):
    """The checks AWX makes when a credential type is created (CredentialTypeInputField, CredentialTypeInjectorField).

    Besides the schemas, AWX renders every injector with each input set to
    'EXAMPLE', the file names as AWX would set them, and undefined names
    refused (StrictUndefined): an injector naming an unknown input fails.
    """
    assert set(ctype) == {"name", "description", "kind", "inputs", "injectors"}
    assert ctype["kind"] in ("cloud", "net")       # the kinds a custom type may have
    inputs, injectors = ctype["inputs"], ctype["injectors"]
    assert set(inputs) <= {"fields", "required"} and "dependencies" not in inputs
    ids = []
    for field in inputs["fields"]:
        assert set(field) <= AWX_FIELD_KEYS and {"id", "label"} <= set(field), field
        assert re.match(r"^[a-zA-Z_]+[a-zA-Z0-9_]*$", field["id"]) and field["id"] != "tower"
        kind = field.get("type", "string")
        assert kind in ("string", "boolean")
        if "default" in field:
            assert type(field["default"]) is {"string": str, "boolean": bool}[kind], field
        if kind != "string":
            assert not set(field) & {"choices", "multiline", "format", "secret"}, field
        ids.append(field["id"])
    assert len(ids) == len(set(ids)) and set(inputs.get("required", [])) <= set(ids)
    assert set(injectors) <= {"file", "env", "extra_vars"}
    files = list(injectors.get("file", {}))
    assert all(re.match(r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$", label) for label in files)
    assert "template" not in files or len(files) == 1
    for name, value in injectors.get("env", {}).items():
        assert re.match(r"^[a-zA-Z_]+[a-zA-Z0-9_]*$", name) and value.isascii()
        assert not name.startswith("ANSIBLE_") and name not in AWX_ENV_BLOCKLIST, name
    assert all(re.match(r"^[a-zA-Z_]+[a-zA-Z0-9_]*$", name) for name in injectors.get("extra_vars", {}))
    tower = SimpleNamespace(filename="EXAMPLE_FILENAME" if "template" in files else SimpleNamespace(
        **{label.split(".")[1]: "EXAMPLE_FILENAME" for label in files}))
    namespace = dict({field_id: "EXAMPLE" for field_id in ids}, tower=tower)
    sandbox = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for kind in injectors.values():
        for template in kind.values():
            sandbox.from_string(template).render(namespace)


def lab_inputs(lab, cluster, with_ca=True):
    """The inputs of a credential for CLUSTER, as a user fills them in; the CA field empty unless WITH_CA."""
    conn = connection(lab, cluster)
    ca_text = ""
    if with_ca:
        with open(conn["ca_path"], encoding="utf-8") as handle:
            ca_text = handle.read()
    return {"rapi_url": conn["rapi_url"], "rapi_user": conn["rapi_user"], "rapi_password": conn["rapi_password"],
            "ca_certificate": ca_text}


# The injectors an earlier version of docs/docsite/rst/connection_guide.rst
# showed (as a destination type): the CA variable names the CA file whatever
# the field holds, so an empty field gives an empty file.
OLD_DESTINATION_INJECTORS = {
    "file": {"template.ca": "{{ ca_certificate }}"},
    "env": {"GANETI_DEST_RAPI_URL": "{{ rapi_url }}", "GANETI_DEST_RAPI_USER": "{{ rapi_user }}",
            "GANETI_DEST_RAPI_PASSWORD": "{{ rapi_password }}", "GANETI_DEST_RAPI_CA_PATH": "{{ tower.filename.ca }}"},
}


# ----------------------------------------------------------------------
# Without the lab


def test_credential_types_are_what_awx_accepts_and_what_the_modules_read():
    if _collections_path() not in sys.path:
        sys.path.insert(0, _collections_path())
    from ansible_collections.ganeti.fleet.plugins.module_utils.connection import (
        connection_suboptions,
        rapi_argument_spec,
    )

    read = {}
    for spec in (rapi_argument_spec(), connection_suboptions("GANETI_SOURCE_RAPI_"),
                 connection_suboptions("GANETI_DEST_RAPI_")):
        read.update({option["fallback"][1][0]: key for key, option in spec.items() if "fallback" in option})
    files = sorted(os.listdir(TYPES))
    assert files == ["ganeti_rapi.yml", "ganeti_rapi_move_destination.yml", "ganeti_rapi_move_source.yml"]
    names = set()
    for name in files:
        ctype = credential_type(name[:-4])
        awx_validate(ctype)
        names.add(ctype["name"])
        fields = {field["id"]: field for field in ctype["inputs"]["fields"]}
        assert set(ctype["inputs"]["required"]) == {"rapi_url", "rapi_user", "rapi_password"}
        assert fields["rapi_password"].get("secret") is True
        # Every variable is one the modules read, for the option its input is for.
        source_of = {"rapi_url": "rapi_url", "rapi_user": "rapi_user", "rapi_password": "rapi_password",
                     "ca_path": "ca_certificate", "verify_hostname": "skip_hostname_check"}
        for variable, template in ctype["injectors"]["env"].items():
            assert variable in read, variable
            assert source_of[read[variable]] in template, (variable, template)
        prefixes = {variable.rsplit("RAPI_", 1)[0] for variable in ctype["injectors"]["env"]}
        assert len(prefixes) == 1, prefixes
    assert len(names) == 3          # AWX allows one credential of each type on a job template
    # The validation refuses what AWX refuses: an injector naming no input, a reserved variable.
    with pytest.raises(UndefinedError):
        awx_validate(dict(ctype, injectors={"env": {"GANETI_RAPI_URL": "{{ rapi_uri }}"}}))
    with pytest.raises(AssertionError):
        awx_validate(dict(ctype, injectors={"env": {"ANSIBLE_CONFIG": "{{ rapi_url }}"}}))


@pytest.mark.parametrize("name, prefix", [("ganeti_rapi", "GANETI_RAPI_"),
                                          ("ganeti_rapi_move_source", "GANETI_SOURCE_RAPI_"),
                                          ("ganeti_rapi_move_destination", "GANETI_DEST_RAPI_")])
def test_injection_with_and_without_a_ca(tmp_path, name, prefix):
    ctype = credential_type(name)
    awx_validate(ctype)
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    inputs = {"rapi_url": "https://c1.example.org:5080", "rapi_user": "fleet", "rapi_password": "pw",
              "ca_certificate": pem}
    env, args = inject(ctype, inputs, str(tmp_path / "with"))
    assert args == []
    assert env[prefix + "URL"] == "https://c1.example.org:5080"
    assert env[prefix + "USER"] == "fleet" and env[prefix + "PASSWORD"] == "pw"
    with open(env[prefix + "CA_PATH"], encoding="utf-8") as handle:
        assert handle.read() == pem
    assert stat.S_IMODE(os.stat(env[prefix + "CA_PATH"]).st_mode) == 0o600
    # A credential saved without the boolean (AWX makes it False): the host name check stays on.
    assert env[prefix + "VERIFY_HOSTNAME"] == "true"
    env, _args = inject(ctype, dict(inputs, skip_hostname_check=True), str(tmp_path / "skip"))
    assert env[prefix + "VERIFY_HOSTNAME"] == "false"
    # The empty CA field: AWX still writes the file (empty), and the variable names none.
    for empty in ("", "  \n"):
        directory = tmp_path / ("empty%d" % len(empty))
        env, _args = inject(ctype, dict(inputs, ca_certificate=empty), str(directory))
        assert env[prefix + "CA_PATH"] == ""
        written = [p.read_text() for p in (directory / "env").iterdir()]
        assert written == [empty]


def _playbook_under_a_stub_awx_collection(tmp_path, playbook):
    """Run PLAYBOOK with a stand-in awx.awx.credential_type that returns its arguments; return them per item."""
    module_dir = tmp_path / "stub" / "ansible_collections" / "awx" / "awx" / "plugins" / "modules"
    module_dir.mkdir(parents=True)
    (module_dir / "credential_type.py").write_text(
        "from ansible.module_utils.basic import AnsibleModule\n"
        "spec = {k: {} for k in ('name', 'description', 'kind', 'state')}\n"
        "spec.update(inputs={'type': 'dict'}, injectors={'type': 'dict'})\n"
        "m = AnsibleModule(argument_spec=spec, supports_check_mode=True)\n"
        "m.exit_json(changed=False, params=m.params)\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "stub"), ANSIBLE_STDOUT_CALLBACK="fleet_json",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, "tests", "integration", "callback_plugins"))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, playbook],
                          capture_output=True, text=True, env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["results"]
    return {os.path.basename(r["item"]): r["params"] for r in results}


def test_the_example_playbook_creates_the_types_as_the_files_hold_them(tmp_path):
    """Ansible must not render the injectors' Jinja: AWX renders it when a job starts."""
    sent = _playbook_under_a_stub_awx_collection(tmp_path, os.path.join(AWX, "credential_types.yml"))
    assert sorted(sent) == sorted(os.listdir(TYPES))
    for name, params in sent.items():
        ctype = credential_type(name[:-4])
        assert {key: params[key] for key in ctype} == ctype, name
        assert params["state"] == "present"


def test_the_project_has_a_wrapper_for_every_playbook_of_the_collection():
    wrappers = {}
    for name in os.listdir(PROJECT):
        if name.endswith(".yml"):
            with open(os.path.join(PROJECT, name), encoding="utf-8") as handle:
                (play,) = yaml.safe_load(handle)
            wrappers[name] = play["ansible.builtin.import_playbook"]
    for name in os.listdir(PLAYBOOKS):
        assert wrappers.pop(name) == "ganeti.fleet." + name[:-4]
    assert wrappers == {"move_instances_survey.yml": "ganeti.fleet.move_instances"}
    with open(os.path.join(PROJECT, "collections", "requirements.yml"), encoding="utf-8") as handle:
        assert [c["name"] for c in yaml.safe_load(handle)["collections"]] == ["ganeti.fleet"]
    with open(os.path.join(AWX, "surveys", "move_instances.json"), encoding="utf-8") as handle:
        survey = json.load(handle)
    assert [q["variable"] for q in survey["spec"]] == ["survey_instances", "move_parallel"]


# ----------------------------------------------------------------------
# A job on the lab


class Job:
    """A job's private data directory laid out as AWX lays it out, with the project of extensions/awx/project."""

    def __init__(self, lab, root):
        self.lab = lab
        self.dir = str(root)
        shutil.copytree(PROJECT, os.path.join(self.dir, "project"))
        self.inventory, self.ssh_key = self._inventory()

    def _inventory(self):
        """The job's inventory: the lab's nodes and their SSH access, no RAPI connection; the key apart.

        The RAPI connections come only from the credentials. The SSH key is
        the Machine credential's: AWX hands it to ssh-agent (ansible-runner's
        ssh_key), and the move's own SSH to the nodes uses that agent too.
        """
        with open(self.lab.state()["inventory"], encoding="utf-8") as handle:
            inventory = yaml.safe_load(handle)
        key_file = inventory["all"]["vars"].pop("ansible_ssh_private_key_file")

        def strip(node):
            if isinstance(node, dict):
                return {k: strip(v) for k, v in node.items() if not str(k).startswith("ganeti_rapi_")}
            return node
        inventory = strip(inventory)
        path = os.path.join(self.dir, "inventory", "hosts.yml")
        os.makedirs(os.path.dirname(path))
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(inventory, handle, default_flow_style=False, sort_keys=False)
        with open(key_file, encoding="utf-8") as handle:
            return path, handle.read()

    def run(self, playbook, credentials, extra_vars, trust=None, check=False):
        """Run PLAYBOOK of the project with CREDENTIALS (``[(type dict, inputs)]``) as AWX would."""
        import ansible_runner

        # The execution environment's: ansible-playbook on PATH, the collection installed (here: this checkout).
        env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
               "ANSIBLE_COLLECTIONS_PATH": _collections_path(), "ANSIBLE_NOCOLOR": "1"}
        args = []
        for ctype, inputs in credentials:
            injected, more = inject(ctype, inputs, self.dir)
            env.update(injected)
            args += more
        if trust:
            env["REQUESTS_CA_BUNDLE"] = trust
        if check:
            args.append("--check")
        started = time.monotonic()
        runner = ansible_runner.run(
            private_data_dir=self.dir, playbook=playbook, inventory=self.inventory, envvars=env,
            extravars=extra_vars, cmdline=" ".join(args), ssh_key=self.ssh_key, quiet=True,
            # What AWX gives ansible-runner: the job timeout, and the idle timeout when one is set.
            settings={"job_timeout": 1800, "idle_timeout": 600, "suppress_ansible_output": True})
        runner.elapsed = time.monotonic() - started
        runner.event_list = list(runner.events)
        runner.text = runner.stdout.read()
        return runner


def playbook_task_names():
    """The names of the tasks a move runs: move_instances.yml's, then the instance_move role's."""
    names = []
    with open(os.path.join(PLAYBOOKS, "move_instances.yml"), encoding="utf-8") as handle:
        for play in yaml.safe_load(handle):
            names += [task["name"] for task in play.get("tasks", [])]
    with open(os.path.join(REPO, "roles", "instance_move", "tasks", "main.yml"), encoding="utf-8") as handle:
        names += [task["name"] for task in yaml.safe_load(handle)]
    return names


def started_tasks(runner):
    return [e["event_data"]["task"] for e in runner.event_list if e["event"] == "playbook_on_task_start"]


def host_results(runner, task, event="runner_on_ok"):
    return {e["event_data"]["host"]: e["event_data"]["res"] for e in runner.event_list
            if e["event"] == event and e["event_data"].get("task") == task}


def longest_silence(runner):
    """The longest time in seconds between two events of the job (what an idle timeout watches)."""
    stamps = sorted(datetime.fromisoformat(e["created"]).timestamp() for e in runner.event_list if e.get("created"))
    return max((b - a for a, b in zip(stamps, stamps[1:])), default=0.0)


@pytest.fixture
def awx_instance(lab, monkeypatch):
    """NAME on c1 with random bytes, running; removed from both clusters afterwards."""
    for name in list(os.environ):
        if (name.startswith("GANETI_") and "RAPI_" in name) or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    for cluster in ("c1", "c2"):
        helpers.remove_instance(lab, cluster, NAME)
    digest = helpers.create_instance(lab, "c1", NAME, size_mib=SIZE_MIB, tags=["app:awx"])
    yield digest
    for cluster in ("c1", "c2"):
        helpers.remove_instance(lab, cluster, NAME)


def test_awx_job_moves_an_instance_with_injected_credentials(lab, awx_instance, tmp_path):
    digest = awx_instance
    source = (credential_type("ganeti_rapi_move_source"), lab_inputs(lab, "c1", with_ca=True))
    destination = (credential_type("ganeti_rapi_move_destination"), lab_inputs(lab, "c2", with_ca=False))
    destination_ca = connection(lab, "c2")["ca_path"]
    survey = {"survey_instances": NAME + "\n", "move_parallel": 2}
    passwords = [inputs["rapi_password"] for _ctype, inputs in (source, destination)]

    # 1. Empty CA field, nothing in the default trust for the destination: certificate verification fails.
    denied = Job(lab, tmp_path / "denied").run("move_instances_survey.yml", [source, destination], survey,
                                               check=True)
    assert denied.status == "failed" and denied.rc != 0, denied.text
    failed = host_results(denied, "Move the instance", "runner_on_failed")
    message = failed["move_" + NAME]["msg"]
    assert "certificate verify failed" in message and "no CA file was given" in message, message
    assert "NO_CERTIFICATE_OR_CRL_FOUND" not in denied.text
    assert connection(lab, "c2")["rapi_url"] in message, message

    # 2. An injector of the older form (the variable names the empty file) gets the default trust too.
    old = dict(destination[0], injectors=OLD_DESTINATION_INJECTORS)
    awx_validate(old)
    planned = Job(lab, tmp_path / "old").run("move_instances_survey.yml", [source, (old, destination[1])], survey,
                                             trust=destination_ca, check=True)
    assert planned.status == "successful" and planned.rc == 0, planned.text
    assert NAME in {i["name"] for i in helpers.list_instances(lab, "c1")}

    # 3. The move: the destination verified against the default trust, the source against its injected CA.
    job = Job(lab, tmp_path / "move")
    moved = job.run("move_instances_survey.yml", [source, destination], survey, trust=destination_ca)
    assert moved.status == "successful" and moved.rc == 0, moved.text
    assert NAME not in {i["name"] for i in helpers.list_instances(lab, "c1")}
    copy = {i["name"]: i for i in helpers.list_instances(lab, "c2")}[NAME]
    assert copy["status"] == "running"
    assert helpers.hash_instance_disk(lab, "c2", NAME) == digest
    assert "app:awx" in copy["tags"]
    # The job's events show the collection playbook's tasks, as AWX's job output does.
    tasks = started_tasks(moved)
    expected = playbook_task_names()
    assert list(dict.fromkeys(task for task in tasks if task in expected)) == expected, (tasks, expected)
    # ... and the move's progress lines while its task runs (what keeps AWX's idle timeout from firing).
    progress = [e["stdout"] for e in moved.event_list if "move %s: " % NAME in (e.get("stdout") or "")]
    assert any("send the disks" in line for line in progress), progress
    result = host_results(moved, "Move the instance")["move_" + NAME]
    assert result["changed"] is True
    assert result["plan"]["move"]["destination_name"] == NAME
    # Secrets: the injected files are private, and no password reaches the job output or its events.
    for name in os.listdir(os.path.join(job.dir, "env")):
        path = os.path.join(job.dir, "env", name)
        if os.path.isfile(path) and name.startswith("tmp"):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name
    events = json.dumps(moved.event_list)
    for password in passwords:
        assert password not in moved.text and password not in events
    print("AWX-style job: move of %d MiB in %.1f s (check runs %.1f s and %.1f s); %d progress lines; longest"
          " time without output %.1f s" % (SIZE_MIB, moved.elapsed, denied.elapsed, planned.elapsed, len(progress),
                                           longest_silence(moved)))
