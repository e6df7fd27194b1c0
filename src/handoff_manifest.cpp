#include "biomero_reactor/handoff_manifest.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "biomero_reactor/fs_util.hpp"
#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

namespace json = boost::json;

namespace {

[[noreturn]] void refuse(const std::string& field, const std::string& why) {
  throw ManifestError("manifest field " + field + ": " + why);
}

const json::value& member(const json::object& o, std::string_view key, const std::string& path) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) refuse(path, "missing");
  return *v;
}

const json::object& object_at(const json::object& o, std::string_view key, const std::string& path) {
  const auto& v = member(o, key, path);
  if (!v.is_object()) refuse(path, "not an object");
  return v.as_object();
}

std::string string_at(const json::object& o, std::string_view key, const std::string& path) {
  const auto& v = member(o, key, path);
  if (!v.is_string()) refuse(path, "not a string");
  return std::string(v.as_string());
}

Uuid uuid_at(const json::object& o, std::string_view key, const std::string& path) {
  const auto text = string_at(o, key, path);
  const auto id = Uuid::parse(text);
  if (!id) refuse(path, "not a UUID");
  return *id;
}

std::int64_t integer_at(const json::object& o, std::string_view key, const std::string& path, std::int64_t least) {
  const auto& v = member(o, key, path);
  std::int64_t n = 0;
  if (v.is_int64()) {
    n = v.as_int64();
  } else if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    n = static_cast<std::int64_t>(v.as_uint64());
  } else {
    refuse(path, "not an integer");
  }
  if (n < least) refuse(path, "must be at least " + std::to_string(least));
  return n;
}

std::string name_at(const json::object& o, std::string_view key, const std::string& path) {
  auto s = string_at(o, key, path);
  if (s.empty()) refuse(path, "empty");
  if (s.size() > max_name_bytes) refuse(path, "longer than " + std::to_string(max_name_bytes) + " bytes");
  if (has_control_character(s)) refuse(path, "holds a control character");
  return s;
}

bool is_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

HandoffFile file_at(const json::object& files, std::string_view key) {
  const std::string path = "files." + std::string(key);
  const auto& f = object_at(files, key, path);
  HandoffFile out;
  out.name = string_at(f, "name", path + ".name");
  if (!is_safe_component(out.name) || out.name.find('/') != std::string::npos)
    refuse(path + ".name", "not a plain file name ([A-Za-z0-9._-], no '/', not starting with '.')");
  if (out.name == "manifest.json" || out.name == "result.json") refuse(path + ".name", "a name the spool reserves");
  out.bytes = static_cast<std::uint64_t>(integer_at(f, "bytes", path + ".bytes", 0));
  out.sha256 = string_at(f, "sha256", path + ".sha256");
  if (out.sha256.size() != 64 || !is_hex(out.sha256)) refuse(path + ".sha256", "not 64 lowercase hex digits");
  return out;
}

bool digits_only(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// An input the user set to true (BIOMERO passes booleans; a script run by hand may pass
// "true").
bool chosen(const json::object& inputs, std::string_view key) {
  const auto* v = inputs.if_contains(key);
  if (v == nullptr) return false;
  if (v->is_bool()) return v->as_bool();
  if (v->is_string()) return v->as_string() == "true" || v->as_string() == "True";
  return false;
}

}  // namespace

Workflow workflow_from_manifest(const HandoffManifest& m) {
  Workflow wf;
  wf.id = m.workflow_id;
  wf.user_id = m.user_id;
  wf.group_id = m.group_id;
  wf.name = "standalone handoff";
  wf.description = "SLURM job " + m.job_id + " handed off as " + m.handoff_id.str() +
                   "; the workflow is not in BIOMERO's event store";
  return wf;
}

bool is_handoff_dir_name(std::string_view name) {
  const auto id = Uuid::parse(name);
  return id && id->str() == name;
}

