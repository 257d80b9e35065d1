// Fused LIF / CuBa-LIF recurrence on the CPU: forward and hand-written BPTT backward.
//
// The equations are the ones in neuromap/neurons/params.py; this file mirrors the pure-PyTorch
// loop in functional.py operation for operation (same order of multiplications and additions, no
// fused multiply-add: it is compiled with -ffp-contract=off), so its forward results are
// bit-identical to that loop.  Neurons are independent in time, so the work is split over
// neurons (at::parallel_for, i.e. torch's OpenMP pool and torch.set_num_threads) and each chunk
// runs its whole time loop with the state kept in a small local buffer.
//
// Layout: x and every sequence are [T, M] contiguous (M = batch * neurons); per-neuron values
// (beta, alpha, v_th, gain, leak) are either one element (stride 0) or M elements (stride 1).
// The backward needs only the pre-reset membrane h[t] (spikes are recomputed as h > v_th, so they
// take no memory), plus the synaptic current when gradients reach alpha (or beta with decay_input).

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

using at::Tensor;

constexpr int64_t kBlock = 256;  // neurons per inner block (state stays in L1)

enum Reset : int64_t { kSubtract = 0, kZero = 1, kNone = 2 };
enum Sur : int64_t { kFastSigmoid = 0, kAtan = 1, kSigmoid = 2, kTriangle = 3, kStraightThrough = 4 };

template <typename T>
struct Vals {
  const T* p;
  int64_t stride;
  inline T operator[](int64_t j) const { return p[j * stride]; }
};

template <typename T>
Vals<T> vals(const Tensor& t) {
  return Vals<T>{t.data_ptr<T>(), t.numel() == 1 ? 0 : 1};
}

template <typename T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() && t.numel() ? t.data_ptr<T>() : nullptr;
}

// The surrogate derivatives of surrogate.py, written as the same sequence of float operations.
// ``k`` is the slope; ``k_half`` = slope / 2 and ``k_atan`` = pi / 2 * slope, rounded from double
// exactly as Python rounds its scalar constants.
template <typename T>
inline T surrogate(T x, int64_t kind, T k, T k_half, T k_atan) {
  switch (kind) {
    case kFastSigmoid: {  // 1 / (k |x| + 1) ** 2
      T d = k * std::abs(x) + T(1);
      return T(1) / (d * d);
    }
    case kAtan: {  // (k / 2) / (1 + (pi / 2 * k * x) ** 2)
      T z = k_atan * x;
      return k_half / (T(1) + z * z);
    }
    case kSigmoid: {  // k * s * (1 - s), s = sigmoid(k x)
      T s = T(1) / (T(1) + std::exp(-(k * x)));
      return (k * s) * (T(1) - s);
    }
    case kTriangle: {  // max(0, 1 - k |x|)
      T y = T(1) - k * std::abs(x);
      return y > T(0) ? y : T(0);
    }
    default:
      return T(1);
  }
}

template <typename T>
inline bool fire(T h, T th, bool inclusive) {
  return inclusive ? (h >= th) : (h > th);
}

int64_t grain_for(int64_t T_, int64_t M) {
  // Below ~1M element-steps (well under a millisecond of work) one thread is faster than waking
  // the pool (and on a busy machine a descheduled pool thread stalls the whole call); above it,
  // aim for >= ~64k element-steps per task.
  if (T_ * M < (int64_t(1) << 20)) return std::max<int64_t>(M, 1);
  int64_t g = 65536 / std::max<int64_t>(T_, 1);
  return std::max<int64_t>(std::min<int64_t>(g, M), 1);
}

