#include "biomero_reactor/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "biomero_reactor/fs_util.hpp"

namespace biomero_reactor {

namespace fs = std::filesystem;

namespace {

// Large enough that a write syscall is never the bottleneck, small enough to stay cheap.
constexpr std::size_t data_buffer_size = std::size_t{1} << 20;
constexpr std::size_t max_path_bytes = 4096;
constexpr off_t writeback_step = off_t{8} << 20;

struct ReadArchiveFree {
  void operator()(archive* a) const noexcept { archive_read_free(a); }
};
struct WriteArchiveFree {
  void operator()(archive* a) const noexcept { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const noexcept { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<archive, ReadArchiveFree>;
using WriteArchive = std::unique_ptr<archive, WriteArchiveFree>;
using Entry = std::unique_ptr<archive_entry, EntryFree>;

std::string libarchive_error(archive* a) {
  const char* message = archive_error_string(a);
  return message != nullptr ? message : "unknown libarchive error";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if there is none
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) {
    return 1;
  }
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (i + length > s.size() || byte(i + 1) < low || byte(i + 1) > high) {
    return 0;
  }
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) {
      return 0;
    }
  }
  return length;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t length = utf8_sequence_length(s, i);
    if (length == 0) {
      return false;
    }
    i += length;
  }
  return true;
}

// A name fit for messages and JSON logs: valid UTF-8 is kept, anything else (and
// control characters) becomes \xNN.
std::string printable_name(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size();) {
    const std::size_t length = utf8_sequence_length(raw, i);
    const auto byte = static_cast<unsigned char>(raw[i]);
    if (length == 0 || byte < 0x20 || byte == 0x7F) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", byte);
      out += escaped;
      ++i;
    } else {
      out.append(raw.substr(i, length));
      i += length;
    }
  }
  return out;
}

// CP437, the zip format's charset for names without the UTF-8 flag: 0x80..0xFF.
constexpr char32_t cp437_high[128] = {
    0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, 0x00EA, 0x00EB, 0x00E8, 0x00EF, 0x00EE,
    0x00EC, 0x00C4, 0x00C5, 0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9, 0x00FF, 0x00D6,
    0x00DC, 0x00A2, 0x00A3, 0x00A5, 0x20A7, 0x0192, 0x00E1, 0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA,
    0x00BA, 0x00BF, 0x2310, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB, 0x2591, 0x2592, 0x2593, 0x2502,
    0x2524, 0x2561, 0x2562, 0x2556, 0x2555, 0x2563, 0x2551, 0x2557, 0x255D, 0x255C, 0x255B, 0x2510, 0x2514,
    0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F, 0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550,
    0x256C, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256B, 0x256A, 0x2518, 0x250C,
    0x2588, 0x2584, 0x258C, 0x2590, 0x2580, 0x03B1, 0x00DF, 0x0393, 0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4,
    0x03A6, 0x0398, 0x03A9, 0x03B4, 0x221E, 0x03C6, 0x03B5, 0x2229, 0x2261, 0x00B1, 0x2265, 0x2264, 0x2320,
    0x2321, 0x00F7, 0x2248, 0x00B0, 0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2, 0x25A0, 0x00A0,
};

void append_utf8(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

std::string cp437_to_utf8(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (const char c : raw) {
    const auto byte = static_cast<unsigned char>(c);
    append_utf8(out, byte < 0x80 ? char32_t{byte} : cp437_high[byte - 0x80]);
  }
  return out;
}

bool has_control_byte(std::string_view name) {
  return std::any_of(name.begin(), name.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7F;
  });
}

