#!/usr/bin/env python3
"""Handoff edition of BIOMERO's import step, for biomero-reactor.

BIOMERO's Run_Workflow runs the OMERO script ``SLURM_Import_Results.py`` after each SLURM
job.  The handoff edition of that script (``SLURM_Import_Results.py`` beside this file)
declares the same parameters and calls :func:`run_script` here, which

1. fetches ``omero-<job>.log`` and ``<job>_out.zip`` from SLURM with BIOMERO's own
   SlurmClient calls and retries, into ``<spool>/tmp/<handoff id>/``;
2. validates the zip, records size and SHA-256 of both files, writes ``manifest.json``;
3. publishes the directory with one ``rename`` into ``<spool>/ready/<handoff id>/``;
4. cleans up on SLURM when ``Cleanup?`` is set, writes ``Task.StatusUpdated(HANDED_OFF)``
   on its import task, and returns the marker message that biomero-reactor recognises;
5. optionally (wait mode) waits for biomero-reactor's ``result.json`` and returns its
   outcome.

biomero-reactor then imports the results.  ``docs/HANDOFF.md`` in the repository
describes the spool layout, the manifest, the messages and the statuses.

Everything here uses the standard library only.  OMERO and BIOMERO objects are passed in
(duck typed), so the module runs and is tested without them.  It is also a command-line
tool (``python3 biomero_reactor_handoff.py --help``): ``stage`` stages a handoff from
local files as the script would (without SLURM), ``dry-run`` checks a spool.
"""

import argparse
import datetime
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import sys
import time
import uuid
import zipfile

logger = logging.getLogger("biomero_reactor_handoff")

PROTOCOL = "BIOMERO-REACTOR-HANDOFF/1"
MANIFEST_SCHEMA = "biomero-reactor/handoff-manifest@1"
RESULT_SCHEMA = "biomero-reactor/handoff-result@1"
SCRIPT_FILE = "SLURM_Import_Results.py"
EDITION_VERSION = "2.8.2+handoff.1"

SPOOL_ENV = "BIOMERO_REACTOR_SPOOL"
WAIT_ENV = "BIOMERO_REACTOR_HANDOFF_WAIT_S"
DEFAULT_SPOOL = "/data/.biomero-reactor/spool"
SETTINGS_FILE = "handoff-settings.json"  # optional, in the spool root: {"wait_s": N}
ALIVE_FILE = "reactor.alive"

STATUS_HANDED_OFF = "HANDED_OFF"
STATUS_FAILED = "FAILED"
RESULT_IMPORTED = "IMPORTED"
RESULT_IMPORT_FAILED = "IMPORT_FAILED"

# Failure stages, in the order a run reaches them.  input, session, connect and
# job_status are this edition's additions to the contract of issue #11 (a bad job id, the
# OMERO session, SlurmClient.from_config, sacct); see docs/HANDOFF.md.
STAGES = ("input", "spool", "session", "connect", "job_status", "log", "data_path",
          "output_wait", "zip", "copy", "validate", "workflow_id", "publish", "import")

# Retries, as BIOMERO's import script does them.
LOG_ATTEMPTS = 5
LOG_RETRY_S = 10
OUTPUT_WAIT_ATTEMPTS = 20
OUTPUT_WAIT_S = 15
MIN_ZIP_BYTES = 1024
WAIT_POLL_S = 10
ALIVE_STALE_S = 600

DIR_MODE = 0o2775
FILE_MODE = 0o664

# Parameter names (literal OMERO parameter names of BIOMERO's import script).
P_COMPLETED_JOB = "Completed Job"
P_JOB_ID = "SLURM Job Id"
P_WORKFLOW_UUID = "workflow_uuid"
P_TASK_ID = "Task_ID"
P_CLEANUP = "Cleanup?"
P_DRY_RUN = "Test_Write_Permissions_Only"

# The declared defaults of SLURM_Import_Results.py (a test keeps the two in step).  OMERO
# fills these into the session for inputs the caller left out; `stage` does the same.
PARAMETER_DEFAULTS = {
    "Completed Job": True,
    "Output - Attach as zip to project?": False,
    "Output - Attach as zip to dataset?": False,
    "Output - Attach as zip to plate?": False,
    "Output - Add as attachment to original images": False,
    "Output - Add as new images in NEW dataset": True,
    "New Dataset": "Imported_Results",
    "Allow duplicate?": False,
    "Rename imported files?": True,
    "Rename": "{original_file}_IMPORTED.{ext}",
    "Output - Add as new images in NEW screen": False,
    "New Screen": "Imported_Results",
    "Allow duplicate screen name?": False,
    "Import_Label_Zarrs": True,
    "Import_Only_Labels": True,
    "Output - Add csv files as OMERO.table": True,
    "Attach table to dataset": True,
    "Attach table to plate": False,
    "Output - Attach non-image output files as annotations": False,
    "Attach file outputs to dataset": True,
    "Attach file outputs to plate": False,
    "Create_ROIs": False,
    "ROI_Label_Pattern": "",
    "ROI_Shape": "Polygon",
    "ROI_Delete_Label_Images": False,
    "ROI_Name_Prefix": "",
    "ROI_Color": "",
    "ROI_Clear_Existing": False,
    "ROI_Clear_Filter": "",
    "Cleanup?": True,
    "Test_Write_Permissions_Only": False,
}

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_UUID_SEARCH_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_JOB_RE = re.compile(r"^[0-9]{1,20}$")
# Characters that would break out of the double quotes BIOMERO puts around the data path
# in its remote shell commands.
_UNSAFE_PATH_CHARS = set('"`$\\\n\r\0')


