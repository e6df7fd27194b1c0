// The reactor's import task: its frozen UUIDv5 names (the workflow path and the handoff
// path) and what its TaskCreated carries on each.
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include "biomero_reactor/import_task.hpp"

using namespace biomero_reactor;
namespace json = boost::json;

namespace {

const Uuid wf_id = *Uuid::parse("0f0e0d0c-0b0a-4909-8807-060504030201");
const Uuid h = *Uuid::parse("5b0c6a3e-1f2a-4b3c-9d4e-5f6a7b8c9d0e");

}  // namespace

BOOST_AUTO_TEST_SUITE(import_task_test)

BOOST_AUTO_TEST_CASE(the_workflow_path_keeps_its_name_and_a_handoff_is_named_by_its_task_and_attempt) {
  // Frozen: uuid5(uuid5(NAMESPACE_URL, "biomero-reactor"), ...).
  BOOST_TEST(reactor_namespace() == uuid5(*Uuid::parse("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "biomero-reactor"));
  const ImportTask w = import_task_for(wf_id, "1234", 2);
  BOOST_TEST(w.id == uuid5(reactor_namespace(), "import-task/" + wf_id.str() + "/1234/2"));
  BOOST_TEST(!w.handoff_id);
  const ImportTask r = import_task_for(wf_id, "1234", 2, h);
  BOOST_TEST(r.id == uuid5(reactor_namespace(), "handoff/" + h.str() + "/2"));
  BOOST_TEST(r.workflow_id == wf_id);
  // Independent of the workflow: the handoff id alone names it.
  BOOST_TEST(import_task_for(random_uuid4(), "9", 2, h).id == r.id);
  BOOST_TEST(import_task_for(wf_id, "1234", 3, h).id != r.id);
}

BOOST_AUTO_TEST_CASE(a_handoff_task_carries_the_contract_params_and_the_handed_off_tasks_input_data) {
  const ImportTask r = import_task_for(wf_id, "1234", 1, h);
  BOOST_TEST(json::serialize(import_task_params(r)) ==
             R"({"Imported_By":"biomero-reactor","Handoff_Task_ID":"5b0c6a3e-1f2a-4b3c-9d4e-5f6a7b8c9d0e",)"
             R"("SLURM Job Id":"1234","Attempt":1})");
  Workflow wf;
  wf.id = wf_id;
  Task analysis;
  analysis.id = random_uuid4();
  analysis.name = "cellpose";
  analysis.input_data = json::object{{"IDs", json::array{7}}};
  Task handed;
  handed.id = h;
  handed.name = std::string(import_task_name);
  handed.input_data = json::object{{"IDs", json::array{101, 102}}};
  wf.tasks = {analysis, handed};
  BOOST_TEST(json::serialize(import_task_input_data(r, wf)) == R"({"IDs":[101,102]})");
  // The workflow path takes the workflow's input ids, from tasks that are not imports.
  const ImportTask w = import_task_for(wf_id, "1234", 1);
  BOOST_TEST(json::serialize(import_task_input_data(w, wf)) == R"({"IDs":[7]})");
  BOOST_TEST(json::serialize(import_task_params(w)) ==
             R"({"Job_ID":"1234","Workflow_ID":"0f0e0d0c-0b0a-4909-8807-060504030201","Attempt":1,)"
             R"("Imported_By":"biomero-reactor"})");
  // A standalone handoff has no H in the store: the workflow's ids, or none.
  wf.tasks = {};
  BOOST_TEST(json::serialize(import_task_input_data(r, wf)) == R"({"IDs":[]})");
}

BOOST_AUTO_TEST_SUITE_END()
