// The partitioner's connectivity counts (neuromap/partition/split.py: distinct_sources), compiled into the
// same extension as _kernels.cpp:
//
//   C[s, d] = number of distinct presynaptic neurons of source group s with at least one synapse onto a
//             neuron of destination group d   (the multicast packets one all-firing step sends)
//
// from a CSR (indptr, indices) or from a procedural fixed-fan-in projection whose sources are generated on
// the fly (neuromap/partition/synthetic.py: FixedFanIn; the same counter-based hash as numpy, so the
// synapses are never held).  One pass over the synapses, parallel over destination groups: each thread
// marks the sources it has seen in the current group in a stamp array (no clearing between groups) and
// counts them per source group.  The counts are exact integers: the result equals the numpy path.
// The result is column-compressed, per destination group in order: its number of entries, then the entries'
// source groups (int32) and counts (float64), which scipy takes as a CSC matrix without a copy; while the
// threads run, a chunk holds 8 bytes per entry (no per-synapse temporaries, nothing per synapse kept).

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "_counter_hash.h"

namespace {

using at::Tensor;

struct Procedural {
  int64_t n_pre = 0, n_post = 0, k = 0, window = 0;  // window 0: sources uniform over the population
  uint64_t salt = 0;
};

// The k sources of post neuron `row` of a procedural projection (numpy: FixedFanIn.indices).
template <typename F>
inline void procedural_sources(const Procedural& g, int64_t row, F&& visit) {
  const uint64_t base = neuromap_rng::stream_base(static_cast<uint64_t>(row), g.salt);
  const double n_pre = static_cast<double>(g.n_pre);
  const int64_t center = g.window ? (row * g.n_pre) / g.n_post : 0;
  for (int64_t j = 1; j <= g.k; ++j) {
    const double u = neuromap_rng::unit(neuromap_rng::mix64(base + static_cast<uint64_t>(j) * neuromap_rng::kGolden));
    int64_t s;
    if (g.window == 0) {
      s = std::min(static_cast<int64_t>(u * n_pre), g.n_pre - 1);
    } else {
      s = (center + static_cast<int64_t>(u * static_cast<double>(g.window)) - g.window / 2) % g.n_pre;
      if (s < 0) s += g.n_pre;
    }
    visit(s);
  }
}

// One chunk's result: per group its number of entries, and the entries (source group << 32 | count) packed
// into 8 bytes, so a chunk holds 8 bytes per (source group, destination group) pair until it is copied out.
struct ChunkOut {
  std::vector<int64_t> per_group;
  std::vector<uint64_t> packed;
};

template <typename I>
std::vector<Tensor> counts_impl(const int64_t* indptr, const I* indices, const Procedural& proc, const Tensor& rows,
                                const Tensor& gptr, const Tensor& src_groups, int64_t n_src_groups, int64_t n_pre) {
  const int64_t G = gptr.numel() - 1;
  const int64_t* R = rows.data_ptr<int64_t>();
  const int64_t* P = gptr.data_ptr<int64_t>();
  const int64_t* SG = src_groups.data_ptr<int64_t>();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(G, at::get_num_threads() * 4));
  std::vector<ChunkOut> out(chunks);
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    // seen[s] = (group mark << 32) | source group of s: one random access per synapse, prefetched ahead
    std::vector<uint64_t> seen(n_pre);
    for (int64_t s = 0; s < n_pre; ++s) seen[s] = (uint64_t(0xFFFFFFFFu) << 32) | static_cast<uint32_t>(SG[s]);
    std::vector<uint32_t> count(n_src_groups, 0), touched;
    std::vector<int64_t> buf;
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t g = G * c / chunks; g < G * (c + 1) / chunks; ++g) {
        buf.clear();
        for (int64_t q = P[g]; q < P[g + 1]; ++q) {
          const int64_t row = R[q];
          if (indptr != nullptr) {
            for (int64_t e = indptr[row]; e < indptr[row + 1]; ++e) buf.push_back(static_cast<int64_t>(indices[e]));
          } else {
            procedural_sources(proc, row, [&](int64_t src) { buf.push_back(src); });
          }
        }
        const uint64_t mark = static_cast<uint64_t>(static_cast<uint32_t>(g)) << 32;
        const int64_t n = static_cast<int64_t>(buf.size());
        for (int64_t i = 0; i < n; ++i) {
          if (i + 16 < n) __builtin_prefetch(&seen[buf[i + 16]], 1);
          uint64_t& cell = seen[buf[i]];
          if ((cell & 0xFFFFFFFF00000000ULL) == mark) continue;
          const uint32_t sg = static_cast<uint32_t>(cell);
          cell = mark | sg;
          if (count[sg]++ == 0) touched.push_back(sg);
        }
        out[c].per_group.push_back(static_cast<int64_t>(touched.size()));
        for (const uint32_t sg : touched) {
          out[c].packed.push_back((static_cast<uint64_t>(sg) << 32) | count[sg]);
          count[sg] = 0;
        }
        touched.clear();
      }
    }
  });
  int64_t total = 0;
  for (const auto& o : out) total += static_cast<int64_t>(o.packed.size());
  Tensor per_group = at::empty({G}, rows.options());
  Tensor idx = at::empty({total}, rows.options().dtype(at::kInt));
  Tensor val = at::empty({total}, rows.options().dtype(at::kDouble));
  int64_t* pg = per_group.data_ptr<int64_t>();
  int32_t* ix = idx.data_ptr<int32_t>();
  double* vx = val.data_ptr<double>();
  int64_t off = 0, goff = 0;
  for (auto& o : out) {  // chunks in group order; each chunk's buffers are released once copied
    std::memcpy(pg + goff, o.per_group.data(), o.per_group.size() * sizeof(int64_t));
    goff += static_cast<int64_t>(o.per_group.size());
    for (const uint64_t e : o.packed) {
      ix[off] = static_cast<int32_t>(e >> 32);
      vx[off++] = static_cast<double>(static_cast<uint32_t>(e));
    }
    std::vector<uint64_t>().swap(o.packed);
  }
  return {per_group, idx, val};
}