# --------------------------------------------------------------------------- errors


class HandoffError(Exception):
    """A failure at a named stage; its text becomes the FAILED line's error."""

    def __init__(self, stage, error, details="", record_status=True):
        super().__init__(error)
        if stage not in STAGES:
            raise ValueError("unknown stage %r" % (stage,))
        self.stage = stage
        self.error = error
        self.details = details
        # False when the task must keep its status (another run already handed it off).
        self.record_status = record_status


class Outcome:
    """What a run returns: the message for OMERO's ``Message`` output and how to exit."""

    def __init__(self, ok, message, handoff_id=None, workflow_id=None, ready_dir=None,
                 stage=None, import_status=None):
        self.ok = ok
        self.message = message
        self.handoff_id = handoff_id
        self.workflow_id = workflow_id
        self.ready_dir = ready_dir
        self.stage = stage
        self.import_status = import_status

    @property
    def exit_code(self):
        return 0 if self.ok else 1

    def __repr__(self):
        return "Outcome(ok=%r, stage=%r, handoff_id=%r)" % (self.ok, self.stage, self.handoff_id)


# --------------------------------------------------------------------------- ids


def canonical_uuid(value):
    """The canonical (lowercase, hyphenated) form of a UUID string, or None.

    Only the 8-4-4-4-12 hex form is accepted (surrounding blanks are ignored): no braces,
    no ``urn:uuid:``, no bare 32 hex digits.  The result is safe as a path component.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not _UUID_RE.match(text):
        return None
    return str(uuid.UUID(text))


def valid_job_id(value):
    """A SLURM job id (decimal digits only, blanks stripped), or None."""
    if value is None:
        return None
    text = str(value).strip()
    return text if _JOB_RE.match(text) else None


def one_line(text, limit=500):
    """Collapse whitespace so a text fits on the FAILED line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _describe(exc):
    text = str(exc)
    name = type(exc).__name__
    return "%s: %s" % (name, text) if text else name


# --------------------------------------------------------------------------- messages


def marker_line(handoff_id, workflow_id, job_id):
    return "%s handoff=%s workflow=%s job=%s manifest=ready/%s/manifest.json" % (
        PROTOCOL, handoff_id, workflow_id or "-", job_id, handoff_id)


MARKER_RE = re.compile(
    r"^BIOMERO-REACTOR-HANDOFF/1 handoff=([0-9a-f-]{36}) workflow=([0-9a-f-]{36}|-) "
    r"job=(\S+) manifest=(\S+)$")


def failure_message(stage, error, handoff_id=None, job_id=None, details=""):
    head = "FAILED: %s handoff=%s job=%s stage=%s error=%s" % (
        PROTOCOL, handoff_id or "-", valid_job_id(job_id) or "-", stage, one_line(error))
    return head + ("\n" + details if details else "")


def dry_run_message(spool, notes=()):
    return "\n".join(["%s dry-run ok spool=%s" % (PROTOCOL, spool)] + list(notes))


# --------------------------------------------------------------------------- settings


def spool_dir(env=None):
    env = os.environ if env is None else env
    return env.get(SPOOL_ENV) or DEFAULT_SPOOL


def wait_seconds(spool, env=None):
    """Wait-mode timeout: env BIOMERO_REACTOR_HANDOFF_WAIT_S, else ``wait_s`` in
    ``<spool>/handoff-settings.json``, else 0 (no wait).  Bad values count as 0."""
    env = os.environ if env is None else env
    raw = env.get(WAIT_ENV)
    source = WAIT_ENV
    if raw is None or str(raw).strip() == "":
        try:
            with open(os.path.join(spool, SETTINGS_FILE), encoding="utf-8") as fh:
                raw = json.load(fh).get("wait_s")
            source = os.path.join(spool, SETTINGS_FILE)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, AttributeError) as exc:
            logger.warning("ignoring %s: %s", os.path.join(spool, SETTINGS_FILE), exc)
            return 0
    if raw is None:
        return 0
    try:
        value = int(str(raw).strip())
    except ValueError:
        logger.warning("ignoring %s=%r: not a whole number of seconds", source, raw)
        return 0
    return max(value, 0)


# --------------------------------------------------------------------------- file system


def _fsync_path(path, directory=False):
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chmod(path, mode):
    try:
        os.chmod(path, mode)
    except OSError as exc:  # not the owner (shared spool): the mode is a courtesy
        logger.debug("chmod %o %s: %s", mode, path, exc)


def _ensure_dir(path):
    if not os.path.isdir(path):
        os.makedirs(path, exist_ok=True)
        _chmod(path, DIR_MODE)


