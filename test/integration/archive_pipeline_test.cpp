// The archive step end to end (issue 3): the real reactor binary against a real
// PostgreSQL and real files in a temporary tree. Each test checks what a user would see:
// the `.analyzed/<workflow>/<job>/` tree on the group's storage, the job's state and
// error in biomero_reactor.jobs, and IMPORTING -> IMPORTED / IMPORT_FAILED (with its
// reason) in BIOMERO's workflowtracker_events.
#include <archive.h>
#include <archive_entry.h>

#include <boost/test/unit_test.hpp>
#include <csignal>
#include <fstream>
#include <memory>
#include <thread>

#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/checksums.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

const std::vector<std::string> run_once{"--log-format", "json", "run", "--once"};

struct Options {
  fs::path base_dir;                         // settings.yml's base_dir; default <tree>/data
  std::vector<fs::path> mappings;            // importer.group_mappings
  std::string results_dir;                   // results.dir template; empty: results.zip
  std::string wait = "10s";                  // results.wait
  std::string jobs = "  max_attempts: 2\n";  // body of the jobs section
};

struct Fixture {
  TestDb db;
  TempTree tree;
  fs::path results = tree.path() / "results";  // where BIOMERO's worker leaves results
  fs::path data = tree.path() / "data";        // the importer's base_dir

  Fixture() { fs::create_directories(results); }

  fs::path config(const Options& o = {}) {
    const fs::path base = o.base_dir.empty() ? data : o.base_dir;
    const fs::path settings = tree.write("settings.yml", "base_dir: " + base.string() + "\n");
    std::string mappings = "[]";
    if (!o.mappings.empty()) {
      mappings.clear();
      for (const auto& m : o.mappings) mappings += "\n    - " + m.string();
    }
    std::string yaml = "importer:\n  settings: " + settings.string() + "\n  group_mappings: " + mappings + "\n" +
                       "results:\n  zip: " + results.string() + "/{job_id}_out.zip\n  log: " + results.string() +
                       "/omero-{job_id}.log\n  wait: " + o.wait + "\n" +
                       (o.results_dir.empty() ? "" : "  dir: " + o.results_dir + "\n") +
                       "import:\n  poll_interval: 1s\n  degraded_poll_interval: 200ms\n" +
                       "destination:\n  id: \"51\"\n" + "names:\n  users: {2: alice}\n  groups: {3: Demo, 4: Other}\n" +
                       "jobs:\n" + o.jobs;
    return write_reactor_config(tree.path(), db.conninfo(), yaml);
  }

  std::unique_ptr<Process> importer() {
    return start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  }

  std::string job_column(const Uuid& wf, const std::string& job, const std::string& column) {
    return db.scalar("SELECT " + column + " FROM biomero_reactor.jobs WHERE workflow_id = $1 AND slurm_job_id = $2",
                     pg::params(wf.str(), job));
  }
  std::string state(const Uuid& wf, const std::string& job = "1234") { return job_column(wf, job, "state"); }
  std::string error(const Uuid& wf, const std::string& job = "1234") { return job_column(wf, job, "error"); }

  // The statuses of the reactor's import task(s) for `wf`, in order, as BIOMERO shows them.
  std::string import_statuses(const Uuid& wf) { return task_events(wf, "StatusUpdated", "status"); }
  // What BIOMERO shows as the failure of the import task.
  std::string import_failure(const Uuid& wf) { return task_events(wf, "TaskFailed", "error_message"); }

  std::string task_events(const Uuid& wf, const std::string& event, const std::string& field) {
    return db.scalar(
        "SELECT string_agg(convert_from(e.state, 'UTF8')::jsonb->>$3, ',' ORDER BY e.id) "
        "FROM workflowtracker_events e WHERE e.topic = 'biomero.eventsourcing:Task.' || $2 AND e.originator_id IN ("
        " SELECT originator_id FROM workflowtracker_events WHERE topic = 'biomero.eventsourcing:Task.TaskCreated' "
        "   AND convert_from(state, 'UTF8')::jsonb->'workflow_id'->>'_data_' = $1 "
        "   AND convert_from(state, 'UTF8')::jsonb->>'task_name' = 'SLURM_Import_Results.py')",
        pg::params(wf.hex(), event, field));
  }

