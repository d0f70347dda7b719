#include "runner/io/posix_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "util/error.h"

namespace hs {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

std::string parent_of(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

}  // namespace

PosixFile::PosixFile(const std::string& path, Mode mode) : path_(path) {
  int flags = O_CLOEXEC;
  switch (mode) {
    case Mode::read:
      flags |= O_RDONLY;
      break;
    case Mode::append:
      flags |= O_WRONLY | O_APPEND;
      break;
    case Mode::create:
      flags |= O_WRONLY | O_CREAT | O_TRUNC;
      break;
  }
  fd_ = ::open(path.c_str(), flags, 0644);
  if (fd_ < 0) fail("cannot open '", path, "': ", errno_text());
}

PosixFile::~PosixFile() {
  if (fd_ >= 0) ::close(fd_);
}

PosixFile::PosixFile(PosixFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) {
  o.fd_ = -1;
}

PosixFile& PosixFile::operator=(PosixFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

void PosixFile::write_all(const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write '", path_, "': ", errno_text());
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
}

size_t PosixFile::read_some(void* data, size_t bytes) {
  for (;;) {
    const ssize_t n = ::read(fd_, data, bytes);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) fail("cannot read '", path_, "': ", errno_text());
  }
}

void PosixFile::seek(uint64_t offset) {
  HS_CHECK(::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) >= 0, "cannot seek in '", path_,
           "': ", std::strerror(errno));
}

void PosixFile::sync() {
  if (::fdatasync(fd_) != 0) fail("cannot sync '", path_, "' to disk: ", errno_text());
}

void PosixFile::truncate(uint64_t bytes) {
  if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0)
    fail("cannot truncate '", path_, "': ", errno_text());
}

uint64_t PosixFile::size_bytes() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) fail("cannot stat '", path_, "': ", errno_text());
  return static_cast<uint64_t>(st.st_size);
}

void PosixFile::close() {
  if (fd_ < 0) return;
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail("cannot close '", path_, "': ", errno_text());
}

void sync_parent_directory(const std::string& path) {
  const std::string dir = parent_of(path);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory '", dir, "': ", errno_text());
  const int rc = ::fsync(fd);
  const std::string why = errno_text();
  ::close(fd);
  if (rc != 0) fail("cannot sync directory '", dir, "': ", why);
}

void replace_file(const std::string& tmp_path, const std::string& final_path) {
  {
    const int fd = ::open(tmp_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open '", tmp_path, "': ", errno_text());
    const int rc = ::fsync(fd);
    const std::string why = errno_text();
    ::close(fd);
    if (rc != 0) fail("cannot sync '", tmp_path, "' to disk: ", why);
  }
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0)
    fail("cannot rename '", tmp_path, "' to '", final_path, "': ", errno_text());
  sync_parent_directory(final_path);
}

}  // namespace hs
