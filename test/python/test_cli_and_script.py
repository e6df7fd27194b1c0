"""The `stage`/`dry-run` command line, and SLURM_Import_Results.py itself: its parameter
declarations against the original's (read with ast, no omero), and its glue code run
against stand-in omero and biomero modules."""

import ast
import importlib.util
import json
import os
import subprocess
import sys
import types
import unittest
import unittest.mock
import zipfile

from handoff_support import (FIXTURES, HandoffTestCase, JOB_ID, MODULE_PATH, SCRIPT_PATH,
                             TASK_ID, WORKFLOW_ID, DEPLOY, StandinSlurmClient, handoff,
                             result_files, script_inputs)


# --------------------------------------------------------------------------- CLI


class StageCommand(HandoffTestCase):
    def make_files(self):
        zip_path = os.path.join(self.tmp, "%s_out.zip" % JOB_ID)
        with zipfile.ZipFile(zip_path, "w") as zf:
            for name, data in result_files().items():
                zf.writestr(name, data)
        log_path = os.path.join(self.tmp, "omero-%s.log" % JOB_ID)
        with open(log_path, "w") as fh:
            fh.write("Running cellpose Job w/ c | i | /scratch/x | y\n")
        return zip_path, log_path

    def stage(self, *extra, zip_path=None, log_path=None):
        z, l = self.make_files()
        cmd = [sys.executable, MODULE_PATH, "stage", "--spool", self.spool,
               "--workflow", WORKFLOW_ID, "--job", JOB_ID, "--zip", zip_path or z,
               "--log", log_path or l, "--user-id", "52", "--user-name", "alice",
               "--group-id", "3", "--group-name", "Research"] + list(extra)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def test_stage_publishes_and_prints_the_marker(self):
        p = self.stage("--task-id", TASK_ID, "--inputs", json.dumps({"Dataset_ID": 77}),
                       "--job-state", "COMPLETED", "--data-path", "/scratch/biomero_" + WORKFLOW_ID)
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        first = p.stdout.splitlines()[0]
        self.assertEqual(first, handoff.marker_line(TASK_ID, WORKFLOW_ID, JOB_ID))
        ready = os.path.join(self.spool, "ready", TASK_ID)
        self.assertEqual(sorted(os.listdir(ready)),
                         ["%s_out.zip" % JOB_ID, "manifest.json", "omero-%s.log" % JOB_ID])
        with open(os.path.join(ready, "manifest.json")) as fh:
            m = json.load(fh)
        self.assertEqual(m["producer"]["edition"], "handoff-stage")
        self.assertEqual(m["omero"], {"user_id": 52, "user_name": "alice", "group_id": 3,
                                      "group_name": "Research"})
        self.assertEqual(m["slurm"]["job_state"], "COMPLETED")
        self.assertEqual(m["workflow"]["id_from_data_path"], WORKFLOW_ID)
        self.assertEqual(m["files"]["zip"]["entries"], 4)
        # defaults, overlaid by --inputs, with the ids from the arguments
        self.assertEqual(m["inputs"]["Dataset_ID"], 77)
        self.assertEqual(m["inputs"]["New Dataset"], "Imported_Results")
        self.assertEqual(m["inputs"]["SLURM Job Id"], JOB_ID)
        self.assertEqual(m["inputs"]["workflow_uuid"], WORKFLOW_ID)
        self.assertEqual(m["inputs"]["Task_ID"], TASK_ID)

    def test_stage_without_task_id_uses_a_fresh_id(self):
        p = self.stage("--inputs", "@" + self._inputs_file())
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        m = handoff.MARKER_RE.match(p.stdout.splitlines()[0])
        self.assertIsNotNone(m)
        self.assertEqual(self.ready_entries(), [m.group(1)])

    def _inputs_file(self):
        path = os.path.join(self.tmp, "inputs.json")
        with open(path, "w") as fh:
            json.dump({"New Dataset": "from a file"}, fh)
        return path

    def test_stage_failure_prints_failed_and_exits_1(self):
        bad = os.path.join(self.tmp, "bad.zip")
        with open(bad, "wb") as fh:
            fh.write(os.urandom(5000))
        p = self.stage("--task-id", TASK_ID, zip_path=bad)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stdout, r"^FAILED: BIOMERO-REACTOR-HANDOFF/1 handoff=%s job=%s "
                         r"stage=validate error=not a valid zip" % (TASK_ID, JOB_ID))
        self.assertEqual(self.ready_entries(), [])

    def test_bad_usage_exits_2(self):
        for extra in (["--job", "12;x"], ["--inputs", "[1]"], ["--inputs", "{"]):
            with self.subTest(extra=extra):
                p = self.stage(*extra)
                self.assertEqual(p.returncode, 2, p.stdout)
        p = self.stage("--task-id", "nope")
        self.assertEqual(p.returncode, 1)
        self.assertIn("stage=input", p.stdout)

    def test_crash_before_rename_in_a_real_process(self):
        z, l = self.make_files()
        # The child dies (no cleanup, no exception handling) when it renames into ready/.
        code = (
            "import os, sys\n"
            "sys.path.insert(0, %r)\n"
            "import biomero_reactor_handoff as h\n"
            "real = os.rename\n"
            "def rename(src, dst):\n"
            "    if os.sep + 'ready' + os.sep in dst: os._exit(137)\n"
            "    return real(src, dst)\n"
            "h.os.rename = rename\n"
            "sys.exit(h.main(sys.argv[1:]))\n" % DEPLOY)
        p = subprocess.run([sys.executable, "-c", code, "stage", "--spool", self.spool,
                            "--workflow", WORKFLOW_ID, "--job", JOB_ID, "--zip", z, "--log", l,
                            "--user-id", "1", "--user-name", "u", "--group-id", "2",
                            "--group-name", "g", "--task-id", TASK_ID],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 137)
        self.assertEqual(self.ready_entries(), [])
        self.assertEqual(self.tmp_entries(), [TASK_ID])
        # and the same handoff staged again publishes
        p = self.stage("--task-id", TASK_ID)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(self.ready_entries(), [TASK_ID])
        self.assertEqual(self.tmp_entries(), [])

    def test_dry_run_command(self):
        p = subprocess.run([sys.executable, MODULE_PATH, "dry-run", "--spool", self.spool],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("BIOMERO-REACTOR-HANDOFF/1 dry-run ok spool=%s\n"
                                            % self.spool))
        blocked = os.path.join(self.tmp, "blocked")
        with open(blocked, "w"):
            pass
        p = subprocess.run([sys.executable, MODULE_PATH, "dry-run", "--spool", blocked],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stdout.startswith("FAILED: BIOMERO-REACTOR-HANDOFF/1 "))


