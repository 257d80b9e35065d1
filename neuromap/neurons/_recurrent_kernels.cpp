// The whole T-step simulation of a recurrent LIF / CuBa-LIF population in one call (no per-step Python):
// event-driven synaptic propagation with per-synapse delays, one or two synaptic currents, refractoriness,
// counter-based Poisson input and spike recording.  Built into the same extension as _kernels.cpp
// (neuromap/neurons/kernels.py); the Python side is neuromap/neurons/recurrent.py.
//
// Per step t and neuron n (the order of networks/lsm.py's reference step, compiled without fused
// multiply-add, so float64 spikes equal the reference loop's):
//   x   = drive[t, n] + acc[t, n]          acc: sum of the weights that arrive at step t, in arrival order
//   x  += w_poisson for each Poisson event on n (in event order)
//   i   = alpha i + x;  (second current: i2 = alpha2 i2 + acc2[t, n];  cur = i + i2)
//   h   = beta v (+ leak) + gain cur;  refractory clamp to v_reset;  s = h > v_th (or >=);  reset.
// A spike of neuron p at step t adds w to acc[t + d, post] for each synapse (p -> post, w, d >= 1 steps):
// "push" propagation, so only neurons that spiked cost anything (a fan-out table sorted by post).
//
// Parallel schedule:
//   * batch >= threads (or one thread): samples are independent, each thread runs whole samples, no
//     synchronisation at all;
//   * otherwise: the neurons of a sample are split into contiguous ranges (multiples of the Poisson block),
//     one per thread; each step a thread first pushes the previous step's spikes of *all* threads into its
//     own range (the fan-out rows are pre-split at the range boundaries), then updates its neurons, then
//     one barrier.  No atomics, and the summation order does not depend on the thread count.
//
// Poisson input, per (step, sample, block of kPoissonBlock neurons): a Poisson count K from a tabulated
// inverse CDF, then K targets uniform over the block (Poisson splitting: the per-neuron counts are
// independent Poisson variables).  Uniforms come from a counter-based hash (splitmix64's mixer) of
// (seed, step, sample, block, event), so the events do not depend on the schedule and numpy reproduces
// them bit for bit (recurrent.poisson_events).

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "_counter_hash.h"

