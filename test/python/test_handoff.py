"""The handoff against a stand-in SLURM: success, each failure mode, retries, ids."""

import hashlib
import json
import os
import unittest
import zipfile

from handoff_support import (HandoffTestCase, JOB_ID, OTHER_ID, TASK_ID, WORKFLOW_ID,
                             DATA_PATH_NAME, handoff, result_files, script_inputs,
                             RecordingTracker)


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


class SuccessPath(HandoffTestCase):
    def test_publishes_manifest_zip_and_log_and_returns_the_marker(self):
        client = self.standin()
        inputs = script_inputs()
        outcome = self.run_handoff(client, inputs)

        self.assertTrue(outcome.ok, outcome.message)
        self.assertEqual(outcome.exit_code, 0)
        lines = outcome.message.splitlines()
        self.assertEqual(lines[0], "BIOMERO-REACTOR-HANDOFF/1 handoff=%s workflow=%s job=%s "
                         "manifest=ready/%s/manifest.json" % (TASK_ID, WORKFLOW_ID, JOB_ID, TASK_ID))
        self.assertRegex(lines[0], handoff.MARKER_RE)
        lines[0].encode("ascii")
        self.assertFalse(outcome.message.startswith("FAILED:"))
        self.assertIn("Results of SLURM job %s (4 files," % JOB_ID, lines[1])
        self.assertEqual(outcome.workflow_id, WORKFLOW_ID)

        self.assertEqual(self.ready_entries(), [TASK_ID])
        self.assertEqual(self.tmp_entries(), [])
        ready = os.path.join(self.spool, "ready", TASK_ID)
        self.assertEqual(outcome.ready_dir, ready)
        self.assertEqual(sorted(os.listdir(ready)),
                         ["%s_out.zip" % JOB_ID, "manifest.json", "omero-%s.log" % JOB_ID])

        with open(os.path.join(ready, "manifest.json"), encoding="utf-8") as fh:
            m = json.load(fh)
        self.assertEqual(list(m), ["schema", "handoff_id", "created_at", "producer", "workflow",
                                   "slurm", "omero", "files", "wait", "inputs"])
        self.assertEqual(m["schema"], "biomero-reactor/handoff-manifest@1")
        self.assertEqual(m["handoff_id"], TASK_ID)
        self.assertRegex(m["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
        self.assertEqual(m["producer"]["script"], "SLURM_Import_Results.py")
        self.assertEqual(m["producer"]["edition"], "handoff")
        self.assertEqual(m["producer"]["version"], handoff.EDITION_VERSION)
        self.assertEqual(m["workflow"], {"id": WORKFLOW_ID, "id_param": WORKFLOW_ID,
                                         "id_from_data_path": WORKFLOW_ID,
                                         "id_from_job_view": None, "task_id": TASK_ID})
        self.assertEqual(m["slurm"], {
            "job_id": JOB_ID, "job_state": "COMPLETED", "data_path": self.data_path,
            "zip_remote": "%s/%s_out.zip" % (self.data_path, JOB_ID),
            "log_remote": "omero-%s.log" % JOB_ID, "cleanup_requested": True})
        self.assertEqual(m["omero"], {"user_id": 52, "user_name": "alice", "group_id": 3,
                                      "group_name": "Research"})
        zip_path = os.path.join(ready, "%s_out.zip" % JOB_ID)
        log_path = os.path.join(ready, "omero-%s.log" % JOB_ID)
        self.assertEqual(m["files"]["zip"], {"name": "%s_out.zip" % JOB_ID,
                                             "bytes": os.path.getsize(zip_path),
                                             "sha256": sha256(zip_path), "entries": 4})
        self.assertEqual(m["files"]["log"], {"name": "omero-%s.log" % JOB_ID,
                                             "bytes": os.path.getsize(log_path),
                                             "sha256": sha256(log_path)})
        self.assertEqual(m["wait"], {"enabled": False, "timeout_s": 0})
        self.assertEqual(m["inputs"], inputs)

        with zipfile.ZipFile(zip_path) as zf:
            self.assertIn("tables/measurements.csv", zf.namelist())

        # SLURM calls in the original's order; cleanup only after the publish.
        self.assertEqual(client.names(), [
            "check_job_status", "get_logfile_from_slurm", "extract_data_location_from_log",
            "run_commands", "zip_data_on_slurm_server", "copy_zip_locally", "cleanup_tmp_files"])
        self.assertEqual(client.calls[1][2], os.path.join(self.spool, "tmp", TASK_ID) + "/")
        self.assertFalse(os.path.exists(self.data_path), "Cleanup? removes the SLURM data")
        self.assertIn("Cleaned SLURM temporary files: %s" % self.data_path, outcome.message)
        self.assertTrue(client.closed)
        self.assertEqual(self.tracker.statuses, [(TASK_ID, "HANDED_OFF")])
        self.assertEqual(self.sleep.calls, [])

    def test_files_are_group_writable_and_directory_setgid(self):
        outcome = self.run_handoff(self.standin())
        self.assertTrue(outcome.ok, outcome.message)
        ready = os.path.join(self.spool, "ready", TASK_ID)
        self.assertEqual(os.stat(ready).st_mode & 0o7777, 0o2775)
        for name in os.listdir(ready):
            self.assertEqual(os.stat(os.path.join(ready, name)).st_mode & 0o777, 0o664, name)

    def test_cleanup_off_leaves_slurm_alone(self):
        client = self.standin()
        outcome = self.run_handoff(client, script_inputs(**{"Cleanup?": False}))
        self.assertTrue(outcome.ok, outcome.message)
        self.assertNotIn("cleanup_tmp_files", client.names())
        self.assertTrue(os.path.isdir(self.data_path))
        self.assertIn("Cleanup disabled: SLURM data kept at %s" % self.data_path, outcome.message)

    def test_cleanup_failure_is_reported_not_fatal(self):
        client = self.standin()

        def broken(*a, **k):
            raise OSError("connection reset")
        client.cleanup_tmp_files = broken
        outcome = self.run_handoff(client)
        self.assertTrue(outcome.ok, outcome.message)
        self.assertIn("SLURM cleanup failed: OSError: connection reset", outcome.message)
        self.assertEqual(self.ready_entries(), [TASK_ID])

    def test_completed_job_false_skips_sacct(self):
        client = self.standin()
        outcome = self.run_handoff(client, script_inputs(**{"Completed Job": False}))
        self.assertTrue(outcome.ok, outcome.message)
        self.assertNotIn("check_job_status", client.names())
        self.assertIsNone(self._manifest()["slurm"]["job_state"])

    def test_relative_data_path_is_resolved_with_realpath(self):
        client = self.standin(data_path="my-scratch/data/" + DATA_PATH_NAME)
        outcome = self.run_handoff(client, script_inputs(**{"Cleanup?": False}))
        self.assertTrue(outcome.ok, outcome.message)
        self.assertIn(("run_commands", 'realpath "my-scratch/data/%s"' % DATA_PATH_NAME),
                      client.calls)
        self.assertEqual(self._manifest()["slurm"]["data_path"],
                         os.path.join(client.home, "my-scratch", "data", DATA_PATH_NAME))

    def test_log_not_there_yet_is_retried_every_10_s(self):
        client = self.standin(log_missing_attempts=2)
        outcome = self.run_handoff(client)
        self.assertTrue(outcome.ok, outcome.message)
        self.assertEqual(client.names().count("get_logfile_from_slurm"), 3)
        self.assertEqual(self.sleep.calls, [10, 10])
        log = os.path.join(self.spool, "ready", TASK_ID, "omero-%s.log" % JOB_ID)
        self.assertGreater(os.path.getsize(log), 0, "the empty partial log was replaced")

    def test_output_flush_lag_is_waited_out_every_15_s(self):
        client = self.standin(empty_output_checks=3)
        outcome = self.run_handoff(client)
        self.assertTrue(outcome.ok, outcome.message)
        self.assertEqual(self.sleep.calls, [15, 15, 15])

    def test_handed_off_status_failure_does_not_fail_the_handoff(self):
        self.tracker = RecordingTracker(fail_on={"HANDED_OFF"})
        outcome = self.run_handoff(self.standin())
        self.assertTrue(outcome.ok, outcome.message)
        self.assertIn("note: could not record status HANDED_OFF", outcome.message)
        self.assertRegex(outcome.message.splitlines()[0], handoff.MARKER_RE)

    def _manifest(self, handoff_id=TASK_ID):
        with open(os.path.join(self.spool, "ready", handoff_id, "manifest.json")) as fh:
            return json.load(fh)


class HandoffIds(HandoffTestCase):
    def test_without_task_id_a_fresh_uuid4_and_no_status(self):
        client = self.standin()
        inputs = script_inputs()
        del inputs["Task_ID"]
        outcome = self.run_handoff(client, inputs)
        self.assertTrue(outcome.ok, outcome.message)
        self.assertEqual(uuid_version(outcome.handoff_id), 4)
        self.assertIn("handoff=%s " % outcome.handoff_id, outcome.message.splitlines()[0])
        self.assertEqual(self.ready_entries(), [outcome.handoff_id])
        self.assertEqual(self.tracker.statuses, [])

    def test_task_id_not_a_uuid_is_ignored_like_the_original(self):
        outcome = self.run_handoff(self.standin(), script_inputs(Task_ID="../../etc"))
        self.assertTrue(outcome.ok, outcome.message)
        self.assertNotEqual(outcome.handoff_id, "../../etc")
        self.assertEqual(self.ready_entries(), [outcome.handoff_id])
        self.assertEqual(self.tracker.statuses, [])

    def test_uppercase_task_id_becomes_canonical(self):
        outcome = self.run_handoff(self.standin(), script_inputs(Task_ID=" " + TASK_ID.upper()))
        self.assertEqual(outcome.handoff_id, TASK_ID)

    def test_republishing_the_same_task_fails_at_publish_and_keeps_the_first(self):
        self.assertTrue(self.run_handoff(self.standin()).ok)
        before = os.listdir(os.path.join(self.spool, "ready", TASK_ID))
        client = self.standin()
        outcome = self.run_handoff(client)
        self.assertFalse(outcome.ok)
        self.assertEqual(outcome.stage, "publish")
        self.assertIn("already exists", outcome.message)
        self.assertEqual(client.calls, [], "checked before touching SLURM")
        self.assertEqual(self.tracker.statuses, [(TASK_ID, "HANDED_OFF")],
                         "the handed-off task keeps its status")
        self.assertEqual(os.listdir(os.path.join(self.spool, "ready", TASK_ID)), before)

    def test_job_ids_that_are_not_digits_are_refused_before_slurm(self):
        for bad in ("", "  ", "12;rm -rf /", "../12", "12_3", "1e3", None):
            with self.subTest(job=bad):
                client = self.standin(add=False)
                outcome = self.run_handoff(client, script_inputs(**{"SLURM Job Id": bad}))
                self.assertFailed(outcome, "input")
                self.assertEqual(client.calls, [])
                self.assertIn(" job=- ", outcome.message.splitlines()[0])

    def test_job_id_is_stripped(self):
        outcome = self.run_handoff(self.standin(), script_inputs(**{"SLURM Job Id": " %s " % JOB_ID}))
        self.assertTrue(outcome.ok, outcome.message)

    def test_canonical_uuid(self):
        self.assertEqual(handoff.canonical_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E"), WORKFLOW_ID)
        for bad in ("{%s}" % WORKFLOW_ID, "urn:uuid:" + WORKFLOW_ID, WORKFLOW_ID.replace("-", ""),
                    WORKFLOW_ID + "/..", "", None, 5):
            self.assertIsNone(handoff.canonical_uuid(bad), bad)


def uuid_version(text):
    import uuid
    return uuid.UUID(text).version


class WorkflowIdSources(HandoffTestCase):
    def test_from_the_data_path_when_no_parameter(self):
        inputs = script_inputs()
        del inputs["workflow_uuid"]
        outcome = self.run_handoff(self.standin(), inputs)
        self.assertTrue(outcome.ok, outcome.message)
        self.assertEqual(outcome.workflow_id, WORKFLOW_ID)

    def test_parameter_and_data_path_disagree(self):
        outcome = self.run_handoff(self.standin(), script_inputs(workflow_uuid=OTHER_ID))
        first = self.assertFailed(outcome, "workflow_id", "Workflow ID inconsistency")
        self.assertIn(OTHER_ID, first)
        self.assertEqual(self.tracker.statuses, [(TASK_ID, "FAILED")])

    def test_a_stale_job_view_loses_to_parameter_and_data_path(self):
        self.tracker = RecordingTracker(job_view_id=OTHER_ID)
        outcome = self.run_handoff(self.standin())
        self.assertTrue(outcome.ok, outcome.message)
        self.assertEqual(outcome.workflow_id, WORKFLOW_ID)

    def test_job_view_alone(self):
        self.tracker = RecordingTracker(job_view_id=OTHER_ID)
        inputs = script_inputs()
        del inputs["workflow_uuid"]
        outcome = self.run_handoff(self.standin(data_path=os.path.join(self.tmp, "slurm", "x")),
                                   inputs)
        self.assertEqual(outcome.workflow_id, OTHER_ID)

    def test_no_source_gives_no_workflow_rather_than_a_random_one(self):
        inputs = script_inputs()
        del inputs["workflow_uuid"]
        outcome = self.run_handoff(self.standin(data_path=os.path.join(self.tmp, "slurm", "x")),
                                   inputs)
        self.assertTrue(outcome.ok, outcome.message)
        self.assertIsNone(outcome.workflow_id)
        self.assertIn(" workflow=- ", outcome.message.splitlines()[0])
        self.assertRegex(outcome.message.splitlines()[0], handoff.MARKER_RE)

    def test_invalid_parameter_is_ignored_like_the_original(self):
        outcome = self.run_handoff(self.standin(), script_inputs(workflow_uuid="not-a-uuid"))
        self.assertTrue(outcome.ok, outcome.message)
        self.assertEqual(outcome.workflow_id, WORKFLOW_ID)


class FailureModes(HandoffTestCase):
    def test_log_never_appears(self):
        client = self.standin(log_missing_attempts=99)
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "log", "not found on SLURM after 5 attempts")
        self.assertEqual(client.names().count("get_logfile_from_slurm"), 5)
        self.assertEqual(self.sleep.calls, [10, 10, 10, 10])
        self.assertNotIn("extract_data_location_from_log", client.names())
        self.assertNotIn("cleanup_tmp_files", client.names(), "never clean up on failure")
        self.assertEqual(self.tracker.statuses, [(TASK_ID, "FAILED")])
        # paramiko's empty local file stays in tmp/ for the janitor, never in ready/.
        self.assertEqual(self.tmp_entries(), [TASK_ID])
        self.assertIn("Partial files left for inspection in", outcome.message)

    def test_log_without_data_location(self):
        client = self.standin(add=False)
        client.add_job(JOB_ID, os.path.join(self.tmp, "slurm", "d"), result_files(),
                       log_text="the job template echoed nothing useful\n")
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "data_path",
                          "Could not extract data location from SLURM job %s" % JOB_ID)
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, "slurm", "d")), "SLURM untouched")

    def test_relative_data_path_that_does_not_exist(self):
        client = self.standin(add=False)
        client.add_job(JOB_ID, os.path.join(self.tmp, "slurm", "d"), result_files(),
                       log_text="Running cellpose Job w/ c | i | gone/data | x\n")
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "data_path", "UnexpectedExit")

    def test_data_path_with_shell_metacharacters(self):
        client = self.standin(add=False)
        client.add_job(JOB_ID, os.path.join(self.tmp, "slurm", "d"), result_files(),
                       log_text='Running cellpose Job w/ c | i | /x/"$(reboot)" | x\n')
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "data_path", "unsafe in a shell command")
        self.assertEqual([c for c in client.calls if c[0] == "run_commands"], [])

    def test_empty_output_directory(self):
        client = self.standin(files={})
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "output_wait", "SLURM output directory still empty after 300 s")
        self.assertEqual(self.sleep.calls, [15] * 20)
        self.assertNotIn("zip_data_on_slurm_server", client.names())

    def test_zip_reports_no_files(self):
        client = self.standin(files={})
        os.makedirs(os.path.join(self.data_path, "data", "out", "empty_dir"))
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "zip", "holds no data")
        self.assertNotIn("copy_zip_locally", client.names())

    def test_zip_command_fails(self):
        client = self.standin()

        def failing_zip(data_location, filename, env=None):
            from slurm_standin import Result, UnexpectedExit
            raise UnexpectedExit(Result("7z a", "", "7z: command not found", 127))
        client.zip_data_on_slurm_server = failing_zip
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "zip", "7z: command not found")

    def test_truncated_remote_zip(self):
        client = self.standin(truncate_remote_zip=True)
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "validate", "not a valid zip")
        self.assertNotIn("cleanup_tmp_files", client.names())
        self.assertTrue(os.path.isdir(self.data_path), "SLURM data kept for a retry")

    def test_transfer_cut_short(self):
        client = self.standin(copy_size_mismatch=True)
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "copy", "size mismatch")
        partial = os.path.join(self.spool, "tmp", TASK_ID, "%s_out.zip" % JOB_ID)
        self.assertTrue(os.path.isfile(partial), "the partial file stays in tmp/")

    def test_zip_missing_on_slurm(self):
        client = self.standin()
        client.zip_data_on_slurm_server = lambda p, f, env=None: __import__(
            "slurm_standin").Result("7z", "Files: 3\nSize:       9000\n")
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "copy", "FileNotFoundError")

    def test_zip_too_small(self):
        client = self.standin(files={"tiny.txt": b"x"})
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "validate", "too small")

    def test_zip_with_a_corrupt_member(self):
        client = self.standin()
        real_copy = client.copy_zip_locally

        def copy_and_corrupt(local, filename):
            result = real_copy(local, filename)
            path = os.path.join(local, os.path.basename(filename) + ".zip")
            with zipfile.ZipFile(path) as zf:
                info = zf.getinfo("image_0.tif")
            with open(path, "r+b") as fh:  # flip a byte inside the member's data
                fh.seek(info.header_offset + 30 + len(info.filename) + 100)
                b = fh.read(1)
                fh.seek(-1, 1)
                fh.write(bytes([b[0] ^ 0xFF]))
            return result
        client.copy_zip_locally = copy_and_corrupt
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "validate")

    def test_only_directories_in_zip(self):
        client = self.standin()
        real_copy = client.copy_zip_locally

        def copy_dirs_only(local, filename):
            result = real_copy(local, filename)
            path = os.path.join(local, os.path.basename(filename) + ".zip")
            with zipfile.ZipFile(path, "w") as zf:
                for i in range(80):
                    zf.writestr("directory_number_%03d/" % i, b"")
            return result
        client.copy_zip_locally = copy_dirs_only
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "validate", "no files")

    def test_sacct_silent(self):
        client = self.standin(sacct_silent=True)
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "job_status", "SSHException")

    def test_slurm_client_cannot_be_built(self):
        def factory():
            raise ValueError("SQLALCHEMY_URL is not set")
        outcome = handoff.run_script(script_inputs(), self.identity, slurm_factory=factory,
                                     tracker_factory=lambda c: self.tracker, spool=self.spool,
                                     wait_s=0, sleep=self.sleep)
        self.assertFailed(outcome, "connect", "SQLALCHEMY_URL is not set")

    def test_session_lookup_fails(self):
        def identity():
            raise RuntimeError("session closed")
        client = self.standin()
        outcome = self.run_handoff(client, identity=identity)
        self.assertFailed(outcome, "session", "session closed")
        self.assertEqual(client.calls, [])

    def test_spool_not_creatable(self):
        with open(os.path.join(self.tmp, "afile"), "w"):
            pass
        self.spool = os.path.join(self.tmp, "afile", "spool")
        client = self.standin()
        outcome = self.run_handoff(client)
        self.assertFalse(outcome.ok)
        self.assertEqual(outcome.stage, "spool")
        self.assertEqual(client.calls, [])

    def test_unexpected_bug_is_reported_at_the_current_stage(self):
        client = self.standin()
        client.extract_data_location_from_log = lambda job: 42  # not a string
        outcome = self.run_handoff(client)
        self.assertFailed(outcome, "data_path", "AttributeError")

    def test_failed_line_is_one_line(self):
        client = self.standin()

        def multi_line_failure(*a, **k):
            raise OSError("first line\nsecond line\n\tthird")
        client.copy_zip_locally = multi_line_failure
        outcome = self.run_handoff(client)
        first = self.assertFailed(outcome, "copy")
        self.assertIn("first line second line third", first)