# --------------------------------------------------------------------------- declarations


def declared_parameters(path=SCRIPT_PATH):
    """The scripts.client(...) declarations of a script, read with ast."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and ast.unparse(n.func) == "scripts.client"]
    assert len(calls) == 1, "exactly one scripts.client(...) call"
    call = calls[0]
    params = []
    for arg in call.args[2:]:
        of_type = None
        if isinstance(arg.func, ast.Attribute) and arg.func.attr == "ofType":
            of_type = ast.unparse(arg.args[0])
            arg = arg.func.value
        assert ast.unparse(arg.func.value) == "scripts", ast.unparse(arg)
        kw = {k.arg: k.value for k in arg.keywords}
        entry = {"name": ast.literal_eval(arg.args[0]), "type": arg.func.attr,
                 "optional": ast.literal_eval(kw["optional"]) if "optional" in kw else None,
                 "keywords": sorted(kw)}
        if "default" in kw:
            entry["default"] = ast.literal_eval(kw["default"])
        if of_type:
            entry["of_type"] = {"rlong(0)": "Long"}.get(of_type, of_type)
        params.append(entry)
    return ast.literal_eval(call.args[0]), params


class Declarations(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(FIXTURES, "import_script_params.json"), encoding="utf-8") as fh:
            cls.fixture = json.load(fh)
        cls.script_name, cls.declared = declared_parameters()

    def test_script_name(self):
        self.assertEqual(self.script_name, self.fixture["script_name"])
        self.assertEqual(os.path.basename(SCRIPT_PATH), "SLURM_Import_Results.py")

    def test_same_names_in_the_same_order(self):
        self.assertEqual([p["name"] for p in self.declared],
                         [p["name"] for p in self.fixture["parameters"]])
        self.assertEqual(len(self.declared), 45)

    def test_same_types_optional_flags_and_defaults(self):
        for want, got in zip(self.fixture["parameters"], self.declared):
            with self.subTest(name=want["name"]):
                self.assertEqual(got["type"], want["type"])
                self.assertIs(got["optional"], want["optional"])
                self.assertEqual("default" in got, "default" in want)
                if "default" in want:
                    self.assertEqual(got["default"], want["default"])
                    self.assertIs(type(got["default"]), type(want["default"]))
                self.assertEqual(got.get("of_type"), want.get("of_type"))

    def test_no_values_lists(self):
        for p in self.declared:
            self.assertNotIn("values", p["keywords"], p["name"])

    def test_module_defaults_match_the_declarations(self):
        declared = {p["name"]: p["default"] for p in self.declared if "default" in p}
        self.assertEqual(handoff.PARAMETER_DEFAULTS, declared)

    def test_module_parameter_names_are_declared(self):
        names = {p["name"] for p in self.declared}
        for const in ("P_COMPLETED_JOB", "P_JOB_ID", "P_WORKFLOW_UUID", "P_TASK_ID",
                      "P_CLEANUP", "P_DRY_RUN"):
            self.assertIn(getattr(handoff, const), names)

    def test_the_script_imports_nothing_at_module_level_but_os_and_sys(self):
        with open(SCRIPT_PATH, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        top = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        self.assertEqual(top, ["import os", "import sys"])

    def test_the_module_uses_the_standard_library_only(self):
        with open(MODULE_PATH, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        mods = set()
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                mods.update(a.name.split(".")[0] for a in n.names)
            elif isinstance(n, ast.ImportFrom):
                mods.add(n.module.split(".")[0])
        self.assertLessEqual(mods, set(sys.stdlib_module_names), mods - set(sys.stdlib_module_names))


# --------------------------------------------------------------------------- the script's glue


class FakeParam:
    def __init__(self, kind, name, **kw):
        self.kind, self.name, self.kw = kind, name, kw
        self.of_type = None

    def ofType(self, proto):
        self.of_type = proto
        return self


class FakeClient:
    def __init__(self, inputs):
        self.inputs = inputs
        self.outputs = {}
        self.closed = False

    def getInputs(self, unwrap=False):
        assert unwrap
        return dict(self.inputs)

    def setOutput(self, key, value):
        self.outputs[key] = value

    def closeSession(self):
        self.closed = True


class FakeGateway:
    def __init__(self, client_obj):
        self.client = client_obj
        self.alive = 0

    def getUser(self):
        return types.SimpleNamespace(getId=lambda: 52, getName=lambda: "alice")

    def getGroupFromContext(self):
        return types.SimpleNamespace(getId=lambda: 3, getName=lambda: "Research")

    def keepAlive(self):
        self.alive += 1


class ScriptGlue(HandoffTestCase):
    """Runs SLURM_Import_Results.run_script() with fake omero/biomero modules."""

    def setUp(self):
        super().setUp()
        self.declared = None
        self.client = None
        self.slurm = None
        saved = {k: sys.modules.get(k) for k in
                 ("omero", "omero.scripts", "omero.gateway", "omero.rtypes", "biomero")}

        def restore():
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v
        self.addCleanup(restore)
        test = self

        def client(name, description, *params, **kw):
            test.declared = (name, params, kw)
            return test.client

        scripts = types.ModuleType("omero.scripts")
        for kind in ("Bool", "String", "Long", "List", "Int", "Float", "Map", "Set", "Object"):
            setattr(scripts, kind, (lambda k: lambda name, **kw: FakeParam(k, name, **kw))(kind))
        scripts.client = client
        omero = types.ModuleType("omero")
        omero.scripts = scripts
        omero.constants = types.SimpleNamespace(
            namespaces=types.SimpleNamespace(NSDYNAMIC="openmicroscopy.org/omero/dynamic"))
        gateway = types.ModuleType("omero.gateway")
        gateway.BlitzGateway = FakeGateway
        rtypes = types.ModuleType("omero.rtypes")
        rtypes.rlong = lambda v: ("rlong", v)
        rtypes.rstring = lambda v: ("rstring", v)
        biomero = types.ModuleType("biomero")

        class SlurmClient:
            @staticmethod
            def from_config():
                if test.slurm is None:
                    raise AssertionError("SlurmClient.from_config() called")
                return test.slurm
        biomero.SlurmClient = SlurmClient
        sys.modules.update({"omero": omero, "omero.scripts": scripts, "omero.gateway": gateway,
                            "omero.rtypes": rtypes, "biomero": biomero})
        spec = importlib.util.spec_from_file_location("slurm_import_results_under_test",
                                                      SCRIPT_PATH)
        self.script = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.script)
        self.env = {"BIOMERO_REACTOR_SPOOL": self.spool}

    def run_script(self, inputs):
        self.client = FakeClient(inputs)
        old = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            self.script.run_script()
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def test_declares_through_scripts_client(self):
        self.run_script(dict(handoff.PARAMETER_DEFAULTS, **{"Test_Write_Permissions_Only": True,
                                                            "SLURM Job Id": ""}))
        name, params, kw = self.declared
        self.assertEqual(name, "BIOMERO.SLURM_Import_Results")
        with open(os.path.join(FIXTURES, "import_script_params.json")) as fh:
            fixture = json.load(fh)["parameters"]
        self.assertEqual([(p.kind, p.name) for p in params],
                         [(p["type"], p["name"]) for p in fixture])
        self.assertEqual(params[5].of_type, ("rlong", 0))
        self.assertEqual(kw["namespaces"], ["openmicroscopy.org/omero/dynamic"])

    def test_dry_run_needs_no_biomero(self):
        self.run_script(dict(handoff.PARAMETER_DEFAULTS, **{"Test_Write_Permissions_Only": True,
                                                            "SLURM Job Id": "1"}))
        self.assertEqual(self.client.outputs["Message"][1],
                         "BIOMERO-REACTOR-HANDOFF/1 dry-run ok spool=%s\nnote: no reactor.alive "
                         "heartbeat in the spool" % self.spool)
        self.assertTrue(self.client.closed)

    def test_handoff_sets_message_and_workflow_uuid(self):
        self.slurm = StandinSlurmClient(os.path.join(self.tmp, "slurm"))
        self.slurm.add_job(JOB_ID, os.path.join(self.tmp, "slurm", "biomero_" + WORKFLOW_ID),
                           result_files())
        inputs = script_inputs()
        self.run_script(inputs)
        message = self.client.outputs["Message"][1]
        self.assertEqual(message.splitlines()[0],
                         handoff.marker_line(TASK_ID, WORKFLOW_ID, JOB_ID))
        self.assertEqual(self.client.outputs["Workflow_UUID"], ("rstring", WORKFLOW_ID))
        self.assertTrue(self.client.closed)
        self.assertTrue(self.slurm.closed)
        with open(os.path.join(self.spool, "ready", TASK_ID, "manifest.json")) as fh:
            m = json.load(fh)
        self.assertEqual(m["omero"], {"user_id": 52, "user_name": "alice", "group_id": 3,
                                      "group_name": "Research"})
        self.assertEqual(m["inputs"], inputs)

    def test_failure_sets_failed_message_and_exits_non_zero(self):
        self.slurm = StandinSlurmClient(os.path.join(self.tmp, "slurm"))
        self.slurm.add_job(JOB_ID, os.path.join(self.tmp, "slurm", "d"), {})
        # no output: 20 x 15 s of waiting; make sleeping instant for this test
        self.script_sleep_patch()
        with self.assertRaises(RuntimeError) as ctx:
            self.run_script(script_inputs())
        message = self.client.outputs["Message"][1]
        self.assertTrue(message.startswith("FAILED: BIOMERO-REACTOR-HANDOFF/1 handoff=%s job=%s "
                                           "stage=output_wait error=" % (TASK_ID, JOB_ID)))
        self.assertEqual(str(ctx.exception), message.splitlines()[0])
        self.assertTrue(self.client.closed)
        self.assertNotIn("Workflow_UUID", self.client.outputs)

    def test_missing_module_gives_a_failed_message(self):
        self.script.MODULE = "biomero_reactor_handoff_not_installed"
        with self.assertRaises(ImportError):
            self.run_script(script_inputs())
        self.assertTrue(self.client.outputs["Message"][1].startswith(
            "FAILED: BIOMERO-REACTOR-HANDOFF/1 handoff=- job=- stage=spool error="))
        self.assertTrue(self.client.closed)

    def script_sleep_patch(self):
        patcher = unittest.mock.patch.object(handoff.time, "sleep", lambda seconds: None)
        patcher.start()
        self.addCleanup(patcher.stop)

if __name__ == "__main__":
    unittest.main()
