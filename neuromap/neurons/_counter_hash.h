// The counter-based generator of neuromap/counter_rng.py (splitmix64's output mixer on keys built from a
// seed and counters); shared by the compiled kernels, reproduced bit for bit by numpy.
#pragma once

#include <cstdint>

namespace neuromap_rng {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
constexpr uint64_t kSeedSalt = 0x632BE59BD9B4E019ULL;

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// uniform in [0, 1) from the top 53 bits
inline double unit(uint64_t h) { return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0); }

inline uint64_t salt(uint64_t seed) { return mix64(seed + kSeedSalt); }

// the base of the stream of `counter`; its k-th draw is mix64(base + k * kGolden)
inline uint64_t stream_base(uint64_t counter, uint64_t seed_salt) { return mix64(counter * kGolden ^ seed_salt); }

}  // namespace neuromap_rng
