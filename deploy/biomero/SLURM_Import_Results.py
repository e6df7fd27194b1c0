#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""SLURM_Import_Results.py, handoff edition for biomero-reactor.

Replaces BIOMERO's import script of the same name (found by file name by
SLURM_Run_Workflow.py).  It declares the same parameters, with the same names, types,
optional flags and defaults, but no ``values=`` lists (so parsing it needs neither SSH
nor extra OMERO queries).  It does not import anything into OMERO: it fetches the SLURM
job's results zip and log into biomero-reactor's spool and hands them over; the
reactor imports them.  All logic lives in ``biomero_reactor_handoff.py``, which must be
importable where OMERO runs its scripts (see docs/HANDOFF.md, "Installing").

Nothing runs at import time: ``omero`` and ``biomero`` are imported inside
``run_script()``, and ``biomero`` only for a real handoff (never for a dry run).
"""

import os
import sys

VERSION = "2.8.2+handoff.1"
MODULE = "biomero_reactor_handoff"


def _load_handoff_module():
    """Import biomero_reactor_handoff: from the Python path (OMERO's processor puts
    $OMERO_HOME/lib/python on it), else from beside this file (local runs)."""
    try:
        return __import__(MODULE)
    except ImportError:
        pass
    candidates = []
    for var in ("OMERO_HOME", "OMERODIR"):
        if os.environ.get(var):
            candidates.append(os.path.join(os.environ[var], "lib", "python"))
    candidates.append(os.path.dirname(os.path.abspath(__file__)))
    for directory in candidates:
        if os.path.isfile(os.path.join(directory, MODULE + ".py")):
            sys.path.insert(0, directory)
            return __import__(MODULE)
    raise ImportError("%s.py not found on the Python path nor in %s"
                      % (MODULE, ", ".join(candidates)))


def run_script():
    import omero
    from omero import scripts
    from omero.gateway import BlitzGateway
    from omero.rtypes import rlong, rstring

    client = scripts.client(
        'BIOMERO.SLURM_Import_Results',
        '''Hand the results of a completed SLURM job over to biomero-reactor.

        Fetches <job>_out.zip and omero-<job>.log from SLURM into biomero-reactor's spool;
        the reactor imports them. Same parameters as BIOMERO's import script.
        ''',
        scripts.Bool("Completed Job", optional=False, grouping="01", default=True),
        scripts.String("SLURM Job Id", optional=False, grouping="01.1",
                       description="SLURM job id whose results to hand over"),
        scripts.String("workflow_uuid", optional=True, grouping="01.2",
                       description="Workflow that produced the results (else taken from the data path or the job view)"),
        scripts.String("Task_ID", optional=True, grouping="01.3",
                       description="Import task id: the handoff id and the task whose status is set"),
        scripts.String("Log_Fallback_Target", optional=True, grouping="01.4",
                       description="Container (\"DataType:id\") for the job log; recorded for the reactor"),
        scripts.List("ROI_Target_Image_IDs", optional=True, grouping="01.5",
                     description="Original image ids available as ROI targets").ofType(rlong(0)),
        scripts.Bool("Output - Attach as zip to project?", optional=False, grouping="02",
                     description="Attach a zip of all results to a project", default=False),
        scripts.List("Project", optional=True, grouping="02.1",
                     description="Project to attach the results to"),
        scripts.Bool("Output - Attach as zip to dataset?", optional=False, grouping="03",
                     description="Attach a zip of all results to a dataset", default=False),
        scripts.List("Dataset_Attach", optional=True, grouping="03.1",
                     description="Dataset to attach the results to"),
        scripts.Bool("Output - Attach as zip to plate?", optional=False, grouping="04",
                     description="Attach a zip of all results to a plate", default=False),
        scripts.List("Plate", optional=True, grouping="04.1",
                     description="Plate to attach the results to"),
        scripts.Bool("Output - Add as attachment to original images", optional=False,
                     grouping="05", description="Attach all results to the original images",
                     default=False),
        scripts.Bool("Output - Add as new images in NEW dataset", optional=False, grouping="05",
                     description="Import the result images into a dataset", default=True),
        scripts.String("New Dataset", optional=True, grouping="05.1",
                       description="Name of the dataset for the results",
                       default="Imported_Results"),
        scripts.Bool("Allow duplicate?", optional=True, grouping="05.2",
                     description="Create a new dataset even if one with this name exists",
                     default=False),
        scripts.Long("Dataset_ID", optional=True, grouping="05.25",
                     description="Exact dataset id; wins over the name"),
        scripts.Bool("Rename imported files?", optional=True, grouping="05.3",
                     description="Rename imported files by the pattern below", default=True),
        scripts.String("Rename", optional=True, grouping="05.4",
                       description="Name pattern: {original_file}, {original_ext}, {file}, {ext}",
                       default="{original_file}_IMPORTED.{ext}"),
        scripts.Bool("Output - Add as new images in NEW screen", optional=False, grouping="06",
                     description="Import the result images into a screen", default=False),
        scripts.String("New Screen", optional=True, grouping="06.1",
                       description="Name of the screen for the results",
                       default="Imported_Results"),
        scripts.Bool("Allow duplicate screen name?", optional=True, grouping="06.2",
                     description="Create a new screen even if one with this name exists",
                     default=False),
        scripts.Long("Screen_ID", optional=True, grouping="06.25",
                     description="Exact screen id; wins over the name"),
        scripts.Bool("Import_Label_Zarrs", optional=True, grouping="07",
                     description="Also import label zarr directories", default=True),
        scripts.Bool("Import_Only_Labels", optional=True, grouping="07.1",
                     description="Import only label zarr directories", default=True),
        scripts.Bool("Output - Add csv files as OMERO.table", optional=False, grouping="08",
                     description="Add csv files as OMERO.tables", default=True),
        scripts.Bool("Attach table to dataset", optional=True, grouping="08.1",
                     description="Attach tables to the dataset below", default=True),
        scripts.List("Dataset for table", optional=True, grouping="08.2",
                     description="Dataset for the tables"),
        scripts.Bool("Attach table to plate", optional=True, grouping="08.3",
                     description="Attach tables to the plate below", default=False),
        scripts.List("Plate for table", optional=True, grouping="08.4",
                     description="Plate for the tables"),
        scripts.Bool("Output - Attach non-image output files as annotations", optional=True,
                     grouping="09", description="Attach non-image output files as annotations",
                     default=False),
        scripts.Bool("Attach file outputs to dataset", optional=True, grouping="09.1",
                     description="Attach file outputs to the dataset below", default=True),
        scripts.List("Dataset for file outputs", optional=True, grouping="09.2",
                     description="Dataset for the file outputs"),
        scripts.Bool("Attach file outputs to plate", optional=True, grouping="09.3",
                     description="Attach file outputs to the plate below", default=False),
        scripts.List("Plate for file outputs", optional=True, grouping="09.4",
                     description="Plate for the file outputs"),
        scripts.Bool("Create_ROIs", optional=True, grouping="09.5",
                     description="Create ROIs on the original images from label images",
                     default=False),
        scripts.String("ROI_Label_Pattern", optional=True, grouping="09.6",
                       description="Glob for label result names", default=""),
        scripts.String("ROI_Shape", optional=True, grouping="09.7",
                       description="ROI shape: Polygon or Mask", default="Polygon"),
        scripts.Bool("ROI_Delete_Label_Images", optional=True, grouping="09.8",
                     description="Delete label images after ROI creation", default=False),
        scripts.String("ROI_Name_Prefix", optional=True, grouping="09.9",
                       description="Prefix for ROI names", default=""),
        scripts.String("ROI_Color", optional=True, grouping="09.95",
                       description="#RRGGBB ROI color", default=""),
        scripts.Bool("ROI_Clear_Existing", optional=True, grouping="09.10",
                     description="Delete existing ROIs first", default=False),
        scripts.String("ROI_Clear_Filter", optional=True, grouping="09.11",
                       description="Name filter for the ROIs to delete", default=""),
        scripts.Bool("Cleanup?", optional=True, grouping="10",
                     description="Remove the job's files on SLURM once handed over",
                     default=True),
        scripts.Bool("Test_Write_Permissions_Only", optional=True, grouping="10.1",
                     description="DRY RUN: only check that the biomero-reactor spool is "
                     "writable; touches nothing on SLURM", default=False),

        namespaces=[omero.constants.namespaces.NSDYNAMIC],
        version=VERSION,
        authors=["biomero-reactor"],
        institutions=["biomero-reactor"],
        authorsInstitutions=[[1]],
    )

    try:
        inputs = client.getInputs(unwrap=True)
        try:
            handoff = _load_handoff_module()
        except ImportError as exc:
            message = ("FAILED: BIOMERO-REACTOR-HANDOFF/1 handoff=- job=- stage=spool "
                       "error=%s" % " ".join(str(exc).split()))
            client.setOutput("Message", rstring(message))
            raise

        conn = BlitzGateway(client_obj=client)

        def slurm_client():
            from biomero import SlurmClient
            return SlurmClient.from_config()

        outcome = handoff.run_script(
            inputs,
            identity=lambda: handoff.identity_from_gateway(conn),
            slurm_factory=slurm_client,
            keep_alive=conn.keepAlive)
        client.setOutput("Message", rstring(outcome.message))
        if outcome.workflow_id:
            client.setOutput("Workflow_UUID", rstring(outcome.workflow_id))
        if not outcome.ok:
            # Non-zero exit: OMERO marks the job Error and BIOMERO fails the task.
            raise RuntimeError(outcome.message.splitlines()[0])
    finally:
        client.closeSession()


if __name__ == "__main__":
    import logging
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)-5.5s [%(name)s] %(message)s")
    run_script()