def ensure_spool(spool):
    """Create ``<spool>/tmp`` and ``<spool>/ready`` if missing; return their paths."""
    tmp = os.path.join(spool, "tmp")
    ready = os.path.join(spool, "ready")
    _ensure_dir(spool)
    _ensure_dir(tmp)
    _ensure_dir(ready)
    return tmp, ready


def file_digest(path, chunk=1 << 20):
    """(bytes, sha256 hex) of a file, read once."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            size += len(block)
            h.update(block)
    return size, h.hexdigest()


def validate_zip(path):
    """Check a results zip as BIOMERO's import script does, plus CRCs.

    Returns the number of file entries.  Raises HandoffError(stage="validate").
    """
    if not os.path.isfile(path):
        raise HandoffError("validate", "copied zip file not found: %s" % path)
    size = os.path.getsize(path)
    if size < MIN_ZIP_BYTES:
        raise HandoffError(
            "validate", "zip file is too small (%d bytes): no meaningful data was "
            "transferred; the export to SLURM may have failed" % size)
    try:
        with zipfile.ZipFile(path, "r") as zf:
            names = zf.namelist()
            files = [n for n in names if not n.endswith("/") and n.strip()]
            if not files:
                raise HandoffError("validate", "zip contains no files (only %d directory "
                                   "entries)" % len(names))
            bad = zf.testzip()
            if bad is not None:
                raise HandoffError("validate", "zip entry %r fails its CRC check" % bad)
            return len(files)
    except HandoffError:
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, NotImplementedError...
        raise HandoffError("validate", "not a valid zip: %s" % _describe(exc))


def write_json_atomic(path, obj, mode=FILE_MODE):
    """Write JSON to ``path`` via ``path.part``: write, fsync, rename, fsync the dir."""
    part = path + ".part"
    data = (json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, default=str)
            + "\n").encode("utf-8")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    _chmod(part, mode)
    os.rename(part, path)
    _fsync_path(os.path.dirname(path) or ".", directory=True)


# --------------------------------------------------------------------------- dry run


def dry_run(spool, now=time.time):
    """Check that the spool can take a handoff; touch nothing else.

    Creates ``tmp/`` and ``ready/`` if missing, writes, fsyncs and removes a probe file in
    ``tmp/``, and renames a probe directory from ``tmp/`` into ``ready/`` and removes it
    (the operation a publish does, so a read-only ``ready/`` or a spool split across file
    systems shows up here).  Probe names start with ``.probe-``.
    Returns the dry-run message.  Raises HandoffError(stage="spool").
    """
    probe = ".probe-" + str(uuid.uuid4())
    try:
        tmp, ready = ensure_spool(spool)
        probe_file = os.path.join(tmp, probe)
        fd = os.open(probe_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.write(fd, b"biomero-reactor handoff dry run\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(probe_file)
        probe_dir = os.path.join(tmp, probe + ".d")
        os.mkdir(probe_dir)
        published = os.path.join(ready, probe + ".d")
        try:
            os.rename(probe_dir, published)
        except OSError:
            os.rmdir(probe_dir)
            raise
        os.rmdir(published)
    except OSError as exc:
        raise HandoffError("spool", "spool %s is not usable: %s" % (spool, _describe(exc)))
    notes = []
    alive = os.path.join(spool, ALIVE_FILE)
    try:
        age = now() - os.stat(alive).st_mtime
    except OSError:
        notes.append("note: no %s heartbeat in the spool" % ALIVE_FILE)
    else:
        if age > ALIVE_STALE_S:
            notes.append("note: %s was last touched %d min ago; is biomero-reactor "
                         "running?" % (ALIVE_FILE, age // 60))
    return dry_run_message(spool, notes)


# --------------------------------------------------------------------------- BIOMERO side


class Tracker:
    """Where the handoff records its task's status (BIOMERO's WorkflowTracker)."""

    def update_task_status(self, task_id, status):
        """Append Task.StatusUpdated(status) to the task ``task_id`` (a UUID string)."""

    def workflow_id_for_job(self, job_id):
        """The workflow of the task that ran SLURM job ``job_id``, from the job view."""
        return None


class NoTracker(Tracker):
    """No event store: nothing is recorded (standalone and `stage` runs)."""


class BiomeroTracker(Tracker):
    """BIOMERO's tracker, reached through the SlurmClient as BIOMERO's scripts do."""

    def __init__(self, slurm_client):
        self._client = slurm_client

    @property
    def enabled(self):
        return bool(getattr(self._client, "track_workflows", False))

    def update_task_status(self, task_id, status):
        if not self.enabled:
            logger.info("workflow tracking is off: status %s not recorded", status)
            return
        self._client.workflowTracker.update_task_status(uuid.UUID(task_id), status)

    def workflow_id_for_job(self, job_id):
        if not self.enabled:
            return None
        task_id = self._client.jobAccounting.get_task_id(job_id)
        if task_id is None:
            return None
        task = self._client.workflowTracker.repository.get(task_id)
        return canonical_uuid(str(task.workflow_id))


class Identity:
    """The OMERO user and group of the script's session."""

    def __init__(self, user_id, user_name, group_id, group_name):
        self.user_id = int(user_id)
        self.user_name = str(user_name)
        self.group_id = int(group_id)
        self.group_name = str(group_name)

    def as_manifest(self):
        return {"user_id": self.user_id, "user_name": self.user_name,
                "group_id": self.group_id, "group_name": self.group_name}


