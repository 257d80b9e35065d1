// Event-driven synapses on the CPU: a Linear / Conv2d product that touches only the active
// (non-zero) inputs, forward and weight gradient.  Built into the same extension as _kernels.cpp
// (neuromap/neurons/kernels.py compiles both; this file adds ops to the same library).
//
// Linear, x [M, K] (M = T * B rows), weight W [N, K], wt = W^T [K, N] contiguous:
//   CSR of x:       rowptr [M + 1] (int64), idx [nnz] (int32 column), val [nnz]   (one scan of x)
//   forward:        y[m, :] = bias + sum_{p in row m} val[p] * wt[idx[p], :]
//                   parallel over rows; N is tiled so one tile of wt (K x TN) stays in L2 while a
//                   thread sweeps its rows, and the accumulator (TN values) stays in registers/L1.
//   weight grad:    gw[n, k] = sum_m gy[m, n] x[m, k], summed only over the active (m, k): the CSC
//                   of x (counting sort of the CSR) and the forward's accumulation with gy as the row
//                   table, parallel over 64-wide column strips of gy (no races, no reduction: the
//                   result does not depend on the thread count).
// Conv2d (NCHW input, weight [O, C, kh, kw], output channels-last [B, Ho, Wo, O]):
//   forward:        every active input pixel (b, c, y, x) adds val * wt[c, ky, kx, :] to each output
//                   pixel it reaches; parallel over samples b (an output is written by one thread).
//   weight grad:    gwt[c, ky, kx, :] += val * gy[b, yo, xo, :]; parallel over input channels c.
//
// Spike-driven linear attention (SDSA-3), Y = Q (K^T V) per head with binary Q, K, V [N tokens, c channels],
// all from token bit masks per channel (64 tokens a word; one vector compare per 16 floats):
//   K^T V:          kv[i, j] = popcount(K_i AND V_j) (an exact int32 count; silent K channels skipped);
//   Q (K^T V):      y[n, :] += kv[i, :] for every active (n, i) of Q (int32, exact);
//   backward (gy real): gkv[i, :] = sum of gy[n, :] over the active tokens n of Q_i;  gv[n, :] += gkv[i, :]
//                   for every active (n, i) of K;  gk[n, :] += gkv[:, j] for every active (n, j) of V;
//                   gq = gy kv^T (dense: kv holds counts, not bits).  Parallel over (row, head) groups.
//   The forward is exact integer arithmetic, so it equals the dense product bit for bit in float32 (counts
//   below 2^24) and float64; the gradients are sums of reals in another order: equal to rounding.
//
// Summation order differs from a BLAS GEMM, so results equal the dense path to rounding (in float64
// the spikes a threshold makes of them are identical in practice; tests pin both).  The hot loops are
// compiled for AVX-512 / AVX2 / baseline x86-64 (target_clones) and picked at load time.

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define NM_AVX512_COMPACT 1
#endif

namespace {

using at::Tensor;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NM_CLONES
#endif

constexpr int64_t kSub = 64;          // accumulator sub-tile (4 AVX-512 registers of float)
constexpr int64_t kL2Bytes = 1 << 19;  // wt tile budget: half of a 1 MiB L2

// acc[0:n] += sum_p val[p] * w[idx[p] * ldw + 0:n]  (n <= kSub); binary values skip the multiply.
#define NM_ACCUMULATE(T)                                                                                  \
  NM_CLONES void accumulate_##T(T* __restrict acc, const T* __restrict w, int64_t ldw,                    \
                                const int32_t* __restrict idx, const T* __restrict val, int64_t nnz,     \
                                int64_t n) {                                                              \
    if (n == kSub) {                                                                                      \
      T a[kSub];                                                                                          \
      for (int64_t j = 0; j < kSub; ++j) a[j] = acc[j];                                                   \
      for (int64_t p = 0; p < nnz; ++p) {                                                                 \
        const T* r = w + idx[p] * ldw;                                                                    \
        const T v = val[p];                                                                               \
        if (v == T(1)) {                                                                                  \
          for (int64_t j = 0; j < kSub; ++j) a[j] += r[j];                                                \
        } else {                                                                                          \
          for (int64_t j = 0; j < kSub; ++j) a[j] += v * r[j];                                            \
        }                                                                                                 \
      }                                                                                                   \
      for (int64_t j = 0; j < kSub; ++j) acc[j] = a[j];                                                   \
      return;                                                                                             \
    }                                                                                                     \
    for (int64_t p = 0; p < nnz; ++p) {                                                                   \
      const T* r = w + idx[p] * ldw;                                                                      \
      const T v = val[p];                                                                                 \
      for (int64_t j = 0; j < n; ++j) acc[j] += v * r[j];                                                 \
    }                                                                                                     \
  }                                                                                                       \
  NM_CLONES void axpy_##T(T* __restrict y, const T* __restrict x, T v, int64_t n) {                       \
    if (v == T(1)) {                                                                                      \
      for (int64_t j = 0; j < n; ++j) y[j] += x[j];                                                       \
    } else {                                                                                              \
      for (int64_t j = 0; j < n; ++j) y[j] += v * x[j];                                                   \
    }                                                                                                     \
  }

NM_ACCUMULATE(float)
NM_ACCUMULATE(double)

inline void accumulate(float* acc, const float* w, int64_t ldw, const int32_t* idx, const float* val, int64_t nnz,
                       int64_t n) {
  accumulate_float(acc, w, ldw, idx, val, nnz, n);
}
inline void accumulate(double* acc, const double* w, int64_t ldw, const int32_t* idx, const double* val, int64_t nnz,
                       int64_t n) {
  accumulate_double(acc, w, ldw, idx, val, nnz, n);
}
inline void axpy(float* y, const float* x, float v, int64_t n) { axpy_float(y, x, v, n); }
inline void axpy(double* y, const double* x, double v, int64_t n) { axpy_double(y, x, v, n); }