// libarchive converts entry names between the archive's charset and the calling thread's
// locale (nl_langinfo(CODESET)). A daemon that never calls setlocale runs in "C", whose
// charset is ASCII, so every non-ASCII name failed to convert. Archive work runs with a
// UTF-8 LC_CTYPE on its own thread (uselocale), whatever the process locale or the
// environment says; the previous thread locale is restored after.
class Utf8ThreadLocale {
 public:
  Utf8ThreadLocale() {
    static const locale_t utf8 = [] {
      for (const char* name : {"C.UTF-8", "C.utf8", "en_US.UTF-8"}) {
        if (const locale_t found = ::newlocale(LC_CTYPE_MASK, name, locale_t{}); found != locale_t{}) {
          return found;  // kept for the process's lifetime
        }
      }
      return locale_t{};
    }();
    if (utf8 != locale_t{}) {
      previous_ = ::uselocale(utf8);
    }
  }
  ~Utf8ThreadLocale() {
    if (previous_ != locale_t{}) {
      ::uselocale(previous_);
    }
  }
  Utf8ThreadLocale(const Utf8ThreadLocale&) = delete;
  Utf8ThreadLocale& operator=(const Utf8ThreadLocale&) = delete;

 private:
  locale_t previous_{};
};

std::string format_ratio(double ratio) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", ratio);
  return text;
}

std::vector<std::string> split_path(std::string_view name) {
  std::vector<std::string> components;
  while (!name.empty()) {
    const std::size_t slash = name.find('/');
    const std::string_view component = name.substr(0, slash);
    if (!component.empty() && component != ".") {
      components.emplace_back(component);
    }
    if (slash == std::string_view::npos) {
      break;
    }
    name.remove_prefix(slash + 1);
  }
  return components;
}

// Why an entry of this type is refused, or nullptr when it is a file or directory.
const char* refused_type(archive_entry* entry) {
  if (archive_entry_hardlink(entry) != nullptr || archive_entry_hardlink_utf8(entry) != nullptr) {
    return "hard links are not allowed";
  }
  switch (archive_entry_filetype(entry)) {
    case AE_IFREG:
    case AE_IFDIR:
      return nullptr;
    case AE_IFLNK:
      return "symbolic links are not allowed";
    case AE_IFCHR:
    case AE_IFBLK:
      return "device files are not allowed";
    case AE_IFIFO:
      return "FIFOs are not allowed";
    case AE_IFSOCK:
      return "sockets are not allowed";
    default:
      return "unsupported entry type";
  }
}