  std::int64_t orders(const Uuid& wf) {
    return db.count(
        "SELECT count(*) FROM biomero_reactor.orders o JOIN biomero_reactor.jobs j ON j.id = o.job_id "
        "WHERE j.workflow_id = $1",
        pg::params(wf.str()));
  }

  fs::path job_dir(const fs::path& group_base, const Uuid& wf, const std::string& job = "1234") {
    return group_base / ".analyzed" / wf.str() / job;
  }
  std::vector<std::string> listing(const fs::path& dir) { return tree.listing(dir.lexically_relative(tree.path())); }

  // Every path under the tree that holds `name`.
  std::vector<std::string> find_named(const std::string& name) {
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(tree.path())) {
      if (e.path().filename() == name) found.push_back(e.path().string());
    }
    return found;
  }
};

// The tree the test results (write_job_results) give for job 1234.
const std::vector<std::string> expected_tree{
    "1234_out.zip",
    "1234_out/",
    "1234_out/data/",
    "1234_out/data/out/",
    "1234_out/data/out/measurements.csv",
    "1234_out/data/out/metadata.csv",
    "1234_out/data/out/result_image.tiff",
    "1234_out/metadata.csv",
    "SHA256SUMS",
    "omero-1234.log",
};

std::vector<std::string> without(std::vector<std::string> v, const std::string& entry) {
  std::erase(v, entry);
  return v;
}

// A zip written entry by entry with libarchive, so it can hold names no zip tool would write.
void write_zip(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& entries) {
  const std::unique_ptr<archive, decltype(&archive_write_free)> writer(archive_write_new(), archive_write_free);
  archive* a = writer.get();
  archive_write_set_format_zip(a);
  BOOST_REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
  for (const auto& [name, data] : entries) {
    const std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(data.size()));
    BOOST_REQUIRE(archive_write_header(a, entry.get()) == ARCHIVE_OK);
    BOOST_REQUIRE(archive_write_data(a, data.data(), data.size()) == static_cast<la_ssize_t>(data.size()));
  }
  BOOST_REQUIRE(archive_write_close(a) == ARCHIVE_OK);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(archive_pipeline_test)