// Columns per tile so that a [rows, TN] tile of elements of `elem` bytes fits the L2 budget; a multiple
// of kSub, at least kSub, at most n rounded up.
int64_t tile_cols(int64_t rows, int64_t n, int64_t elem) {
  int64_t tn = kL2Bytes / std::max<int64_t>(1, rows * elem);
  tn = std::max<int64_t>(kSub, tn / kSub * kSub);
  return std::min<int64_t>(tn, (n + kSub - 1) / kSub * kSub);
}

// Rows per parallel chunk so that a chunk carries at least kGrainWork element operations: small
// problems (batch 1) run on one thread instead of paying a parallel region each.
constexpr int64_t kGrainWork = 1 << 17;
inline int64_t grain_rows(int64_t work_per_row) {
  return std::max<int64_t>(1, kGrainWork / std::max<int64_t>(1, work_per_row));
}

template <typename T>
void check_2d(const Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 2 && t.is_contiguous() && t.device().is_cpu(), "neuromap synapse kernel: ", name,
              " must be a contiguous 2-d CPU tensor");
}

// CSR of the non-zero entries of x [M, K] in two steps: csr_rowptr counts (its last entry, the number
// of non-zeros, lets the caller choose the dense path before any CSR is built); the forward writes the
// column indices and values of its rows just before it accumulates them.
template <typename T>
void rowptr_impl(const Tensor& x, Tensor& rowptr) {
  const int64_t M = x.size(0), K = x.size(1);
  const T* X = x.data_ptr<T>();
  int64_t* R = rowptr.data_ptr<int64_t>();
  R[0] = 0;
  at::parallel_for(0, M, grain_rows(K), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      const T* row = X + m * K;
      int32_t c = 0;
      for (int64_t k = 0; k < K; ++k) c += row[k] != T(0);
      R[m + 1] = c;
    }
  });
  for (int64_t m = 0; m < M; ++m) R[m + 1] += R[m];
}

// Column indices of the non-zeros of row[0:K] into buf (which has K + 16 entries); returns their count.
// Branch-free: every index is written, the cursor advances only past non-zeros.
template <typename T>
int64_t compact_scalar(const T* row, int64_t K, int32_t* buf) {
  int64_t c = 0;
  for (int64_t k = 0; k < K; ++k) {
    buf[c] = static_cast<int32_t>(k);
    c += row[k] != T(0);
  }
  return c;
}

#ifdef NM_AVX512_COMPACT
// 16 floats per step: compare to a mask, compress the lane indices in a register (the register form:
// the memory form of vpcompressd is microcoded on some cores) and store all 16 lanes at the cursor.
__attribute__((target("avx512f"))) int64_t compact_avx512(const float* row, int64_t K, int32_t* buf) {
  __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i step = _mm512_set1_epi32(16);
  const __m512 zero = _mm512_setzero_ps();
  int64_t c = 0, k = 0;
  for (; k + 16 <= K; k += 16) {
    const __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(row + k), zero, _CMP_NEQ_UQ);  // NaN counts, as != 0
    if (m) {
      _mm512_storeu_si512(buf + c, _mm512_maskz_compress_epi32(m, iota));
      c += __builtin_popcount(static_cast<unsigned>(m));
    }
    iota = _mm512_add_epi32(iota, step);
  }
  for (; k < K; ++k) {
    buf[c] = static_cast<int32_t>(k);
    c += row[k] != 0.0f;
  }
  return c;
}
#endif

template <typename T>
inline int64_t compact(const T* row, int64_t K, int32_t* buf) {
  return compact_scalar(row, K, buf);
}

template <>
inline int64_t compact<float>(const float* row, int64_t K, int32_t* buf) {
#ifdef NM_AVX512_COMPACT
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return compact_avx512(row, K, buf);
#endif
  return compact_scalar(row, K, buf);
}