// Fast path of forward_impl for neuromap's default neuron (immediate subtractive reset, h > v_th,
// V = beta V + X, no membrane trace): the same operations in the same order as the general loop,
// with the configuration fixed at compile time so the inner loop has no branches and vectorises.
template <typename T, bool CUBA, bool STORE_H, bool STORE_I>
void forward_default(int64_t T_, int64_t M, const T* __restrict__ X, const T* V0, const T* I0, Vals<T> be, Vals<T> al,
                     Vals<T> th, Vals<T> lk, T* __restrict__ S, T* __restrict__ H, T* __restrict__ I, T* VO, T* IO) {
  at::parallel_for(0, M, grain_for(T_, M), [&](int64_t begin, int64_t end) {
    T v[kBlock], cur_i[kBlock], b_be[kBlock], b_al[kBlock], b_th[kBlock], b_lk[kBlock];
    for (int64_t j0 = begin; j0 < end; j0 += kBlock) {
      const int64_t n = std::min(kBlock, end - j0);
      for (int64_t k = 0; k < n; ++k) {
        b_be[k] = be[j0 + k];
        b_al[k] = al[j0 + k];
        b_th[k] = th[j0 + k];
        b_lk[k] = lk[j0 + k];
        v[k] = V0[j0 + k];
        cur_i[k] = CUBA ? I0[j0 + k] : T(0);
      }
      for (int64_t t = 0; t < T_; ++t) {
        const int64_t off = t * M + j0;
        const T* __restrict__ x = X + off;
        T* __restrict__ s_out = S + off;
        T* __restrict__ h_out = STORE_H ? H + off : nullptr;
        T* __restrict__ i_out = STORE_I ? I + off : nullptr;
        for (int64_t k = 0; k < n; ++k) {
          T cur;
          if constexpr (CUBA) {
            const T ii = b_al[k] * cur_i[k] + x[k];
            cur_i[k] = ii;
            if constexpr (STORE_I) i_out[k] = ii;
            cur = ii;
          } else {
            cur = x[k];
          }
          T h = b_be[k] * v[k] + b_lk[k];
          h = h + cur;
          const T s = static_cast<T>(h > b_th[k]);  // branch-free, so the loop vectorises
          s_out[k] = s;
          if constexpr (STORE_H) h_out[k] = h;
          v[k] = h - b_th[k] * s;
        }
      }
      for (int64_t k = 0; k < n; ++k) {
        VO[j0 + k] = v[k];
        if constexpr (CUBA) IO[j0 + k] = cur_i[k];
      }
    }
  });
}

template <typename T>
void forward_impl(const Tensor& x, const Tensor& v0, const Tensor& i0, const Tensor& s0, const Tensor& beta,
                  const Tensor& alpha, const Tensor& vth, const Tensor& gain, const Tensor& leak, bool cuba,
                  int64_t reset, double v_reset_d, bool inclusive, bool reset_delay, bool decay_input, Tensor& spikes,
                  Tensor& h_seq, Tensor& i_seq, Tensor& v_seq, Tensor& v_out, Tensor& i_out, Tensor& s_out) {
  const int64_t T_ = x.size(0), M = x.size(1);
  const T* X = x.data_ptr<T>();
  const T* V0 = v0.data_ptr<T>();
  const T* I0 = ptr_or_null<T>(i0);
  const T* S0 = ptr_or_null<T>(s0);
  T* S = spikes.data_ptr<T>();
  T* H = ptr_or_null<T>(h_seq);
  T* I = ptr_or_null<T>(i_seq);
  T* V = ptr_or_null<T>(v_seq);
  T* VO = v_out.data_ptr<T>();
  T* IO = ptr_or_null<T>(i_out);
  T* SO = ptr_or_null<T>(s_out);
  const auto be = vals<T>(beta), al = vals<T>(alpha), th = vals<T>(vth), ga = vals<T>(gain), lk = vals<T>(leak);
  const T v_reset = static_cast<T>(v_reset_d);
  const bool keep_reset = !reset_delay && reset != kNone;
  if (reset == kSubtract && !reset_delay && !decay_input && !inclusive && V == nullptr && (!cuba || IO != nullptr)) {
    const bool sh = H != nullptr, si = I != nullptr;
    if (cuba) {
      if (sh && si) forward_default<T, true, true, true>(T_, M, X, V0, I0, be, al, th, lk, S, H, I, VO, IO);
      else if (sh) forward_default<T, true, true, false>(T_, M, X, V0, I0, be, al, th, lk, S, H, I, VO, IO);
      else if (si) forward_default<T, true, false, true>(T_, M, X, V0, I0, be, al, th, lk, S, H, I, VO, IO);
      else forward_default<T, true, false, false>(T_, M, X, V0, I0, be, al, th, lk, S, H, I, VO, IO);
    } else {
      if (sh) forward_default<T, false, true, false>(T_, M, X, V0, I0, be, al, th, lk, S, H, I, VO, IO);
      else forward_default<T, false, false, false>(T_, M, X, V0, I0, be, al, th, lk, S, H, I, VO, IO);
    }
    return;
  }

  at::parallel_for(0, M, grain_for(T_, M), [&](int64_t begin, int64_t end) {
    T v[kBlock], cur_i[kBlock], sp[kBlock], b_be[kBlock], b_al[kBlock], b_th[kBlock], b_ga[kBlock], b_lk[kBlock];
    for (int64_t j0 = begin; j0 < end; j0 += kBlock) {
      const int64_t n = std::min(kBlock, end - j0);
      for (int64_t k = 0; k < n; ++k) {
        b_be[k] = be[j0 + k];
        b_al[k] = al[j0 + k];
        b_th[k] = th[j0 + k];
        b_ga[k] = ga[j0 + k];
        b_lk[k] = lk[j0 + k];
        v[k] = V0[j0 + k];
        cur_i[k] = cuba ? I0[j0 + k] : T(0);
        sp[k] = reset_delay ? S0[j0 + k] : T(0);
      }
      for (int64_t t = 0; t < T_; ++t) {
        const int64_t off = t * M + j0;
        for (int64_t k = 0; k < n; ++k) {
          T cur;
          if (cuba) {
            const T ii = b_al[k] * cur_i[k] + X[off + k];
            cur_i[k] = ii;
            if (I) I[off + k] = ii;
            cur = ii;
          } else {
            cur = X[off + k];
          }
          T h = b_be[k] * v[k] + b_lk[k];
          h = h + (decay_input ? b_ga[k] * cur : cur);
          const T thj = b_th[k];
          if (reset_delay) h = h - thj * sp[k];
          const bool f = fire(h, thj, inclusive);
          const T s = f ? T(1) : T(0);
          S[off + k] = s;
          if (H) H[off + k] = h;
          T vn = h;
          if (keep_reset) vn = (reset == kSubtract) ? h - thj * s : (f ? v_reset : h);
          v[k] = vn;
          if (V) V[off + k] = vn;
          sp[k] = s;
        }
      }
      for (int64_t k = 0; k < n; ++k) {
        VO[j0 + k] = v[k];
        if (IO) IO[j0 + k] = cur_i[k];
        if (SO) SO[j0 + k] = sp[k];
      }
    }
  });
}

