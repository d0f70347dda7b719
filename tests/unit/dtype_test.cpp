// fp16/bf16 conversions against IEEE 754 values computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "util/dtype.h"

namespace hs {
namespace {

TEST(DType, Fp16KnownValues) {
  EXPECT_EQ(f32_to_f16(1.f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.f), 0x7bff);                     // largest finite
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);                        // overflow -> inf
  EXPECT_EQ(f32_to_f16(std::ldexp(1.f, -24)), 0x0001);        // smallest subnormal
  EXPECT_EQ(f32_to_f16(1.f + std::ldexp(1.f, -11)), 0x3c00);  // tie rounds to even
  EXPECT_EQ(f32_to_f16(1.f + 3 * std::ldexp(1.f, -11)), 0x3c02);
  EXPECT_FLOAT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_FLOAT_EQ(f16_to_f32(0x0001), std::ldexp(1.f, -24));
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
}

TEST(DType, Bf16KnownValues) {
  EXPECT_EQ(f32_to_bf16(1.f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-3.f), 0xc040);
  EXPECT_FLOAT_EQ(bf16_to_f32(0x3eab), 0.333984375f);
  EXPECT_EQ(f32_to_bf16(1.f + std::ldexp(1.f, -8)), 0x3f80);  // tie rounds to even
}

TEST(DType, RoundTripOfEveryFp16) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
}

}  // namespace
}  // namespace hs
