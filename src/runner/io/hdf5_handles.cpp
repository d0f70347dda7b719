#include "runner/io/hdf5_handles.h"

#include "util/error.h"

namespace hs {

H5Id::H5Id(hid_t id, herr_t (*close)(hid_t), const std::string& what) : id_(id), close_(close) {
  HS_CHECK(id >= 0, "HDF5: cannot ", what);
}

H5Id& H5Id::operator=(H5Id&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0) close_(id_);
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}

void H5Id::close(const std::string& what) {
  const herr_t rc = close_(id_);
  id_ = -1;
  HS_CHECK(rc >= 0, "HDF5: cannot ", what);
}

void silence_hdf5_errors() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

void h5_check(herr_t rc, const std::string& what) {
  HS_CHECK(rc >= 0, "HDF5: cannot ", what);
}

H5Id vlen_string_type() {
  H5Id t(H5Tcopy(H5T_C_S1), H5Tclose, "copy the string type");
  h5_check(H5Tset_size(t.get(), H5T_VARIABLE), "make a variable-length string type");
  h5_check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "set the string type to UTF-8");
  return t;
}

H5Id make_group(hid_t parent, const char* name) {
  return H5Id(H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
              cat("create group ", name));
}

void make_growing_column(hid_t group, const char* name, hid_t type, hsize_t chunk_rows) {
  hsize_t zero = 0, unlimited = H5S_UNLIMITED;
  H5Id space(H5Screate_simple(1, &zero, &unlimited), H5Sclose, "make a growing dataspace");
  H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "make a dataset property list");
  h5_check(H5Pset_chunk(dcpl.get(), 1, &chunk_rows), cat("set the chunk size of ", name));
  H5Id d(H5Dcreate2(group, name, type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose,
         cat("create dataset ", name));
}

void write_strings(hid_t group, const char* name, const std::vector<std::string>& v) {
  std::vector<const char*> ptrs;
  for (const std::string& s : v) ptrs.push_back(s.c_str());
  H5Id t = vlen_string_type();
  hsize_t n = v.size();
  H5Id space(H5Screate_simple(1, &n, nullptr), H5Sclose, cat("make the dataspace of ", name));
  H5Id d(H5Dcreate2(group, name, t.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
         H5Dclose, cat("create dataset ", name));
  h5_check(H5Dwrite(d.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
           cat("write dataset ", name));
}

std::optional<std::vector<std::string>> read_strings(hid_t group, const char* name) {
  if (H5Lexists(group, name, H5P_DEFAULT) <= 0) return std::nullopt;
  H5Id d(H5Dopen2(group, name, H5P_DEFAULT), H5Dclose, cat("open dataset ", name));
  H5Id space(H5Dget_space(d.get()), H5Sclose, cat("get the dataspace of ", name));
  if (H5Sget_simple_extent_ndims(space.get()) != 1) return std::nullopt;
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  H5Id file_type(H5Dget_type(d.get()), H5Tclose, cat("get the type of ", name));
  if (H5Tget_class(file_type.get()) != H5T_STRING || H5Tis_variable_str(file_type.get()) <= 0)
    return std::nullopt;
  H5Id t = vlen_string_type();
  std::vector<char*> p(n, nullptr);
  if (n > 0 && H5Dread(d.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) < 0)
    return std::nullopt;
  std::vector<std::string> out;
  for (char* s : p) out.emplace_back(s ? s : "");
  if (n > 0) H5Dvlen_reclaim(t.get(), space.get(), H5P_DEFAULT, p.data());
  return out;
}

// Attributes are replaced whole: a checkpoint sets them again.
static void drop_attr(hid_t obj, const char* name) {
  const htri_t there = H5Aexists(obj, name);
  h5_check(there, cat("look up attribute ", name));
  if (there > 0) h5_check(H5Adelete(obj, name), cat("replace attribute ", name));
}

void write_string_attr(hid_t obj, const char* name, const std::string& value) {
  drop_attr(obj, name);
  H5Id t = vlen_string_type();
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose, "make a scalar dataspace");
  H5Id a(H5Acreate2(obj, name, t.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
         cat("create attribute ", name));
  const char* p = value.c_str();
  h5_check(H5Awrite(a.get(), t.get(), &p), cat("write attribute ", name));
}

// Integer attributes keep their place: H5Awrite over the old value.
void write_int_attr(hid_t obj, const char* name, int64_t value) {
  const htri_t there = H5Aexists(obj, name);
  h5_check(there, cat("look up attribute ", name));
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose, "make a scalar dataspace");
  H5Id a(there > 0 ? H5Aopen(obj, name, H5P_DEFAULT)
                   : H5Acreate2(obj, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
         H5Aclose, cat("create attribute ", name));
  h5_check(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), cat("write attribute ", name));
}

std::optional<int64_t> read_int_attr(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  H5Id a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, cat("open attribute ", name));
  H5Id t(H5Aget_type(a.get()), H5Tclose, cat("get the type of attribute ", name));
  if (H5Tget_class(t.get()) != H5T_INTEGER) return std::nullopt;
  int64_t v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_INT64, &v) < 0) return std::nullopt;
  return v;
}

std::optional<std::string> read_string_attr(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  H5Id a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, cat("open attribute ", name));
  H5Id ft(H5Aget_type(a.get()), H5Tclose, cat("get the type of attribute ", name));
  if (H5Tget_class(ft.get()) != H5T_STRING || H5Tis_variable_str(ft.get()) <= 0)
    return std::nullopt;
  H5Id t = vlen_string_type();
  char* p = nullptr;
  if (H5Aread(a.get(), t.get(), &p) < 0) return std::nullopt;
  std::string v = p ? p : "";
  H5free_memory(p);
  return v;
}

}  // namespace hs
