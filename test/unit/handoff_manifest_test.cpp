// The handoff manifest's checks (parse_manifest) and the pure decisions around a handoff:
// which output options are reported as not honoured, what the finisher does, and which
// verdict event ends the workflow.
#include "biomero_reactor/handoff_manifest.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;
namespace json = boost::json;

namespace {

const std::string hid = "5b0c6a3e-1f2a-4b3c-9d4e-5f6a7b8c9d0e";
const std::string sha(64, 'a');

json::object good() {
  return json::parse(R"({
    "schema": "biomero-reactor/handoff-manifest@1",
    "handoff_id": "5b0c6a3e-1f2a-4b3c-9d4e-5f6a7b8c9d0e",
    "workflow": {"id": "0f0e0d0c-0b0a-4909-8807-060504030201", "task_id": "5b0c6a3e-1f2a-4b3c-9d4e-5f6a7b8c9d0e"},
    "slurm": {"job_id": "1234"},
    "omero": {"user_id": 2, "user_name": "alice", "group_id": 3, "group_name": "Demo"},
    "files": {"zip": {"name": "1234_out.zip", "bytes": 2048, "sha256": ")" +
                     sha + R"("},
              "log": {"name": "omero-1234.log", "bytes": 10, "sha256": ")" +
                     sha + R"("}},
    "inputs": {"Dataset_ID": 51}
  })")
      .as_object();
}