Tensor csr_rowptr(const Tensor& x) {
  check_2d<float>(x, "x");
  TORCH_CHECK(x.size(1) < (int64_t(1) << 31), "neuromap synapse kernel: more than 2^31 input columns");
  Tensor rowptr = at::empty({x.size(0) + 1}, x.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neuromap_csr_rowptr", [&] { rowptr_impl<scalar_t>(x, rowptr); });
  return rowptr;
}

// Forward, one parallel region: each chunk of rows writes its part of the CSR (idx, val at rowptr)
// and accumulates its output rows from it.
template <typename T>
void linear_forward_impl(const Tensor& x, const Tensor& rowptr, const Tensor& wt, const Tensor& bias, Tensor& idx,
                         Tensor& val, Tensor& y) {
  const int64_t M = x.size(0), K = wt.size(0), N = wt.size(1);
  const T* X = x.data_ptr<T>();
  const int64_t* R = rowptr.data_ptr<int64_t>();
  int32_t* I = idx.data_ptr<int32_t>();
  T* V = val.data_ptr<T>();
  const T* W = wt.data_ptr<T>();
  const T* Bp = bias.defined() && bias.numel() ? bias.data_ptr<T>() : nullptr;
  T* Y = y.data_ptr<T>();
  const int64_t tn = tile_cols(K, N, sizeof(T));
  const int64_t per_row = K + (M ? R[M] / M : 0) * N + N;
  at::parallel_for(0, M, grain_rows(per_row), [&](int64_t m0, int64_t m1) {
    std::vector<int32_t> buf(static_cast<size_t>(K + 16));
    for (int64_t m = m0; m < m1; ++m) {
      const T* row = X + m * K;
      const int64_t c = compact(row, K, buf.data()), p0 = R[m];
      for (int64_t q = 0; q < c; ++q) {
        I[p0 + q] = buf[q];
        V[p0 + q] = row[buf[q]];
      }
    }
    T acc[kSub];
    for (int64_t n0 = 0; n0 < N; n0 += tn) {
      const int64_t n1 = std::min(N, n0 + tn);
      for (int64_t m = m0; m < m1; ++m) {
        const int64_t p0 = R[m], nnz = R[m + 1] - p0;
        for (int64_t s = n0; s < n1; s += kSub) {
          const int64_t len = std::min(kSub, n1 - s);
          for (int64_t j = 0; j < len; ++j) acc[j] = Bp ? Bp[s + j] : T(0);
          accumulate(acc, W + s, N, I + p0, V + p0, nnz, len);
          std::copy(acc, acc + len, Y + m * N + s);
        }
      }
    }
  });
}

// x [M, K], rowptr = csr_rowptr(x), wt = W^T [K, N], bias [N] or empty -> [y [M, N], idx, val] (the CSR,
// kept for the weight gradient).
std::vector<Tensor> linear_forward(const Tensor& x, const Tensor& rowptr, const Tensor& wt, const Tensor& bias) {
  check_2d<float>(x, "x");
  check_2d<float>(wt, "wt");
  TORCH_CHECK(x.scalar_type() == wt.scalar_type(), "neuromap synapse kernel: x and weight dtypes differ");
  TORCH_CHECK(x.size(1) == wt.size(0), "neuromap synapse kernel: x has ", x.size(1), " columns, weight ", wt.size(0));
  TORCH_CHECK(rowptr.dim() == 1 && rowptr.size(0) == x.size(0) + 1 && rowptr.scalar_type() == at::kLong,
              "neuromap synapse kernel: rowptr must be csr_rowptr(x)");
  TORCH_CHECK(!bias.defined() || bias.numel() == 0 || (bias.numel() == wt.size(1) && bias.is_contiguous()),
              "neuromap synapse kernel: bias must have one contiguous value per output");
  const int64_t nnz = rowptr.data_ptr<int64_t>()[x.size(0)];
  Tensor idx = at::empty({nnz}, x.options().dtype(at::kInt));
  Tensor val = at::empty({nnz}, x.options());
  Tensor y = at::empty({x.size(0), wt.size(1)}, wt.options());
  AT_DISPATCH_FLOATING_TYPES(wt.scalar_type(), "neuromap_sparse_linear_forward",
                             [&] { linear_forward_impl<scalar_t>(x, rowptr, wt, bias, idx, val, y); });
  return {y, idx, val};
}

template <typename T>
void linear_wgrad_impl(const Tensor& rowptr, const Tensor& idx, const Tensor& val, const Tensor& gy, Tensor& gw) {
  const int64_t M = rowptr.size(0) - 1, N = gy.size(1), K = gw.size(1);
  const int64_t* R = rowptr.data_ptr<int64_t>();
  const int32_t* I = idx.data_ptr<int32_t>();
  const T* V = val.data_ptr<T>();
  const T* G = gy.data_ptr<T>();
  T* GW = gw.data_ptr<T>();
  // CSC of x (counting sort of the CSR by column): the active rows of every input column.
  const int64_t nnz = R[M];
  std::vector<int64_t> colptr(static_cast<size_t>(K + 1), 0);
  for (int64_t p = 0; p < nnz; ++p) ++colptr[I[p] + 1];
  for (int64_t k = 0; k < K; ++k) colptr[k + 1] += colptr[k];
  std::vector<int32_t> rows(static_cast<size_t>(nnz));
  std::vector<T> cval(static_cast<size_t>(nnz));
  {
    std::vector<int64_t> fill(colptr.begin(), colptr.end() - 1);
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t p = R[m]; p < R[m + 1]; ++p) {
        const int64_t q = fill[I[p]]++;
        rows[q] = static_cast<int32_t>(m);
        cval[q] = V[p];
      }
    }
  }
  // gw[n, k] = sum over the active rows m of column k of val * gy[m, n]: the forward's accumulation
  // with gy as the table of rows, over 64-wide column strips of gy (parallel; each strip is read
  // from L2 by one thread, so no races and a thread-count-independent result).
  const int64_t strips = (N + kSub - 1) / kSub;
  at::parallel_for(0, strips, grain_rows(nnz * kSub + K), [&](int64_t s0, int64_t s1) {
    T acc[kSub];
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t n0 = s * kSub, len = std::min(kSub, N - n0);
      for (int64_t k = 0; k < K; ++k) {
        const int64_t c0 = colptr[k];
        std::fill(acc, acc + kSub, T(0));
        accumulate(acc, G + n0, N, rows.data() + c0, cval.data() + c0, colptr[k + 1] - c0, len);
        for (int64_t j = 0; j < len; ++j) GW[(n0 + j) * K + k] = acc[j];
      }
    }
  });
}

Tensor linear_wgrad(const Tensor& rowptr, const Tensor& idx, const Tensor& val, const Tensor& gy, int64_t in_features) {
  check_2d<float>(gy, "grad_output");
  TORCH_CHECK(gy.size(0) == rowptr.size(0) - 1, "neuromap synapse kernel: grad_output rows != input rows");
  Tensor gw = at::empty({gy.size(1), in_features}, gy.options());
  AT_DISPATCH_FLOATING_TYPES(gy.scalar_type(), "neuromap_sparse_linear_wgrad",
                             [&] { linear_wgrad_impl<scalar_t>(rowptr, idx, val, gy, gw); });
  return gw;
}

// --- Conv2d ---------------------------------------------------------------------------------------

struct ConvGeom {
  int64_t B, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo;
};

// The output pixels (yo, xo) that input pixel (y, x) reaches through kernel tap (ky, kx):
// yo * sh - ph + ky = y  ->  yo = (y + ph - ky) / sh when divisible and in range.
inline bool reach(int64_t y, int64_t ky, int64_t s, int64_t p, int64_t lim, int64_t& out) {
  const int64_t q = y + p - ky;
  if (q < 0 || q % s) return false;
  out = q / s;
  return out < lim;
}

