#include "biomero_reactor/checksums.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "biomero_reactor/fs_util.hpp"

namespace biomero_reactor {

namespace fs = std::filesystem;

namespace {

EVP_MD_CTX* md(void* ctx) {
  return static_cast<EVP_MD_CTX*>(ctx);
}

bool needs_escape(std::string_view path) {
  return path.find_first_of("\\\n") != std::string_view::npos;
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(md(ctx_), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL cannot start a SHA-256 digest");
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(md(ctx_));
}

void Sha256::update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(md(ctx_), data, size) != 1) throw std::runtime_error("OpenSSL SHA-256 update failed");
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(md(ctx_), digest, &size) != 1) throw std::runtime_error("OpenSSL SHA-256 final failed");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex_digest();
}

std::string sha256_file_hex(const fs::path& path, std::uint64_t* bytes) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw_system_error(errno, "cannot open", path);
  Sha256 h;
  thread_local std::vector<char> buffer(std::size_t{1} << 20);  // one per thread, not per file
  for (;;) {
    const ssize_t got = ::read(fd.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_system_error(errno, "cannot read", path);
    if (got == 0) break;
    h.update(buffer.data(), static_cast<std::size_t>(got));
    if (bytes != nullptr) *bytes += static_cast<std::uint64_t>(got);
  }
  return h.hex_digest();
}

std::string sha256sums_text(std::vector<FileDigest> files) {
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  std::string out;
  for (const auto& f : files) {
    if (!needs_escape(f.path)) {
      out += f.hex + "  " + f.path + "\n";
      continue;
    }
    std::string escaped;
    for (const char c : f.path) escaped += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
    out += "\\" + f.hex + "  " + escaped + "\n";
  }
  return out;
}

std::vector<FileDigest> parse_sha256sums(std::string_view text) {
  std::vector<FileDigest> out;
  std::size_t number = 0;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++number;
    const auto bad = [&](const std::string& why) {
      return std::invalid_argument("SHA256SUMS line " + std::to_string(number) + ": " + why);
    };
    const bool escaped = !line.empty() && line.front() == '\\';
    if (escaped) line.remove_prefix(1);
    if (line.size() < 67 || line.substr(64, 2) != "  ") throw bad("not `<64 hex digits>  <path>`");
    const std::string_view hex = line.substr(0, 64);
    if (!std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
      throw bad("the digest is not 64 lowercase hex digits");
    std::string path;
    const std::string_view raw = line.substr(66);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (escaped && raw[i] == '\\' && i + 1 < raw.size()) {
        path += raw[++i] == 'n' ? '\n' : raw[i];
      } else {
        path += raw[i];
      }
    }
    if (path.front() == '/' || path == ".." || path.starts_with("../") || path.find("/../") != std::string::npos ||
        path.ends_with("/.."))
      throw bad("the path leaves the job directory");
    out.push_back({std::move(path), std::string(hex)});
  }
  return out;
}

std::string_view to_string(VerifyProblem::Kind kind) {
  switch (kind) {
    case VerifyProblem::Kind::missing:
      return "missing";
    case VerifyProblem::Kind::changed:
      return "changed";
    case VerifyProblem::Kind::extra:
      return "extra";
    case VerifyProblem::Kind::unreadable:
      return "unreadable";
  }
  return "unreadable";
}

VerifyReport verify_job_dir(const fs::path& dir, unsigned threads, const VerifyProgress& progress) {
  VerifyReport report;
  using Kind = VerifyProblem::Kind;
  std::vector<FileDigest> listed;
  try {
    const UniqueFd fd(::open((dir / sums_file_name).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      report.problems.push_back({errno == ENOENT ? Kind::missing : Kind::unreadable, std::string(sums_file_name),
                                 errno == ENOENT ? "" : std::strerror(errno)});
      return report;
    }
    std::string text;
    char buffer[65536];
    for (ssize_t got; (got = ::read(fd.get(), buffer, sizeof buffer)) != 0;) {
      if (got < 0) throw_system_error(errno, "cannot read", dir / sums_file_name);
      text.append(buffer, static_cast<std::size_t>(got));
    }
    listed = parse_sha256sums(text);
  } catch (const std::exception& e) {
    report.problems.push_back({Kind::unreadable, std::string(sums_file_name), e.what()});
    return report;
  }

  std::mutex mutex;
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i = next++; i < listed.size(); i = next++) {
      const FileDigest& want = listed[i];
      std::uint64_t bytes = 0;
      std::optional<VerifyProblem> problem;
      std::error_code ec;
      const auto status = fs::symlink_status(dir / want.path, ec);
      if (!fs::exists(status)) {
        problem = VerifyProblem{Kind::missing, want.path, {}};
      } else if (!fs::is_regular_file(status)) {
        problem = VerifyProblem{Kind::changed, want.path, "no longer a regular file"};
      } else {
        try {
          if (sha256_file_hex(dir / want.path, &bytes) != want.hex)
            problem = VerifyProblem{Kind::changed, want.path, {}};
        } catch (const std::exception& e) {
          problem = VerifyProblem{Kind::unreadable, want.path, e.what()};
        }
      }
      const std::lock_guard lock(mutex);
      ++report.files;
      report.bytes += bytes;
      if (problem) report.problems.push_back(std::move(*problem));
      if (progress) progress(report.files, report.bytes);
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < std::max(threads, 1U) && t < listed.size(); ++t) pool.emplace_back(work);
    work();
  }

  std::map<std::string, bool> known;
  for (const auto& f : listed) known[f.path] = true;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory() && !it->is_symlink()) continue;
    const std::string rel = it->path().lexically_relative(dir).generic_string();
    if (rel == sums_file_name || known.count(rel) > 0) continue;
    report.problems.push_back({Kind::extra, rel, {}});
  }
  std::sort(report.problems.begin(), report.problems.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  return report;
}

}  // namespace biomero_reactor
