#pragma once
// Archives you can check years later: every job directory holds SHA256SUMS, in the format
// `sha256sum -c` reads (paths relative to the job directory, sorted), covering the result
// zip, every extracted file, each metadata.csv and the log. The extracted files are hashed
// while they are written; the zip and log are hashed from the copies just written.
// verify_job_dir reads a directory back against its SHA256SUMS.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace biomero_reactor {

inline constexpr std::string_view sums_file_name = "SHA256SUMS";

// SHA-256 over bytes as they stream by (OpenSSL's EVP interface).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, std::size_t size);
  // Lowercase hex; the object is spent afterwards.
  [[nodiscard]] std::string hex_digest();

 private:
  void* ctx_;
};

[[nodiscard]] std::string sha256_hex(std::string_view bytes);
// Reads the file (never through a final symlink); adds its size to *bytes when given.
// Throws std::system_error when it cannot be read.
[[nodiscard]] std::string sha256_file_hex(const std::filesystem::path& path, std::uint64_t* bytes = nullptr);

struct FileDigest {
  std::string path;  // relative to the job directory, '/'-separated
  std::string hex;
  bool operator==(const FileDigest&) const = default;
};

// The SHA256SUMS text: one `<hex>  <path>` line per file, sorted by path. A path holding
// a backslash or a newline is written as coreutils does: the line starts with '\' and
// those characters are escaped (\\, \n).
[[nodiscard]] std::string sha256sums_text(std::vector<FileDigest> files);
// Reads such a text back. Throws std::invalid_argument naming the line for a malformed one.
[[nodiscard]] std::vector<FileDigest> parse_sha256sums(std::string_view text);

struct VerifyProblem {
  enum class Kind { missing, changed, extra, unreadable };
  Kind kind;
  std::string path;    // relative to the job directory
  std::string detail;  // for unreadable: the error
};
[[nodiscard]] std::string_view to_string(VerifyProblem::Kind kind);

struct VerifyReport {
  std::vector<VerifyProblem> problems;
  std::uint64_t files = 0;  // files read and hashed
  std::uint64_t bytes = 0;
};

// Called after each file with the running totals (from the verifying threads, serialised).
using VerifyProgress = std::function<void(std::uint64_t files, std::uint64_t bytes)>;

// Re-reads every file SHA256SUMS lists, on `threads` threads, and lists each file that
// is missing, changed or unreadable, and each regular file in the directory that it does
// not list (extra). A directory without SHA256SUMS is one problem: SHA256SUMS missing.
[[nodiscard]] VerifyReport verify_job_dir(const std::filesystem::path& dir, unsigned threads,
                                          const VerifyProgress& progress = {});

}  // namespace biomero_reactor