ReadArchive open_reader(const fs::path& path) {
  ReadArchive reader(archive_read_new());
  if (!reader) {
    throw std::bad_alloc();
  }
  archive* a = reader.get();
  // Every format libarchive reads except mtree (its entries name files on *this* disk,
  // which would copy them into the target) and raw. Zip is read through its central
  // directory only, so a zip cut short is refused instead of read up to the cut.
  archive_read_support_format_7zip(a);
  archive_read_support_format_ar(a);
  archive_read_support_format_cab(a);
  archive_read_support_format_cpio(a);
  archive_read_support_format_empty(a);
  archive_read_support_format_iso9660(a);
  archive_read_support_format_lha(a);
  archive_read_support_format_rar(a);
  archive_read_support_format_rar5(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_warc(a);
  archive_read_support_format_xar(a);
  archive_read_support_format_zip_seekable(a);
  // The compressions libarchive decodes in-process; the others would run programs.
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_compress(a);
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_lz4(a);
  archive_read_support_filter_lzip(a);
  archive_read_support_filter_lzma(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_zstd(a);
  if (archive_read_open_filename(a, path.c_str(), data_buffer_size) != ARCHIVE_OK) {
    throw ArchiveError(
        "", "cannot read \"" + path.string() + "\": " + libarchive_error(a) + " (truncated, or not an archive)");
  }
  return reader;
}

// libarchive 3.6's zip reader misses the end record of a zip that is nothing else (its
// search loop stops one byte short), so the canonical empty zip is recognised here.
bool is_empty_zip(const fs::path& path) {
  constexpr std::size_t end_record_size = 22;
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat file_stat {};
  if (!fd || ::fstat(fd.get(), &file_stat) != 0 || file_stat.st_size != static_cast<off_t>(end_record_size)) {
    return false;
  }
  unsigned char record[end_record_size];
  if (::read(fd.get(), record, end_record_size) != static_cast<ssize_t>(end_record_size)) {
    return false;
  }
  static constexpr unsigned char empty_end_record[end_record_size] = {'P', 'K', 5, 6};
  return std::equal(std::begin(record), std::end(record), std::begin(empty_end_record));
}

[[noreturn]] void fail_create(int error, const std::string& name, const fs::path& target_dir,
                              const fs::path& relative) {
  if (error == EEXIST) {
    throw ArchiveError(name, "duplicate entry: the path already exists");
  }
  if (error == ENAMETOOLONG) {
    throw ArchiveError(name, "a name in the path is too long for the file system");
  }
  throw_system_error(error, "cannot create", target_dir / relative);
}

fs::path relative_path(const std::vector<std::string>& components, std::size_t count) {
  fs::path path;
  for (std::size_t i = 0; i < count; ++i) {
    path /= components[i];
  }
  return path;
}

// The entry's name in UTF-8 (the caller runs under Utf8ThreadLocale, so libarchive's
// conversion target is UTF-8). A zip name without the UTF-8 flag whose bytes are not
// valid UTF-8 is read as CP437, as the zip format defines (and Python's zipfile and
// Windows do); in other formats a name that is not UTF-8 stays as it is and is refused
// at admission. Throws if libarchive could not represent the name at all (a name
// flagged UTF-8 that is not).
std::string entry_name(archive* reader, archive_entry* entry, std::uint64_t position) {
  const char* name = archive_entry_pathname(entry);
  if (name == nullptr) {
    name = archive_entry_pathname_utf8(entry);
  }
  if (name == nullptr) {
    throw ArchiveError("#" + std::to_string(position),
                       "name is not valid UTF-8 (though the entry says it is): " + libarchive_error(reader));
  }
  if (!is_valid_utf8(name) && (archive_format(reader) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_ZIP) {
    return cp437_to_utf8(name);
  }
  return name;
}

// An entry that becomes a regular file, admitted before any of its data is read.
struct PlannedFile {
  std::uint64_t position = 0;  // among the archive's entries, from 1
  std::string name;            // raw, checked; split again when written (keeps the plan small)
};

// The caps on what the archive produces. The threads writing data reserve each block
// before writing it, so the caps hold whatever the number of threads.
class Budget {
 public:
  Budget(const ExtractLimits& limits, std::uint64_t archive_size) : limits_(limits), archive_size_(archive_size) {}

  // `total`: the bytes the headers admitted so far announce.
  void check_declared(std::uint64_t total, const std::string& name) const {
    check(total, name, " (as declared in the entry's header)");
  }

  void reserve(std::uint64_t bytes, const std::string& name) { check(written_.fetch_add(bytes) + bytes, name, ""); }

  [[nodiscard]] std::uint64_t written() const { return written_.load(); }

 private:
  void check(std::uint64_t total, const std::string& name, const std::string& how) const {
    if (total > limits_.max_total_bytes) {
      throw ArchiveError(name, "uncompressed size exceeds limits.max_total_bytes (" +
                                   std::to_string(limits_.max_total_bytes) + " bytes)" + how);
    }
    if (static_cast<double>(total) > limits_.max_ratio * static_cast<double>(archive_size_)) {
      throw ArchiveError(name, "compression ratio exceeds limits.max_ratio (" + format_ratio(limits_.max_ratio) +
                                   "): " + std::to_string(total) + " bytes from an archive of " +
                                   std::to_string(archive_size_) + " bytes" + how);
    }
  }

  ExtractLimits limits_;
  std::uint64_t archive_size_;
  std::atomic<std::uint64_t> written_{0};
};

// Directories below the target, opened (and created as needed) one component at a time
// with O_NOFOLLOW, so a symlink on disk is never followed. The last one stays open:
// entries usually come directory by directory. One per thread.
class Directories {
 public:
  Directories(int root, fs::path target_dir) : root_(root), target_dir_(std::move(target_dir)) {}

  // The directory holding components[0, count).
  int open(const std::vector<std::string>& components, std::size_t count, const std::string& name) {
    if (count == 0) {
      return root_;
    }
    std::string key = relative_path(components, count).string();
    if (cached_fd_ && key == cached_key_) {
      return cached_fd_.get();
    }
    UniqueFd current;
    for (std::size_t i = 0; i < count; ++i) {
      current = open_one(i == 0 ? root_ : current.get(), components, i + 1, name);
    }
    cached_key_ = std::move(key);
    cached_fd_ = std::move(current);
    return cached_fd_.get();
  }

  [[nodiscard]] const fs::path& target_dir() const { return target_dir_; }

 private:
  [[nodiscard]] UniqueFd open_one(int parent, const std::vector<std::string>& components, std::size_t count,
                                  const std::string& name) const {
    const char* component = components[count - 1].c_str();
    for (bool created = false;; created = true) {
      UniqueFd fd(::openat(parent, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (fd) {
        return fd;
      }
      if (errno == ENOENT && !created) {
        if (::mkdirat(parent, component, 0755) != 0 && errno != EEXIST) {
          fail_create(errno, name, target_dir_, relative_path(components, count));
        }
        continue;
      }
      if (errno == ENOTDIR || errno == ELOOP) {
        throw ArchiveError(name, "\"" + relative_path(components, count).string() + "\" is not a directory");
      }
      fail_create(errno, name, target_dir_, relative_path(components, count));
    }
  }

  int root_;
  fs::path target_dir_;
  std::string cached_key_;
  UniqueFd cached_fd_;
};

// Everything decided from the headers alone, in archive order, on one thread: the name,
// the type, the entry cap, the declared sizes, and the shape of the tree (each path is
// one file or one directory). Creates the directories. A refusal here comes before any
// of the entry's data is written.
class Admission {
 public:
  Admission(const ExtractLimits& limits, Budget& budget, Directories& directories)
      : limits_(limits), budget_(budget), directories_(directories) {}

  // The file to write for this entry, or nothing (a directory, now created).
  std::optional<PlannedFile> admit(archive_entry* entry, const std::string& name, std::uint64_t position) {
    if (position > limits_.max_entries) {
      throw ArchiveError(name, "more than " + std::to_string(limits_.max_entries) + " entries in the archive");
    }
    if (!is_valid_utf8(name)) {
      throw ArchiveError(name, "name is not valid UTF-8 (names must be UTF-8; a zip's may also be CP437)");
    }
    if (has_control_byte(name)) {
      throw ArchiveError(name, "name holds a control character");
    }
    if (name.size() > max_path_bytes) {
      throw ArchiveError(name, "path is longer than " + std::to_string(max_path_bytes) + " bytes");
    }
    if (name.starts_with('/')) {
      throw ArchiveError(name, "absolute paths are not allowed");
    }
    std::vector<std::string> components = split_path(name);
    if (std::find(components.begin(), components.end(), "..") != components.end()) {
      throw ArchiveError(name, "path escapes the job directory");
    }
    if (const char* reason = refused_type(entry)) {
      throw ArchiveError(name, reason);
    }
    const bool is_directory = archive_entry_filetype(entry) == AE_IFDIR;
    if (components.empty()) {
      if (is_directory) {
        return std::nullopt;  // "./": the target directory itself
      }
      throw ArchiveError(name, "empty path");
    }
    claim_path(components, is_directory, name);
    if (is_directory) {
      static_cast<void>(directories_.open(components, components.size(), name));
      return std::nullopt;
    }
    if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0) {
      declared_ += static_cast<std::uint64_t>(archive_entry_size(entry));
      budget_.check_declared(declared_, name);
    }
    static_cast<void>(directories_.open(components, components.size() - 1, name));
    return PlannedFile{position, name};
  }

 private:
  // Records the entry's path and its parents, refusing a path that is already a file, or
  // a file where a directory is. The tree is kept as (parent node, name) -> node, so its
  // memory grows with the names' length, not with the square of their depth; every path
  // it holds, implied parents included, counts against max_entries (each is an inode).
  void claim_path(const std::vector<std::string>& components, bool is_directory, const std::string& name) {
    std::size_t node = 0;  // the target directory
    for (std::size_t i = 0; i < components.size(); ++i) {
      const bool last = i + 1 == components.size();
      const bool wants_directory = !last || is_directory;
      std::string key(reinterpret_cast<const char*>(&node), sizeof node);
      key += components[i];
      const auto [it, inserted] = children_.try_emplace(std::move(key), is_directory_.size());
      node = it->second;
      if (inserted) {
        is_directory_.push_back(wants_directory);
        if (children_.size() > limits_.max_entries) {
          throw ArchiveError(name, "more than " + std::to_string(limits_.max_entries) +
                                       " files and directories in the archive (counting the directories its paths "
                                       "imply)");
        }
        continue;
      }
      if (is_directory_[node] && wants_directory) {
        continue;
      }
      if (!is_directory_[node] && wants_directory) {
        throw ArchiveError(name, "\"" + relative_path(components, i + 1).string() + "\" is not a directory");
      }
      throw ArchiveError(name, "duplicate entry: the path already exists");
    }
  }

  const ExtractLimits& limits_;
  Budget& budget_;
  Directories& directories_;
  std::unordered_map<std::string, std::size_t> children_;  // parent node's bytes + name -> node
  std::vector<bool> is_directory_{true};                   // by node; node 0 is the target

  std::uint64_t declared_ = 0;
};

// Starts writing these bytes to disk without waiting, so the disk works while the
// archive is decompressed and the final syncfs finds little left to do. A hint only.
void start_writeback(int fd, off_t offset, off_t length) {
  static_cast<void>(::sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE));
}

// Where the files' digests go, from every writing thread.
struct Digests {
  bool wanted = true;
  std::mutex mutex;
  std::vector<FileDigest> files;
};

// Writes the data of the entry `reader` is positioned at into its new file, hashing it on
// the way when digests are wanted. Returns early (leaving the file short) once `stop` is
// set: another thread failed.
void write_file(archive* reader, Directories& directories, const PlannedFile& file, Budget& budget,
                std::vector<char>& buffer, const std::atomic<bool>& stop, Digests& digests) {
  const std::vector<std::string> components = split_path(file.name);
  const fs::path relative = relative_path(components, components.size());
  const fs::path path = directories.target_dir() / relative;
  const int parent = directories.open(components, components.size() - 1, file.name);
  const UniqueFd out(
      ::openat(parent, components.back().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!out) {
    fail_create(errno, file.name, directories.target_dir(), relative);
  }
  off_t written = 0;
  off_t flushed = 0;
  std::optional<Sha256> hash;
  if (digests.wanted) hash.emplace();
  while (!stop.load(std::memory_order_relaxed)) {
    const la_ssize_t got = archive_read_data(reader, buffer.data(), buffer.size());
    if (got < 0) {
      throw ArchiveError(file.name, libarchive_error(reader));
    }
    if (got == 0) {
      break;
    }
    budget.reserve(static_cast<std::uint64_t>(got), file.name);
    write_all(out.get(), {buffer.data(), static_cast<std::size_t>(got)}, path);
    if (hash) hash->update(buffer.data(), static_cast<std::size_t>(got));
    written += static_cast<off_t>(got);
    if (written - flushed >= writeback_step) {
      start_writeback(out.get(), flushed, written - flushed);
      flushed = written;
    }
  }
  if (flushed > 0 && written > flushed) {
    start_writeback(out.get(), flushed, written - flushed);
  }
  if (hash && !stop.load(std::memory_order_relaxed)) {
    FileDigest digest{relative.generic_string(), hash->hex_digest()};
    const std::lock_guard lock(digests.mutex);
    digests.files.push_back(std::move(digest));
  }
}

// Reads the entries' headers in order, admitting each; streams the data of a file
// entry right away, except in a zip: its entries can be read independently, so the
// files are written afterwards by several threads, each with its own reader, taking
// the next file not yet taken (inflating is what takes the time, and it is single-
// threaded per entry).
class Extraction {
 public:
  Extraction(const fs::path& archive_path, const fs::path& target_dir, const ExtractLimits& limits)
      : archive_path_(archive_path), target_dir_(target_dir), limits_(limits) {
    digests_.wanted = limits.checksums;
    struct stat archive_stat {};
    if (::stat(archive_path.c_str(), &archive_stat) != 0) {
      throw_system_error(errno, "cannot stat", archive_path);
    }
    budget_.emplace(limits, static_cast<std::uint64_t>(archive_stat.st_size));
    root_ = UniqueFd(::open(target_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root_) {
      throw_system_error(errno, "cannot open target directory", target_dir);
    }
  }

  ExtractStats run() {
    const Utf8ThreadLocale utf8;
    const ReadArchive reader = open_reader(archive_path_);
    Directories directories(root_.get(), target_dir_);
    Admission admission(limits_, *budget_, directories);
    std::vector<char> buffer(data_buffer_size);
    const std::atomic<bool> never{false};
    std::vector<PlannedFile> deferred;
    std::string previous;
    std::uint64_t position = 0;
    for (;;) {
      archive_entry* entry = nullptr;
      const int status = archive_read_next_header(reader.get(), &entry);
      if (status == ARCHIVE_EOF) {
        break;
      }
      ++position;
      if (status != ARCHIVE_OK && status != ARCHIVE_WARN) {
        throw ArchiveError("#" + std::to_string(position),
                           (previous.empty() ? std::string("unreadable header: ")
                                             : "unreadable header after \"" + printable_name(previous) + "\": ") +
                               libarchive_error(reader.get()));
      }
      previous = entry_name(reader.get(), entry, position);
      std::optional<PlannedFile> file = admission.admit(entry, previous, position);
      if (!file) {
        continue;
      }
      if ((archive_format(reader.get()) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_ZIP) {
        deferred.push_back(std::move(*file));
      } else {
        write_file(reader.get(), directories, *file, *budget_, buffer, never, digests_);
      }
    }
    const std::size_t threads = write_in_parallel(deferred);
    make_durable();
    return {position, budget_->written(), std::max<std::size_t>(threads, 1), std::move(digests_.files)};
  }

 private:
  // Returns how many threads wrote. Of several failures, the one at the earliest entry
  // is reported, as the one-thread path would.
  std::size_t write_in_parallel(const std::vector<PlannedFile>& files) {
    const std::size_t wanted = std::min(std::max<std::size_t>(limits_.threads, 1), files.size());
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::exception_ptr error;
    std::uint64_t error_position = 0;
    const auto work = [&] {
      std::uint64_t at = 0;
      try {
        write_claimed(files, next, stop, at);
      } catch (...) {
        const std::lock_guard lock(mutex);
        if (!error || at < error_position) {
          error = std::current_exception();
          error_position = at;
        }
        stop = true;
      }
    };
    std::size_t started = 0;
    {
      std::vector<std::jthread> helpers;
      try {
        for (; started + 1 < wanted; ++started) {
          helpers.emplace_back(work);
        }
      } catch (const std::system_error&) {
        // No more threads to be had (EAGAIN): the ones started and this one do the work.
      }
      if (wanted > 0) {
        work();
        ++started;
      }
    }
    if (error) {
      std::rethrow_exception(error);
    }
    return started;
  }

  // Writes files taken from `files` in order with a reader of its own (taken files are
  // increasing, so the reader only moves forward) until none is left or `stop` is set.
  // `at`: the position of the entry being written, for the caller's error ordering.
  void write_claimed(const std::vector<PlannedFile>& files, std::atomic<std::size_t>& next,
                     const std::atomic<bool>& stop, std::uint64_t& at) {
    const Utf8ThreadLocale utf8;
    const ReadArchive reader = open_reader(archive_path_);
    Directories directories(root_.get(), target_dir_);
    std::vector<char> buffer(data_buffer_size);
    std::uint64_t position = 0;
    for (std::size_t taken = next++; taken < files.size() && !stop; taken = next++) {
      const PlannedFile& file = files[taken];
      at = file.position;
      archive_entry* entry = nullptr;
      while (position < file.position) {
        const int status = archive_read_next_header(reader.get(), &entry);
        ++position;
        if (status == ARCHIVE_EOF) {
          throw ArchiveError(file.name, "the archive ended before this entry on the second read (it changed?)");
        }
        if (status != ARCHIVE_OK && status != ARCHIVE_WARN) {
          throw ArchiveError(file.name, "unreadable header on the second read: " + libarchive_error(reader.get()));
        }
      }
      // Paths were checked on the first read and are written from it; this only catches
      // an archive replaced in between, which nothing but the reactor should write.
      if (entry_name(reader.get(), entry, position) != file.name) {
        throw ArchiveError(file.name, "the archive changed while it was extracted");
      }
      write_file(reader.get(), directories, file, *budget_, buffer, stop, digests_);
    }
  }

  // One syncfs(2) of the target's file system makes every file and directory written
  // durable with one journal commit; an fsync per file costs a commit each (1.5x the
  // time for thousands of small files). Since Linux 5.8 it reports write-back errors.
  void make_durable() {
    if (::syncfs(root_.get()) != 0) {
      throw_system_error(errno, "cannot syncfs", target_dir_);
    }
  }

  fs::path archive_path_;
  fs::path target_dir_;
  ExtractLimits limits_;
  Digests digests_;
  std::optional<Budget> budget_;
  UniqueFd root_;
};

struct SourceItem {
  std::string name;
  fs::path path;
  bool directory = false;
};

std::vector<SourceItem> list_source(const fs::path& dir) {
  std::vector<SourceItem> items;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    const fs::file_status status = it->symlink_status();
    std::string name = it->path().lexically_relative(dir).generic_string();
    if (fs::is_symlink(status)) {
      throw ArchiveError(name, "symbolic links are not allowed");
    }
    if (!fs::is_directory(status) && !fs::is_regular_file(status)) {
      throw ArchiveError(name, "not a regular file or directory");
    }
    items.push_back({std::move(name), it->path(), fs::is_directory(status)});
  }
  std::sort(items.begin(), items.end(), [](const SourceItem& a, const SourceItem& b) { return a.name < b.name; });
  return items;
}

void add_to_zip(archive* zip, const SourceItem& item, std::vector<char>& buffer) {
  // O_NONBLOCK: a FIFO put there after the listing must not block the worker.
  const UniqueFd file(::open(item.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!file) {
    if (errno == ELOOP) {
      throw ArchiveError(item.name, "symbolic links are not allowed");
    }
    throw_system_error(errno, "cannot open", item.path);
  }
  struct stat file_stat {};
  if (::fstat(file.get(), &file_stat) != 0) {
    throw_system_error(errno, "cannot stat", item.path);
  }
  if (item.directory ? !S_ISDIR(file_stat.st_mode) : !S_ISREG(file_stat.st_mode)) {
    throw ArchiveError(item.name, "not a regular file or directory");
  }
  const Entry entry(archive_entry_new());
  if (!entry) {
    throw std::bad_alloc();
  }
  if (is_valid_utf8(item.name)) {
    archive_entry_set_pathname_utf8(entry.get(), item.name.c_str());
  } else {
    archive_entry_set_pathname(entry.get(), item.name.c_str());
  }
  archive_entry_set_filetype(entry.get(), item.directory ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(entry.get(), item.directory ? 0755 : 0644);
  archive_entry_set_mtime(entry.get(), file_stat.st_mtim.tv_sec, file_stat.st_mtim.tv_nsec);
  archive_entry_set_size(entry.get(), item.directory ? 0 : file_stat.st_size);
  if (archive_write_header(zip, entry.get()) < ARCHIVE_OK) {
    throw ArchiveError(item.name, libarchive_error(zip));
  }
  if (item.directory) {
    return;
  }
  auto remaining = static_cast<std::uint64_t>(file_stat.st_size);
  while (remaining > 0) {
    const ssize_t got =
        ::read(file.get(), buffer.data(), static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buffer.size())));
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_system_error(errno, "cannot read", item.path);
    }
    if (got == 0) {
      throw ArchiveError(item.name, "file shrank while it was being zipped");
    }
    if (archive_write_data(zip, buffer.data(), static_cast<std::size_t>(got)) != got) {
      throw ArchiveError(item.name, libarchive_error(zip));
    }
    remaining -= static_cast<std::uint64_t>(got);
  }
}

}  // namespace

ArchiveError::ArchiveError(std::string entry_name, std::string_view reason)
    : std::runtime_error(entry_name.empty()
                             ? "archive: " + std::string(reason)
                             : "archive entry \"" + printable_name(entry_name) + "\": " + std::string(reason)),
      entry(printable_name(entry_name)) {}

ExtractStats extract_archive(const fs::path& archive_path, const fs::path& target_dir, const ExtractLimits& limits) {
  if (is_empty_zip(archive_path)) {
    return {};
  }
  return Extraction(archive_path, target_dir, limits).run();
}

void read_local_timezone_once() {
  if (std::getenv("TZ") == nullptr) {
    ::setenv("TZ", ":/etc/localtime", 0);
  }
}

std::uint64_t zip_directory(const fs::path& dir, const fs::path& zip_out) {
  const Utf8ThreadLocale utf8;
  const std::vector<SourceItem> items = list_source(dir);

  const UniqueFd out(::open(zip_out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!out) {
    throw_system_error(errno, "cannot create", zip_out);
  }
  RemoveFileOnFailure cleanup(zip_out);

  const WriteArchive zip(archive_write_new());
  if (!zip) {
    throw std::bad_alloc();
  }
  if (archive_write_set_format_zip(zip.get()) != ARCHIVE_OK ||
      archive_write_zip_set_compression_deflate(zip.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(zip.get(), static_cast<int>(data_buffer_size)) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(zip.get(), 1) != ARCHIVE_OK ||
      archive_write_open_fd(zip.get(), out.get()) != ARCHIVE_OK) {
    throw ArchiveError(zip_out.filename().string(), libarchive_error(zip.get()));
  }
  std::vector<char> buffer(data_buffer_size);
  for (const SourceItem& item : items) {
    add_to_zip(zip.get(), item, buffer);
  }
  if (archive_write_close(zip.get()) != ARCHIVE_OK) {
    const int error = archive_errno(zip.get()) > 0 ? archive_errno(zip.get()) : EIO;
    throw_system_error(error, "cannot write zip (" + libarchive_error(zip.get()) + ")", zip_out);
  }
  if (::fsync(out.get()) != 0) {
    throw_system_error(errno, "cannot fsync", zip_out);
  }
  struct stat zip_stat {};
  if (::fstat(out.get(), &zip_stat) != 0) {
    throw_system_error(errno, "cannot stat", zip_out);
  }
  cleanup.dismiss();
  return static_cast<std::uint64_t>(zip_stat.st_size);
}

}  // namespace biomero_reactor
