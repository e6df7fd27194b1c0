// The pipeline with OMERO.web configured, against a real PostgreSQL, the reactor as a
// real process and the OMERO.web stand-in serving HTTP on loopback: names come from
// OMERO.web, the destination dataset is found or created as the user and recorded before
// the order, and after the import the workflow annotations are on the imported images.
// The importer's side in OMERO (images with the order's uuid) is played by a thread here
// (StandinImporter, test/support).
#include <atomic>
#include <set>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>
#include <thread>

#include "omero_importer_standin.hpp"
#include "omero_web_standin.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

constexpr std::string_view admin_password = "s3cret-Adm1n-pw";

struct OmeroFlow {
  TestDb db;
  TempTree tree;
  OmeroWebStandin web;
  std::int64_t lab = web.add_group("Demo");
  std::int64_t root = web.add_user("root", std::string(admin_password), true, {lab});
  std::int64_t alice = web.add_user("alice", "alice-pw", false, {lab});
  fs::path results = tree.path() / "results";

  // The shared pipeline sections without the names tables and the default destination.
  fs::path config(const std::string& password = std::string(admin_password), const std::string& more = "") {
    std::string yaml = pipeline_yaml(tree.path());
    yaml = yaml.substr(0, yaml.find("names:\n"));
    const fs::path pw = tree.write("omero-password", password + "\n");
    yaml += "omero:\n  web:\n    url: " + web.url() + "\n    username: root\n    password_file: " + pw.string() +
            "\n    timeout: 5s\n  annotation_retry: 2s\n";
    yaml += "import:\n  degraded_poll_interval: 200ms\n";
    yaml += "jobs:\n  retry_initial: 100ms\n  retry_max: 400ms\n  max_attempts: 2\n";
    return write_reactor_config(tree.path(), db.conninfo(), yaml + more);
  }

  SampleWorkflow completed_workflow(boost::json::object params = {{"alpha", 1}}) {
    SampleWorkflow wf;
    wf.user = alice;
    wf.group = lab;
    wf.params = std::move(params);
    write_completed_workflow(db, results, wf);
    return wf;
  }

  std::string job_column(const Uuid& wf, const std::string& column) {
    return db.scalar("SELECT coalesce(" + column + "::text, '') FROM biomero_reactor.jobs WHERE workflow_id = $1",
                     pg::params(wf.str()));
  }

  std::vector<OmeroWebStandin::Object> datasets_named(const std::string& name) {
    std::vector<OmeroWebStandin::Object> out;
    for (const auto& d : web.objects("dataset")) {
      if (d.name == name) out.push_back(d);
    }
    return out;
  }

  std::vector<OmeroWebStandin::Object> images_in(std::int64_t dataset) {
    std::vector<OmeroWebStandin::Object> out;
    for (const auto& i : web.objects("image")) {
      if (i.parent == dataset) out.push_back(i);
    }
    return out;
  }

  // Namespaces of the map annotations on an image, other than the importer's.
  std::multiset<std::string> workflow_namespaces(std::int64_t image) {
    std::multiset<std::string> out;
    for (const auto& a : web.annotations_on("image", image)) {
      if (a.kind == "map" && a.ns != "biomero.import") out.insert(a.ns);
    }
    return out;
  }

  std::string value_on(std::int64_t image, const std::string& ns, const std::string& key) {
    for (const auto& a : web.annotations_on("image", image)) {
      if (a.ns != ns) continue;
      for (const auto& [k, v] : a.values) {
        if (k == key) return v;
      }
    }
    return "<absent>";
  }
};

const std::multiset<std::string> expected_namespaces{
    "biomero/workflow", "biomero/workflow/task/cellexpansion", "biomero/workflow/task/cellexpansion/job",
    "biomero/workflow/task/SLURM_Get_Results.py"};

}  // namespace

BOOST_AUTO_TEST_SUITE(omero_flow_test)

BOOST_FIXTURE_TEST_CASE(a_workflow_gets_a_user_owned_dataset_and_its_images_carry_the_annotations, OmeroFlow) {
  const auto cfg = config();
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow();
  std::string out;
  const int code = run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out);
  BOOST_REQUIRE_MESSAGE(code == 0, out);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "done");

  // Names from OMERO.web (the config tables are empty), a new dataset owned by alice.
  const auto datasets = datasets_named("Imported_Results");
  BOOST_REQUIRE_EQUAL(datasets.size(), 1U);
  BOOST_TEST(datasets[0].owner == alice);
  BOOST_TEST(datasets[0].group == lab);
  BOOST_TEST(datasets[0].description == "Images from SLURM job 1234 (Workflow " + wf.id.str() + ")");
  BOOST_TEST(job_column(wf.id, "destination_id") == std::to_string(datasets[0].id));
  auto order = db.query(
      "SELECT destination_type, destination_id, group_name, user_name FROM public.imports "
      "WHERE stage = 'Import Pending'");
  BOOST_REQUIRE_EQUAL(order.rows(), 1);
  BOOST_TEST(order.text(0, 0) == "Dataset");
  BOOST_TEST(order.text(0, 1) == std::to_string(datasets[0].id));
  BOOST_TEST(order.text(0, 2) == "Demo");
  BOOST_TEST(order.text(0, 3) == "alice");

  // Every imported image carries the three levels once, owned by alice, with BIOMERO's values.
  const auto images = images_in(datasets[0].id);
  BOOST_REQUIRE_EQUAL(images.size(), 1U);
  BOOST_TEST(workflow_namespaces(images[0].id) == expected_namespaces, boost::test_tools::per_element());
  for (const auto& a : web.annotations_on("image", images[0].id)) BOOST_TEST(a.owner == alice);
  BOOST_TEST(value_on(images[0].id, "biomero/workflow", "Workflow_ID") == wf.id.str());
  BOOST_TEST(value_on(images[0].id, "biomero/workflow", "Version") == "1.0.1");
  BOOST_TEST(value_on(images[0].id, "biomero/workflow/task/cellexpansion/job", "Job_ID") == "1234");
  BOOST_TEST(value_on(images[0].id, "biomero/workflow/task/SLURM_Get_Results.py", "Status") == "IMPORTING");
  BOOST_TEST(value_on(images[0].id, "biomero/workflow/task/SLURM_Get_Results.py", "Input_Data") ==
             "{'IDs': [101, 102]}");
  BOOST_TEST(out.find(admin_password) == std::string::npos);

  // A second workflow of the same user reuses the dataset by name.
  const SampleWorkflow second = completed_workflow();
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(second.id, "state") == "imported");
  BOOST_TEST(datasets_named("Imported_Results").size() == 1U);
  BOOST_TEST(job_column(second.id, "destination_id") == std::to_string(datasets[0].id));
  // The first run's image was not annotated again: the second run's uuid is not on it.
  BOOST_TEST(workflow_namespaces(images[0].id) == expected_namespaces, boost::test_tools::per_element());
  BOOST_TEST(value_on(images[0].id, "biomero/workflow", "Workflow_ID") == wf.id.str());
}