template <typename T>
void conv_forward_impl(const Tensor& x, const Tensor& wt, const ConvGeom& g, Tensor& y) {
  const T* X = x.data_ptr<T>();
  const T* Wt = wt.data_ptr<T>();  // [C, kh, kw, O]
  T* Y = y.data_ptr<T>();          // [B, Ho, Wo, O], zero-initialised
  const int64_t O = g.O;
  at::parallel_for(0, g.B, grain_rows(g.C * g.H * g.W), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* yb = Y + b * g.Ho * g.Wo * O;
      for (int64_t c = 0; c < g.C; ++c) {
        const T* plane = X + (b * g.C + c) * g.H * g.W;
        for (int64_t yy = 0; yy < g.H; ++yy) {
          for (int64_t xx = 0; xx < g.W; ++xx) {
            const T v = plane[yy * g.W + xx];
            if (v == T(0)) continue;
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              int64_t yo;
              if (!reach(yy, ky, g.sh, g.ph, g.Ho, yo)) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                int64_t xo;
                if (!reach(xx, kx, g.sw, g.pw, g.Wo, xo)) continue;
                axpy(yb + (yo * g.Wo + xo) * O, Wt + ((c * g.kh + ky) * g.kw + kx) * O, v, O);
              }
            }
          }
        }
      }
    }
  });
}

template <typename T>
void conv_wgrad_impl(const Tensor& x, const Tensor& gy, const ConvGeom& g, Tensor& gwt) {
  const T* X = x.data_ptr<T>();
  const T* G = gy.data_ptr<T>();  // [B, Ho, Wo, O]
  T* GW = gwt.data_ptr<T>();      // [C, kh, kw, O], zero-initialised
  const int64_t O = g.O;
  at::parallel_for(0, g.C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t b = 0; b < g.B; ++b) {
        const T* plane = X + (b * g.C + c) * g.H * g.W;
        const T* gb = G + b * g.Ho * g.Wo * O;
        for (int64_t yy = 0; yy < g.H; ++yy) {
          for (int64_t xx = 0; xx < g.W; ++xx) {
            const T v = plane[yy * g.W + xx];
            if (v == T(0)) continue;
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              int64_t yo;
              if (!reach(yy, ky, g.sh, g.ph, g.Ho, yo)) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                int64_t xo;
                if (!reach(xx, kx, g.sw, g.pw, g.Wo, xo)) continue;
                axpy(GW + ((c * g.kh + ky) * g.kw + kx) * O, gb + (yo * g.Wo + xo) * O, v, O);
              }
            }
          }
        }
      }
    }
  });
}

ConvGeom conv_geom(const Tensor& x, int64_t O, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                   int64_t pw) {
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous() && x.device().is_cpu(),
              "neuromap synapse kernel: conv input must be a contiguous [B, C, H, W] CPU tensor");
  TORCH_CHECK(sh > 0 && sw > 0 && ph >= 0 && pw >= 0, "neuromap synapse kernel: bad stride/padding");
  ConvGeom g{x.size(0), x.size(1), x.size(2), x.size(3), O, kh, kw, sh, sw, ph, pw, 0, 0};
  g.Ho = (g.H + 2 * ph - kh) / sh + 1;
  g.Wo = (g.W + 2 * pw - kw) / sw + 1;
  TORCH_CHECK(g.Ho > 0 && g.Wo > 0, "neuromap synapse kernel: conv output would be empty");
  return g;
}

// x [B, C, H, W]; wt [C, kh, kw, O] -> y [B, Ho, Wo, O] (channels-last, no bias).
Tensor conv2d_forward(const Tensor& x, const Tensor& wt, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  TORCH_CHECK(wt.dim() == 4 && wt.is_contiguous() && wt.size(0) == x.size(1) && wt.scalar_type() == x.scalar_type(),
              "neuromap synapse kernel: conv weight must be a contiguous [C, kh, kw, O] tensor of x's dtype");
  const ConvGeom g = conv_geom(x, wt.size(3), wt.size(1), wt.size(2), sh, sw, ph, pw);
  Tensor y = at::zeros({g.B, g.Ho, g.Wo, g.O}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neuromap_sparse_conv2d_forward",
                             [&] { conv_forward_impl<scalar_t>(x, wt, g, y); });
  return y;
}

// gy [B, Ho, Wo, O] (channels-last) -> gwt [C, kh, kw, O].
Tensor conv2d_wgrad(const Tensor& x, const Tensor& gy, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                    int64_t pw) {
  const ConvGeom g = conv_geom(x, gy.size(3), kh, kw, sh, sw, ph, pw);
  TORCH_CHECK(gy.dim() == 4 && gy.is_contiguous() && gy.size(0) == g.B && gy.size(1) == g.Ho && gy.size(2) == g.Wo &&
                  gy.scalar_type() == x.scalar_type(),
              "neuromap synapse kernel: conv grad_output must be a contiguous [B, Ho, Wo, O] tensor of x's dtype");
  Tensor gwt = at::zeros({g.C, kh, kw, g.O}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neuromap_sparse_conv2d_wgrad",
                             [&] { conv_wgrad_impl<scalar_t>(x, gy, g, gwt); });
  return gwt;
}

// --- Spike-driven linear attention (SDSA-3) -------------------------------------------------------

using Word = uint64_t;
constexpr int64_t kWordBits = 64;

inline int64_t words(int64_t bits) { return (bits + kWordBits - 1) / kWordBits; }
// Masks travel as int64 tensors (torch has no unsigned 64-bit arithmetic to speak of); the bits are the same.
inline Word* words_of(const Tensor& t) { return reinterpret_cast<Word*>(t.data_ptr<int64_t>()); }