namespace {

using at::Tensor;

using neuromap_rng::kGolden;
using neuromap_rng::mix64;
using neuromap_rng::unit;
constexpr int64_t kPoissonBlock = 1024;  // neurons per Poisson block (recurrent.POISSON_BLOCK)

enum Reset : int64_t { kSubtract = 0, kZero = 1, kNone = 2 };

struct Params {
  double beta, alpha, alpha2, leak, gain, v_th, v_reset;
  int64_t reset, refractory;
  bool inclusive, cuba, two;
};

struct Poisson {
  const double* cdf = nullptr;       // inverse-CDF table of a full block (cdf[i] = P(K <= k0 + i))
  int64_t n_cdf = 0, k0 = 0;
  const double* cdf_last = nullptr;  // the same for the last, partial block
  int64_t n_cdf_last = 0, k0_last = 0;
  double weight = 0.0;
  uint64_t seed = 0;
  bool on = false;
};

// Fan-out table (by presynaptic neuron, posts ascending) and its split at the thread ranges.
struct Fanout {
  const int64_t* ptr;
  const int32_t* post;
  const int32_t* delay;  // nullptr: every synapse has a delay of 1 step
  const uint8_t* second;  // nullptr or [N]: the presynaptic neuron feeds the second current
  std::vector<int64_t> seg;  // [N, R + 1]: row p's synapses onto range r are seg[p*(R+1)+r] .. seg[p*(R+1)+r+1]
  int64_t n_ranges = 1;
};

template <typename T>
struct Run {
  int64_t Tn, B, N, slots;
  const T* drive;  // [T, B, N] or nullptr
  const T* w;
  Fanout fan;
  Params p;
  Poisson pois;
  T *v, *cur, *cur2;
  int32_t* refr;
  T* acc;   // [slots, B, N] arriving weights (first current)
  T* acc2;  // [slots, B, N] (second current) or nullptr
  uint8_t* raster;  // [T, B, N] or nullptr
  T* mem;           // [T, B, N] or nullptr
  bool record_events;
};

inline int64_t inverse_cdf(const double* cdf, int64_t n, int64_t k0, double u) {
  return k0 + (std::upper_bound(cdf, cdf + n, u) - cdf);
}

// Add the Poisson events of (t, b) on the blocks inside [lo, hi) to x (x[0] is neuron lo).
template <typename T>
void add_poisson(const Run<T>& r, int64_t t, int64_t b, int64_t lo, int64_t hi, T* x) {
  const Poisson& ps = r.pois;
  const int64_t n_blocks = (r.N + kPoissonBlock - 1) / kPoissonBlock;
  const uint64_t sh = neuromap_rng::salt(ps.seed);
  const T wv = static_cast<T>(ps.weight);
  for (int64_t blk = lo / kPoissonBlock; blk * kPoissonBlock < hi; ++blk) {
    const int64_t b0 = blk * kPoissonBlock, size = std::min(kPoissonBlock, r.N - b0);
    const uint64_t ctr = (static_cast<uint64_t>(t) * r.B + b) * n_blocks + blk;
    const uint64_t base = neuromap_rng::stream_base(ctr, sh);
    const bool last = size != kPoissonBlock;
    const int64_t K = last ? inverse_cdf(ps.cdf_last, ps.n_cdf_last, ps.k0_last, unit(mix64(base)))
                           : inverse_cdf(ps.cdf, ps.n_cdf, ps.k0, unit(mix64(base)));
    const double dsize = static_cast<double>(size);
    for (int64_t k = 1; k <= K; ++k) {
      const double u = unit(mix64(base + static_cast<uint64_t>(k) * kGolden));
      int64_t j = static_cast<int64_t>(u * dsize);
      if (j >= size) j = size - 1;
      x[b0 + j - lo] += wv;
    }
  }
}

// Push the spikes `spk` (neuron ids of sample b at step t) onto range rr = [lo, hi) of the accumulators.
template <typename T>
void push(const Run<T>& r, int64_t t, int64_t b, const int32_t* spk, int64_t n_spk, int64_t rr) {
  const Fanout& f = r.fan;
  const int64_t R1 = f.n_ranges + 1, plane = r.B * r.N;
  for (int64_t q = 0; q < n_spk; ++q) {
    const int64_t pre = spk[q];
    const int64_t a = f.n_ranges == 1 ? f.ptr[pre] : f.seg[pre * R1 + rr];
    const int64_t e = f.n_ranges == 1 ? f.ptr[pre + 1] : f.seg[pre * R1 + rr + 1];
    T* dst = (f.second != nullptr && f.second[pre]) ? r.acc2 : r.acc;
    if (f.delay == nullptr) {
      T* row = dst + ((t + 1) % r.slots) * plane + b * r.N;
      for (int64_t k = a; k < e; ++k) row[r.fan.post[k]] += r.w[k];
    } else {
      for (int64_t k = a; k < e; ++k) {
        dst[((t + f.delay[k]) % r.slots) * plane + b * r.N + r.fan.post[k]] += r.w[k];
      }
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NM_RCLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NM_RCLONES
#endif

// The neuron update of one range, branch-free so that it vectorises (AVX-512 / AVX2 / baseline clones, picked
// at load time; lane-wise IEEE arithmetic, so every clone gives the same bits): CUR synaptic currents (0: LIF),
// REFR: a refractory period, RESET: subtract / zero / none.  x: the input of the first current; in2: the
// arrivals of the second (cleared here).  A zero leak is added and a unit gain multiplied (exact: at most the
// sign of a zero changes).
template <typename T, int CUR, bool REFR, int RESET>
NM_RCLONES void update_range(const Params& p, int64_t n, const T* __restrict x, T* __restrict in2,
                             T* __restrict v, T* __restrict c1, T* __restrict c2, int32_t* __restrict rf,
                             uint8_t* __restrict s_out) {
  const T beta = static_cast<T>(p.beta), alpha = static_cast<T>(p.alpha), alpha2 = static_cast<T>(p.alpha2);
  const T leak = static_cast<T>(p.leak), gain = static_cast<T>(p.gain), th = static_cast<T>(p.v_th);
  const T v_reset = static_cast<T>(p.v_reset);
  const bool inclusive = p.inclusive;
  const int32_t R = static_cast<int32_t>(p.refractory);
  for (int64_t k = 0; k < n; ++k) {
    T cur = x[k];
    if constexpr (CUR >= 1) {
      const T i1 = alpha * c1[k] + cur;
      c1[k] = i1;
      cur = i1;
    }
    if constexpr (CUR == 2) {
      const T i2 = alpha2 * c2[k] + in2[k];
      in2[k] = T(0);
      c2[k] = i2;
      cur = cur + i2;
    }
    T h = beta * v[k] + leak;
    h = h + cur * gain;
    bool s;
    if constexpr (REFR) {
      const int32_t r = rf[k];
      const bool blocked = r > 0;
      h = blocked ? v_reset : h;
      s = (!blocked) & ((h > th) | (inclusive & (h == th)));
      rf[k] = s ? R : (blocked ? r - 1 : 0);
    } else {
      s = (h > th) | (inclusive & (h == th));
    }
    T vn = h;
    if constexpr (RESET == kSubtract) vn = s ? h - th : h;
    if constexpr (RESET == kZero) vn = s ? v_reset : h;
    v[k] = vn;
    s_out[k] = s;
  }
}

template <typename T, int CUR, bool REFR>
void update_range(const Params& p, int64_t n, const T* x, T* in2, T* v, T* c1, T* c2, int32_t* rf, uint8_t* s_out) {
  if (p.reset == kSubtract) update_range<T, CUR, REFR, kSubtract>(p, n, x, in2, v, c1, c2, rf, s_out);
  else if (p.reset == kZero) update_range<T, CUR, REFR, kZero>(p, n, x, in2, v, c1, c2, rf, s_out);
  else update_range<T, CUR, REFR, kNone>(p, n, x, in2, v, c1, c2, rf, s_out);
}

template <typename T, int CUR>
void update_range(const Params& p, int64_t n, const T* x, T* in2, T* v, T* c1, T* c2, int32_t* rf, uint8_t* s_out) {
  if (p.refractory > 0) update_range<T, CUR, true>(p, n, x, in2, v, c1, c2, rf, s_out);
  else update_range<T, CUR, false>(p, n, x, in2, v, c1, c2, rf, s_out);
}

// One step of neurons [lo, hi) of sample b: input, Poisson, update; spiking ids appended to `out`.
template <typename T>
void update(const Run<T>& r, int64_t t, int64_t b, int64_t lo, int64_t hi, std::vector<T>& x,
            std::vector<uint8_t>& s8, std::vector<int32_t>& out, std::vector<int64_t>& events) {
  const Params& p = r.p;
  const int64_t n = hi - lo, plane = r.B * r.N, off = b * r.N + lo;
  T* __restrict slot = r.acc + (t % r.slots) * plane + off;
  const T* __restrict d = r.drive ? r.drive + (t * r.B + b) * r.N + lo : nullptr;
  x.resize(n);
  s8.resize(n);
  T* __restrict xs = x.data();
  if (d != nullptr) {
    for (int64_t k = 0; k < n; ++k) xs[k] = d[k] + slot[k];
  } else {
    std::memcpy(xs, slot, n * sizeof(T));
  }
  std::memset(slot, 0, n * sizeof(T));
  if (r.pois.on) add_poisson(r, t, b, lo, hi, xs);
  T* in2 = r.acc2 ? r.acc2 + (t % r.slots) * plane + off : nullptr;
  T* c1 = r.cur ? r.cur + off : nullptr;
  T* c2 = r.cur2 ? r.cur2 + off : nullptr;
  int32_t* rf = r.refr ? r.refr + off : nullptr;
  if (!p.cuba) update_range<T, 0>(p, n, xs, in2, r.v + off, c1, c2, rf, s8.data());
  else if (!p.two) update_range<T, 1>(p, n, xs, in2, r.v + off, c1, c2, rf, s8.data());
  else update_range<T, 2>(p, n, xs, in2, r.v + off, c1, c2, rf, s8.data());
  const int64_t row = (t * r.B + b) * r.N + lo;
  if (r.mem) std::memcpy(r.mem + row, r.v + off, n * sizeof(T));
  if (r.raster) std::memcpy(r.raster + row, s8.data(), n);
  // the spikes, scanned 8 flags at a time (most words are zero)
  const uint8_t* sp = s8.data();
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    uint64_t word;
    std::memcpy(&word, sp + k, 8);
    if (word == 0) continue;
    for (int64_t q = k; q < k + 8; ++q) {
      if (sp[q]) {
        out.push_back(static_cast<int32_t>(lo + q));
        if (r.record_events) events.push_back(row + q);
      }
    }
  }
  for (; k < n; ++k) {
    if (sp[k]) {
      out.push_back(static_cast<int32_t>(lo + k));
      if (r.record_events) events.push_back(row + k);
    }
  }
}

// The neuron ranges of `n_ranges` threads: contiguous, multiples of the Poisson block (the last takes the rest).
std::vector<int64_t> ranges(int64_t N, int64_t n_ranges) {
  const int64_t blocks = (N + kPoissonBlock - 1) / kPoissonBlock;
  std::vector<int64_t> out(n_ranges + 1);
  for (int64_t r = 0; r <= n_ranges; ++r) out[r] = std::min(N, (blocks * r / n_ranges) * kPoissonBlock);
  out[n_ranges] = N;
  return out;
}

void split_rows(Fanout& f, int64_t N, const std::vector<int64_t>& bounds) {
  const int64_t R = static_cast<int64_t>(bounds.size()) - 1, R1 = R + 1;
  f.n_ranges = R;
  f.seg.assign(N * R1, 0);
  at::parallel_for(0, N, 1024, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int32_t* a = f.post + f.ptr[p];
      const int32_t* e = f.post + f.ptr[p + 1];
      for (int64_t r = 0; r <= R; ++r) {
        f.seg[p * R1 + r] = f.ptr[p] + (std::lower_bound(a, e, static_cast<int32_t>(bounds[r])) - a);
      }
    }
  });
}

template <typename T>
void run_samples(const Run<T>& r, int64_t threads, std::vector<std::vector<int64_t>>& events) {
  // whole samples per thread; no synchronisation
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
  for (int64_t b = 0; b < r.B; ++b) {
#ifdef _OPENMP
    const int tid = omp_get_thread_num();
#else
    const int tid = 0;
#endif
    std::vector<T> x;
    std::vector<uint8_t> s8;
    std::vector<int32_t> spk[2];
    for (int64_t t = 0; t < r.Tn; ++t) {
      if (t > 0) push(r, t - 1, b, spk[(t - 1) & 1].data(), static_cast<int64_t>(spk[(t - 1) & 1].size()), 0);
      spk[t & 1].clear();
      update(r, t, b, 0, r.N, x, s8, spk[t & 1], events[tid]);
    }
  }
}

template <typename T>
void run_split(const Run<T>& r, int64_t threads, const std::vector<int64_t>& bounds,
               std::vector<std::vector<int64_t>>& events) {
  // one sample at a time; neuron ranges per thread (a thread takes several if OpenMP gives fewer), one
  // barrier per step
  const int64_t R = static_cast<int64_t>(bounds.size()) - 1;
  std::vector<std::vector<int32_t>> spk(2 * R);
  for (int64_t b = 0; b < r.B; ++b) {
    for (auto& s : spk) s.clear();
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
      const int64_t me = omp_get_thread_num(), nth = omp_get_num_threads();
#else
      const int64_t me = 0, nth = 1;
#endif
      std::vector<T> x;
      std::vector<uint8_t> s8;
      for (int64_t t = 0; t < r.Tn; ++t) {
        for (int64_t rr = me; rr < R; rr += nth) {
          if (t > 0) {
            const int64_t prev = (t - 1) & 1;
            for (int64_t q = 0; q < R; ++q) {
              const auto& s = spk[prev * R + q];
              push(r, t - 1, b, s.data(), static_cast<int64_t>(s.size()), rr);
            }
          }
          auto& mine = spk[(t & 1) * R + rr];
          mine.clear();
          update(r, t, b, bounds[rr], bounds[rr + 1], x, s8, mine, events[rr]);
        }
#pragma omp barrier
      }
    }
  }
}

