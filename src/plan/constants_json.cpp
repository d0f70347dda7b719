#include "plan/constants_json.h"

#include <cmath>
#include <fstream>

#include "util/error.h"

namespace hs {

using nlohmann::json;

json constants_to_json(const CostConstants& k) {
  json gemms = json::array();
  for (const GemmCurve& g : k.gemms)
    gemms.push_back({{"k", g.k}, {"n", g.n}, {"rows", g.rows}, {"ms", g.ms}});
  return {{"h2d_gbps", k.h2d_gbps},
          {"d2h_gbps", k.d2h_gbps},
          {"gemm_tflops", k.gemm_tflops},
          {"mem_gbps", k.mem_gbps},
          {"expand_gbps", k.expand_gbps},
          {"exchange_gbps", k.exchange_gbps},
          {"attention_tflops", k.attention_tflops},
          {"launch_us", k.launch_us},
          {"sustained_slowdown", k.sustained_slowdown},
          {"gemms", gemms}};
}

namespace {

double number_at(const json& j, const std::string& file, const std::string& where, bool positive) {
  HS_CHECK(j.is_number(), file, ": ", where, " must be a number, got ", j.type_name());
  const double x = j.get<double>();
  HS_CHECK(std::isfinite(x) && (positive ? x > 0 : x >= 0), file, ": ", where, " must be ",
           positive ? "positive" : "non-negative", ", got ", x);
  return x;
}

}  // namespace

CostConstants constants_from_json_file(const std::string& file) {
  std::ifstream in(file);
  HS_CHECK(in.good(), file, ": cannot open the constants file");
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e400
    fail(file, ": not JSON (", e.what(), ")");
  }
  const std::string at = doc.is_object() && doc.contains("constants") ? "constants." : "";
  const json& j = at.empty() ? doc : doc["constants"];
  HS_CHECK(j.is_object(), file, ": expected an object of cost constants",
           at.empty() ? "" : " under \"constants\"");
  CostConstants k;
  const struct {
    const char* key;
    double* value;
    bool positive;
  } rates[] = {{"h2d_gbps", &k.h2d_gbps, true},
               {"d2h_gbps", &k.d2h_gbps, true},
               {"gemm_tflops", &k.gemm_tflops, true},
               {"mem_gbps", &k.mem_gbps, true},
               {"expand_gbps", &k.expand_gbps, false},
               {"exchange_gbps", &k.exchange_gbps, false},
               {"attention_tflops", &k.attention_tflops, true},
               {"launch_us", &k.launch_us, false},
               {"sustained_slowdown", &k.sustained_slowdown, true}};
  for (const auto& r : rates)
    if (j.contains(r.key)) *r.value = number_at(j[r.key], file, at + r.key, r.positive);
  if (j.contains("gemms")) {
    const json& gs = j["gemms"];
    HS_CHECK(gs.is_array(), file, ": ", at, "gemms must be an array");
    for (size_t i = 0; i < gs.size(); ++i) {
      const std::string where = at + "gemms[" + std::to_string(i) + "]";
      const json& g = gs[i];
      HS_CHECK(g.is_object() && g.contains("k") && g.contains("n") && g.contains("rows") &&
                   g.contains("ms"),
               file, ": ", where, " must be an object with k, n, rows and ms");
      GemmCurve c;
      c.k = static_cast<int64_t>(number_at(g["k"], file, where + ".k", true));
      c.n = static_cast<int64_t>(number_at(g["n"], file, where + ".n", true));
      HS_CHECK(g["rows"].is_array() && g["ms"].is_array() && !g["rows"].empty() &&
                   g["rows"].size() == g["ms"].size(),
               file, ": ", where, ".rows and .ms must be arrays of one length, at least 1");
      for (size_t r = 0; r < g["rows"].size(); ++r) {
        const std::string row = "[" + std::to_string(r) + "]";
        c.rows.push_back(number_at(g["rows"][r], file, where + ".rows" + row, true));
        c.ms.push_back(number_at(g["ms"][r], file, where + ".ms" + row, true));
        HS_CHECK(r == 0 || c.rows[r] > c.rows[r - 1], file, ": ", where, ".rows must ascend, got ",
                 c.rows[r - 1], " then ", c.rows[r]);
      }
      k.gemms.push_back(std::move(c));
    }
  }
  return k;
}

}  // namespace hs