BOOST_FIXTURE_TEST_CASE(mapped_and_unmapped_groups_get_the_exact_analyzed_tree_and_are_imported, Fixture) {
  const fs::path mappings = tree.write(
      "biomero-config.json", R"({"group_mappings": {"3": {"folder": "groups/team-a", "groupName": "Demo"}}})");
  Options o;
  o.mappings = {mappings};
  const auto cfg = config(o);
  write_job_results(results, "1234");
  write_job_results(results, "5678");
  SampleWorkflow mapped;  // group 3: "Demo", mapped to groups/team-a
  SampleWorkflow unmapped;
  unmapped.group = 4;  // "Other" from names.groups, no mapping: <base_dir>/Other
  unmapped.job_ids = {"5678"};
  write_workflow(db, mapped);
  write_workflow(db, unmapped);
  auto imp = importer();
  std::string out;
  BOOST_REQUIRE(run_reactor(cfg, run_once, &out) == 0);

  const fs::path a = job_dir(data / "groups" / "team-a", mapped.id);
  BOOST_TEST(listing(a) == expected_tree, boost::test_tools::per_element());
  // The archive verifies with coreutils, and with the reactor's own reader.
  BOOST_TEST(std::system(("cd '" + a.string() + "' && sha256sum --quiet --strict -c SHA256SUMS").c_str()) == 0);
  BOOST_TEST(verify_job_dir(a, 2).problems.empty());
  BOOST_TEST(verify_job_dir(a, 2).files == 6U);
  BOOST_TEST(read_file(a / "1234_out.zip") == read_file(results / "1234_out.zip"));
  BOOST_TEST(read_file(a / "omero-1234.log") == "SLURM job 1234 finished\n");
  BOOST_TEST(read_file(a / "1234_out/data/out/measurements.csv") == "label,area\n1,42\n");
  const std::string csv = read_file(a / "1234_out/metadata.csv");
  BOOST_TEST(csv.find("Job_ID,1234\n") != std::string::npos);
  BOOST_TEST(csv.find("Import_Group,Demo\n") != std::string::npos);
  BOOST_TEST(csv.find("Import_User,alice\n") != std::string::npos);
  BOOST_TEST(read_file(a / "1234_out/data/out/metadata.csv") == csv);
  BOOST_TEST(!fs::exists(data / "Demo"));

  const fs::path b = job_dir(data / "Other", unmapped.id, "5678");
  std::vector<std::string> expected_b;
  for (auto e : expected_tree) {
    for (auto p = e.find("1234"); p != std::string::npos; p = e.find("1234")) e.replace(p, 4, "5678");
    expected_b.push_back(e);
  }
  BOOST_TEST(listing(b) == expected_b, boost::test_tools::per_element());
  BOOST_TEST(read_file(b / "5678_out/metadata.csv").find("Import_Group,Other\n") != std::string::npos);

  BOOST_TEST(state(mapped.id) == "imported");
  BOOST_TEST(state(unmapped.id, "5678") == "imported");
  BOOST_TEST(import_statuses(mapped.id) == "IMPORTING,IMPORTED");
  BOOST_TEST(import_statuses(unmapped.id) == "IMPORTING,IMPORTED");
  // The importer was told to import the published image in place, for the right group.
  const auto order = db.query(
      "SELECT files, group_name, user_name, destination_type, destination_id FROM public.imports "
      "WHERE stage = 'Import Pending' AND group_name = 'Demo'");
  BOOST_REQUIRE(order.rows() == 1);
  BOOST_TEST(std::string(order.text(0, 0)).find((a / "1234_out/data/out/result_image.tiff").string()) !=
             std::string::npos);
  BOOST_TEST(order.text(0, 2) == "alice");
  BOOST_TEST(order.text(0, 3) == "Dataset");
  BOOST_TEST(order.text(0, 4) == "51");
  const auto overview = db.query(
      "SELECT user_name, group_name, state, cardinality(order_uuids), last_stage, archived_at <= submitted_at "
      "FROM biomero_reactor.job_overview WHERE workflow_id = $1",
      pg::params(mapped.id.str()));
  BOOST_REQUIRE_EQUAL(overview.rows(), 1);
  BOOST_TEST(overview.text(0, 0) == "alice");
  BOOST_TEST(overview.text(0, 1) == "Demo");
  BOOST_TEST(overview.text(0, 2) == "imported");
  BOOST_TEST(overview.int64(0, 3) == 1);
  BOOST_TEST(overview.text(0, 4) == "Import Completed");
  BOOST_TEST(overview.boolean(0, 5));

  // `verify` over the job table: all match, then a flipped byte, a deleted file and an
  // extra file are each named, and the exit status says so.
  std::string verified;
  BOOST_TEST(run_reactor(cfg, {"verify", mapped.id.str()}, &verified) == 0, verified);
  BOOST_TEST(verified.find("all match") != std::string::npos, verified);
  {
    std::fstream f(a / "1234_out/data/out/result_image.tiff", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    const char c = static_cast<char>(f.peek());
    f.put(static_cast<char>(c ^ 1));
  }
  fs::remove(a / "omero-1234.log");
  tree.write(a.lexically_relative(tree.path()) / "1234_out/stray.txt", "x");
  BOOST_TEST(run_reactor(cfg, {"verify", "--all"}, &verified) == 1, verified);
  BOOST_TEST(verified.find("changed  " + (a / "1234_out/data/out/result_image.tiff").string()) != std::string::npos,
             verified);
  BOOST_TEST(verified.find("missing  " + (a / "omero-1234.log").string()) != std::string::npos, verified);
  BOOST_TEST(verified.find("extra  " + (a / "1234_out/stray.txt").string()) != std::string::npos, verified);
  BOOST_TEST(verified.find("3 problem(s)") != std::string::npos, verified);
  BOOST_TEST(run_reactor(cfg, {"verify", "--all", "--json"}, &verified) == 1, verified);
  BOOST_TEST(verified.find("\"problem\":\"changed\"") != std::string::npos, verified);
}

BOOST_FIXTURE_TEST_CASE(group_mappings_json_overrides_biomero_config_json_per_group_id, Fixture) {
  const fs::path first =
      tree.write("biomero-config.json", R"({"group_mappings": {"3": {"folder": "old-a", "groupName": "Demo"},)"
                                        R"( "5": {"folder": "keep-b", "groupName": "Bee"}}})");
  const fs::path second = tree.write("group-mappings.json", R"({"3": {"folder": "new-a", "groupName": "Demo"}})");
  Options o;
  o.mappings = {first, second};
  const auto cfg = config(o);
  write_job_results(results, "1234");
  write_job_results(results, "5678");
  SampleWorkflow overridden;  // group 3
  SampleWorkflow kept;
  kept.group = 5;  // named only by the first file's mapping
  kept.job_ids = {"5678"};
  write_workflow(db, overridden);
  write_workflow(db, kept);
  auto imp = importer();
  std::string out;
  BOOST_REQUIRE(run_reactor(cfg, run_once, &out) == 0);

  BOOST_TEST(listing(job_dir(data / "new-a", overridden.id)) == expected_tree, boost::test_tools::per_element());
  BOOST_TEST(!fs::exists(data / "old-a"));
  BOOST_TEST(fs::exists(job_dir(data / "keep-b", kept.id, "5678") / "5678_out.zip"));
  BOOST_TEST(
      read_file(job_dir(data / "keep-b", kept.id, "5678") / "5678_out/metadata.csv").find("Import_Group,Bee\n") !=
      std::string::npos);
  BOOST_TEST(state(overridden.id) == "imported");
  BOOST_TEST(state(kept.id, "5678") == "imported");
}

BOOST_FIXTURE_TEST_CASE(an_unknown_group_id_fails_the_job_naming_the_id_and_the_setting, Fixture) {
  const auto cfg = config();
  write_job_results(results, "1234");
  SampleWorkflow wf;
  wf.group = 99;
  write_workflow(db, wf);
  std::string out;
  BOOST_REQUIRE(run_reactor(cfg, run_once, &out) == 0);
  BOOST_TEST(state(wf.id) == "failed");
  const std::string err = error(wf.id);
  BOOST_TEST(err.find("group id 99") != std::string::npos, err);
  BOOST_TEST(err.find("names.groups") != std::string::npos, err);
  BOOST_TEST(import_statuses(wf.id) == "IMPORTING,IMPORT_FAILED");
  const std::string shown = import_failure(wf.id);
  BOOST_TEST(shown.find("group id 99") != std::string::npos, shown);
  BOOST_TEST(shown.find("names.groups") != std::string::npos, shown);
  BOOST_TEST(!fs::exists(data));
  BOOST_TEST(db.count("SELECT count(*) FROM public.imports") == 0);
  // The failure before any upload order, as a dashboard over job_overview shows it.
  const auto row = db.query(
      "SELECT state, error, cardinality(order_uuids), last_stage IS NULL, started_at IS NOT NULL, "
      "finished_at IS NOT NULL FROM biomero_reactor.job_overview WHERE workflow_id = $1",
      pg::params(wf.id.str()));
  BOOST_REQUIRE_EQUAL(row.rows(), 1);
  BOOST_TEST(row.text(0, 0) == "failed");
  BOOST_TEST(std::string(row.text(0, 1)).find("group id 99") != std::string::npos);
  BOOST_TEST(row.int64(0, 2) == 0);
  BOOST_TEST(row.boolean(0, 3));
  BOOST_TEST(row.boolean(0, 4));
  BOOST_TEST(row.boolean(0, 5));
}

BOOST_FIXTURE_TEST_CASE(a_results_directory_is_zipped_by_the_reactor, Fixture) {
  Options o;
  o.results_dir = results.string() + "/{job_id}_dir";
  const auto cfg = config(o);
  tree.write("results/1234_dir/images/cells.tif", std::string("II*\0\x08\0\0\0", 8));
  tree.write("results/1234_dir/table.csv", "a,b\n1,2\n");
  tree.write("results/omero-1234.log", "log\n");
  SampleWorkflow wf;
  write_workflow(db, wf);
  auto imp = importer();
  std::string out;
  BOOST_REQUIRE(run_reactor(cfg, run_once, &out) == 0);

  const fs::path dir = job_dir(data / "Demo", wf.id);
  const std::vector<std::string> expected{
      "1234_out.zip",
      "1234_out/",
      "1234_out/images/",
      "1234_out/images/cells.tif",
      "1234_out/images/metadata.csv",
      "1234_out/metadata.csv",
      "1234_out/table.csv",
      "SHA256SUMS",
      "omero-1234.log",
  };
  BOOST_TEST(listing(dir) == expected, boost::test_tools::per_element());
  BOOST_TEST(read_file(dir / "1234_out/table.csv") == "a,b\n1,2\n");
  // The zip is a real archive of the directory: extracting it gives the same files.
  TempTree check;
  (void)extract_archive(dir / "1234_out.zip", check.path(), ExtractLimits{});
  BOOST_TEST(check.listing() == (std::vector<std::string>{"images/", "images/cells.tif", "table.csv"}),
             boost::test_tools::per_element());
  BOOST_TEST(state(wf.id) == "imported");
  BOOST_TEST(import_statuses(wf.id) == "IMPORTING,IMPORTED");
}

BOOST_FIXTURE_TEST_CASE(results_appearing_after_the_workflow_completed_are_waited_for, Fixture) {
  Options o;
  o.wait = "30s";
  const auto cfg = config(o);
  const fs::path staging = tree.path() / "staging";
  write_job_results(staging, "1234");
  SampleWorkflow wf;
  write_workflow(db, wf);
  auto imp = importer();
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log", {"--once"});
  BOOST_REQUIRE(eventually([&] { return state(wf.id) == "archiving"; }, 15s));
  std::this_thread::sleep_for(2s);
  BOOST_TEST(state(wf.id) == "archiving");  // still waiting, not failed
  // As over NFS: the log first, then the archive, each appearing at once.
  fs::rename(staging / "omero-1234.log", results / "omero-1234.log");
  fs::rename(staging / "1234_out.zip", results / "1234_out.zip");
  BOOST_REQUIRE(reactor->wait(60s).value_or(-1) == 0);
  BOOST_TEST(state(wf.id) == "imported");
  BOOST_TEST(listing(job_dir(data / "Demo", wf.id)) == expected_tree, boost::test_tools::per_element());
  BOOST_TEST(import_statuses(wf.id) == "IMPORTING,IMPORTED");
}

BOOST_FIXTURE_TEST_CASE(results_that_never_appear_fail_the_job_naming_the_path, Fixture) {
  Options o;
  o.wait = "1s";
  const auto cfg = config(o);
  SampleWorkflow wf;
  write_workflow(db, wf);
  std::string out;
  BOOST_REQUIRE(run_reactor(cfg, run_once, &out) == 0);
  const std::string expected_path = (results / "1234_out.zip").string();
  BOOST_TEST(state(wf.id) == "failed");
  BOOST_TEST(error(wf.id).find(expected_path) != std::string::npos, error(wf.id));
  BOOST_TEST(error(wf.id).find("did not appear") != std::string::npos, error(wf.id));
  BOOST_TEST(import_statuses(wf.id) == "IMPORTING,IMPORT_FAILED");
  BOOST_TEST(import_failure(wf.id).find(expected_path) != std::string::npos, import_failure(wf.id));
  BOOST_TEST(!fs::exists(job_dir(data / "Demo", wf.id)));
  BOOST_TEST(db.count("SELECT count(*) FROM public.imports") == 0);
}

BOOST_FIXTURE_TEST_CASE(a_missing_log_is_archived_without_it_and_still_imported, Fixture) {
  const auto cfg = config();
  write_job_results(results, "1234", false);
  SampleWorkflow wf;
  write_workflow(db, wf);
  auto imp = importer();
  std::string out;
  BOOST_REQUIRE(run_reactor(cfg, run_once, &out) == 0);
  BOOST_TEST(listing(job_dir(data / "Demo", wf.id)) == without(expected_tree, "omero-1234.log"),
             boost::test_tools::per_element());
  BOOST_TEST(out.find("SLURM log not found; archiving without it") != std::string::npos);
  BOOST_TEST(out.find((results / "omero-1234.log").string()) != std::string::npos);
  BOOST_TEST(state(wf.id) == "imported");
  BOOST_TEST(import_statuses(wf.id) == "IMPORTING,IMPORTED");
}

BOOST_FIXTURE_TEST_CASE(an_unwritable_base_dir_is_retried_then_fails_with_the_file_system_error, Fixture) {
  // Tests run as root, so permissions do not stop them: a regular file where a directory
  // of the path should be does.
  const fs::path blocker = tree.write("blocker", "not a directory\n");
  Options o;
  o.base_dir = blocker / "data";
  const auto cfg = config(o);
  write_job_results(results, "1234");
  SampleWorkflow wf;
  write_workflow(db, wf);
  std::string out;
  BOOST_REQUIRE(run_reactor(cfg, run_once, &out) == 0);
  BOOST_TEST(state(wf.id) == "failed");
  const std::string err = error(wf.id);
  BOOST_TEST(err.find("Not a directory") != std::string::npos, err);
  BOOST_TEST(err.find(blocker.string()) != std::string::npos, err);
  // Tried jobs.max_attempts = 2 times: one retry, then the failure.
  std::size_t retries = 0;
  for (auto p = out.find("job step failed; will retry"); p != std::string::npos;
       p = out.find("job step failed; will retry", p + 1)) {
    ++retries;
  }
  BOOST_TEST(retries == 1u);
  BOOST_TEST(import_statuses(wf.id) == "IMPORTING,IMPORT_FAILED");
  BOOST_TEST(import_failure(wf.id).find("Not a directory") != std::string::npos, import_failure(wf.id));
  BOOST_TEST(fs::is_regular_file(blocker));
  BOOST_TEST(db.count("SELECT count(*) FROM public.imports") == 0);
}

// A retried step keeps its failure count (it once reset on every re-commit of `archiving`).
BOOST_FIXTURE_TEST_CASE(an_archive_step_failing_every_time_ends_after_jobs_max_attempts, Fixture) {
  const fs::path blocker = tree.write("blocker", "not a directory\n");
  Options o;
  o.base_dir = blocker / "data";
  o.jobs = "  max_attempts: 3\n";
  const auto cfg = config(o);
  write_job_results(results, "1234");
  SampleWorkflow wf;
  write_workflow(db, wf);
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log", {"--once"});
  // Three tries with backoff of about 1 s and 2 s in between.
  const bool failed = eventually([&] { return state(wf.id) == "failed"; }, 25s);
  BOOST_TEST(failed, "job " << state(wf.id) << ", history:\n"
                            << db.scalar("SELECT string_agg(coalesce(from_state, '-') || ' -> ' || to_state || ': ' || "
                                         "coalesce(detail, ''), E'\\n' ORDER BY id) FROM biomero_reactor.job_history"));
  BOOST_TEST(import_statuses(wf.id) == "IMPORTING,IMPORT_FAILED");
}

BOOST_FIXTURE_TEST_CASE(a_crash_mid_archive_is_rebuilt_cleanly_and_imported_once, Fixture) {
  Options o;
  o.jobs = "  max_attempts: 2\n  lease: 5s\n";
  const auto cfg = config(o);
  write_job_results(results, "1234");
  SampleWorkflow wf;
  write_workflow(db, wf);
  {
    auto crashing =
        start_reactor(cfg, tree.path() / "crash.log", {"--once"}, {{"BIOMERO_REACTOR_TEST_STOP_AT_STEP", "archiving"}});
    BOOST_REQUIRE(crashing->wait(60s).value_or(-1) == 137);
  }
  BOOST_REQUIRE(state(wf.id) == "archiving");
  // What a crash in the middle of build_job_dir leaves: a half-built hidden directory.
  const fs::path wf_dir = data / "Demo" / ".analyzed" / wf.id.str();
  tree.write((wf_dir / ".1234.building-xyz" / "1234_out" / "junk.tiff").lexically_relative(tree.path()), "partial");
  tree.write((wf_dir / ".1234.building-xyz" / "1234_out.zip").lexically_relative(tree.path()), "PK trunc");

  auto imp = importer();
  std::string out;
  BOOST_REQUIRE(run_reactor(cfg, run_once, &out) == 0);
  BOOST_TEST(state(wf.id) == "imported");
  std::vector<std::string> expected{"1234/"};
  for (const auto& e : expected_tree) expected.push_back("1234/" + e);
  BOOST_TEST(listing(wf_dir) == expected, boost::test_tools::per_element());
  BOOST_TEST(find_named("junk.tiff").empty());
  // Imported exactly once: one order (images) in the importer's table and the reactor's.
  BOOST_TEST(db.count("SELECT count(DISTINCT uuid) FROM public.imports") == 1);
  BOOST_TEST(db.count("SELECT count(*) FROM public.imports WHERE stage = 'Import Pending'") == 1);
  BOOST_TEST(orders(wf.id) == 1);
  BOOST_TEST(import_statuses(wf.id) == "IMPORTING,IMPORTED");
}

BOOST_FIXTURE_TEST_CASE(a_hostile_archive_fails_the_job_naming_the_entry_and_writes_nothing_outside, Fixture) {
  const auto cfg = config();
  write_zip(results / "1234_out.zip",
            {{"data/out/result_image.tiff", std::string("II*\0\x08\0\0\0", 8)}, {"../evil.txt", "escaped\n"}});
  tree.write("results/omero-1234.log", "log\n");
  SampleWorkflow wf;
  write_workflow(db, wf);
  std::string out;
  BOOST_REQUIRE(run_reactor(cfg, run_once, &out) == 0);
  BOOST_TEST(state(wf.id) == "failed");
  BOOST_TEST(error(wf.id).find("../evil.txt") != std::string::npos, error(wf.id));
  BOOST_TEST(import_statuses(wf.id) == "IMPORTING,IMPORT_FAILED");
  const std::string shown = import_failure(wf.id);
  BOOST_TEST(shown.find("\"../evil.txt\"") != std::string::npos, shown);
  BOOST_TEST(shown.find((results / "1234_out.zip").string()) != std::string::npos, shown);
  BOOST_TEST(find_named("evil.txt").empty());
  // Neither a published job directory nor a half-built one is left behind.
  BOOST_TEST(listing(data / "Demo" / ".analyzed" / wf.id.str()).empty());
  BOOST_TEST(db.count("SELECT count(*) FROM public.imports") == 0);
}

BOOST_AUTO_TEST_SUITE_END()
