// Annotating one job's 1,000 imported images against the OMERO.web stand-in: how many
// requests the writes take (target: at most 10) and the wall time (target: under 5 s).
// Usage: bench_omero_annotate_bench [images]
#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdio>
#include <string>

#include "biomero_reactor/log.hpp"
#include "biomero_reactor/omero_job.hpp"
#include "omero_test_run.hpp"
#include "omero_web_standin.hpp"

using namespace biomero_reactor;
using biomero_reactor::test::OmeroWebStandin;

int main(int argc, char** argv) {
  const int images = argc > 1 ? std::stoi(argv[1]) : 1000;
  log::capture([](const std::string&) {});
  OmeroWebStandin web;
  const auto lab = web.add_group("lab");
  const auto root = web.add_user("root", "pw", true, {lab});
  const auto alice = web.add_user("alice", "pw", false, {lab});
  const auto dataset = web.add_container("dataset", "Imported_Results", alice, lab);
  const std::string order = "0e2b8f5c-1111-4c6e-9a55-6f1a2b3c4d5e";
  for (int i = 0; i < images; ++i) {
    const auto image = web.add_child("image", dataset, "result_" + std::to_string(i) + ".tif");
    web.add_map_annotation("image", image, "biomero.import", {{"UUID", order}}, root);
  }

  // A typical BIOMERO workflow: one SLURM task with one job, then the import task.
  Workflow wf;
  wf.id = *Uuid::parse("da9e05d2-1741-4302-a188-311267647bcc");
  wf.name = "cellpose";
  wf.description = "cellpose 1.2.3";
  Task slurm;
  slurm.id = *Uuid::parse("9990f41e-6c02-4db4-9a54-fb25db29f2cd");
  slurm.name = "cellpose";
  slurm.version = "v1.2.3";
  slurm.input_data = boost::json::parse(R"({"IDs":[1,2,3]})");
  slurm.params = boost::json::parse(R"({"diameter":30,"use_gpu":true,"model":"cyto2"})").as_object();
  slurm.status = "COMPLETED";
  slurm.job_ids = {"1234"};
  wf.tasks.push_back(slurm);
  Task import;
  import.id = *Uuid::parse("6ba96eac-f026-42a4-8d62-3e558a427830");
  import.name = "SLURM_Import_Results.py";
  import.status = "IMPORTING";
  const std::vector<MapAnnotation> sets = workflow_annotations(wf, import);

  OmeroWebSettings settings;
  settings.url = web.url();
  settings.username = "root";
  settings.password = "pw";
  const auto started = std::chrono::steady_clock::now();
  const AnnotateJobOutcome outcome = biomero_reactor::test::run_coroutine(
      annotate_job(settings, "alice", {ContainerKind::dataset, dataset}, {order}, sets));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  const std::size_t writes = web.requests("POST", "/webclient/annotate_map/");
  const std::size_t total = web.requests("", "/");
  std::printf("images annotated:      %zu (%zu annotation sets, %zu annotations)\n", outcome.objects, sets.size(),
              outcome.annotations_written);
  std::printf("write requests:        %zu (target <= 10)\n", writes);
  std::printf("all requests:          %zu (login, su, lists, reads, writes, logout)\n", total);
  std::printf("wall time:             %.3f s (target < 5 s)\n", seconds);
  return writes <= 10 && seconds < 5.0 && outcome.objects == static_cast<std::size_t>(images) ? 0 : 1;
}
