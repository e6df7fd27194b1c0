"""A stand-in for BIOMERO's SlurmClient that serves a SLURM login node from a directory.

It has the calls the handoff script uses, with BIOMERO's signatures and return values:
get_logfile_from_slurm, extract_data_location_from_log, run_commands (realpath, the
``ls | wc -l`` output check, sacct), zip_data_on_slurm_server, copy_zip_locally,
check_job_status and cleanup_tmp_files.  Its failure modes are the real ones:

- the log is not there yet: FileNotFoundError from the SFTP get, after the local file was
  already created empty (paramiko opens the local file before the remote one);
- no DATA_PATH line in the log (or no log): extract_data_location_from_log returns "";
- ``data/out`` empty (or empty for the first N checks, as after an NFS flush lag): the
  count is 0, and 7-Zip's summary reports no files;
- a truncated zip: either the remote zip itself is cut short (the copy "succeeds"), or
  the transfer stops half way with a size-mismatch IOError, leaving a partial local file;
- a non-zero remote exit raises UnexpectedExit (fabric's default ``warn=False``);
- sacct with no output three times: SSHException.

``root/home`` is the login home (the SFTP working directory).  Every call is recorded
in ``calls``.
"""

import os
import re
import shutil
import zipfile


class Result:
    """Like invoke's Result: stdout, stderr, exited, ok."""

    def __init__(self, command="", stdout="", stderr="", exited=0):
        self.command = command
        self.stdout = stdout
        self.stderr = stderr
        self.exited = exited
        self.return_code = exited

    @property
    def ok(self):
        return self.exited == 0

    def __repr__(self):
        return "<Result cmd=%r exited=%d>" % (self.command, self.exited)


class UnexpectedExit(Exception):
    def __init__(self, result):
        super().__init__("Command %r exited %d: %s" % (result.command, result.exited,
                                                      result.stderr))
        self.result = result


class SSHException(Exception):
    pass


class TransferResult:
    def __init__(self, local, remote):
        self.local = local
        self.remote = remote


# The DATA_PATH field of the job template's echo line (BIOMERO's perl one-liner).
_DATA_LINE = re.compile(r"Running [\w-]+? Job w/ .+? \| .+? \| (.+?) \|.*", re.I)
_LS_COUNT = re.compile(r'^ls "(.*)" 2>/dev/null \| wc -l$')
_REALPATH = re.compile(r'^realpath "(.*)"$')
_SACCT = re.compile(r"^sacct -n -o JobId,State,End -X -j (.+)$")