// rows [r, len] (contiguous) -> bits [r, words(len)]: bit t of row i is rows[i, t] != 0; returns whether
// every entry was 0 or 1.
template <typename T>
bool pack_rows_scalar(const T* rows, int64_t r, int64_t len, Word* bits) {
  const int64_t nw = words(len);
  bool bad = false;
  for (int64_t i = 0; i < r; ++i) {
    const T* row = rows + i * len;
    for (int64_t w = 0; w < nw; ++w) {
      const int64_t t0 = w * kWordBits, t1 = std::min(len, t0 + kWordBits);
      Word acc = 0;
      for (int64_t t = t0; t < t1; ++t) {
        acc |= Word(row[t] != T(0)) << (t - t0);
        bad |= (row[t] != T(0)) & (row[t] != T(1));
      }
      bits[i * nw + w] = acc;
    }
  }
  return !bad;
}

#ifdef NM_AVX512_COMPACT
// The same with two compares per 16 floats (the "!= 0" mask register is the 16 bits).
__attribute__((target("avx512f"))) bool pack_rows_avx512(const float* rows, int64_t r, int64_t len, Word* bits) {
  const int64_t nw = words(len);
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  __mmask16 bad = 0;
  for (int64_t i = 0; i < r; ++i) {
    const float* row = rows + i * len;
    for (int64_t w = 0; w < nw; ++w) {  // one word in a register: 4 compares at most
      const int64_t t0 = w * kWordBits, t1 = std::min(len, t0 + kWordBits);
      Word acc = 0;
      int64_t t = t0;
      for (; t + 16 <= t1; t += 16) {
        const __m512 x = _mm512_loadu_ps(row + t);
        const __mmask16 nz = _mm512_cmp_ps_mask(x, zero, _CMP_NEQ_UQ);  // NaN counts as non-zero (not binary)
        bad |= nz & static_cast<__mmask16>(~_mm512_cmp_ps_mask(x, one, _CMP_EQ_OQ));
        acc |= Word(nz) << (t - t0);
      }
      if (t < t1) {  // the row's tail: a masked load
        const __mmask16 live = static_cast<__mmask16>((1u << (t1 - t)) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(live, row + t);
        const __mmask16 nz = _mm512_mask_cmp_ps_mask(live, x, zero, _CMP_NEQ_UQ);
        bad |= nz & static_cast<__mmask16>(~_mm512_cmp_ps_mask(x, one, _CMP_EQ_OQ));
        acc |= Word(nz) << (t - t0);
      }
      bits[i * nw + w] = acc;
    }
  }
  return !bad;
}
#endif

template <typename T>
bool pack_rows(const T* rows, int64_t r, int64_t len, Word* bits) {
#ifdef NM_AVX512_COMPACT
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if constexpr (std::is_same_v<T, float>) {
    if (avx512) return pack_rows_avx512(rows, r, len, bits);
  }
#endif
  return pack_rows_scalar(rows, r, len, bits);
}

// x [R, N] (one channel's tokens a row) -> (token masks [R, words(N)], number of non-zero entries, or -1
// when an entry is neither 0 nor 1). The count is the density measurement that chooses the path, so
// choosing costs no pass of its own.
std::tuple<Tensor, int64_t> spike_masks(const Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && x.device().is_cpu(),
              "neuromap spike masks: x must be a contiguous 2-d CPU tensor");
  const int64_t R = x.size(0), N = x.size(1), nw = words(N);
  Tensor masks = at::empty({R, nw}, x.options().dtype(at::kLong));
  Word* B = words_of(masks);
  std::atomic<bool> binary{true};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neuromap_spike_masks", [&] {
    const scalar_t* X = x.data_ptr<scalar_t>();
    at::parallel_for(0, R, grain_rows(N), [&](int64_t r0, int64_t r1) {
      if (!pack_rows(X + r0 * N, r1 - r0, N, B + r0 * nw)) binary.store(false, std::memory_order_relaxed);
    });
  });
  if (!binary.load()) return {masks, -1};
  int64_t count = 0;
  for (int64_t p = 0; p < R * nw; ++p) count += __builtin_popcountll(B[p]);
  return {masks, count};
}

#define NM_INLINE inline __attribute__((always_inline))
#define NM_NO_UNROLL _Pragma("GCC unroll 1")
// The rows a mask selects never overlap the row they are added to, but GCC cannot prove it and would
// add them one float at a time: vectorise anyway.
#define NM_SIMD _Pragma("omp simd")

// For every set bit n of mask[0:nw]: dst[n * ld + 0:c] += src[0:c].
template <typename A>
NM_INLINE void scatter_rows(A* __restrict dst, int64_t ld, const A* __restrict src, const Word* mask, int64_t nw,
                            int64_t c) {
  for (int64_t w = 0; w < nw; ++w) {
    for (Word b = mask[w]; b; b &= b - 1) {
      A* d = dst + (w * kWordBits + __builtin_ctzll(b)) * ld;
      NM_SIMD
      for (int64_t j = 0; j < c; ++j) d[j] += src[j];
    }
  }
}

// dst[0:c] += sum over the set bits n of mask[0:nw] of src[n * ld + 0:c].
template <typename A>
NM_INLINE void gather_rows(A* __restrict dst, const A* __restrict src, int64_t ld, const Word* mask, int64_t nw,
                           int64_t c) {
  for (int64_t w = 0; w < nw; ++w) {
    for (Word b = mask[w]; b; b &= b - 1) {
      const A* s = src + (w * kWordBits + __builtin_ctzll(b)) * ld;
      NM_SIMD
      for (int64_t j = 0; j < c; ++j) dst[j] += s[j];
    }
  }
}