std::vector<Tensor> lif_forward(const Tensor& x, const Tensor& v0, const Tensor& i0, const Tensor& s0,
                                const Tensor& beta, const Tensor& alpha, const Tensor& vth, const Tensor& gain,
                                const Tensor& leak, bool cuba, int64_t reset, double v_reset, bool inclusive,
                                bool reset_delay, bool decay_input, bool store_h, bool store_i, bool store_v) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "neuromap kernel: x must be a contiguous [T, M] tensor");
  const int64_t T_ = x.size(0), M = x.size(1);
  const auto opts = x.options();
  Tensor spikes = at::empty({T_, M}, opts);
  Tensor h_seq = store_h ? at::empty({T_, M}, opts) : at::empty({0}, opts);
  Tensor i_seq = (store_i && cuba) ? at::empty({T_, M}, opts) : at::empty({0}, opts);
  Tensor v_seq = store_v ? at::empty({T_, M}, opts) : at::empty({0}, opts);
  Tensor v_out = at::empty({M}, opts);
  Tensor i_out = cuba ? at::empty({M}, opts) : at::empty({0}, opts);
  Tensor s_out = reset_delay ? at::empty({M}, opts) : at::empty({0}, opts);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neuromap_lif_forward", [&] {
    forward_impl<scalar_t>(x, v0, i0, s0, beta, alpha, vth, gain, leak, cuba, reset, v_reset, inclusive, reset_delay,
                           decay_input, spikes, h_seq, i_seq, v_seq, v_out, i_out, s_out);
  });
  return {spikes, v_seq, v_out, i_out, s_out, h_seq, i_seq};
}

// The surrogate derivative dS/dh for one block of neurons at one step: one branch-free loop per kind.
template <typename T>
inline void surrogate_block(const T* h, const T* th, int64_t n, int64_t sur, T k, T k_half, T k_atan, T* out) {
  switch (sur) {
    case kFastSigmoid:
      for (int64_t q = 0; q < n; ++q) out[q] = surrogate<T>(h[q] - th[q], kFastSigmoid, k, k_half, k_atan);
      break;
    case kAtan:
      for (int64_t q = 0; q < n; ++q) out[q] = surrogate<T>(h[q] - th[q], kAtan, k, k_half, k_atan);
      break;
    case kSigmoid:
      for (int64_t q = 0; q < n; ++q) out[q] = surrogate<T>(h[q] - th[q], kSigmoid, k, k_half, k_atan);
      break;
    case kTriangle:
      for (int64_t q = 0; q < n; ++q) out[q] = surrogate<T>(h[q] - th[q], kTriangle, k, k_half, k_atan);
      break;
    default:
      for (int64_t q = 0; q < n; ++q) out[q] = T(1);
  }
}

