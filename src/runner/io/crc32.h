// CRC-32 of the IEEE 802.3 / zlib / PNG kind (reflected polynomial 0xEDB88320): the checksum of
// every journal record, so that a torn or corrupted record is recognised when a job resumes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hs {

// CRC-32 of `bytes` bytes at `data`, continuing from `crc` (0 to start a new one).
// crc32("123456789") == 0xCBF43926, the standard check value.
uint32_t crc32(const void* data, size_t bytes, uint32_t crc = 0);

}  // namespace hs