template <typename T>
std::vector<Tensor> run_impl(const Tensor& drive, const Tensor& fan_ptr, const Tensor& fan_post, const Tensor& fan_w,
                             const Tensor& fan_delay, const Tensor& second, Tensor& v, Tensor& cur, Tensor& cur2,
                             Tensor& refr, const Params& p, Poisson pois, int64_t Tn, int64_t max_delay,
                             bool record_raster, bool record_mem, bool record_events, int64_t threads) {
  const int64_t B = v.size(0), N = v.size(1);
  Run<T> r;
  r.Tn = Tn;
  r.B = B;
  r.N = N;
  r.slots = max_delay + 1;
  r.drive = drive.numel() ? drive.data_ptr<T>() : nullptr;
  r.w = fan_w.data_ptr<T>();
  r.fan.ptr = fan_ptr.data_ptr<int64_t>();
  r.fan.post = fan_post.data_ptr<int32_t>();
  r.fan.delay = fan_delay.numel() ? fan_delay.data_ptr<int32_t>() : nullptr;
  r.fan.second = second.numel() ? second.data_ptr<uint8_t>() : nullptr;
  r.p = p;
  r.pois = pois;
  r.v = v.data_ptr<T>();
  r.cur = cur.numel() ? cur.data_ptr<T>() : nullptr;
  r.cur2 = cur2.numel() ? cur2.data_ptr<T>() : nullptr;
  r.refr = refr.numel() ? refr.data_ptr<int32_t>() : nullptr;
  const auto opts = v.options();
  Tensor acc = at::zeros({r.slots, B, N}, opts);
  Tensor acc2 = p.two ? at::zeros({r.slots, B, N}, opts) : at::empty({0}, opts);
  r.acc = acc.data_ptr<T>();
  r.acc2 = p.two ? acc2.data_ptr<T>() : nullptr;
  Tensor raster = record_raster ? at::empty({Tn, B, N}, opts.dtype(at::kByte)) : at::empty({0}, opts.dtype(at::kByte));
  Tensor mem = record_mem ? at::empty({Tn, B, N}, opts) : at::empty({0}, opts);
  r.raster = record_raster ? raster.data_ptr<uint8_t>() : nullptr;
  r.mem = record_mem ? mem.data_ptr<T>() : nullptr;
  r.record_events = record_events;
  threads = std::max<int64_t>(1, threads);
  const int64_t blocks = (N + kPoissonBlock - 1) / kPoissonBlock;
  const bool split = B < threads && blocks > 1;
  const int64_t n_threads = split ? std::min(threads, blocks) : std::min(threads, B);
  std::vector<std::vector<int64_t>> events(n_threads);
  if (split) {
    const auto bounds = ranges(N, n_threads);
    split_rows(r.fan, N, bounds);
    run_split(r, n_threads, bounds, events);
  } else {
    run_samples(r, n_threads, events);
  }
  int64_t total = 0;
  for (const auto& e : events) total += static_cast<int64_t>(e.size());
  Tensor ev = at::empty({total}, opts.dtype(at::kLong));
  int64_t* o = ev.data_ptr<int64_t>();
  for (const auto& e : events) {
    std::memcpy(o, e.data(), e.size() * sizeof(int64_t));
    o += e.size();
  }
  if (n_threads > 1 || B > 1) std::sort(ev.data_ptr<int64_t>(), ev.data_ptr<int64_t>() + total);  // (t, b, n) order
  return {raster, mem, ev};
}