class StandinSlurmClient:
    _LOGFILE = "omero-{slurm_job_id}.log"

    def __init__(self, root, log_missing_attempts=0, empty_output_checks=0,
                 truncate_remote_zip=False, copy_size_mismatch=False, sacct_state="COMPLETED",
                 sacct_silent=False, track_workflows=False):
        self.root = os.path.abspath(root)
        self.home = os.path.join(self.root, "home")
        os.makedirs(self.home, exist_ok=True)
        self.log_missing_attempts = log_missing_attempts
        self.empty_output_checks = empty_output_checks
        self.truncate_remote_zip = truncate_remote_zip
        self.copy_size_mismatch = copy_size_mismatch
        self.sacct_state = sacct_state
        self.sacct_silent = sacct_silent
        self.track_workflows = track_workflows
        self.calls = []
        self.closed = False
        self._log_gets = 0
        self._ls_checks = 0

    # -- test set-up ------------------------------------------------------------

    def remote(self, path):
        """Absolute local path of a remote path (relative ones are under the home)."""
        return path if os.path.isabs(path) else os.path.join(self.home, path)

    def add_job(self, job_id, data_path, files=None, log=True, log_text=None):
        """Create omero-<job>.log (with its DATA_PATH line) and <data_path>/data/out/."""
        out = os.path.join(self.remote(data_path), "data", "out")
        os.makedirs(out, exist_ok=True)
        for name, content in (files or {}).items():
            path = os.path.join(out, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(content)
        if log:
            text = log_text if log_text is not None else (
                "Job started\nRunning cellpose Job w/ cellpose:v1 | input | %s | extra\n"
                "done\n" % data_path)
            with open(os.path.join(self.home, "omero-%s.log" % job_id), "w") as fh:
                fh.write(text)

    def names(self):
        return [c[0] for c in self.calls]

    # -- context manager (SlurmClient.from_config() is used with `with`) ---------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True
        return False

    # -- fabric-like primitives ------------------------------------------------------

    def _get(self, remote, local):
        """fabric Connection.get: a local ending in '/' is a directory."""
        if local.endswith(os.sep):
            local = os.path.join(local, os.path.basename(remote))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "wb") as dst:  # paramiko opens the local file first
            src_path = self.remote(remote)
            if not os.path.isfile(src_path):
                raise FileNotFoundError(2, "No such file", remote)
            with open(src_path, "rb") as src:
                data = src.read()
            if self.copy_size_mismatch and remote.endswith(".zip"):
                dst.write(data[: len(data) // 2])
                raise IOError("size mismatch in get!  %d != %d" % (len(data) // 2, len(data)))
            dst.write(data)
        return TransferResult(local, remote)

    def run_commands(self, cmdlist, env=None, sep=" && ", log_stdout=True, **kwargs):
        cmd = sep.join(cmdlist)
        self.calls.append(("run_commands", cmd))
        return self._run(cmd)

    def _run(self, cmd):
        m = _REALPATH.match(cmd)
        if m:
            path = self.remote(m.group(1))
            if not os.path.exists(path):
                raise UnexpectedExit(Result(cmd, "", "realpath: %s: No such file or directory"
                                            % m.group(1), 1))
            return Result(cmd, os.path.realpath(path) + "\n")
        m = _LS_COUNT.match(cmd)
        if m:
            self._ls_checks += 1
            path = self.remote(m.group(1))
            count = len(os.listdir(path)) if os.path.isdir(path) else 0
            if self._ls_checks <= self.empty_output_checks:
                count = 0
            return Result(cmd, "%d\n" % count)
        m = _SACCT.match(cmd)
        if m:
            if self.sacct_silent:
                return Result(cmd, "")
            ids = [j.strip() for j in m.group(1).split("-j")]
            return Result(cmd, "".join("%s %s 2026-12-03T10:00:00\n" % (j, self.sacct_state)
                                       for j in ids))
        raise AssertionError("stand-in SLURM does not know the command %r" % cmd)

    # -- SlurmClient calls --------------------------------------------------------------

    def get_logfile_from_slurm(self, slurm_job_id, local_tmp_storage="/tmp/", logfile=None):
        self.calls.append(("get_logfile_from_slurm", slurm_job_id, local_tmp_storage))
        if logfile is None:
            logfile = self._LOGFILE
        logfile = logfile.format(slurm_job_id=slurm_job_id)
        self._log_gets += 1
        if self._log_gets <= self.log_missing_attempts:
            local = os.path.join(local_tmp_storage, os.path.basename(logfile)) \
                if local_tmp_storage.endswith(os.sep) else local_tmp_storage
            os.makedirs(os.path.dirname(local), exist_ok=True)
            open(local, "wb").close()
            raise FileNotFoundError(2, "No such file", logfile)
        result = self._get(logfile, local_tmp_storage)
        return local_tmp_storage, local_tmp_storage + logfile, result

    def extract_data_location_from_log(self, slurm_job_id=None, logfile=None):
        self.calls.append(("extract_data_location_from_log", slurm_job_id))
        if logfile is None and slurm_job_id is not None:
            logfile = self._LOGFILE.format(slurm_job_id=slurm_job_id)
        path = self.remote(logfile)
        if not os.path.isfile(path):
            return ""  # cat fails, perl prints nothing, the pipeline exits 0
        out = []
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = _DATA_LINE.search(line)
                if m:
                    out.append(m.group(1))
        return "".join(out)  # print$1: no newline between matches

    def zip_data_on_slurm_server(self, data_location, filename, env=None):
        self.calls.append(("zip_data_on_slurm_server", data_location, filename))
        cmd = 'cd "%s/data/out" && 7z a -y "%s/%s.zip" -tzip .' % (data_location, data_location,
                                                                  filename)
        out_dir = os.path.join(self.remote(data_location), "data", "out")
        if not os.path.isdir(out_dir):
            raise UnexpectedExit(Result(cmd, "", "cd: %s: No such file or directory" % out_dir, 1))
        zip_path = os.path.join(self.remote(data_location), filename + ".zip")
        entries = {}  # name -> bytes; `7z a` updates an existing archive in place
        if os.path.exists(zip_path):
            with zipfile.ZipFile(zip_path) as old:
                entries = {n: old.read(n) for n in old.namelist()}
        nfiles, nbytes = 0, 0
        for base, dirs, files in os.walk(out_dir):
            for d in sorted(dirs):
                entries[os.path.relpath(os.path.join(base, d), out_dir) + "/"] = b""
            for f in sorted(files):
                full = os.path.join(base, f)
                with open(full, "rb") as fh:
                    entries[os.path.relpath(full, out_dir)] = fh.read()
                nfiles += 1
                nbytes += os.path.getsize(full)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries.items():
                zf.writestr(name, data)
        if self.truncate_remote_zip:
            size = os.path.getsize(zip_path)
            with open(zip_path, "r+b") as fh:
                fh.truncate(size * 6 // 10)
        if nfiles == 0:
            report = "\nScanning the drive:\n0 files, 0 bytes\n\nNo files to process\n" \
                     "Everything is Ok\n\nFiles: 0\nSize:       0\nCompressed: 22\n"
        else:
            report = "\nScanning the drive:\n%d files, %d bytes\n\nEverything is Ok\n\n" \
                     "Files: %d\nSize:       %d\n" % (nfiles, nbytes, nfiles, nbytes)
        return Result(cmd, report)

    def copy_zip_locally(self, local_tmp_storage, filename):
        self.calls.append(("copy_zip_locally", local_tmp_storage, filename))
        return self._get(filename + ".zip", local_tmp_storage)

    def check_job_status(self, slurm_job_ids, env=None):
        self.calls.append(("check_job_status", list(slurm_job_ids)))
        cmd = "sacct -n -o JobId,State,End -X -j " + " -j ".join(str(j) for j in slurm_job_ids)
        for _ in range(3):
            result = self._run(cmd)
            if not result.ok:
                raise SSHException("Result is not ok: %r" % result)
            if result.stdout:
                status = {int(line.split()[0].split("_")[0]): line.split()[1]
                          for line in result.stdout.split("\n") if line}
                # As BIOMERO does: ids missing from the dict (string ids never match its
                # int keys) come back as PENDING.
                return {j: status.get(j, "PENDING") for j in slurm_job_ids}, result
        raise SSHException("Error: Retried 3 times to get status of %s, but no response."
                           % slurm_job_ids)

    def cleanup_tmp_files(self, slurm_job_id, filename=None, data_location=None, logfile=None):
        self.calls.append(("cleanup_tmp_files", slurm_job_id, filename, data_location))
        removed = []

        def rm(path, tree=False):
            if os.path.isdir(path) and tree:
                shutil.rmtree(path)
                removed.append(path)
            elif os.path.isfile(path):
                os.unlink(path)
                removed.append(path)

        if filename:
            for name in os.listdir(self.home):
                if name.startswith(filename + "."):
                    rm(os.path.join(self.home, name))
        logfile = (logfile or self._LOGFILE).format(slurm_job_id=slurm_job_id)
        rm(self.remote(logfile))
        for name in os.listdir(self.home):
            if name.startswith("omero-%s_" % slurm_job_id) and name.endswith(".log"):
                rm(os.path.join(self.home, name))
        if data_location is None:
            data_location = self.extract_data_location_from_log(slurm_job_id)
        if data_location:
            p = self.remote(data_location)
            rm(p, tree=True)
            parent = os.path.dirname(p)
            if os.path.isdir(parent):
                for name in os.listdir(parent):
                    if name.startswith(os.path.basename(p) + "."):
                        rm(os.path.join(parent, name), tree=True)
            rm(os.path.join(self.home, "config_%s.txt" % os.path.basename(data_location)))
        self.removed = removed
        return Result("cleanup", "")