def identity_from_gateway(conn):
    """Identity from an OMERO BlitzGateway (``conn.getUser()``, ``getGroupFromContext()``)."""
    user = conn.getUser()
    group = conn.getGroupFromContext()
    return Identity(user.getId(), user.getName(), group.getId(), group.getName())


# --------------------------------------------------------------------------- fetchers


class SlurmFetcher:
    """Fetches a job's results with BIOMERO's SlurmClient, as its import script does.

    ``client`` needs check_job_status, get_logfile_from_slurm,
    extract_data_location_from_log, run_commands, zip_data_on_slurm_server,
    copy_zip_locally and cleanup_tmp_files with BIOMERO's signatures.
    """

    edition = "handoff"

    def __init__(self, client, sleep=None):
        self.client = client
        self.sleep = sleep or time.sleep
        self.data_path = None

    def job_state(self, job_id):
        _, result = self.client.check_job_status([job_id])
        stdout = getattr(result, "stdout", "") or ""
        # sacct -n -o JobId,State,End -X -j <job>: "<job> <STATE> <end>".  The status dict
        # is not used: BIOMERO keys it by int while callers pass strings.
        for line in stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].split("_")[0] == str(job_id):
                return parts[1]
        return None

    def fetch_log(self, job_id, staging):
        local_dir = staging.rstrip("/") + "/"
        for attempt in range(1, LOG_ATTEMPTS + 1):
            try:
                _dir, log_path, _result = self.client.get_logfile_from_slurm(
                    job_id, local_tmp_storage=local_dir)
                break
            except FileNotFoundError as exc:
                if attempt == LOG_ATTEMPTS:
                    raise HandoffError(
                        "log", "omero-%s.log not found on SLURM after %d attempts: %s"
                        % (job_id, LOG_ATTEMPTS, _describe(exc)))
                logger.warning("omero-%s.log not on SLURM yet (attempt %d/%d); retrying "
                               "in %d s", job_id, attempt, LOG_ATTEMPTS, LOG_RETRY_S)
                self.sleep(LOG_RETRY_S)
        expected = os.path.join(staging, "omero-%s.log" % job_id)
        if os.path.abspath(log_path) != os.path.abspath(expected) or not os.path.isfile(expected):
            raise HandoffError("log", "log not at %s after the copy (got %s)" % (expected, log_path))
        return expected, "omero-%s.log" % job_id

    def data_location(self, job_id):
        c = self.client
        # The data path, as the job template echoed it into the log.
        p = (c.extract_data_location_from_log(job_id) or "").strip()
        if not p:
            raise HandoffError("data_path", "Could not extract data location from SLURM job %s"
                               % job_id)
        if not p.startswith("/"):
            result = c.run_commands(['realpath "%s"' % p])
            resolved = (getattr(result, "stdout", "") or "").strip()
            if getattr(result, "ok", False) and resolved:
                p = resolved
            else:
                logger.warning("could not resolve %r to an absolute path; using it as is", p)
        if any(ch in _UNSAFE_PATH_CHARS for ch in p):
            raise HandoffError("data_path", "data location %r has characters that are unsafe "
                               "in a shell command" % p)
        self.data_path = p
        return p

    def wait_for_output(self, job_id):
        out_dir = "%s/data/out" % self.data_path
        for attempt in range(1, OUTPUT_WAIT_ATTEMPTS + 1):
            result = self.client.run_commands(['ls "%s" 2>/dev/null | wc -l' % out_dir])
            count = 0
            if getattr(result, "ok", False):
                try:
                    count = int((result.stdout or "").strip())
                except ValueError:
                    count = 0
            if count > 0:
                return count
            if attempt < OUTPUT_WAIT_ATTEMPTS:
                logger.warning("%s is empty on SLURM (attempt %d/%d); waiting %d s",
                               out_dir, attempt, OUTPUT_WAIT_ATTEMPTS, OUTPUT_WAIT_S)
            self.sleep(OUTPUT_WAIT_S)
        raise HandoffError("output_wait", "SLURM output directory still empty after %d s: %s"
                           % (OUTPUT_WAIT_ATTEMPTS * OUTPUT_WAIT_S, out_dir))

    def make_zip(self, job_id):
        result = self.client.zip_data_on_slurm_server(self.data_path, "%s_out" % job_id)
        if not getattr(result, "ok", False):
            raise HandoffError("zip", "failed to zip data on SLURM: %s"
                               % one_line(getattr(result, "stderr", "")))
        out = getattr(result, "stdout", "") or ""
        if "No files to process" in out or "Files: 0" in out or "Size:       0" in out:
            raise HandoffError("zip", "the zip on SLURM holds no data (no output files); the "
                               "export to SLURM may have failed")

    def copy_zip(self, job_id, staging):
        remote = "%s/%s_out" % (self.data_path, job_id)
        try:
            self.client.copy_zip_locally(staging.rstrip("/") + "/", remote)
        except Exception as exc:
            raise HandoffError("copy", "Copy zip failed: %s" % _describe(exc))
        return os.path.join(staging, "%s_out.zip" % job_id), remote + ".zip"

    def cleanup(self, job_id):
        if not self.data_path:
            return "No SLURM data location found for cleanup"
        try:
            self.client.cleanup_tmp_files(job_id, "%s_out" % job_id, self.data_path)
        except Exception as exc:
            return "SLURM cleanup failed: %s" % one_line(_describe(exc))
        return "Cleaned SLURM temporary files: %s + logs" % self.data_path


