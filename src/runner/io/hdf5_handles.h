// HDF5 C API handles that close themselves, and the small reads and writes the results file, the
// trace file and the report share (attributes, string tables, growing columns). Failures throw
// hs::Error saying what could not be done; HDF5's own error stack printing is turned off by the
// callers that open files (silence_hdf5_errors).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hs {

// An HDF5 identifier that closes itself.
class H5Id {
 public:
  H5Id(hid_t id, herr_t (*close)(hid_t), const std::string& what);
  ~H5Id() {
    if (id_ >= 0) close_(id_);
  }
  H5Id(H5Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  H5Id& operator=(H5Id&& o) noexcept;
  hid_t get() const { return id_; }
  // Closes now and reports a failure (for the file: that is when data reaches the disk).
  void close(const std::string& what);

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// Errors are reported as hs::Error with context; HDF5's own stack dump would only add noise.
void silence_hdf5_errors();

void h5_check(herr_t rc, const std::string& what);

// A variable-length UTF-8 string type.
H5Id vlen_string_type();

H5Id make_group(hid_t parent, const char* name);
// A 1-D dataset that grows by appending, in chunks of `chunk_rows`.
void make_growing_column(hid_t group, const char* name, hid_t type, hsize_t chunk_rows = 1 << 14);
// A fixed-size dataset of strings written whole at creation (e.g. the trace's name tables).
void write_strings(hid_t group, const char* name, const std::vector<std::string>& v);
// The strings of a 1-D string dataset; nullopt when it is not there.
std::optional<std::vector<std::string>> read_strings(hid_t group, const char* name);

// Attributes: strings are replaced whole, integers written over their old value.
void write_string_attr(hid_t obj, const char* name, const std::string& value);
void write_int_attr(hid_t obj, const char* name, int64_t value);
// nullopt when the attribute is missing or not of a readable type.
std::optional<int64_t> read_int_attr(hid_t obj, const char* name);
std::optional<std::string> read_string_attr(hid_t obj, const char* name);

}  // namespace hs
