#include "biomero_reactor/metadata.hpp"

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

}  // namespace

BOOST_AUTO_TEST_SUITE(metadata_test)

BOOST_AUTO_TEST_CASE(the_fixture_workflow_gives_biomeros_rows) {
  const Workflow workflow = decode_workflow(*Uuid::parse("da9e05d2-1741-4302-a188-311267647bcc"), fixture_events());
  BOOST_TEST(metadata_csv(workflow, "1234", "alice", "lab, imaging") ==
             "Job_ID,1234\n"
             "Import_Type,SLURM_Results\n"
             "Import_User,alice\n"
             "Import_Group,\"lab, imaging\"\n"
             "Workflow_ID,da9e05d2-1741-4302-a188-311267647bcc\n"
             "Workflow_Name,cellexpansion\n"
             "Workflow_Version,1.0\n"
             "Workflow_Created_On,2026-11-29T21:37:02.956582+00:00\n"
             "Workflow_Modified_On,2026-11-29T21:37:03.549420+00:00\n"
             "Workflow_Task_IDs,\"9990f41e-6c02-4db4-9a54-fb25db29f2cd, 6ba96eac-f026-42a4-8d62-3e558a427830\"\n"
             "Task_cellexpansion_ID,9990f41e-6c02-4db4-9a54-fb25db29f2cd\n"
             "Task_cellexpansion_Name,cellexpansion\n"
             "Task_cellexpansion_Version,v1.0\n"
             "Task_cellexpansion_Status,COMPLETED\n"
             "Task_cellexpansion_Input_Data,\"{\"\"IDs\"\":[101,102]}\"\n"
             "Task_cellexpansion_Job_IDs,1234\n"
             "Task_cellexpansion_Param_alpha,1\n"
             "Task_cellexpansion_Param_nested,\"{\"\"b\"\":\"\"x\"\"}\"\n"
             "Task_SLURM_Import_Results.py_ID,6ba96eac-f026-42a4-8d62-3e558a427830\n"
             "Task_SLURM_Import_Results.py_Name,SLURM_Import_Results.py\n"
             "Task_SLURM_Import_Results.py_Version,v2.0.0\n"
             "Task_SLURM_Import_Results.py_Status,IMPORTED\n"
             "Task_SLURM_Import_Results.py_Input_Data,\"{\"\"IDs\"\":[101,102]}\"\n"
             "Task_SLURM_Import_Results.py_Job_IDs,\n"
             "Task_SLURM_Import_Results.py_Param_Task_ID,x\n");
}

BOOST_AUTO_TEST_CASE(quotes_line_breaks_and_non_string_params_are_written_safely) {
  Workflow workflow;
  workflow.id = *Uuid::parse("00000000-0000-4000-8000-000000000001");
  workflow.name = "say \"hi\"";
  workflow.created_on = sys_days(2026y / 1 / 1);
  workflow.modified_on = sys_days(2026y / 1 / 1) + 1s;
  Task task;
  task.id = *Uuid::parse("00000000-0000-4000-8000-000000000002");
  task.name = "seg";
  task.version = "1";
  task.status = "";
  task.job_ids = {"5", "6"};
  task.params = {{"note", "line one\nline two"}, {"flag", true}, {"ratio", 0.5}, {"list", boost::json::array{1, "a"}}};
  workflow.tasks.push_back(task);

  BOOST_TEST(metadata_csv(workflow, "5", "bob", "g\r") ==
             "Job_ID,5\n"
             "Import_Type,SLURM_Results\n"
             "Import_User,bob\n"
             "Import_Group,\"g\r\"\n"
             "Workflow_ID,00000000-0000-4000-8000-000000000001\n"
             "Workflow_Name,\"say \"\"hi\"\"\"\n"
             "Workflow_Version,Unknown\n"
             "Workflow_Created_On,2026-01-01T00:00:00.000000+00:00\n"
             "Workflow_Modified_On,2026-01-01T00:00:01.000000+00:00\n"
             "Workflow_Task_IDs,00000000-0000-4000-8000-000000000002\n"
             "Task_seg_ID,00000000-0000-4000-8000-000000000002\n"
             "Task_seg_Name,seg\n"
             "Task_seg_Version,1\n"
             "Task_seg_Status,\n"
             "Task_seg_Input_Data,null\n"
             "Task_seg_Job_IDs,\"5, 6\"\n"
             "Task_seg_Param_note,\"line one\nline two\"\n"
             "Task_seg_Param_flag,true\n"
             "Task_seg_Param_ratio,0.5\n"
             "Task_seg_Param_list,\"[1,\"\"a\"\"]\"\n");
}

BOOST_AUTO_TEST_SUITE_END()