class LocalFetcher:
    """Takes a job's results from local files (the `stage` command): no SLURM."""

    edition = "handoff-stage"

    def __init__(self, zip_path, log_path, data_path=None, state=None):
        self.zip_src = os.path.abspath(zip_path)
        self.log_src = os.path.abspath(log_path)
        self.data_path = data_path
        self.state = state

    def job_state(self, job_id):
        return self.state

    def fetch_log(self, job_id, staging):
        dest = os.path.join(staging, "omero-%s.log" % job_id)
        try:
            shutil.copyfile(self.log_src, dest)
        except OSError as exc:
            raise HandoffError("log", "cannot copy %s: %s" % (self.log_src, _describe(exc)))
        return dest, self.log_src

    def data_location(self, job_id):
        return self.data_path

    def wait_for_output(self, job_id):
        return None

    def make_zip(self, job_id):
        return None

    def copy_zip(self, job_id, staging):
        dest = os.path.join(staging, "%s_out.zip" % job_id)
        try:
            shutil.copyfile(self.zip_src, dest)
        except OSError as exc:
            raise HandoffError("copy", "cannot copy %s: %s" % (self.zip_src, _describe(exc)))
        return dest, self.zip_src

    def cleanup(self, job_id):
        return None


# --------------------------------------------------------------------------- workflow id


def resolve_workflow_id(param_id, data_path, job_view_id):
    """The workflow id from its sources, by BIOMERO's rule.

    Sources: the ``workflow_uuid`` parameter, the UUID in the data path's last component,
    and the job view.  If they disagree, the parameter and the data path win over a stale
    job view when those two agree; otherwise it fails (stage workflow_id).  With no
    source the id is None (BIOMERO would invent a random one; a random id would only
    mislead the reactor).
    """
    from_path = None
    if data_path:
        for candidate in _UUID_SEARCH_RE.findall(os.path.basename(data_path.rstrip("/"))):
            from_path = canonical_uuid(candidate)
            if from_path:
                break
    sources = {"id_param": param_id, "id_from_data_path": from_path,
               "id_from_job_view": job_view_id}
    found = {k: v for k, v in sources.items() if v}
    chosen = None
    if found:
        ids = set(found.values())
        if len(ids) == 1:
            chosen = ids.pop()
        else:
            authoritative = {v for k, v in found.items() if k != "id_from_job_view"}
            if len(authoritative) == 1:
                chosen = authoritative.pop()
                logger.warning("workflow id in the job view differs (stale job id reuse?); "
                               "trusting parameter/data path: %s", found)
            else:
                raise HandoffError("workflow_id", "Workflow ID inconsistency: %s"
                                   % json.dumps(found, sort_keys=True))
    return chosen, sources


# --------------------------------------------------------------------------- the handoff


def _input(inputs, key, default=None):
    value = inputs.get(key, default)
    return default if value is None else value


def _mib(n):
    return "%.1f MiB" % (n / 1048576.0)