// out [c, c] = popcount(A_i AND B_j) from the masks a [c, nw] and bt [nw, c] (B's masks word-major, so the
// popcounts vectorise over j); silent words of A are skipped.
#define NM_COUNTS_BODY                                                                                        \
  {                                                                                                           \
    for (int64_t i = 0; i < c; ++i) {                                                                         \
      int32_t* row = out + i * c;                                                                             \
      for (int64_t j = 0; j < c; ++j) row[j] = 0;                                                             \
      for (int64_t w = 0; w < nw; ++w) {                                                                      \
        const Word k = a[i * nw + w];                                                                         \
        if (!k) continue;                                                                                     \
        const Word* v = bt + w * c;                                                                           \
        for (int64_t j = 0; j < c; ++j) row[j] += static_cast<int32_t>(__builtin_popcountll(k & v[j]));       \
      }                                                                                                       \
    }                                                                                                         \
  }
NM_CLONES void and_counts_any(const Word* __restrict a, const Word* __restrict bt, int64_t c, int64_t nw,
                              int32_t* __restrict out) NM_COUNTS_BODY
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// VPOPCNTQ (AVX-512 VPOPCNTDQ, e.g. Zen 4, Ice Lake): 8 popcounts an instruction.
__attribute__((target("avx512f,avx512vpopcntdq"))) void and_counts_vpopcnt(const Word* __restrict a,
                                                                           const Word* __restrict bt, int64_t c,
                                                                           int64_t nw, int32_t* __restrict out)
    NM_COUNTS_BODY
#endif

inline void and_counts(const Word* a, const Word* bt, int64_t c, int64_t nw, int32_t* out) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  static const bool vpopcnt = __builtin_cpu_supports("avx512vpopcntdq");
  if (vpopcnt) return and_counts_vpopcnt(a, bt, c, nw, out);
#endif
  and_counts_any(a, bt, c, nw, out);
}

struct AttnGeom {
  int64_t M, C, N, h, c, wn;  // rows (T*B), channels, tokens, heads, channels per head, words per token mask
};

AttnGeom attn_geom(int64_t M, int64_t C, int64_t N, int64_t heads) {
  TORCH_CHECK(heads > 0 && C % heads == 0, "neuromap attention kernel: ", heads, " heads do not divide ", C,
              " channels");
  const AttnGeom g{M, C, N, heads, C / heads, words(N)};
  TORCH_CHECK(g.N * g.c < (int64_t(1) << 31), "neuromap attention kernel: counts could overflow int32");
  return g;
}

// One (row, head) group of the forward from its token masks qb, kb, vb [c, wn]: y (row stride C) and kvt =
// (K^T V)^T as reals [c, c] (for the backward). Scratch: t [wn, c] words, kv [c, c] and acc [N, c] int32.
#define NM_ATTN_GROUP_FORWARD(T, NAME, CW)                                                                    \
  NM_CLONES void attn_group_forward_##T##NAME(const Word* __restrict qb, const Word* __restrict kb,                 \
                                        const Word* __restrict vb, const AttnGeom& g, T* __restrict y,        \
                                        T* __restrict kvt, Word* __restrict t, int32_t* __restrict kv,        \
                                        int32_t* __restrict acc) {                                            \
    const int64_t c = CW, nw = g.wn;                                                                          \
    for (int64_t j = 0; j < c; ++j) { /* K's masks word-major: (K^T V)^T[j, i] = popcount(V_j AND K_i) */     \
      for (int64_t w = 0; w < nw; ++w) t[w * c + j] = kb[j * nw + w];                                         \
    }                                                                                                         \
    and_counts(vb, t, c, nw, kv);                                                                             \
    for (int64_t p = 0; p < c * c; ++p) kvt[p] = static_cast<T>(kv[p]);                                       \
    for (int64_t j = 0; j < c; ++j) {                                                                         \
      for (int64_t w = 0; w < nw; ++w) t[w * c + j] = vb[j * nw + w];                                         \
    }                                                                                                         \
    and_counts(kb, t, c, nw, kv); /* kv[i, j] = popcount(K_i AND V_j) */                                      \
    for (int64_t p = 0; p < g.N * c; ++p) acc[p] = 0;                                                         \
    for (int64_t i = 0; i < c; ++i) scatter_rows(acc, c, kv + i * c, qb + i * nw, nw, c);                     \
    for (int64_t n = 0; n < g.N; ++n) {                                                                       \
      for (int64_t j = 0; j < c; ++j) y[n * g.C + j] = static_cast<T>(acc[n * c + j]);                        \
    }                                                                                                         \
  }

// Each twice: for any head width, and for 16 channels a head (a compile-time width: every row operation is
// one AVX-512 register instead of a loop with its set-up, which dominates at this size).
NM_ATTN_GROUP_FORWARD(float, , g.c)
NM_ATTN_GROUP_FORWARD(double, , g.c)
NM_ATTN_GROUP_FORWARD(float, _c16, 16)
NM_ATTN_GROUP_FORWARD(double, _c16, 16)

inline void attn_group_forward(const Word* qb, const Word* kb, const Word* vb, const AttnGeom& g, float* y,
                               float* kvt, Word* t, int32_t* kv, int32_t* acc) {
  if (g.c == 16) return attn_group_forward_float_c16(qb, kb, vb, g, y, kvt, t, kv, acc);
  attn_group_forward_float(qb, kb, vb, g, y, kvt, t, kv, acc);
}
inline void attn_group_forward(const Word* qb, const Word* kb, const Word* vb, const AttnGeom& g, double* y,
                               double* kvt, Word* t, int32_t* kv, int32_t* acc) {
  if (g.c == 16) return attn_group_forward_double_c16(qb, kb, vb, g, y, kvt, t, kv, acc);
  attn_group_forward_double(qb, kb, vb, g, y, kvt, t, kv, acc);
}

