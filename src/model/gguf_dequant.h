// Turning a GGUF tensor's blocks (model/gguf.h) into floats. The block layouts are the format's:
// F32, F16 and BF16 one value a block; Q8_0 an f16 scale and 32 int8; Q4_0 an f16 scale and 32
// 4-bit values; Q4_1 an f16 scale, an f16 minimum and 32 4-bit values (formulas beside each).
#pragma once

#include <cstdint>

#include "model/gguf.h"

namespace hs {

// Dequantises rows [first_row, first_row + row_count) of t into out (row_count * dims[0]
// floats). A row is one run along dims[0]; it always holds whole blocks, so any row range can
// be read on its own. Throws std::out_of_range if the range is not inside the tensor.
void dequantize_rows(const GgufTensor& t, int64_t first_row, int64_t row_count, float* out);

// Dequantises the whole tensor into out (numel() floats).
void dequantize(const GgufTensor& t, float* out);

}  // namespace hs