// Fast path of backward_impl for the default neuron (immediate subtractive reset, h > v_th, no
// decay_input, no membrane-trace gradient, no parameter gradients): the general loop's operations
// in the same order, with the configuration fixed at compile time.
template <typename T, bool CUBA, bool DETACH>
void backward_default(int64_t T_, int64_t M, const T* GS, const T* GV, const T* GI, const T* H, Vals<T> be,
                      Vals<T> al, Vals<T> th, int64_t sur, T k, T k_half, T k_atan, T* GX, T* GV0, T* GI0) {
  at::parallel_for(0, M, grain_for(T_, M), [&](int64_t begin, int64_t end) {
    T gv[kBlock], gI[kBlock], b_be[kBlock], b_al[kBlock], b_th[kBlock], dsdh[kBlock];
    for (int64_t j0 = begin; j0 < end; j0 += kBlock) {
      const int64_t n = std::min(kBlock, end - j0);
      for (int64_t q = 0; q < n; ++q) {
        b_be[q] = be[j0 + q];
        b_al[q] = al[j0 + q];
        b_th[q] = th[j0 + q];
        gv[q] = GV ? GV[j0 + q] : T(0);
        gI[q] = GI ? GI[j0 + q] : T(0);
      }
      for (int64_t t = T_ - 1; t >= 0; --t) {
        const int64_t off = t * M + j0;
        const T* h = H + off;
        const T* gs = GS + off;
        T* gx = GX + off;
        surrogate_block<T>(h, b_th, n, sur, k, k_half, k_atan, dsdh);
        for (int64_t q = 0; q < n; ++q) {
          const T thj = b_th[q];
          const T g_total_v = gv[q];
          T g_total_s = gs[q];
          if constexpr (!DETACH) g_total_s = g_total_s - thj * g_total_v;
          const T gh = g_total_v + g_total_s * dsdh[q];
          gv[q] = b_be[q] * gh;
          if constexpr (CUBA) {
            const T gIt = gh + gI[q];
            gI[q] = b_al[q] * gIt;
            gx[q] = gIt;
          } else {
            gx[q] = gh;
          }
        }
      }
      for (int64_t q = 0; q < n; ++q) {
        GV0[j0 + q] = gv[q];
        if constexpr (CUBA) GI0[j0 + q] = gI[q];
      }
    }
  });
}