std::vector<Tensor> recurrent_run(const Tensor& drive, const Tensor& fan_ptr, const Tensor& fan_post, const Tensor& fan_w,
                                  const Tensor& fan_delay, const Tensor& second, Tensor v, Tensor cur, Tensor cur2,
                                  Tensor refr, int64_t steps, int64_t max_delay, double beta, double alpha,
                                  double alpha2, double leak, double gain, double v_th, double v_reset, int64_t reset,
                                  bool inclusive, int64_t refractory, const Tensor& cdf, int64_t k0,
                                  const Tensor& cdf_last, int64_t k0_last, double poisson_weight, int64_t seed,
                                  bool record_raster, bool record_mem, bool record_events, int64_t threads) {
  TORCH_CHECK(v.dim() == 2 && v.is_contiguous() && v.device().is_cpu(), "recurrent_run: v must be a contiguous [B, N] CPU tensor");
  const int64_t B = v.size(0), N = v.size(1);
  TORCH_CHECK(steps >= 0 && max_delay >= 1, "recurrent_run: steps >= 0 and max_delay >= 1");
  TORCH_CHECK(drive.numel() == 0 || (drive.dim() == 3 && drive.size(0) == steps && drive.size(1) == B &&
                                     drive.size(2) == N && drive.is_contiguous() && drive.scalar_type() == v.scalar_type()),
              "recurrent_run: drive must be empty or a contiguous [T, B, N] tensor of v's dtype");
  TORCH_CHECK(fan_ptr.numel() == N + 1 && fan_ptr.scalar_type() == at::kLong, "recurrent_run: fan_ptr must be int64 [N + 1]");
  TORCH_CHECK(fan_post.scalar_type() == at::kInt && fan_w.scalar_type() == v.scalar_type() &&
                  fan_post.numel() == fan_w.numel(),
              "recurrent_run: fan_post (int32) and fan_w (v's dtype) must have one entry per synapse");
  TORCH_CHECK(fan_delay.numel() == 0 || (fan_delay.numel() == fan_w.numel() && fan_delay.scalar_type() == at::kInt),
              "recurrent_run: fan_delay must be empty or int32 with one entry per synapse");
  TORCH_CHECK(second.numel() == 0 || (second.numel() == N && second.scalar_type() == at::kByte),
              "recurrent_run: second must be empty or uint8 [N]");
  const bool cuba = cur.numel() != 0, two = cur2.numel() != 0;
  TORCH_CHECK(!cuba || (cur.sizes() == v.sizes() && cur.is_contiguous() && cur.scalar_type() == v.scalar_type()),
              "recurrent_run: cur must be empty or like v");
  TORCH_CHECK(!two || (cuba && cur2.sizes() == v.sizes() && cur2.is_contiguous() && cur2.scalar_type() == v.scalar_type()),
              "recurrent_run: cur2 needs cur and must be like v");
  TORCH_CHECK(two == (second.numel() != 0), "recurrent_run: a second current needs the second-current flags and vice versa");
  TORCH_CHECK(refractory == 0 || (refr.sizes() == v.sizes() && refr.is_contiguous() && refr.scalar_type() == at::kInt),
              "recurrent_run: refr must be an int32 tensor like v when refractory > 0");
  Params p{beta, alpha, alpha2, leak, gain, v_th, v_reset, reset, refractory, inclusive, cuba, two};
  Poisson pois;
  pois.on = cdf.numel() != 0;
  if (pois.on) {
    TORCH_CHECK(cdf.scalar_type() == at::kDouble && cdf_last.scalar_type() == at::kDouble && cdf_last.numel() > 0,
                "recurrent_run: the Poisson tables must be float64");
    pois.cdf = cdf.data_ptr<double>();
    pois.n_cdf = cdf.numel();
    pois.k0 = k0;
    pois.cdf_last = cdf_last.data_ptr<double>();
    pois.n_cdf_last = cdf_last.numel();
    pois.k0_last = k0_last;
    pois.weight = poisson_weight;
    pois.seed = static_cast<uint64_t>(seed);
  }
  std::vector<Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "neuromap_recurrent_run", [&] {
    out = run_impl<scalar_t>(drive, fan_ptr, fan_post, fan_w, fan_delay, second, v, cur, cur2, refr, p, pois, steps,
                             max_delay, record_raster, record_mem, record_events, threads);
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(neuromap_kernels, m) {
  m.def(
      "recurrent_run(Tensor drive, Tensor fan_ptr, Tensor fan_post, Tensor fan_w, Tensor fan_delay, Tensor second, "
      "Tensor(a!) v, Tensor(b!) cur, Tensor(c!) cur2, Tensor(d!) refr, int steps, int max_delay, float beta, "
      "float alpha, float alpha2, float leak, float gain, float v_th, float v_reset, int reset, bool inclusive, "
      "int refractory, Tensor cdf, int k0, Tensor cdf_last, int k0_last, float poisson_weight, int seed, "
      "bool record_raster, bool record_mem, bool record_events, int threads) -> Tensor[]",
      &recurrent_run);
}
