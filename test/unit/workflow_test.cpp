#include "biomero_reactor/workflow.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace biomero_reactor;
using namespace std::chrono;

namespace {

std::vector<StoredEvent> fixture_events() {
  std::ifstream in(BIOMERO_TEST_FIXTURES "/events.tsv", std::ios::binary);
  BOOST_TEST_REQUIRE(in.good());
  std::vector<StoredEvent> events;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::vector<std::string> columns;
    std::istringstream fields(line);
    for (std::string column; std::getline(fields, column, '\t');) columns.push_back(column);
    BOOST_TEST_REQUIRE(columns.size() == 5u);
    events.push_back(
        {std::stoll(columns[0]), *Uuid::parse(columns[1]), std::stoll(columns[2]), columns[3], columns[4]});
  }
  return events;
}

const Uuid workflow_id = *Uuid::parse("da9e05d2-1741-4302-a188-311267647bcc");
const Uuid analysis_task_id = *Uuid::parse("9990f41e-6c02-4db4-9a54-fb25db29f2cd");
const Uuid import_task_id = *Uuid::parse("6ba96eac-f026-42a4-8d62-3e558a427830");
const TimePoint t0 = sys_days(2026y / 11 / 29) + 21h;

StoredEvent event(const Uuid& aggregate, std::int64_t version, std::string_view topic, boost::json::object state) {
  static std::int64_t next_id = 1000;
  state.emplace("timestamp", typed_datetime(t0 + seconds(version)));
  return {next_id++, aggregate, version, std::string(topic), encode_state(state)};
}

std::vector<StoredEvent> without(std::vector<StoredEvent> events, std::int64_t id) {
  std::erase_if(events, [&](const StoredEvent& e) { return e.id == id; });
  return events;
}