class Handoff:
    """One run of the handoff.  Use :func:`run_script` or :func:`stage_local`."""

    def __init__(self, inputs, identity, spool, tracker=None, wait_s=0, sleep=None,
                 monotonic=None, keep_alive=None, host=None):
        self.inputs = dict(inputs)
        self.identity = identity
        self.spool = spool
        self.tracker = tracker or NoTracker()
        self.wait_s = wait_s
        self.sleep = sleep or time.sleep
        self.monotonic = monotonic or time.monotonic
        self.keep_alive = keep_alive
        self.host = host or socket.gethostname()
        self.stage = "input"
        self.handoff_id = None
        self.task_id = None
        self.job_id = None
        self.staging = None

    # -- pieces --------------------------------------------------------------

    def parse_inputs(self):
        self.stage = "input"
        raw_task = self.inputs.get(P_TASK_ID)
        self.task_id = canonical_uuid(raw_task)
        if raw_task not in (None, "") and self.task_id is None:
            logger.warning("%s %r is not a UUID: no status updates, fresh handoff id",
                           P_TASK_ID, raw_task)
        raw_job = self.inputs.get(P_JOB_ID)
        self.job_id = valid_job_id(raw_job)
        if self.job_id is None:
            self.handoff_id = self.task_id
            raise HandoffError("input", "%s %r is not a SLURM job id (digits only)"
                               % (P_JOB_ID, raw_job))
        self.handoff_id = self.task_id or str(uuid.uuid4())
        raw_wf = self.inputs.get(P_WORKFLOW_UUID)
        self.param_workflow_id = canonical_uuid(raw_wf)
        if raw_wf not in (None, "") and self.param_workflow_id is None:
            logger.warning("%s %r is not a UUID: ignored", P_WORKFLOW_UUID, raw_wf)

    def prepare_staging(self):
        self.stage = "spool"
        try:
            tmp, ready = ensure_spool(self.spool)
        except OSError as exc:
            raise HandoffError("spool", "cannot create spool %s: %s" % (self.spool, _describe(exc)))
        self.ready_dir = os.path.join(ready, self.handoff_id)
        if os.path.lexists(self.ready_dir):
            raise HandoffError("publish", "ready/%s already exists: this handoff was published "
                               "before" % self.handoff_id, record_status=False)
        self.staging = os.path.join(tmp, self.handoff_id)
        try:
            if os.path.lexists(self.staging):
                # Left by an earlier, failed attempt of this same handoff id.
                logger.warning("removing stale staging directory %s", self.staging)
                shutil.rmtree(self.staging)
            os.mkdir(self.staging)
            _chmod(self.staging, DIR_MODE)
        except OSError as exc:
            raise HandoffError("spool", "cannot create %s: %s" % (self.staging, _describe(exc)))

    def build_manifest(self, fetcher, workflow, job_state, zip_info, log_info, zip_remote,
                       log_remote):
        return {
            "schema": MANIFEST_SCHEMA,
            "handoff_id": self.handoff_id,
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="microseconds"),
            "producer": {"script": SCRIPT_FILE if fetcher.edition == "handoff"
                         else os.path.basename(__file__),
                         "edition": fetcher.edition, "version": EDITION_VERSION,
                         "host": self.host},
            "workflow": dict(workflow, task_id=self.task_id),
            "slurm": {"job_id": self.job_id, "job_state": job_state,
                      "data_path": fetcher.data_path, "zip_remote": zip_remote,
                      "log_remote": log_remote,
                      "cleanup_requested": bool(_input(self.inputs, P_CLEANUP, True))},
            "omero": self.identity.as_manifest(),
            "files": {"zip": zip_info, "log": log_info},
            "wait": {"enabled": self.wait_s > 0, "timeout_s": self.wait_s},
            "inputs": self.inputs,
        }

    def publish(self, manifest):
        self.stage = "publish"
        try:
            for name in os.listdir(self.staging):
                path = os.path.join(self.staging, name)
                _chmod(path, FILE_MODE)
                _fsync_path(path)
            write_json_atomic(os.path.join(self.staging, "manifest.json"), manifest)
            _fsync_path(self.staging, directory=True)
            if os.path.lexists(self.ready_dir):
                raise HandoffError("publish", "ready/%s already exists" % self.handoff_id)
            os.rename(self.staging, self.ready_dir)
            _fsync_path(os.path.dirname(self.ready_dir), directory=True)
            _fsync_path(os.path.dirname(self.staging), directory=True)
        except HandoffError:
            raise
        except OSError as exc:
            raise HandoffError("publish", "cannot publish %s: %s" % (self.staging, _describe(exc)))

    def set_status(self, status):
        if not self.task_id:
            return None
        try:
            self.tracker.update_task_status(self.task_id, status)
            return None
        except Exception as exc:
            logger.warning("could not record status %s on task %s: %s", status, self.task_id, exc)
            return "note: could not record status %s on task %s: %s" % (
                status, self.task_id, one_line(_describe(exc)))

    def wait_for_result(self):
        """(status, message) from ready/<id>/result.json, or (None, why) on timeout."""
        result_path = os.path.join(self.ready_dir, "result.json")
        deadline = self.monotonic() + self.wait_s
        while True:
            if os.path.exists(result_path):
                try:
                    with open(result_path, encoding="utf-8") as fh:
                        result = json.load(fh)
                    status = result.get("status")
                    if status in (RESULT_IMPORTED, RESULT_IMPORT_FAILED):
                        return status, str(result.get("message") or "")
                    logger.warning("result.json has status %r; still waiting", status)
                except (OSError, ValueError, AttributeError) as exc:
                    logger.warning("cannot read %s yet: %s", result_path, exc)
            elif not os.path.isdir(self.ready_dir):
                return None, ("biomero-reactor removed ready/%s before its result.json could "
                              "be read; see the workflow dashboard for the import's outcome"
                              % self.handoff_id)
            remaining = deadline - self.monotonic()
            if remaining <= 0:
                return None, ("biomero-reactor had not finished the import after %d s; it "
                              "continues in the background" % self.wait_s)
            if self.keep_alive is not None:
                try:
                    self.keep_alive()
                except Exception as exc:
                    logger.warning("keepAlive failed: %s", exc)
            self.sleep(min(WAIT_POLL_S, remaining))

    # -- the run -------------------------------------------------------------

    def run(self, fetcher, cleanup=True):
        """Run the handoff with ``fetcher``; return an Outcome (never raises Exception)."""
        workflow_id = None
        try:
            if self.job_id is None:
                self.parse_inputs()
            self.prepare_staging()

            job_state = None
            if _input(self.inputs, P_COMPLETED_JOB, True):
                self.stage = "job_status"
                job_state = fetcher.job_state(self.job_id)

            self.stage = "log"
            log_path, log_remote = fetcher.fetch_log(self.job_id, self.staging)

            self.stage = "data_path"
            fetcher.data_location(self.job_id)

            self.stage = "output_wait"
            fetcher.wait_for_output(self.job_id)

            self.stage = "zip"
            fetcher.make_zip(self.job_id)

            self.stage = "copy"
            zip_path, zip_remote = fetcher.copy_zip(self.job_id, self.staging)

            self.stage = "validate"
            entries = validate_zip(zip_path)
            zip_bytes, zip_sha = file_digest(zip_path)
            log_bytes, log_sha = file_digest(log_path)

            self.stage = "workflow_id"
            job_view_id = None
            try:
                job_view_id = self.tracker.workflow_id_for_job(self.job_id)
            except Exception as exc:
                logger.warning("job view lookup for job %s failed: %s", self.job_id, exc)
            workflow_id, sources = resolve_workflow_id(
                self.param_workflow_id, fetcher.data_path, job_view_id)
            workflow = dict(id=workflow_id, **sources)

            manifest = self.build_manifest(
                fetcher, workflow, job_state,
                {"name": os.path.basename(zip_path), "bytes": zip_bytes, "sha256": zip_sha,
                 "entries": entries},
                {"name": os.path.basename(log_path), "bytes": log_bytes, "sha256": log_sha},
                zip_remote, log_remote)
            self.publish(manifest)
        except Exception as exc:
            stage = exc.stage if isinstance(exc, HandoffError) else self.stage
            error = exc.error if isinstance(exc, HandoffError) else _describe(exc)
            logger.error("handoff failed at stage %s: %s", stage, error,
                         exc_info=not isinstance(exc, HandoffError))
            return self._failed(stage, error, exc)

        # Published: from here on the reactor owns ready/<id>.  Nothing below may fail
        # the handoff, except an import failure reported in wait mode.
        lines = [marker_line(self.handoff_id, workflow_id, self.job_id),
                 "Results of SLURM job %s (%d files, %s) were handed to biomero-reactor, "
                 "which imports them in the background; follow it in the BIOMERO workflow "
                 "dashboard." % (self.job_id, entries, _mib(zip_bytes))]
        if job_state:
            lines.append("SLURM job state: %s" % job_state)
        if cleanup:
            if _input(self.inputs, P_CLEANUP, True):
                note = fetcher.cleanup(self.job_id)
            else:
                note = "Cleanup disabled: SLURM data kept at %s" % fetcher.data_path
            if note:
                lines.append(note)
        note = self.set_status(STATUS_HANDED_OFF)
        if note:
            lines.append(note)
        message = "\n".join(lines)

        status = None
        if self.wait_s > 0:
            self.stage = "import"
            status, text = self.wait_for_result()
            if status == RESULT_IMPORT_FAILED:
                self.set_status(STATUS_FAILED)
                return Outcome(False, failure_message(
                    "import", text or "import failed", self.handoff_id, self.job_id,
                    details=text), self.handoff_id, workflow_id, self.ready_dir, "import",
                    status)
            message = message + "\n" + text if text else message
        return Outcome(True, message, self.handoff_id, workflow_id, self.ready_dir, None, status)

    def _failed(self, stage, error, exc):
        details = []
        if isinstance(exc, HandoffError) and exc.details:
            details.append(exc.details)
        if self.staging and os.path.isdir(self.staging):
            details.append("Partial files left for inspection in %s" % self.staging)
        if getattr(exc, "record_status", True):
            note = self.set_status(STATUS_FAILED)
            if note:
                details.append(note)
        return Outcome(False, failure_message(stage, error, self.handoff_id, self.job_id,
                                              "\n".join(details)),
                       self.handoff_id, None, None, stage)


