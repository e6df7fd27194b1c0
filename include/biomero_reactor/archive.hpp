// Result archives: extracting a job's (untrusted) result archive into the job directory,
// and building a zip from a results directory.
//
// extract_archive treats the archive as hostile. It writes only regular files and
// directories, and only below target_dir:
// - absolute paths, `..` components, names holding control characters and paths longer
//   than 4096 bytes are refused;
// - names are UTF-8, whatever the process locale or the environment (LANG, LC_ALL): the
//   archive is read under a UTF-8 C locale on the reading thread. In a zip, a name
//   flagged UTF-8 must be valid UTF-8; a name without the flag is taken as it is when its
//   bytes are valid UTF-8 and read as CP437 (the zip format's default charset) otherwise.
//   In other formats a name that is not valid UTF-8 is refused;
// - every symlink entry is refused, wherever it points: the simplest rule that is
//   obviously safe, and result archives have no use for links;
// - every hardlink entry is refused too, for the same reason;
// - devices, FIFOs and sockets are refused;
// - total uncompressed bytes, entry count and compression ratio are capped while data is
//   written, so a bomb stops at the limit instead of filling the disk;
// - CRC errors, truncation and any other libarchive failure are fatal;
// - files are created with openat(O_EXCL | O_NOFOLLOW) below directories opened with
//   O_NOFOLLOW, so a symlink that appears on disk is never followed;
// - everything written is durable on return: one syncfs(2) of the target's file system
//   (stronger than an fsync per file and directory, and much faster for many files);
// - modes in the archive are ignored (files 0644, directories 0755, before umask);
// - in a zip, every header is checked (and the directories made) before any data is
//   written; the files are then inflated by several threads, one entry each.
// Every refusal throws ArchiveError naming the entry. On any error target_dir may hold a
// partial extraction: the caller (who builds the job directory under a temporary name)
// discards it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "biomero_reactor/checksums.hpp"

namespace biomero_reactor {

struct ExtractLimits {
  std::uint64_t max_total_bytes = 10ULL << 30;
  // Entries, and also distinct paths including the directories the entries' paths imply
  // (each is an inode: a few deep names must not create millions of directories).
  std::uint64_t max_entries = 100000;
  // Uncompressed bytes written / archive file size. libarchive does not expose an
  // entry's compressed size, so the ratio is over the whole archive, checked as data
  // is written.
  double max_ratio = 200.0;
  // Threads inflating a zip's entries at once, one entry each. More threads than cores
  // still pays: the cores share the entries' work out evenly instead of one core
  // inflating the last entry alone. Other formats are one stream: the calling thread.
  std::size_t threads = 4;
  // Hash every file while it is written (ExtractStats::digests), for SHA256SUMS.
  bool checksums = true;
};

// An archive that is refused or unreadable. what() reads like
// `archive entry "../evil.txt": path escapes the job directory`. An entry whose header
// cannot be read is named by its position ("#3"); a failure before any entry (the file
// is not an archive) has an empty `entry` and reads `archive: <reason>`.
struct ArchiveError : std::runtime_error {
  ArchiveError(std::string entry, std::string_view reason);

  // The entry's name, non-printable and non-UTF-8 bytes escaped as \xNN.
  std::string entry;
};

struct ExtractStats {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::size_t threads = 1;  // that wrote data
  // With limits.checksums: each file written, relative to target_dir, in no set order.
  std::vector<FileDigest> digests;
};

// Extracts `archive` (zip, tar and its compressed forms, 7z, cpio, ...: format detected
// from the content) into `target_dir`, an existing empty directory. An empty archive
// extracts to nothing and is not an error. Throws ArchiveError for the archive's
// faults and std::system_error for the target file system's (disk full, permissions).
[[nodiscard]] ExtractStats extract_archive(const std::filesystem::path& archive,
                                           const std::filesystem::path& target_dir, const ExtractLimits& limits);

// glibc reads /etc/localtime again on every mktime() while TZ is unset, and libarchive
// calls mktime() for every zip entry (four stat calls each). Sets TZ to that same zone
// when unset, so it is read once. Call at process start, before any thread.
void read_local_timezone_once();

// Writes a deflate zip of `dir` to the new file `zip_out` (names relative to `dir`,
// sorted; regular files and directories only: a symlink or special file in `dir` throws
// ArchiveError). The zip is fsynced; a failed zip is removed. Returns its size in bytes.
[[nodiscard]] std::uint64_t zip_directory(const std::filesystem::path& dir, const std::filesystem::path& zip_out);

}  // namespace biomero_reactor
