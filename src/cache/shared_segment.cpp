#include "cache/shared_segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cache/memory_pool.h"
#include "util/error.h"

namespace hs {
namespace {

std::string prefix_of_uid() {
  return "hybridserve-w-" + std::to_string(geteuid()) + "-";
}

std::string fresh_name() {
  unsigned char r[16];
  size_t got = 0;
  while (got < sizeof r) {
    const ssize_t n = getrandom(r + got, sizeof r - got, 0);
    if (n < 0 && errno == EINTR) continue;
    HS_CHECK(n > 0, "cannot draw a random segment name: ", std::strerror(errno));
    got += static_cast<size_t>(n);
  }
  std::string hex;
  char b[3];
  for (unsigned char c : r) {
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  return prefix_of_uid() + std::to_string(getpid()) + "-" + hex;
}

std::string free_space(const std::string& dir) {
  struct statvfs v {};
  if (statvfs(dir.c_str(), &v) != 0) return "unknown";
  return format_gib(double(v.f_bavail) * double(v.f_frsize));
}

// Rank 0: the file, its bytes reserved. Throws with what to change.
int create_file(const std::string& path, const std::string& dir, size_t bytes) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) {
      struct stat st {};
      const std::string owner =
          ::lstat(path.c_str(), &st) == 0 ? " (owner uid " + std::to_string(st.st_uid) + ")" : "";
      fail("cannot make the node's shared weight segment '", path, "': the name exists already",
           owner,
           ". A segment this job did not make is never opened; if it is a leftover of "
           "yours, remove it");
    }
    fail("cannot make the node's shared weight segment '", path, "': ", std::strerror(err),
         ". Give a writable tmpfs in HYBRIDSERVE_SHM_DIR, or run with --share-weights none "
         "(one copy of the weights per rank)");
  }
  // The mode given to open() may be narrowed by the umask, never widened; set it exactly.
  int err = ::fchmod(fd, 0600) == 0 ? 0 : errno;
  if (err == 0) err = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  if (err != 0) {
    ::close(fd);
    ::unlink(path.c_str());
    if (err == ENOSPC)
      fail("the node's shared weight segment needs ", format_gib(double(bytes)), " in '", dir,
           "' (a tmpfs), which has ", free_space(dir),
           " free. Enlarge it (docker run --shm-size=..., or mount -o remount,size=...G ", dir,
           "), point HYBRIDSERVE_SHM_DIR at a larger tmpfs, or run with --share-weights none "
           "(one copy of the weights per rank)");
    fail("cannot reserve ", format_gib(double(bytes)), " for the node's shared weight segment '",
         path, "': ", std::strerror(err));
  }
  return fd;
}

// Another rank: the file rank 0 made, checked before it is trusted.
int open_file(const std::string& path, size_t bytes) {
  const int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  HS_CHECK(fd >= 0, "cannot open the node's shared weight segment '", path,
           "': ", std::strerror(errno));
  struct stat st {};
  const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
                  (st.st_mode & 0777) == 0600 && static_cast<size_t>(st.st_size) == bytes;
  if (!ok) {
    ::close(fd);
    fail("the node's shared weight segment '", path, "' is not the one this job made (uid ",
         st.st_uid, ", mode ", std::to_string(st.st_mode & 0777), ", ", st.st_size,
         " bytes; expected uid ", geteuid(), ", mode 600, ", bytes, " bytes): refusing to use it");
  }
  return fd;
}

}  // namespace

SegmentOptions SegmentOptions::from_env() {
  SegmentOptions o;
  if (const char* d = std::getenv("HYBRIDSERVE_SHM_DIR"); d && *d) o.dir = d;
  if (const char* n = std::getenv("HYBRIDSERVE_SHM_NAME"); n && *n) o.name = n;
  return o;
}

int remove_stale_segments(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  const std::string prefix = prefix_of_uid();
  int removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const long pid = std::strtol(rest.c_str(), nullptr, 10);
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (pid <= 0 || ::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != geteuid())
      continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // its maker lives
    if (::unlink(path.c_str()) == 0) {
      std::fprintf(stderr, "hybridserve: removed '%s', a weight segment left by a killed job\n",
                   path.c_str());
      ++removed;
    }
  }
  ::closedir(d);
  return removed;
}

SharedSegment::SharedSegment(NodeGroup& g, size_t bytes, const SegmentOptions& o) : bytes_(bytes) {
  HS_CHECK(bytes > 0, "a shared segment needs at least one byte");
  const bool maker = g.rank() == 0;
  int fd = -1;
  together(g, "making the node's shared weight segment", [&] {
    if (!maker) return;
    remove_stale_segments(o.dir);
    path_ = o.dir + "/" + (o.name.empty() ? fresh_name() : o.name);
    fd = create_file(path_, o.dir, bytes);
  });
  path_ = g.broadcast(path_);
  try {
    together(g, "mapping the node's shared weight segment", [&] {
      if (!maker) fd = open_file(path_, bytes);
      // Populated: every rank maps every page from the start, so the first step's loads take
      // no page faults and each rank is charged 1/N of the segment from the start.
      void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
      const int err = errno;
      ::close(fd);
      fd = -1;
      HS_CHECK(p != MAP_FAILED, "cannot map the node's shared weight segment '", path_, "' (",
               format_gib(double(bytes)), "): ", std::strerror(err));
      base_ = p;
    });
  } catch (...) {
    if (fd >= 0) ::close(fd);
    if (maker) ::unlink(path_.c_str());
    if (base_) ::munmap(base_, bytes_);
    throw;
  }
  // Every rank maps it: the name is needed no more.
  if (maker) ::unlink(path_.c_str());
}

SharedSegment::~SharedSegment() {
  if (base_) ::munmap(base_, bytes_);
}

void SharedSegment::make_read_only() {
  HS_CHECK(::mprotect(base_, bytes_, PROT_READ) == 0,
           "cannot make the shared weight segment read-only: ", std::strerror(errno));
}

}  // namespace hs