template <typename T>
void attn_forward_impl(const Tensor& qb, const Tensor& kb, const Tensor& vb, const AttnGeom& g, Tensor& y,
                       Tensor& kvt) {
  T *Y = y.data_ptr<T>(), *KVT = kvt.data_ptr<T>();
  const Word *QB = words_of(qb), *KB = words_of(kb), *VB = words_of(vb);
  const int64_t c = g.c, cw = c * g.wn;  // cw: words of one head's masks
  at::parallel_for(0, g.M * g.h, grain_rows(2 * c * c * g.wn + 2 * g.N * c), [&](int64_t s0, int64_t s1) {
    std::vector<Word> t(static_cast<size_t>(cw));
    std::vector<int32_t> kv(static_cast<size_t>(c * c)), acc(static_cast<size_t>(g.N * c));
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t m = s / g.h, hh = s % g.h;
      attn_group_forward(QB + s * cw, KB + s * cw, VB + s * cw, g, Y + m * g.N * g.C + hh * c, KVT + s * c * c,
                         t.data(), kv.data(), acc.data());
    }
  });
}

void check_masks(const Tensor& qb, const Tensor& kb, const Tensor& vb, const AttnGeom& g) {
  for (const Tensor* t : {&qb, &kb, &vb}) {
    TORCH_CHECK(t->dim() == 3 && t->size(0) == g.M && t->size(1) == g.C && t->size(2) == g.wn &&
                    t->is_contiguous() && t->scalar_type() == at::kLong,
                "neuromap attention kernel: masks must be spike_masks of [M, C, N] spikes, shaped [M, C, words]");
  }
}

// Token masks qb, kb, vb [M, C, words(N)] (spike_masks of channel-major q, k, v [M, C, N]) ->
// [y [M, N, C] = Q (K^T V) per head, kvt [M, h, c, c] = (K^T V)^T per head] in `dtype`.
std::vector<Tensor> attn_forward(const Tensor& qb, const Tensor& kb, const Tensor& vb, int64_t heads, int64_t tokens,
                                 at::ScalarType dtype) {
  TORCH_CHECK(qb.dim() == 3 && qb.device().is_cpu() && tokens > 0 && words(tokens) == qb.size(2),
              "neuromap attention kernel: masks must be [M, C, words(tokens)]");
  const AttnGeom g = attn_geom(qb.size(0), qb.size(1), tokens, heads);
  check_masks(qb, kb, vb, g);
  auto opts = qb.options().dtype(dtype);
  Tensor y = at::empty({g.M, g.N, g.C}, opts), kvt = at::empty({g.M, g.h, g.c, g.c}, opts);
  AT_DISPATCH_FLOATING_TYPES(dtype, "neuromap_spike_attention_forward",
                             [&] { attn_forward_impl<scalar_t>(qb, kb, vb, g, y, kvt); });
  return {y, kvt};
}

// One (row, head) group of the backward: gy, gq, gk, gv point at its column block (row stride C); null
// outputs are skipped. gkv, gkvt [c, c] are scratch.
#define NM_ATTN_GROUP_BACKWARD(T, NAME, CW)                                                                   \
  NM_CLONES void attn_group_backward_##T##NAME(const T* __restrict gy, const T* __restrict kvt, const Word* qb,     \
                                         const Word* kb, const Word* vb, const AttnGeom& g, T* __restrict gq,  \
                                         T* __restrict gk, T* __restrict gv, T* __restrict gkv,                \
                                         T* __restrict gkvt) {                                                 \
    const int64_t c = CW, N = g.N, C = g.C, nw = g.wn;                                                        \
    if (gk || gv) { /* gkv[i, :] = sum of gy[n, :] over the active tokens n of Q_i */                         \
      for (int64_t p = 0; p < c * c; ++p) gkv[p] = T(0);                                                      \
      for (int64_t i = 0; i < c; ++i) gather_rows(gkv + i * c, gy, C, qb + i * nw, nw, c);                    \
    }                                                                                                         \
    if (gq) { /* gq[n, :] = sum_j gy[n, j] kvt[j, :] (counts, so dense) */                                    \
      for (int64_t n = 0; n < N; ++n) {                                                                       \
        const T* src = gy + n * C;                                                                            \
        T* out = gq + n * C;                                                                                  \
        for (int64_t i = 0; i < c; ++i) out[i] = T(0);                                                        \
        NM_NO_UNROLL /* keep j a loop: unrolled, GCC vectorises across j with shuffles and spills */          \
        for (int64_t j = 0; j < c; ++j) {                                                                     \
          const T a = src[j];                                                                                 \
          const T* r = kvt + j * c;                                                                           \
          NM_SIMD                                                                                             \
          for (int64_t i = 0; i < c; ++i) out[i] += a * r[i];                                                 \
        }                                                                                                     \
      }                                                                                                       \
    }                                                                                                         \
    if (gv) { /* gv[n, :] += gkv[i, :] for every active (n, i) of K */                                        \
      for (int64_t n = 0; n < N; ++n) {                                                                       \
        for (int64_t j = 0; j < c; ++j) gv[n * C + j] = T(0);                                                 \
      }                                                                                                       \
      for (int64_t i = 0; i < c; ++i) scatter_rows(gv, C, gkv + i * c, kb + i * nw, nw, c);                   \
    }                                                                                                         \
    if (gk) { /* gk[n, :] += gkv[:, j] for every active (n, j) of V */                                        \
      for (int64_t i = 0; i < c; ++i) {                                                                       \
        for (int64_t j = 0; j < c; ++j) gkvt[j * c + i] = gkv[i * c + j];                                     \
      }                                                                                                       \
      for (int64_t n = 0; n < N; ++n) {                                                                       \
        for (int64_t j = 0; j < c; ++j) gk[n * C + j] = T(0);                                                 \
      }                                                                                                       \
      for (int64_t j = 0; j < c; ++j) scatter_rows(gk, C, gkvt + j * c, vb + j * nw, nw, c);                  \
    }                                                                                                         \
  }