class CrashBeforePublish(HandoffTestCase):
    def test_crash_before_rename_leaves_ready_empty_and_a_rerun_publishes(self):
        client = self.standin()
        real_rename = os.rename

        def crash_on_publish(src, dst):
            if os.sep + "ready" + os.sep in dst:
                raise KeyboardInterrupt("killed")
            return real_rename(src, dst)
        handoff.os.rename = crash_on_publish
        try:
            with self.assertRaises(KeyboardInterrupt):
                self.run_handoff(client)
        finally:
            handoff.os.rename = real_rename
        self.assertEqual(self.ready_entries(), [])
        staging = os.path.join(self.spool, "tmp", TASK_ID)
        self.assertIn("manifest.json", os.listdir(staging))
        self.assertEqual(self.tracker.statuses, [])

        outcome = self.run_handoff(self.standin())
        self.assertTrue(outcome.ok, outcome.message)
        self.assertEqual(self.ready_entries(), [TASK_ID])
        self.assertEqual(self.tmp_entries(), [])


class BiomeroTrackerAdapter(unittest.TestCase):
    """The adapter over BIOMERO's SlurmClient.workflowTracker / jobAccounting."""

    def client(self, track=True, task_for_job=None):
        import types
        import uuid
        calls = []
        tracker = types.SimpleNamespace(
            update_task_status=lambda task_id, status: calls.append((task_id, status)),
            repository=types.SimpleNamespace(
                get=lambda task_id: types.SimpleNamespace(
                    workflow_id=uuid.UUID(WORKFLOW_ID.upper()))))
        accounting = types.SimpleNamespace(get_task_id=lambda job_id: task_for_job)
        return types.SimpleNamespace(track_workflows=track, workflowTracker=tracker,
                                     jobAccounting=accounting), calls

    def test_status_goes_to_the_workflow_tracker_as_a_uuid(self):
        import uuid
        client, calls = self.client()
        handoff.BiomeroTracker(client).update_task_status(TASK_ID, "HANDED_OFF")
        self.assertEqual(calls, [(uuid.UUID(TASK_ID), "HANDED_OFF")])

    def test_nothing_when_tracking_is_off(self):
        client, calls = self.client(track=False, task_for_job=TASK_ID)
        t = handoff.BiomeroTracker(client)
        t.update_task_status(TASK_ID, "HANDED_OFF")
        self.assertEqual(calls, [])
        self.assertIsNone(t.workflow_id_for_job(JOB_ID))

    def test_workflow_of_the_job(self):
        client, _ = self.client(task_for_job=TASK_ID)
        self.assertEqual(handoff.BiomeroTracker(client).workflow_id_for_job(JOB_ID), WORKFLOW_ID)
        client, _ = self.client(task_for_job=None)
        self.assertIsNone(handoff.BiomeroTracker(client).workflow_id_for_job(JOB_ID))


if __name__ == "__main__":
    unittest.main()
