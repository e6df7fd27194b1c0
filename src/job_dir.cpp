#include "biomero_reactor/job_dir.hpp"

#include <cerrno>
#include <cstdio>

#include "biomero_reactor/fs_util.hpp"
#include "biomero_reactor/rename_pattern.hpp"
#include "biomero_reactor/spool_move.hpp"

namespace biomero_reactor {

namespace fs = std::filesystem;

namespace {

// Paths found under the temporary directory, moved to where they are after the rename.
fs::path rebase(const fs::path& p, const fs::path& from, const fs::path& to) {
  return to / p.lexically_relative(from);
}

ImageSet rebase(const ImageSet& s, const fs::path& from, const fs::path& to) {
  ImageSet out;
  for (const auto& p : s.images) out.images.push_back(rebase(p, from, to));
  for (const auto& p : s.label_images) out.label_images.push_back(rebase(p, from, to));
  return out;
}

// The checksum lines of a renamed file, or of everything under a renamed zarr, follow it.
void rename_digests(std::vector<FileDigest>& digests, const std::string& from, const std::string& to) {
  for (auto& d : digests) {
    if (d.path == from) {
      d.path = to;
    } else if (d.path.starts_with(from + "/")) {
      d.path = to + d.path.substr(from.size());
    }
  }
}

void remove_stale_builds(const fs::path& parent, const std::string& job_id) {
  const std::string prefix = "." + job_id + ".building-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    if (e.path().filename().string().starts_with(prefix)) fs::remove_all(e.path());
  }
}

}  // namespace

fs::path job_dir_path(const fs::path& group_base, const Uuid& workflow_id, const std::string& job_id) {
  if (!is_safe_component(job_id)) {
    throw PermanentError("SLURM job id \"" + job_id + "\" cannot be used as a directory name");
  }
  return group_base / ".analyzed" / workflow_id.str() / job_id;
}

JobDir build_job_dir(const fs::path& group_base, const Uuid& workflow_id, const std::string& job_id,
                     const JobSources& sources, const ExtractLimits& limits, const JobDirOptions& options) {
  const fs::path final_dir = job_dir_path(group_base, workflow_id, job_id);
  const fs::path parent = final_dir.parent_path();
  const std::string out_name = job_id + "_out";
  JobDir result;
  result.path = final_dir;
  if (fs::is_directory(final_dir)) {
    // Published by an earlier attempt: complete by construction.
    result.images = find_importable_images(final_dir / out_name);
    result.reused = true;
    return result;
  }
  fs::create_directories(parent);
  remove_stale_builds(parent, job_id);
  const fs::path tmp = parent / ("." + job_id + ".building-" + random_uuid4().hex().substr(0, 12));
  fs::create_directory(tmp);
  try {
    const fs::path zip = tmp / (out_name + ".zip");
    try {
      if (!sources.dir.empty()) {
        if (fs::is_symlink(sources.dir)) {
          throw SourceRefused("results directory \"" + sources.dir.string() +
                              "\" is a symbolic link: it is read as a directory, never through a link");
        }
        result.bytes_copied += zip_directory(sources.dir, zip);
      } else if (sources.link_zip) {
        result.bytes_copied += link_or_copy(sources.zip, zip).bytes_copied;
      } else {
        result.bytes_copied += copy_file_durable(sources.zip, zip);
      }
    } catch (const SourceRefused& e) {
      throw PermanentError(e.what());
    }
    const fs::path out = tmp / out_name;
    fs::create_directory(out);
    std::vector<FileDigest> digests;
    try {
      ExtractStats extracted = extract_archive(zip, out, limits);
      result.bytes_extracted = extracted.bytes;
      for (auto& d : extracted.digests) digests.push_back({out_name + "/" + d.path, std::move(d.hex)});
    } catch (const ArchiveError& e) {
      throw PermanentError(std::string("result archive ") + (sources.dir.empty() ? sources.zip : sources.dir).string() +
                           ": " + e.what());
    }
    if (sources.log) {
      try {
        const std::string log_name = "omero-" + job_id + ".log";
        const LogCopy log = copy_log_durable(*sources.log, tmp / log_name, options.max_log_bytes);
        result.bytes_copied += log.copied_bytes;
        if (limits.checksums) digests.push_back({log_name, sha256_file_hex(tmp / log_name)});
        result.log_truncated = log.truncated;
      } catch (const SourceRefused& e) {
        throw PermanentError(e.what());
      }
    }
    const auto rel = [&](const fs::path& p) { return out_name + "/" + p.lexically_relative(out).generic_string(); };
    if (options.rename_pattern) {
      RenameReport renamed = rename_results(out, *options.rename_pattern);
      for (const auto& [from, to] : renamed.renamed) rename_digests(digests, rel(from), rel(to));
      result.renamed = renamed.renamed.size();
      result.rename_warnings = std::move(renamed.warnings);
    }
    if (options.name_label_zarrs) {
      LabelRenames labels = name_label_zarrs(out);
      for (const auto& [from, to] : labels.renamed) rename_digests(digests, rel(from), rel(to));
      for (const auto& file : labels.rewritten) {
        for (auto& d : digests) {
          if (d.path == rel(file)) d.hex = sha256_file_hex(file);
        }
      }
      result.labels_renamed = labels.renamed.size();
      result.rename_warnings.insert(result.rename_warnings.end(), labels.warnings.begin(), labels.warnings.end());
    }
    const ImageSet found = find_importable_images(out);
    if (found.images.empty() && found.label_images.empty()) {
      throw PermanentError("no importable images in the results of job " + job_id +
                           " (looked for BIOMERO's image extensions under " + out_name + "/)");
    }
    const std::string metadata_hex = sha256_hex(options.metadata_csv);
    const auto write_metadata = [&](const fs::path& at) {
      write_file_durable(at, options.metadata_csv);  // replaces a metadata.csv the archive held
      const std::string rel = at.lexically_relative(tmp).generic_string();
      std::erase_if(digests, [&](const FileDigest& d) { return d.path == rel; });
      digests.push_back({rel, metadata_hex});
    };
    write_metadata(out / "metadata.csv");
    if (options.csv_next_to_images) {
      for (const auto& d : directories_holding_images(found)) {
        if (!fs::exists(d / "metadata.csv")) write_metadata(d / "metadata.csv");
      }
    }
    if (limits.checksums) {
      // The zip is hashed from the copy just written (the page cache still holds it).
      digests.push_back({out_name + ".zip", sha256_file_hex(zip)});
      write_file_durable(tmp / sums_file_name, sha256sums_text(std::move(digests)));
    }
    for (const auto& e : fs::recursive_directory_iterator(tmp)) {
      if (e.is_directory() && !e.is_symlink()) fsync_path(e.path());
    }
    fsync_path(tmp);
    if (::rename(tmp.c_str(), final_dir.c_str()) != 0) throw_system_error(errno, "publish", final_dir);
    fsync_path(parent);
    result.images = rebase(found, tmp, final_dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  return result;
}

}  // namespace biomero_reactor