HandoffManifest parse_manifest(std::string_view json_text, std::string_view dir_name) {
  if (json_text.size() > max_manifest_bytes) throw ManifestError("manifest larger than 1 MiB");
  boost::system::error_code ec;
  const json::value doc = json::parse(json_text, ec);
  if (ec) throw ManifestError("manifest is not JSON: " + ec.message());
  if (!doc.is_object()) throw ManifestError("manifest is not a JSON object");
  const auto& m = doc.as_object();
  if (string_at(m, "schema", "schema") != manifest_schema) refuse("schema", "not " + std::string(manifest_schema));
  HandoffManifest out;
  out.handoff_id = uuid_at(m, "handoff_id", "handoff_id");
  if (out.handoff_id.str() != dir_name)
    refuse("handoff_id", "does not match its directory ready/" + std::string(dir_name));

  const auto& wf = object_at(m, "workflow", "workflow");
  const auto* wid = wf.if_contains("id");
  if (wid == nullptr || wid->is_null())
    refuse("workflow.id", "missing: a handoff without a workflow cannot be tracked");
  out.workflow_id = uuid_at(wf, "id", "workflow.id");
  if (const auto* t = wf.if_contains("task_id"); t != nullptr && !t->is_null()) {
    out.task_id = uuid_at(wf, "task_id", "workflow.task_id");
  }

  const auto& slurm = object_at(m, "slurm", "slurm");
  out.job_id = string_at(slurm, "job_id", "slurm.job_id");
  if (!digits_only(out.job_id)) refuse("slurm.job_id", "not 1 to 20 digits");

  const auto& omero = object_at(m, "omero", "omero");
  out.user_id = integer_at(omero, "user_id", "omero.user_id", 0);
  out.group_id = integer_at(omero, "group_id", "omero.group_id", 0);
  out.user_name = name_at(omero, "user_name", "omero.user_name");
  out.group_name = name_at(omero, "group_name", "omero.group_name");

  const auto& files = object_at(m, "files", "files");
  out.zip = file_at(files, "zip");
  if (const auto* l = files.if_contains("log"); l != nullptr && !l->is_null()) {
    out.log = file_at(files, "log");
    if (out.log->name == out.zip.name) refuse("files.log.name", "the same as files.zip.name");
  }
  if (const auto* in = m.if_contains("inputs"); in != nullptr && !in->is_null()) {
    if (!in->is_object()) refuse("inputs", "not an object");
    out.inputs = in->as_object();
  }
  return out;
}

std::vector<std::string> unhonoured_options(const json::object& inputs, bool omero_connected) {
  // The import script's output options that need OMERO's own API after the import.
  static const std::vector<std::pair<std::string_view, std::string_view>> options{
      {"Output - Attach as zip to project?", "the results zip is not attached to a project"},
      {"Output - Attach as zip to dataset?", "the results zip is not attached to a dataset"},
      {"Output - Attach as zip to plate?", "the results zip is not attached to a plate"},
      {"Output - Add as attachment to original images", "results are not attached to the original images"},
      {"Output - Add csv files as OMERO.table", "CSV files are not turned into OMERO.tables"},
      {"Output - Attach non-image output files as annotations", "non-image files are not attached as annotations"},
      {"Create_ROIs", "no ROIs are created from label images"},
  };
  std::vector<std::string> out;
  // With OMERO.web the screen is found or created by name, as for a dataset.
  constexpr std::string_view new_screen = "Output - Add as new images in NEW screen";
  if (!omero_connected && chosen(inputs, new_screen) && !chosen(inputs, "Output - Add as new images in NEW dataset")) {
    out.push_back("not honoured: \"" + std::string(new_screen) +
                  "\": no new screen is created without omero.web.url (the images go to Screen_ID or the configured "
                  "destination)");
  }
  for (const auto& [key, what] : options) {
    if (chosen(inputs, key)) out.push_back("not honoured: \"" + std::string(key) + "\": " + std::string(what));
  }
  return out;
}

std::string handoff_result_json(const Uuid& handoff_id, const Uuid& reactor_task_id, bool imported,
                                std::string_view message, std::string_view finished_at) {
  json::object o;
  o["schema"] = handoff_result_schema;
  o["handoff_id"] = handoff_id.str();
  o["reactor_task_id"] = reactor_task_id.str();
  o["status"] = imported ? "IMPORTED" : "IMPORT_FAILED";
  o["message"] = message;
  o["finished_at"] = finished_at;
  return json::serialize(o) + "\n";
}

HandoffCleanup handoff_cleanup(bool job_terminal, bool result_written, double result_age_s, double keep_s,
                               bool archived) {
  if (!job_terminal) return HandoffCleanup::wait;
  if (!result_written) return HandoffCleanup::write_result;
  if (result_age_s < keep_s) return HandoffCleanup::keep_result;
  return archived ? HandoffCleanup::remove : HandoffCleanup::keep_for_operator;
}

Verdict handoff_verdict(bool imported, std::string_view import_failure, bool t_completed, std::string_view t_error,
                        bool t_before_import_end) {
  if (!imported && t_completed) return {Verdict::failed, "Import failed: " + std::string(import_failure)};
  if (!t_before_import_end) return {};
  if (t_completed) return {Verdict::completed, {}};
  return {Verdict::failed, std::string(t_error)};
}

}  // namespace biomero_reactor