BOOST_FIXTURE_TEST_CASE(the_named_dataset_of_the_output_settings_is_reused_and_decoys_stay_untouched, OmeroFlow) {
  const auto existing = web.add_container("dataset", "My results", alice, lab);
  const auto decoy = web.add_child("image", existing, "earlier.tiff");
  web.add_map_annotation("image", decoy, "biomero.import", {{"UUID", "11111111-2222-3333-4444-555555555555"}}, alice);
  const auto cfg = config();
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf =
      completed_workflow({{"Output - Add as new images in NEW dataset", true}, {"New Dataset", "My results"}});
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "destination_id") == std::to_string(existing));
  BOOST_TEST(datasets_named("My results").size() == 1U);
  BOOST_TEST(workflow_namespaces(decoy).empty());
  for (const auto& image : images_in(existing)) {
    if (image.id != decoy) BOOST_TEST(workflow_namespaces(image.id) == expected_namespaces);
  }
}

BOOST_FIXTURE_TEST_CASE(omero_web_down_while_resolving_names_makes_the_job_wait_not_fail, OmeroFlow) {
  // Far more failures than jobs.max_attempts (2) allows for other errors.
  web.inject("", "/", OmeroWebStandin::Fault::status_503, 12);
  const auto cfg = config();
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow();
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "done");
  BOOST_TEST(web.requests("", "/") > 12U);
  BOOST_TEST(datasets_named("Imported_Results").size() == 1U);
}

BOOST_FIXTURE_TEST_CASE(a_crash_after_creating_the_dataset_creates_no_second_one, OmeroFlow) {
  const auto cfg = config();
  const SampleWorkflow wf = completed_workflow();
  auto first = start_reactor(cfg, tree.path() / "first.log", {"--once"},
                             {{"BIOMERO_REACTOR_TEST_STOP_AT_STEP", "omero_container_resolved"}});
  BOOST_REQUIRE(first->wait(std::chrono::seconds(60)) == 137);
  BOOST_REQUIRE_EQUAL(datasets_named("Imported_Results").size(), 1U);
  BOOST_TEST(job_column(wf.id, "destination_id").empty());
  BOOST_TEST(db.count("SELECT count(*) FROM public.imports") == 0);

  StandinImporter importer(db, web, alice);
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  const auto datasets = datasets_named("Imported_Results");
  BOOST_REQUIRE_EQUAL(datasets.size(), 1U);
  BOOST_TEST(job_column(wf.id, "destination_id") == std::to_string(datasets[0].id));
}

BOOST_FIXTURE_TEST_CASE(bad_credentials_leave_the_job_imported_with_the_annotation_failure_reported, OmeroFlow) {
  // Names from the config tables and an explicit Dataset_ID: only the annotations need OMERO.web.
  const auto dataset = web.add_container("dataset", "given", alice, lab);
  const std::string wrong = "not-the-Adm1n-pw";
  const auto cfg = config(wrong, "names:\n  users: {" + std::to_string(alice) + ": alice}\n  groups: {" +
                                     std::to_string(lab) + ": Demo}\n");
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow({{"Dataset_ID", dataset}});
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out), 0);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "given_up");
  BOOST_TEST(job_column(wf.id, "annotation_error").find("OMERO.web login as root") != std::string::npos);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.job_history WHERE detail LIKE 'annotations given up:%'") ==
             1);
  BOOST_TEST(out.find("OMERO annotations given up") != std::string::npos);

  // The password is in no log line, no error, no check or status output.
  std::string check, status;
  run_reactor(cfg, {"check"}, &check);
  run_reactor(cfg, {"status"}, &status);
  for (const std::string* text : {&out, &check, &status}) BOOST_TEST(text->find(wrong) == std::string::npos);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE error LIKE '%' || $1 || '%' "
                      "OR annotation_error LIKE '%' || $1 || '%'",
                      pg::params(wrong)) == 0);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.job_history WHERE detail LIKE '%' || $1 || '%'",
                      pg::params(wrong)) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
