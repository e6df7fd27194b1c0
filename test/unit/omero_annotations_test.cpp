#include "biomero_reactor/omero_annotations.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>
#include <ostream>

using namespace biomero_reactor;
namespace json = boost::json;

namespace biomero_reactor {
std::ostream& operator<<(std::ostream& out, const MapAnnotation& a) {
  out << a.ns << " {";
  for (const auto& [k, v] : a.values) out << " [" << k << "=" << v << "]";
  return out << " }";
}
}  // namespace biomero_reactor

namespace {

TimePoint at(const char* iso) {
  return *parse_datetime(iso);
}

Workflow sample_workflow() {
  Workflow wf;
  wf.id = *Uuid::parse("da9e05d2-1741-4302-a188-311267647bcc");
  wf.name = "cellexpansion";
  wf.description = "Run cellexpansion 1.2.3 on images";
  wf.created_on = at("2026-11-29T21:37:02.956582+00:00");
  wf.modified_on = at("2026-11-29T21:37:03+00:00");
  Task slurm;
  slurm.id = *Uuid::parse("9990f41e-6c02-4db4-9a54-fb25db29f2cd");
  slurm.name = "cellexpansion";
  slurm.version = "v1.0";
  slurm.input_data = json::parse(R"({"IDs":[101,102]})");
  slurm.params =
      json::parse(R"({"alpha":1,"beta":0.5,"flag":true,"none":null,"text":"it's","list":[1,"a"]})").as_object();
  slurm.status = "COMPLETED";
  slurm.job_ids = {"1234", "1235"};
  slurm.results.push_back(json::parse(R"({"command":"sbatch job.sh","env":{"DATA_PATH":"/data/x","N":4}})"));
  slurm.result_message = "Job 1234 done";
  slurm.created_on = at("2026-11-29T21:37:03.030745+00:00");
  slurm.modified_on = at("2026-11-29T21:37:03.340540+00:00");
  wf.tasks.push_back(slurm);
  return wf;
}

Task import_task() {
  Task t;
  t.id = *Uuid::parse("6ba96eac-f026-42a4-8d62-3e558a427830");
  t.name = "SLURM_Import_Results.py";
  t.version = "v2.0.0";
  t.input_data = json::parse(R"({"IDs":[101,102]})");
  t.status = "IMPORTING";
  t.created_on = at("2026-11-29T21:37:03.369987+00:00");
  t.modified_on = at("2026-11-29T21:37:03.458972+00:00");
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(omero_annotations_test)

BOOST_AUTO_TEST_CASE(python_str_formats_values_as_python_prints_them) {
  const std::pair<const char*, const char*> table[] = {
      {"null", "None"},
      {"true", "True"},
      {"false", "False"},
      {"42", "42"},
      {"-7", "-7"},
      {"18446744073709551615", "18446744073709551615"},
      {"1.0", "1.0"},
      {"0.5", "0.5"},
      {"1e16", "1e+16"},
      {"1234567890123456.0", "1234567890123456.0"},
      {"0.0001", "0.0001"},
      {"0.00001", "1e-05"},
      {"0.1", "0.1"},
      {"\"plain text\"", "plain text"},
      {"[]", "[]"},
      {"{}", "{}"},
      {R"({"IDs":[1,2]})", "{'IDs': [1, 2]}"},
      {R"([1,"a",null,true,2.5])", "[1, 'a', None, True, 2.5]"},
      {R"({"a":{"b":[{"c":false}]}})", "{'a': {'b': [{'c': False}]}}"},
      {R"(["it's"])", R"(["it's"])"},
      {R"(["say \"hi\""])", R"(['say "hi"'])"},
      {R"(["both ' and \""])", R"(['both \' and "'])"},
      {R"(["back\\slash"])", R"(['back\\slash'])"},
      {R"(["tab\tnl\ncr\r"])", R"(['tab\tnl\ncr\r'])"},
      {R"(["\u0001\u007f"])", R"(['\x01\x7f'])"},
      {R"(["caf\u00e9 \u00a0 \u2028"])", "['caf\xc3\xa9 \\xa0 \\u2028']"},
  };
  for (const auto& [input, expected] : table) {
    BOOST_TEST_CONTEXT(input) {
      BOOST_TEST(python_str(json::parse(input)) == expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(isoformat_drops_a_zero_fraction_like_python) {
  BOOST_TEST(python_isoformat(at("2026-11-29T21:37:02.956582+00:00")) == "2026-11-29T21:37:02.956582+00:00");
  BOOST_TEST(python_isoformat(at("2026-11-29T21:37:03+00:00")) == "2026-11-29T21:37:03+00:00");
  BOOST_TEST(python_isoformat(at("2026-11-29T21:37:03.000100+00:00")) == "2026-11-29T21:37:03.000100+00:00");
}

BOOST_AUTO_TEST_CASE(the_import_task_answers_under_the_get_results_namespace) {
  BOOST_TEST(task_namespace("SLURM_Import_Results.py") == "biomero/workflow/task/SLURM_Get_Results.py");
  BOOST_TEST(task_namespace("cellexpansion") == "biomero/workflow/task/cellexpansion");
}

BOOST_AUTO_TEST_CASE(the_workflow_level_has_biomeros_keys_in_order) {
  const MapAnnotation expected{"biomero/workflow",
                               {{"Workflow_ID", "da9e05d2-1741-4302-a188-311267647bcc"},
                                {"Name", "cellexpansion"},
                                {"Version", "1.2.3"},
                                {"Created_On", "2026-11-29T21:37:02.956582+00:00"},
                                {"Modified_On", "2026-11-29T21:37:03+00:00"},
                                {"Task_IDs", "9990f41e-6c02-4db4-9a54-fb25db29f2cd"}}};
  BOOST_TEST(workflow_annotation(sample_workflow()) == expected);
}

BOOST_AUTO_TEST_CASE(a_version_needs_three_parts_as_in_biomero) {
  Workflow wf = sample_workflow();
  wf.description = "Run cellexpansion v1.0";
  BOOST_TEST(workflow_annotation(wf).values[2].second == "Unknown");
}

BOOST_AUTO_TEST_CASE(the_task_level_str_s_input_data_and_every_param) {
  const Workflow wf = sample_workflow();
  const MapAnnotation expected{"biomero/workflow/task/cellexpansion",
                               {{"Task_ID", "9990f41e-6c02-4db4-9a54-fb25db29f2cd"},
                                {"Workflow_ID", "da9e05d2-1741-4302-a188-311267647bcc"},
                                {"Workflow_Name", "cellexpansion"},
                                {"Name", "cellexpansion"},
                                {"Version", "v1.0"},
                                {"Created_On", "2026-11-29T21:37:03.030745+00:00"},
                                {"Modified_On", "2026-11-29T21:37:03.340540+00:00"},
                                {"Status", "COMPLETED"},
                                {"Input_Data", "{'IDs': [101, 102]}"},
                                {"Job_IDs", "1234, 1235"},
                                {"Param_alpha", "1"},
                                {"Param_beta", "0.5"},
                                {"Param_flag", "True"},
                                {"Param_none", "None"},
                                {"Param_text", "it's"},
                                {"Param_list", "[1, 'a']"}}};
  BOOST_TEST(task_annotation(wf, wf.tasks[0]) == expected);
}

BOOST_AUTO_TEST_CASE(a_list_input_data_becomes_repeated_keys_as_ezomero_writes_it) {
  Workflow wf = sample_workflow();
  wf.tasks[0].input_data = json::parse(R"([5,"x"])");
  const MapAnnotation a = task_annotation(wf, wf.tasks[0]);
  BOOST_TEST(a.values[8].first == "Input_Data");
  BOOST_TEST(a.values[8].second == "5");
  BOOST_TEST(a.values[9].first == "Input_Data");
  BOOST_TEST(a.values[9].second == "x");
  BOOST_TEST(a.values[10].first == "Job_IDs");
}

BOOST_AUTO_TEST_CASE(the_job_level_carries_the_first_results_command_and_env) {
  const Workflow wf = sample_workflow();
  const MapAnnotation expected{"biomero/workflow/task/cellexpansion/job",
                               {{"Job_ID", "1235"},
                                {"Task_ID", "9990f41e-6c02-4db4-9a54-fb25db29f2cd"},
                                {"Workflow_ID", "da9e05d2-1741-4302-a188-311267647bcc"},
                                {"Result_Message", "Job 1234 done"},
                                {"Command", "sbatch job.sh"},
                                {"Env_DATA_PATH", "/data/x"},
                                {"Env_N", "4"}}};
  BOOST_TEST(job_annotation(wf, wf.tasks[0], "1235") == expected);
}

BOOST_AUTO_TEST_CASE(a_task_without_results_has_a_none_result_message_and_no_command) {
  const Workflow wf = sample_workflow();
  const Task t = import_task();
  const MapAnnotation expected{"biomero/workflow/task/SLURM_Get_Results.py/job",
                               {{"Job_ID", "77"},
                                {"Task_ID", "6ba96eac-f026-42a4-8d62-3e558a427830"},
                                {"Workflow_ID", "da9e05d2-1741-4302-a188-311267647bcc"},
                                {"Result_Message", "None"}}};
  BOOST_TEST(job_annotation(wf, t, "77") == expected);
}

BOOST_AUTO_TEST_CASE(untracked_jobs_get_only_the_job_id) {
  BOOST_TEST(untracked_job_annotation("99") == (MapAnnotation{"biomero/workflow/task/job", {{"Job_ID", "99"}}}));
}

BOOST_AUTO_TEST_CASE(the_whole_set_is_in_biomeros_posting_order_with_the_import_task_appended) {
  const std::vector<MapAnnotation> all = workflow_annotations(sample_workflow(), import_task());
  std::vector<std::string> namespaces;
  for (const MapAnnotation& a : all) namespaces.push_back(a.ns);
  const std::vector<std::string> expected{
      "biomero/workflow", "biomero/workflow/task/cellexpansion", "biomero/workflow/task/cellexpansion/job",
      "biomero/workflow/task/cellexpansion/job", "biomero/workflow/task/SLURM_Get_Results.py"};
  BOOST_TEST(namespaces == expected, boost::test_tools::per_element());
  BOOST_TEST(all[0].values[5].second == "9990f41e-6c02-4db4-9a54-fb25db29f2cd, 6ba96eac-f026-42a4-8d62-3e558a427830");
  BOOST_TEST(all[4].values[3].second == "SLURM_Import_Results.py");
  BOOST_TEST(all[4].values[7].second == "IMPORTING");
}

BOOST_AUTO_TEST_CASE(an_import_task_already_in_the_workflow_is_replaced_not_repeated) {
  Workflow wf = sample_workflow();
  Task stale = import_task();
  stale.status = "";
  wf.tasks.push_back(stale);
  const std::vector<MapAnnotation> all = workflow_annotations(wf, import_task());
  BOOST_TEST(all.size() == 5u);
  BOOST_TEST(all[4].values[7].second == "IMPORTING");
}

BOOST_AUTO_TEST_CASE(the_handoff_task_the_reactor_took_over_is_left_out) {
  Workflow wf = sample_workflow();
  Task handoff = import_task();
  handoff.id = random_uuid4();
  handoff.status = "HANDED_OFF";
  wf.tasks.push_back(handoff);
  BOOST_TEST(workflow_annotations(wf, import_task()).size() == 6u);  // not a handoff job: both shown
  const std::vector<MapAnnotation> all = workflow_annotations(wf, import_task(), handoff.id);
  BOOST_REQUIRE_EQUAL(all.size(), 5u);
  BOOST_TEST(all[4].ns == "biomero/workflow/task/SLURM_Get_Results.py");
  BOOST_TEST(all[4].values[7].second == "IMPORTING");
}

BOOST_AUTO_TEST_SUITE_END()