std::string rejection(const std::vector<StoredEvent>& events) {
  try {
    (void)decode_workflow(workflow_id, events);
  } catch (const CodecError& error) {
    return error.what();
  }
  BOOST_FAIL("decode_workflow accepted the events");
  return "";
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(workflow_test)

BOOST_AUTO_TEST_CASE(the_fixture_workflow_decodes_with_owner_tasks_and_jobs) {
  const Workflow workflow = decode_workflow(workflow_id, fixture_events());
  BOOST_TEST(workflow.id == workflow_id);
  BOOST_TEST(workflow.user_id == 2);
  BOOST_TEST(workflow.group_id == 3);
  BOOST_TEST(workflow.name == "cellexpansion");
  BOOST_TEST(workflow.description == "Run cellexpansion v1.0");
  BOOST_TEST(workflow.version == "1.0");
  BOOST_TEST(format_datetime(workflow.created_on) == "2026-11-29T21:37:02.956582+00:00");
  BOOST_TEST(format_datetime(workflow.modified_on) == "2026-11-29T21:37:03.549420+00:00");
  BOOST_TEST(workflow.completed);
  BOOST_TEST(!workflow.failed);
  BOOST_TEST(workflow.version_count == 5);
  BOOST_TEST_REQUIRE(workflow.tasks.size() == 2u);

  const Task& analysis = workflow.tasks[0];
  BOOST_TEST(analysis.id == analysis_task_id);
  BOOST_TEST(analysis.name == "cellexpansion");
  BOOST_TEST(analysis.version == "v1.0");
  BOOST_TEST(encode_state(analysis.params) == R"({"alpha":1,"nested":{"b":"x"}})");
  BOOST_TEST(encode_value(analysis.input_data) == R"({"IDs":[101,102]})");
  BOOST_TEST(analysis.status == "COMPLETED");
  BOOST_TEST(analysis.job_ids == std::vector<std::string>{"1234"});
  BOOST_TEST(analysis.started);
  BOOST_TEST(analysis.completed);
  BOOST_TEST(!analysis.failed);
  BOOST_TEST(format_datetime(analysis.created_on) == "2026-11-29T21:37:03.030745+00:00");
  BOOST_TEST(format_datetime(analysis.modified_on) == "2026-11-29T21:37:03.340540+00:00");
  BOOST_TEST(analysis.next_version == 8);

  const Task& import = workflow.tasks[1];
  BOOST_TEST(import.id == import_task_id);
  BOOST_TEST(import.name == "SLURM_Import_Results.py");
  BOOST_TEST(import.version == "v2.0.0");
  BOOST_TEST(encode_state(import.params) == R"({"Task_ID":"x"})");
  BOOST_TEST(import.status == "IMPORTED");
  BOOST_TEST(import.job_ids.empty());
  BOOST_TEST(import.completed);
  BOOST_TEST(import.next_version == 5);
}

BOOST_AUTO_TEST_CASE(the_order_events_arrive_in_does_not_matter) {
  std::vector<StoredEvent> shuffled = fixture_events();
  std::reverse(shuffled.begin(), shuffled.end());
  std::rotate(shuffled.begin(), shuffled.begin() + 7, shuffled.end());
  const Workflow workflow = decode_workflow(workflow_id, shuffled);
  BOOST_TEST_REQUIRE(workflow.tasks.size() == 2u);
  BOOST_TEST(workflow.tasks[0].id == analysis_task_id);
  BOOST_TEST(workflow.tasks[0].status == "COMPLETED");
  BOOST_TEST(workflow.tasks[1].status == "IMPORTED");
  BOOST_TEST(format_datetime(workflow.modified_on) == "2026-11-29T21:37:03.549420+00:00");
}

BOOST_AUTO_TEST_CASE(a_workflow_without_workflow_initiated_is_rejected) {
  const std::string message = rejection(without(fixture_events(), 1));
  BOOST_TEST(contains(message, "no WorkflowInitiated"), message);
  BOOST_TEST(contains(rejection({}), "no WorkflowInitiated"));
}

BOOST_AUTO_TEST_CASE(a_missing_event_in_the_middle_is_rejected) {
  const std::string message = rejection(without(fixture_events(), 9));
  BOOST_TEST(contains(message, analysis_task_id.str()), message);
  BOOST_TEST(contains(message, "expected version 5, found 6"), message);
}

BOOST_AUTO_TEST_CASE(an_added_task_without_events_is_rejected) {
  std::vector<StoredEvent> events = fixture_events();
  std::erase_if(events, [](const StoredEvent& e) { return e.originator_id == import_task_id; });
  const std::string message = rejection(events);
  BOOST_TEST(contains(message, import_task_id.str()), message);
  BOOST_TEST(contains(message, "none of its events"), message);
}

BOOST_AUTO_TEST_CASE(a_corrupt_state_names_its_row) {
  std::vector<StoredEvent> events = fixture_events();
  events.at(5).state = "\x78\x9c";
  const std::string message = rejection(events);
  BOOST_TEST(contains(message, "event 6 (biomero.eventsourcing:Task.JobIdAdded"), message);
  BOOST_TEST(contains(message, "not JSON"), message);
}

BOOST_AUTO_TEST_CASE(tasks_of_other_workflows_are_ignored) {
  std::vector<StoredEvent> events = fixture_events();
  const Uuid stranger = *Uuid::parse("11111111-2222-3333-4444-555555555555");
  events.push_back(event(stranger, 0, topics::task_created,
                         {{"workflow_id", typed_uuid(stranger)},
                          {"task_name", "other"},
                          {"task_version", "1"},
                          {"input_data", nullptr},
                          {"params", nullptr}}));
  const Workflow workflow = decode_workflow(workflow_id, events);
  BOOST_TEST(workflow.tasks.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_failed_task_and_workflow_keep_their_error_messages) {
  const Uuid task_id = *Uuid::parse("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
  const std::vector<StoredEvent> events{
      event(workflow_id, 0, topics::workflow_initiated,
            {{"originator_topic", topics::workflow_run},
             {"name", "conversion"},
             {"description", -1},
             {"user", -1},
             {"group", -1}}),
      event(task_id, 0, topics::task_created,
            {{"originator_topic", topics::task},
             {"workflow_id", typed_uuid(workflow_id)},
             {"task_name", "convert"},
             {"task_version", nullptr},
             {"input_data", nullptr},
             {"params", nullptr}}),
      event(workflow_id, 1, topics::task_added, {{"task_id", typed_uuid(task_id)}}),
      event(task_id, 1, topics::job_id_added, {{"job_id", 77}}),
      event(task_id, 2, topics::task_failed, {{"error_message", "Out of memory"}}),
      event(workflow_id, 2, topics::workflow_failed, {{"error_message", "Task convert failed"}}),
  };
  const Workflow workflow = decode_workflow(workflow_id, events);
  BOOST_TEST(workflow.description == "-1");
  BOOST_TEST(workflow.version == "");
  BOOST_TEST(workflow.user_id == -1);
  BOOST_TEST(workflow.failed);
  BOOST_TEST(!workflow.completed);
  BOOST_TEST(workflow.error == "Task convert failed");
  BOOST_TEST((workflow.modified_on == t0 + 2s));
  BOOST_TEST_REQUIRE(workflow.tasks.size() == 1u);
  const Task& task = workflow.tasks[0];
  BOOST_TEST(task.version == "");
  BOOST_TEST(task.params.empty());
  BOOST_TEST(task.input_data.is_null());
  BOOST_TEST(task.job_ids == std::vector<std::string>{"77"});
  BOOST_TEST(task.failed);
  BOOST_TEST(!task.started);
  BOOST_TEST(task.error == "Out of memory");
  BOOST_TEST(task.status == "");
  BOOST_TEST(task.next_version == 3);
}

BOOST_AUTO_TEST_CASE(owner_ids_must_be_integers) {
  const std::vector<StoredEvent> events{
      event(workflow_id, 0, topics::workflow_initiated,
            {{"name", "x"}, {"description", "1.2.3"}, {"user", "alice"}, {"group", 3}})};
  const std::string message = rejection(events);
  BOOST_TEST(contains(message, "'user' is not an integer"), message);
}

BOOST_AUTO_TEST_CASE(the_workflow_version_is_the_first_three_part_number_else_the_first_dotted_one) {
  BOOST_TEST(workflow_version_of("Run cellexpansion v1.0") == "1.0");
  BOOST_TEST(workflow_version_of("Segment nuclei v1.0\n2.1.0") == "2.1.0");
  BOOST_TEST(workflow_version_of("cellpose 10.20.30.40") == "10.20.30");
  BOOST_TEST(workflow_version_of("Run 3 times") == "");
  BOOST_TEST(workflow_version_of("") == "");
}

BOOST_AUTO_TEST_SUITE_END()