std::string refusal(const json::object& m, const std::string& dir = hid) {
  try {
    (void)parse_manifest(json::serialize(m), dir);
  } catch (const ManifestError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(handoff_manifest_test)

BOOST_AUTO_TEST_CASE(a_good_manifest_parses_with_every_field) {
  const auto m = parse_manifest(json::serialize(good()), hid);
  BOOST_TEST(m.handoff_id.str() == hid);
  BOOST_TEST(m.job_id == "1234");
  BOOST_TEST(m.user_name == "alice");
  BOOST_TEST(m.group_id == 3);
  BOOST_TEST(m.zip.bytes == 2048u);
  BOOST_TEST(m.log.has_value());
  BOOST_TEST(m.inputs.at("Dataset_ID").as_int64() == 51);
}

BOOST_AUTO_TEST_CASE(a_standalone_handoffs_workflow_is_built_from_its_manifest) {
  const auto m = parse_manifest(json::serialize(good()), hid);
  const Workflow wf = workflow_from_manifest(m);
  BOOST_TEST(wf.id.str() == "0f0e0d0c-0b0a-4909-8807-060504030201");
  BOOST_TEST(wf.user_id == 2);
  BOOST_TEST(wf.group_id == 3);
  BOOST_TEST(wf.tasks.empty());
  BOOST_TEST(!wf.name.empty());
  BOOST_TEST(wf.description.find(hid) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(each_hostile_field_is_refused_naming_it) {
  auto m = good();
  m["schema"] = "biomero-reactor/handoff-manifest@2";
  BOOST_TEST(refusal(m).find("schema") != std::string::npos);
  BOOST_TEST(refusal(good(), "6b0c6a3e-1f2a-4b3c-9d4e-5f6a7b8c9d0e").find("does not match") != std::string::npos);
  m = good();
  m["slurm"].as_object()["job_id"] = "12; rm -rf /";
  BOOST_TEST(refusal(m).find("slurm.job_id") != std::string::npos);
  m = good();
  m["workflow"].as_object()["id"] = "../../etc";
  BOOST_TEST(refusal(m).find("workflow.id") != std::string::npos);
  m = good();
  m["omero"].as_object()["group_name"] = "Demo\nforged";
  BOOST_TEST(refusal(m).find("omero.group_name") != std::string::npos);
  m = good();
  m["omero"].as_object()["user_id"] = "2";
  BOOST_TEST(refusal(m).find("omero.user_id") != std::string::npos);
  for (const char* name : {"../../etc/passwd", "a/b.zip", ".hidden.zip", "", "manifest.json", "result.json"}) {
    m = good();
    m["files"].as_object()["zip"].as_object()["name"] = name;
    BOOST_TEST(refusal(m).find("files.zip.name") != std::string::npos, name);
  }
  m = good();
  m["files"].as_object()["zip"].as_object()["sha256"] = "ABC";
  BOOST_TEST(refusal(m).find("files.zip.sha256") != std::string::npos);
  m = good();
  m["files"].as_object()["zip"].as_object()["bytes"] = -1;
  BOOST_TEST(refusal(m).find("files.zip.bytes") != std::string::npos);
  m = good();
  m["files"].as_object()["log"].as_object()["name"] = "1234_out.zip";
  BOOST_TEST(refusal(m).find("files.log.name") != std::string::npos);
  BOOST_CHECK_THROW((void)parse_manifest("{not json", hid), ManifestError);
  BOOST_CHECK_THROW((void)parse_manifest(std::string(max_manifest_bytes + 1, ' '), hid), ManifestError);
}

BOOST_AUTO_TEST_CASE(only_canonical_lowercase_uuids_name_a_handoff) {
  BOOST_TEST(is_handoff_dir_name(hid));
  BOOST_TEST(!is_handoff_dir_name("5B0C6A3E-1F2A-4B3C-9D4E-5F6A7B8C9D0E"));
  BOOST_TEST(!is_handoff_dir_name("5b0c6a3e1f2a4b3c9d4e5f6a7b8c9d0e"));
  BOOST_TEST(!is_handoff_dir_name("not-a-handoff"));
  BOOST_TEST(!is_handoff_dir_name(".."));
}

BOOST_AUTO_TEST_CASE(chosen_output_options_the_reactor_cannot_honour_are_each_reported) {
  json::object in{{"Output - Add csv files as OMERO.table", true},
                  {"Output - Attach as zip to dataset?", "true"},
                  {"Create_ROIs", false},
                  {"Output - Add as new images in NEW dataset", true}};
  const auto notes = unhonoured_options(in, false);
  BOOST_REQUIRE_EQUAL(notes.size(), 2u);
  BOOST_TEST(notes[0].find("zip to dataset") != std::string::npos);
  BOOST_TEST(notes[1].find("OMERO.table") != std::string::npos);
  BOOST_TEST(unhonoured_options({}, false).empty());
}

BOOST_AUTO_TEST_CASE(a_new_screen_is_honoured_only_with_omero_web) {
  const json::object in{{"Output - Add as new images in NEW screen", true}, {"New Screen", "Plates"}};
  const auto without = unhonoured_options(in, false);
  BOOST_REQUIRE_EQUAL(without.size(), 1u);
  BOOST_TEST(without[0].find("without omero.web.url") != std::string::npos);
  BOOST_TEST(unhonoured_options(in, true).empty());
  json::object both = in;
  both["Output - Add as new images in NEW dataset"] = true;  // the dataset wins, as in BIOMERO
  BOOST_TEST(unhonoured_options(both, false).empty());
}

BOOST_AUTO_TEST_CASE(the_finisher_writes_the_result_keeps_it_then_removes_only_archived_entries) {
  BOOST_TEST((handoff_cleanup(false, false, 0, 10, false) == HandoffCleanup::wait));
  BOOST_TEST((handoff_cleanup(true, false, 0, 10, true) == HandoffCleanup::write_result));
  BOOST_TEST((handoff_cleanup(true, true, 9, 10, true) == HandoffCleanup::keep_result));
  BOOST_TEST((handoff_cleanup(true, true, 10, 10, true) == HandoffCleanup::remove));
  BOOST_TEST((handoff_cleanup(true, true, 60, 10, false) == HandoffCleanup::keep_for_operator));
}

BOOST_AUTO_TEST_CASE(the_verdict_follows_the_rule_table) {
  // success
  BOOST_TEST(handoff_verdict(true, "", true, "", true).kind == Verdict::completed);
  auto v = handoff_verdict(true, "", false, "job 2 failed", true);
  BOOST_TEST(v.kind == Verdict::failed);
  BOOST_TEST(v.error_message == "job 2 failed");
  BOOST_TEST(handoff_verdict(true, "", true, "", false).kind == Verdict::none);
  // failure
  v = handoff_verdict(false, "no images", true, "", false);
  BOOST_TEST(v.kind == Verdict::failed);
  BOOST_TEST(v.error_message == "Import failed: no images");
  BOOST_TEST(handoff_verdict(false, "x", false, "earlier", true).error_message == "earlier");
  BOOST_TEST(handoff_verdict(false, "x", false, "later", false).kind == Verdict::none);
}

BOOST_AUTO_TEST_CASE(result_json_has_the_schema_wait_mode_reads) {
  const auto o = json::parse(handoff_result_json(*Uuid::parse(hid), *Uuid::parse(hid), false, "Import failed: x",
                                                 "2026-01-01T00:00:00Z"))
                     .as_object();
  BOOST_TEST(o.at("schema").as_string() == "biomero-reactor/handoff-result@1");
  BOOST_TEST(o.at("status").as_string() == "IMPORT_FAILED");
  BOOST_TEST(o.at("message").as_string() == "Import failed: x");
}

BOOST_AUTO_TEST_SUITE_END()