# --------------------------------------------------------------------------- entries


def run_script(inputs, identity, slurm_factory, tracker_factory=BiomeroTracker, spool=None,
               wait_s=None, env=None, sleep=None, monotonic=None,
               keep_alive=None):
    """What SLURM_Import_Results.py does once OMERO has parsed its inputs.

    ``inputs``: ``client.getInputs(unwrap=True)``.  ``identity``: an Identity, or a
    callable returning one (called after the dry-run check, so a dry run needs no user
    lookups).  ``slurm_factory()``: a context manager yielding a SlurmClient, entered only
    for a real handoff (never in a dry run).  ``tracker_factory(client)``: a Tracker.
    Returns an Outcome.
    """
    spool = spool or spool_dir(env)
    if _input(inputs, P_DRY_RUN, False):
        try:
            return Outcome(True, dry_run(spool))
        except HandoffError as exc:
            return Outcome(False, failure_message(exc.stage, exc.error, None,
                                                  inputs.get(P_JOB_ID)), stage=exc.stage)
    if wait_s is None:
        wait_s = wait_seconds(spool, env)
    handoff = Handoff(inputs, None, spool, wait_s=wait_s, sleep=sleep, monotonic=monotonic,
                      keep_alive=keep_alive)
    try:
        handoff.parse_inputs()
        handoff.stage = "session"
        handoff.identity = identity() if callable(identity) else identity
    except Exception as exc:
        stage = exc.stage if isinstance(exc, HandoffError) else handoff.stage
        error = exc.error if isinstance(exc, HandoffError) else _describe(exc)
        return Outcome(False, failure_message(stage, error, handoff.handoff_id,
                                              inputs.get(P_JOB_ID)), stage=stage)
    handoff.stage = "connect"
    try:
        manager = slurm_factory()
        client = manager.__enter__()
    except Exception as exc:
        logger.error("SlurmClient.from_config failed", exc_info=True)
        return Outcome(False, failure_message("connect", _describe(exc), handoff.handoff_id,
                                              handoff.job_id), stage="connect")
    failed = True
    try:
        handoff.tracker = tracker_factory(client) if tracker_factory else NoTracker()
        outcome = handoff.run(SlurmFetcher(client, sleep=sleep))
        failed = False
        return outcome
    finally:
        try:
            if failed:
                manager.__exit__(*sys.exc_info())
            else:
                manager.__exit__(None, None, None)
        except Exception as exc:
            logger.warning("closing the SlurmClient failed: %s", exc)


