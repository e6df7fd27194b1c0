#include "biomero_reactor/check_advice.hpp"

#include <sys/stat.h>

#include <optional>

namespace biomero_reactor {

namespace {

// The device of `path`, or of its nearest existing parent.
std::optional<dev_t> device_of(std::filesystem::path path) {
  for (;;) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) return st.st_dev;
    if (!path.has_relative_path()) return std::nullopt;
    path = path.parent_path();
  }
}

std::string joined(const std::vector<std::filesystem::path>& paths) {
  std::string out;
  for (const auto& p : paths) out += (out.empty() ? "" : ", ") + p.string();
  return out;
}

}  // namespace

std::vector<std::string> setup_warnings(const Config& cfg) {
  std::vector<std::string> out;
  const bool omero = !cfg.omero.web.url.empty();
  if (cfg.names.users.empty() && !omero) {
    out.push_back(
        "no way to get OMERO user names: names.users is empty and omero.web.url is not set, so every job from "
        "BIOMERO's events fails with \"unknown OMERO user id\". Set omero.web.url (names from OMERO.web) or list "
        "the users under names.users (id: name). Handoff jobs are not affected: their manifest brings the names.");
  }
  if (cfg.destination.id.empty() && !omero) {
    if (cfg.destination.groups.empty()) {
      out.push_back(
          "no destination for a job whose workflow names no Dataset_ID/Screen_ID: destination.id and "
          "destination.groups are empty and omero.web.url is not set, so such jobs fail. Set destination.id (with "
          "destination.type), destination.groups.<group>.id per OMERO group, or omero.web.url (finds or creates the "
          "workflow's dataset as its user).");
    } else {
      std::string groups;
      for (const auto& [name, d] : cfg.destination.groups) {
        if (!d.id.empty()) groups += (groups.empty() ? "" : ", ") + name;
      }
      out.push_back(
          "a job whose workflow names no Dataset_ID/Screen_ID gets a destination only in the groups of "
          "destination.groups (" +
          (groups.empty() ? std::string("none with an id") : groups) +
          "); in any other group it fails. Set destination.id as the default, or omero.web.url.");
    }
  }
  return out;
}

std::string describe_probe(const std::string& group, const ProbeResult& probe) {
  std::vector<std::string> parts;
  if (probe.ok) parts.emplace_back("a probe file was created, read back and removed");
  if (!probe.removed.empty()) parts.push_back("created and removed " + joined(probe.removed));
  if (!probe.created.empty()) {
    parts.push_back("created and left " + joined(probe.created) + ": remove it if the group is not used");
  } else if (probe.ok && probe.removed.empty()) {
    parts.emplace_back("no directory created");
  }
  std::string out = "group " + group + ": " + probe.path.string() + (probe.ok ? " is writable" : ": " + probe.detail);
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? " (" : "; ") + parts[i];
  if (!parts.empty()) out += ")";
  return out;
}

std::string describe_spool_placement(const std::filesystem::path& spool, const std::filesystem::path& base_dir) {
  const auto spool_dev = device_of(spool), base_dev = device_of(base_dir);
  if (!spool_dev || !base_dev) return "handoff.spool " + spool.string() + ": cannot tell its file system";
  if (*spool_dev == *base_dev)
    return "handoff.spool " + spool.string() + ": on the same file system as base_dir " + base_dir.string() +
           " (handed-off zips are moved, not copied)";
  return "note: handoff.spool " + spool.string() + " is on another file system than base_dir " + base_dir.string() +
         ": handed-off zips are copied (and fsynced), not moved; put the spool on the storage volume";
}

}  // namespace biomero_reactor