template <typename T>
void backward_impl(const Tensor& g_spikes, const Tensor& g_vseq, const Tensor& g_v, const Tensor& g_i,
                   const Tensor& g_s, const Tensor& h_seq, const Tensor& i_seq, const Tensor& x, const Tensor& v0,
                   const Tensor& i0, const Tensor& s0, const Tensor& beta, const Tensor& alpha, const Tensor& vth,
                   const Tensor& gain, bool cuba, int64_t reset, double v_reset_d, double v_leak_d, bool inclusive,
                   bool reset_delay, bool decay_input, bool detach_reset, int64_t sur, double slope_d, bool need_beta,
                   bool need_alpha, bool need_th, Tensor& gx, Tensor& gv0, Tensor& gi0, Tensor& gs0, Tensor& gbeta,
                   Tensor& galpha, Tensor& gth) {
  const int64_t T_ = h_seq.size(0), M = h_seq.size(1);
  const T* GS = ptr_or_null<T>(g_spikes);
  const T* GVS = ptr_or_null<T>(g_vseq);
  const T* GV = ptr_or_null<T>(g_v);
  const T* GI = ptr_or_null<T>(g_i);
  const T* GSL = ptr_or_null<T>(g_s);
  const T* H = h_seq.data_ptr<T>();
  const T* I = ptr_or_null<T>(i_seq);
  const T* X = ptr_or_null<T>(x);
  const T* V0 = v0.data_ptr<T>();
  const T* I0 = ptr_or_null<T>(i0);
  const T* S0 = ptr_or_null<T>(s0);
  T* GX = gx.data_ptr<T>();
  T* GV0 = gv0.data_ptr<T>();
  T* GI0 = ptr_or_null<T>(gi0);
  T* GS0 = ptr_or_null<T>(gs0);
  T* GB = ptr_or_null<T>(gbeta);
  T* GA = ptr_or_null<T>(galpha);
  T* GT = ptr_or_null<T>(gth);
  const auto be = vals<T>(beta), al = vals<T>(alpha), th = vals<T>(vth), ga = vals<T>(gain);
  const T v_reset = static_cast<T>(v_reset_d), v_leak = static_cast<T>(v_leak_d), k = static_cast<T>(slope_d);
  const T k_half = static_cast<T>(slope_d / 2.0), k_atan = static_cast<T>(M_PI / 2.0 * slope_d);
  const bool immediate = !reset_delay && reset != kNone;
  if (reset == kSubtract && !reset_delay && !decay_input && !inclusive && GVS == nullptr && GS != nullptr &&
      !need_beta && !need_alpha && !need_th && (!cuba || GI0 != nullptr)) {
    if (cuba) {
      if (detach_reset) backward_default<T, true, true>(T_, M, GS, GV, GI, H, be, al, th, sur, k, k_half, k_atan, GX, GV0, GI0);
      else backward_default<T, true, false>(T_, M, GS, GV, GI, H, be, al, th, sur, k, k_half, k_atan, GX, GV0, GI0);
    } else {
      if (detach_reset) backward_default<T, false, true>(T_, M, GS, GV, GI, H, be, al, th, sur, k, k_half, k_atan, GX, GV0, GI0);
      else backward_default<T, false, false>(T_, M, GS, GV, GI, H, be, al, th, sur, k, k_half, k_atan, GX, GV0, GI0);
    }
    return;
  }

  at::parallel_for(0, M, grain_for(T_, M), [&](int64_t begin, int64_t end) {
    T gv[kBlock], gI[kBlock], gsc[kBlock], gb[kBlock], gal[kBlock], gt[kBlock];
    T b_be[kBlock], b_al[kBlock], b_th[kBlock], b_ga[kBlock], dsdh_blk[kBlock];
    for (int64_t j0 = begin; j0 < end; j0 += kBlock) {
      const int64_t n = std::min(kBlock, end - j0);
      for (int64_t q = 0; q < n; ++q) {
        b_be[q] = be[j0 + q];
        b_al[q] = al[j0 + q];
        b_th[q] = th[j0 + q];
        b_ga[q] = ga[j0 + q];
        gv[q] = GV ? GV[j0 + q] : T(0);
        gI[q] = GI ? GI[j0 + q] : T(0);
        gsc[q] = GSL ? GSL[j0 + q] : T(0);
        gb[q] = T(0);
        gal[q] = T(0);
        gt[q] = T(0);
      }
      for (int64_t t = T_ - 1; t >= 0; --t) {
        const int64_t off = t * M + j0;
        const int64_t prev = off - M;
        surrogate_block<T>(H + off, b_th, n, sur, k, k_half, k_atan, dsdh_blk);
        for (int64_t q = 0; q < n; ++q) {
          const int64_t j = j0 + q;
          const T thj = b_th[q];
          const T h = H[off + q];
          const T s = fire(h, thj, inclusive) ? T(1) : T(0);
          const T dsdh = dsdh_blk[q];
          const T g_total_v = GVS ? gv[q] + GVS[off + q] : gv[q];
          T g_total_s = GS ? GS[off + q] : T(0);
          if (reset_delay) g_total_s = g_total_s + gsc[q];
          T dvdh = g_total_v;
          if (immediate && reset == kSubtract) {
            if (!detach_reset) g_total_s = g_total_s - thj * g_total_v;
            if (need_th) gt[q] = gt[q] - g_total_v * s;
          } else if (immediate) {  // zero reset
            dvdh = g_total_v * (T(1) - s);
            if (!detach_reset) g_total_s = g_total_s + (v_reset - h) * g_total_v;
          }
          const T gh = dvdh + g_total_s * dsdh;
          if (need_th) gt[q] = gt[q] - g_total_s * dsdh;
          T s_prev, v_prev;
          if (t > 0) {
            const T hp = H[prev + q];
            const bool fp = fire(hp, thj, inclusive);
            s_prev = fp ? T(1) : T(0);
            if (!immediate) {
              v_prev = hp;
            } else if (reset == kSubtract) {
              v_prev = hp - thj * s_prev;
            } else {
              v_prev = fp ? v_reset : hp;
            }
          } else {
            s_prev = reset_delay ? S0[j] : T(0);
            v_prev = V0[j];
          }
          if (reset_delay) {
            if (need_th) gt[q] = gt[q] - gh * s_prev;
            gsc[q] = detach_reset ? T(0) : -thj * gh;
          }
          if (need_beta) {
            T dh_dbeta = v_prev - v_leak;
            if (decay_input) dh_dbeta = dh_dbeta - (cuba ? I[off + q] : X[off + q]);
            gb[q] = gb[q] + gh * dh_dbeta;
          }
          const T g_cur = decay_input ? b_ga[q] * gh : gh;
          gv[q] = b_be[q] * gh;
          if (cuba) {
            const T gIt = g_cur + gI[q];
            gI[q] = b_al[q] * gIt;
            GX[off + q] = gIt;
            if (need_alpha) gal[q] = gal[q] + gIt * (t > 0 ? I[prev + q] : I0[j]);
          } else {
            GX[off + q] = g_cur;
          }
        }
      }
      for (int64_t q = 0; q < n; ++q) {
        GV0[j0 + q] = gv[q];
        if (GI0) GI0[j0 + q] = gI[q];
        if (GS0) GS0[j0 + q] = gsc[q];
        if (GB) GB[j0 + q] = gb[q];
        if (GA) GA[j0 + q] = gal[q];
        if (GT) GT[j0 + q] = gt[q];
      }
    }
  });
}