std::vector<Tensor> distinct_source_counts(const Tensor& indptr, const Tensor& indices, const Tensor& rows,
                                           const Tensor& gptr, const Tensor& src_groups, int64_t n_src_groups,
                                           int64_t n_pre, int64_t n_post, int64_t k, int64_t seed, int64_t window) {
  TORCH_CHECK(rows.scalar_type() == at::kLong && gptr.scalar_type() == at::kLong &&
                  src_groups.scalar_type() == at::kLong,
              "distinct_source_counts: rows, gptr and src_groups must be int64");
  TORCH_CHECK(gptr.numel() >= 1 && src_groups.numel() == n_pre,
              "distinct_source_counts: gptr needs one entry more than there are groups, src_groups one per source neuron");
  TORCH_CHECK(n_pre < (int64_t(1) << 31) && gptr.numel() < 0xFFFFFFFFLL && n_src_groups < (int64_t(1) << 31),
              "distinct_source_counts: at most 2^31 source neurons, 2^32 - 2 groups and 2^31 source groups");
  Procedural proc;
  if (indptr.numel() == 0) {
    TORCH_CHECK(k >= 0 && n_post > 0 && window >= 0, "distinct_source_counts: procedural k, n_post, window");
    proc = Procedural{n_pre, n_post, k, window, neuromap_rng::salt(static_cast<uint64_t>(seed))};
    return counts_impl<int64_t>(nullptr, nullptr, proc, rows, gptr, src_groups, n_src_groups, n_pre);
  }
  TORCH_CHECK(indptr.scalar_type() == at::kLong, "distinct_source_counts: indptr must be int64");
  if (indices.scalar_type() == at::kInt) {
    return counts_impl<int32_t>(indptr.data_ptr<int64_t>(), indices.data_ptr<int32_t>(), proc, rows, gptr,
                                src_groups, n_src_groups, n_pre);
  }
  TORCH_CHECK(indices.scalar_type() == at::kLong, "distinct_source_counts: indices must be int32 or int64");
  return counts_impl<int64_t>(indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), proc, rows, gptr,
                              src_groups, n_src_groups, n_pre);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(neuromap_kernels, m) {
  m.def(
      "distinct_source_counts(Tensor indptr, Tensor indices, Tensor rows, Tensor gptr, Tensor src_groups, "
      "int n_src_groups, int n_pre, int n_post, int k, int seed, int window) -> Tensor[]",
      &distinct_source_counts);
}
