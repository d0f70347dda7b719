// A file descriptor with the durability calls the job needs: whole writes, fdatasync, truncate;
// and replace_file(), the write-temp / fsync / rename / fsync-directory step that makes a results
// file appear complete or not at all. Errors throw hs::Error naming the file and errno's text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hs {

class PosixFile {
 public:
  enum class Mode {
    read,    // existing file, read only
    append,  // existing file, writes go to the end
    create,  // new or truncated file, write only
  };
  PosixFile() = default;
  PosixFile(const std::string& path, Mode mode);
  ~PosixFile();
  PosixFile(PosixFile&& o) noexcept;
  PosixFile& operator=(PosixFile&& o) noexcept;
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  void write_all(const void* data, size_t bytes);  // retries short writes and EINTR
  // Reads up to `bytes`; returns how many were read (0 at the end of the file).
  size_t read_some(void* data, size_t bytes);
  void seek(uint64_t offset);     // where the next read_some starts
  void sync();                    // fdatasync: the data written so far is on disk
  void truncate(uint64_t bytes);  // and moves the write position there for append
  uint64_t size_bytes() const;
  void close();  // throws if the close reports a write error

 private:
  int fd_ = -1;
  std::string path_;
};

// fsyncs the directory holding `path`, so that a rename or create in it survives a crash.
void sync_parent_directory(const std::string& path);

// Makes `tmp_path` (fully written and closed) the file `final_path`: fsync, rename over any
// old file, fsync of the directory. A reader sees the old file or the new one, never a mix.
void replace_file(const std::string& tmp_path, const std::string& final_path);

}  // namespace hs