NM_ATTN_GROUP_BACKWARD(float, , g.c)
NM_ATTN_GROUP_BACKWARD(double, , g.c)
NM_ATTN_GROUP_BACKWARD(float, _c16, 16)
NM_ATTN_GROUP_BACKWARD(double, _c16, 16)

inline void attn_group_backward(const float* gy, const float* kvt, const Word* qb, const Word* kb, const Word* vb,
                                const AttnGeom& g, float* gq, float* gk, float* gv, float* s0, float* s1) {
  if (g.c == 16) return attn_group_backward_float_c16(gy, kvt, qb, kb, vb, g, gq, gk, gv, s0, s1);
  attn_group_backward_float(gy, kvt, qb, kb, vb, g, gq, gk, gv, s0, s1);
}
inline void attn_group_backward(const double* gy, const double* kvt, const Word* qb, const Word* kb, const Word* vb,
                                const AttnGeom& g, double* gq, double* gk, double* gv, double* s0, double* s1) {
  if (g.c == 16) return attn_group_backward_double_c16(gy, kvt, qb, kb, vb, g, gq, gk, gv, s0, s1);
  attn_group_backward_double(gy, kvt, qb, kb, vb, g, gq, gk, gv, s0, s1);
}

template <typename T>
void attn_backward_impl(const Tensor& gy, const Tensor& kvt, const Tensor& qb, const Tensor& kb, const Tensor& vb,
                        const AttnGeom& g, Tensor& gq, Tensor& gk, Tensor& gv) {
  const T *G = gy.data_ptr<T>(), *KVT = kvt.data_ptr<T>();
  const Word *QB = words_of(qb), *KB = words_of(kb), *VB = words_of(vb);
  T* GQ = gq.defined() ? gq.data_ptr<T>() : nullptr;
  T* GK = gk.defined() ? gk.data_ptr<T>() : nullptr;
  T* GV = gv.defined() ? gv.data_ptr<T>() : nullptr;
  const int64_t c = g.c, cw = c * g.wn;
  at::parallel_for(0, g.M * g.h, grain_rows(4 * g.N * c * c), [&](int64_t s0, int64_t s1) {
    std::vector<T> scratch(static_cast<size_t>(2 * c * c));
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t base = (s / g.h) * g.N * g.C + (s % g.h) * c;  // this group's column block
      attn_group_backward(G + base, KVT + s * c * c, QB + s * cw, KB + s * cw, VB + s * cw, g,
                          GQ ? GQ + base : nullptr, GK ? GK + base : nullptr, GV ? GV + base : nullptr,
                          scratch.data(), scratch.data() + c * c);
    }
  });
}

// gy [M, N, C], the forward's kvt and the masks -> [gq, gk, gv], each [M, N, C], or empty when not needed.
std::vector<Tensor> attn_backward(const Tensor& gy, const Tensor& kvt, const Tensor& qb, const Tensor& kb,
                                  const Tensor& vb, int64_t heads, bool need_q, bool need_k, bool need_v) {
  TORCH_CHECK(gy.dim() == 3 && gy.is_contiguous() && gy.device().is_cpu(),
              "neuromap attention kernel: grad_output must be a contiguous [M, N, C] CPU tensor");
  const AttnGeom g = attn_geom(gy.size(0), gy.size(2), gy.size(1), heads);
  check_masks(qb, kb, vb, g);
  TORCH_CHECK(kvt.dim() == 4 && kvt.size(0) == g.M && kvt.size(1) == g.h && kvt.size(2) == g.c &&
                  kvt.size(3) == g.c && kvt.is_contiguous() && kvt.scalar_type() == gy.scalar_type(),
              "neuromap attention kernel: kvt does not match grad_output");
  Tensor gq, gk, gv;
  if (need_q) gq = at::empty_like(gy);
  if (need_k) gk = at::empty_like(gy);
  if (need_v) gv = at::empty_like(gy);
  AT_DISPATCH_FLOATING_TYPES(gy.scalar_type(), "neuromap_spike_attention_backward",
                             [&] { attn_backward_impl<scalar_t>(gy, kvt, qb, kb, vb, g, gq, gk, gv); });
  for (Tensor* t : {&gq, &gk, &gv}) {
    if (!t->defined()) *t = at::empty({0}, gy.options());
  }
  return {gq, gk, gv};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(neuromap_kernels, m) {
  m.def("csr_rowptr(Tensor x) -> Tensor", &csr_rowptr);
  m.def("sparse_linear_forward(Tensor x, Tensor rowptr, Tensor wt, Tensor bias) -> Tensor[]", &linear_forward);
  m.def("sparse_linear_wgrad(Tensor rowptr, Tensor idx, Tensor val, Tensor grad_output, int in_features) -> Tensor",
        &linear_wgrad);
  m.def("sparse_conv2d_forward(Tensor x, Tensor wt, int sh, int sw, int ph, int pw) -> Tensor", &conv2d_forward);
  m.def("sparse_conv2d_wgrad(Tensor x, Tensor grad_output, int kh, int kw, int sh, int sw, int ph, int pw) -> Tensor",
        &conv2d_wgrad);
  m.def("spike_masks(Tensor x) -> (Tensor, int)", &spike_masks);
  m.def("spike_attention_forward(Tensor qb, Tensor kb, Tensor vb, int heads, int tokens, ScalarType dtype) -> Tensor[]",
        &attn_forward);
  m.def("spike_attention_backward(Tensor grad_output, Tensor kvt, Tensor qb, Tensor kb, Tensor vb, int heads, "
        "bool need_q, bool need_k, bool need_v) -> Tensor[]",
        &attn_backward);
}