std::vector<Tensor> lif_backward(const Tensor& g_spikes, const Tensor& g_vseq, const Tensor& g_v, const Tensor& g_i,
                                 const Tensor& g_s, const Tensor& h_seq, const Tensor& i_seq, const Tensor& x,
                                 const Tensor& v0, const Tensor& i0, const Tensor& s0, const Tensor& beta,
                                 const Tensor& alpha, const Tensor& vth, const Tensor& gain, bool cuba, int64_t reset,
                                 double v_reset, double v_leak, bool inclusive, bool reset_delay, bool decay_input,
                                 bool detach_reset, int64_t sur, double slope, bool need_beta, bool need_alpha,
                                 bool need_th) {
  TORCH_CHECK(h_seq.dim() == 2 && h_seq.is_contiguous(), "neuromap kernel: h must be a contiguous [T, M] tensor");
  const int64_t T_ = h_seq.size(0), M = h_seq.size(1);
  const auto opts = h_seq.options();
  Tensor gx = at::empty({T_, M}, opts);
  Tensor gv0 = at::empty({M}, opts);
  Tensor gi0 = cuba ? at::empty({M}, opts) : at::empty({0}, opts);
  Tensor gs0 = (reset_delay && !detach_reset) ? at::empty({M}, opts) : at::empty({0}, opts);
  Tensor gbeta = need_beta ? at::empty({M}, opts) : at::empty({0}, opts);
  Tensor galpha = need_alpha ? at::empty({M}, opts) : at::empty({0}, opts);
  Tensor gth = need_th ? at::empty({M}, opts) : at::empty({0}, opts);
  AT_DISPATCH_FLOATING_TYPES(h_seq.scalar_type(), "neuromap_lif_backward", [&] {
    backward_impl<scalar_t>(g_spikes, g_vseq, g_v, g_i, g_s, h_seq, i_seq, x, v0, i0, s0, beta, alpha, vth, gain, cuba,
                            reset, v_reset, v_leak, inclusive, reset_delay, decay_input, detach_reset, sur, slope,
                            need_beta, need_alpha, need_th, gx, gv0, gi0, gs0, gbeta, galpha, gth);
  });
  return {gx, gv0, gi0, gs0, gbeta, galpha, gth};
}

}  // namespace

TORCH_LIBRARY(neuromap_kernels, m) {
  m.def(
      "lif_forward(Tensor x, Tensor v0, Tensor i0, Tensor s0, Tensor beta, Tensor alpha, Tensor v_th, Tensor gain, "
      "Tensor leak, bool cuba, int reset, float v_reset, bool inclusive, bool reset_delay, bool decay_input, "
      "bool store_h, bool store_i, bool store_v) -> Tensor[]",
      &lif_forward);
  m.def(
      "lif_backward(Tensor g_spikes, Tensor g_vseq, Tensor g_v, Tensor g_i, Tensor g_s, Tensor h_seq, Tensor i_seq, "
      "Tensor x, Tensor v0, Tensor i0, Tensor s0, Tensor beta, Tensor alpha, Tensor v_th, Tensor gain, bool cuba, "
      "int reset, float v_reset, float v_leak, bool inclusive, bool reset_delay, bool decay_input, bool detach_reset, "
      "int surrogate, float slope, bool need_beta, bool need_alpha, bool need_th) -> Tensor[]",
      &lif_backward);
}