def stage_local(spool, job_id, workflow_id, zip_path, log_path, identity, inputs=None,
                task_id=None, data_path=None, job_state=None, wait_s=0, sleep=None):
    """Stage a handoff from local files exactly as the script would, without SLURM.

    Inputs are the declared defaults, overlaid by ``inputs``, with ``SLURM Job Id``,
    ``workflow_uuid`` and (if given) ``Task_ID`` set from the arguments.  No tracker: no
    status is written.  Returns an Outcome.
    """
    merged = dict(PARAMETER_DEFAULTS)
    merged.update(inputs or {})
    merged[P_JOB_ID] = str(job_id)
    merged[P_WORKFLOW_UUID] = str(workflow_id)
    if task_id:
        merged[P_TASK_ID] = str(task_id)
    handoff = Handoff(merged, identity, spool, wait_s=wait_s, sleep=sleep)
    if canonical_uuid(workflow_id) is None:
        return Outcome(False, failure_message("input", "--workflow %r is not a UUID"
                                              % (workflow_id,), None, job_id), stage="input")
    if task_id and canonical_uuid(task_id) is None:
        return Outcome(False, failure_message("input", "--task-id %r is not a UUID"
                                              % (task_id,), None, job_id), stage="input")
    return handoff.run(LocalFetcher(zip_path, log_path, data_path, job_state), cleanup=False)


def _parse_inputs_arg(text):
    if text is None:
        return {}
    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as fh:
            text = fh.read()
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("--inputs must be a JSON object")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="biomero_reactor_handoff.py",
        description="biomero-reactor handoff: stage results into the spool, or check it.")
    sub = parser.add_subparsers(dest="command", required=True)

    st = sub.add_parser(
        "stage", help="stage a handoff from local files, as SLURM_Import_Results.py would",
        description="Copy FILE and LOG into <spool>/tmp/<id>/, validate, write manifest.json, "
        "publish to <spool>/ready/<id>/ and print the message the script would return (its "
        "first line is the marker). Exit 0 on success, 1 on failure (the message then starts "
        "with FAILED:), 2 on bad usage.")
    st.add_argument("--spool", default=None, help="spool directory (default: $%s or %s)"
                    % (SPOOL_ENV, DEFAULT_SPOOL))
    st.add_argument("--workflow", required=True, help="workflow UUID (the workflow_uuid input)")
    st.add_argument("--job", required=True, help="SLURM job id (digits)")
    st.add_argument("--zip", required=True, help="the results zip (<job>_out.zip)")
    st.add_argument("--log", required=True, help="the SLURM log (omero-<job>.log)")
    st.add_argument("--user-id", required=True, type=int)
    st.add_argument("--user-name", required=True)
    st.add_argument("--group-id", required=True, type=int)
    st.add_argument("--group-name", required=True)
    st.add_argument("--inputs", default=None,
                    help="script inputs as a JSON object (or @file), over the defaults")
    st.add_argument("--task-id", default=None,
                    help="the import task's UUID (Task_ID); it becomes the handoff id. "
                    "Default: a fresh uuid4")
    st.add_argument("--data-path", default=None, help="SLURM data path to record")
    st.add_argument("--job-state", default=None, help="SLURM job state to record")
    st.add_argument("--wait-s", type=int, default=0,
                    help="wait mode: wait up to this many seconds for result.json")

    dr = sub.add_parser("dry-run", help="check that the spool can take handoffs "
                        "(what Test_Write_Permissions_Only does)")
    dr.add_argument("--spool", default=None)

    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        stream=sys.stderr, format="%(levelname)s %(message)s")
    spool = os.path.abspath(args.spool or spool_dir())

    if args.command == "dry-run":
        try:
            print(dry_run(spool))
            return 0
        except HandoffError as exc:
            print(failure_message(exc.stage, exc.error))
            return 1

    try:
        inputs = _parse_inputs_arg(args.inputs)
    except (OSError, ValueError) as exc:
        parser.error("--inputs: %s" % exc)
    if valid_job_id(args.job) is None:
        parser.error("--job %r: digits only" % args.job)
    outcome = stage_local(spool, args.job, args.workflow, args.zip, args.log,
                          Identity(args.user_id, args.user_name, args.group_id,
                                   args.group_name),
                          inputs=inputs, task_id=args.task_id, data_path=args.data_path,
                          job_state=args.job_state, wait_s=args.wait_s)
    print(outcome.message)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
