// Element-wise kernels: broadcasting arithmetic, activations, Softmax, Cast.
#include <array>
#include <cmath>
#include <cstring>

#include "common.h"

namespace edgeco::kernels::ref {
namespace {

template <class T>
T integer_pow(T base, T exponent) {
  if (exponent < 0) return base == 1 ? 1 : 0;
  T result = 1;
  while (exponent-- > 0) result = static_cast<T>(result * base);
  return result;
}

template <class Op>
KernelFn binary(Op op) {
  return [op](const KernelArgs& args) {
    const Tensor& a = args.in(0);
    const Tensor& b = args.in(1);
    Tensor& y = args.out(0);
    dispatch_numeric(a.dtype(), args, [&](auto tag) {
      using T = decltype(tag);
      auto pa = a.data<T>();
      auto py = y.data<T>();
      // Pow's exponent may have another type; everything else shares T.
      if (b.dtype() != a.dtype()) {
        const std::vector<double> pb = b.to_doubles();
        for_each_broadcast<2>(y.dims(), {a.dims(), b.dims()}, [&](int64_t i, const auto& off) {
          py[size_t(i)] = static_cast<T>(op(double(pa[size_t(off[0])]), pb[size_t(off[1])]));
        });
        return;
      }
      auto pb = b.data<T>();
      for_each_broadcast<2>(y.dims(), {a.dims(), b.dims()}, [&](int64_t i, const auto& off) {
        py[size_t(i)] = static_cast<T>(op(pa[size_t(off[0])], pb[size_t(off[1])]));
      });
    });
  };
}

struct DivOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) throw Error(ErrorKind::invalid_argument, "integer division by zero");
      return static_cast<T>(a / b);
    } else {
      return a / b;
    }
  }
};

struct PowOp {
  template <class A, class B>
  auto operator()(A a, B b) const {
    if constexpr (std::is_integral_v<A> && std::is_integral_v<B>)
      return integer_pow<A>(a, static_cast<A>(b));
    else
      return std::pow(double(a), double(b));
  }
};

template <class Fold>
KernelFn variadic(Fold fold, bool mean) {
  return [fold, mean](const KernelArgs& args) {
    Tensor& y = args.out(0);
    dispatch_numeric(y.dtype(), args, [&](auto tag) {
      using T = decltype(tag);
      auto py = y.data<T>();
      for (size_t k = 0; k < args.inputs.size(); ++k) {
        const Tensor& x = args.in(k);
        auto px = x.data<T>();
        // Broadcast x into y, folding with what is there.
        for_each_broadcast<2>(y.dims(), {y.dims(), x.dims()}, [&](int64_t i, const auto& off) {
          py[size_t(i)] =
              k == 0 ? px[size_t(off[1])] : static_cast<T>(fold(py[size_t(i)], px[size_t(off[1])]));
        });
      }
      if (mean)
        for (auto& v : py) v = static_cast<T>(v / static_cast<T>(args.inputs.size()));
    });
  };
}

// `make(node)` returns the element function with the node's attributes already read, so the
// per-element loop does no attribute lookups.
template <class Make>
KernelFn unary_float_with(Make make) {
  return [make](const KernelArgs& args) {
    const Tensor& x = args.in(0);
    Tensor& y = args.out(0);
    const auto f = make(args.node);
    dispatch_float(x.dtype(), args, [&](auto tag) {
      using T = decltype(tag);
      auto px = x.data<T>();
      auto py = y.data<T>();
      for (size_t i = 0; i < px.size(); ++i) py[i] = static_cast<T>(f(double(px[i])));
    });
  };
}

template <class F>
KernelFn unary_float(F f) {
  return unary_float_with([f](const Node&) { return f; });
}

template <class F>
KernelFn unary_numeric(F f) {
  return [f](const KernelArgs& args) {
    const Tensor& x = args.in(0);
    Tensor& y = args.out(0);
    dispatch_numeric(x.dtype(), args, [&](auto tag) {
      using T = decltype(tag);
      auto px = x.data<T>();
      auto py = y.data<T>();
      for (size_t i = 0; i < px.size(); ++i) py[i] = f(px[i]);
    });
  };
}

void clip(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  dispatch_numeric(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
    if (args.opset < 11) {
      lo = saturate<T>(args.node.attr_float("min", -std::numeric_limits<float>::max()));
      hi = saturate<T>(args.node.attr_float("max", std::numeric_limits<float>::max()));
    } else {
      if (args.has(1)) lo = args.in(1).data<T>()[0];
      if (args.has(2)) hi = args.in(2).data<T>()[0];
    }
    auto px = x.data<T>();
    auto py = y.data<T>();
    // min(max(x, lo), hi): when lo > hi every element becomes hi, as the spec's reference does.
    for (size_t i = 0; i < px.size(); ++i) py[i] = std::min(std::max(px[i], lo), hi);
  });
}

// The Softmax family runs along `axis`; before opset 13 the input is coerced to 2-D at `axis`
// instead. Calls row(base, length, stride) for each row: elements base + k * stride, k < length.
template <class Row>
void for_each_softmax_row(const KernelArgs& args, const Tensor& x, Row row) {
  const int64_t axis = normalize_axis(args.node.attr_int("axis", args.opset >= 13 ? -1 : 1),
                                      int64_t(x.rank()), "axis");
  const int64_t outer = product(x.dims(), 0, size_t(axis));
  const int64_t inner = args.opset >= 13 ? product(x.dims(), size_t(axis) + 1) : 1;
  const int64_t length = args.opset >= 13 ? x.dim(size_t(axis)) : product(x.dims(), size_t(axis));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) row(o * length * inner + in, length, inner);
}

void softmax(const KernelArgs& args, bool log) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  dispatch_float(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto py = y.data<T>();
    for_each_softmax_row(args, x, [&](int64_t base, int64_t length, int64_t stride) {
      auto at = [&](int64_t k) { return size_t(base + k * stride); };
      double max_v = -INFINITY;
      for (int64_t k = 0; k < length; ++k) max_v = std::max(max_v, double(px[at(k)]));
      double sum = 0;
      for (int64_t k = 0; k < length; ++k) sum += std::exp(double(px[at(k)]) - max_v);
      for (int64_t k = 0; k < length; ++k) {
        const double shifted = double(px[at(k)]) - max_v;
        py[at(k)] = static_cast<T>(log ? shifted - std::log(sum) : std::exp(shifted) / sum);
      }
    });
  });
}

// 1 at the first maximum of each row, 0 elsewhere.
void hardmax(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  dispatch_float(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto py = y.data<T>();
    for_each_softmax_row(args, x, [&](int64_t base, int64_t length, int64_t stride) {
      int64_t best = 0;
      for (int64_t k = 1; k < length; ++k)
        if (px[size_t(base + k * stride)] > px[size_t(base + best * stride)]) best = k;
      if (length > 0) py[size_t(base + best * stride)] = T{1};
    });
  });
}

void prelu(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  Tensor slope = args.in(1);
  if (args.opset < 7 && slope.rank() == 1 && x.rank() >= 2 && slope.numel() == x.dim(1) &&
      slope.numel() != 1) {
    Dims per_channel(x.rank() - 1, 1);
    per_channel[0] = slope.numel();
    slope = slope.reshaped(per_channel);
  }
  Tensor& y = args.out(0);
  dispatch_float(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto ps = slope.data<T>();
    auto py = y.data<T>();
    for_each_broadcast<2>(y.dims(), {x.dims(), slope.dims()}, [&](int64_t i, const auto& off) {
      const T v = px[size_t(off[0])];
      py[size_t(i)] = v < 0 ? v * ps[size_t(off[1])] : v;
    });
  });
}

// Comparisons and logic ops: any input type, bool output.
template <class Op>
KernelFn compare(Op op) {
  return [op](const KernelArgs& args) {
    const Tensor& a = args.in(0);
    const Tensor& b = args.in(1);
    auto py = args.out(0).data<bool>();
    auto run = [&](auto tag) {
      using T = decltype(tag);
      auto pa = a.data<T>();
      auto pb = b.data<T>();
      for_each_broadcast<2>(args.out(0).dims(), {a.dims(), b.dims()},
                            [&](int64_t i, const auto& off) {
                              py[size_t(i)] = op(pa[size_t(off[0])], pb[size_t(off[1])]);
                            });
    };
    if (a.dtype() == DType::boolean)
      run(bool{});
    else
      dispatch_numeric(a.dtype(), args, run);
  };
}

void where(const KernelArgs& args) {
  const Tensor& cond = args.in(0);
  const Tensor& a = args.in(1);
  const Tensor& b = args.in(2);
  Tensor& y = args.out(0);
  const size_t elem = dtype_size(y.dtype());
  auto pc = cond.data<bool>();
  for_each_broadcast<3>(y.dims(), {cond.dims(), a.dims(), b.dims()},
                        [&](int64_t i, const auto& off) {
                          const Tensor& src = pc[size_t(off[0])] ? a : b;
                          const int64_t at = pc[size_t(off[0])] ? off[1] : off[2];
                          std::memcpy(y.bytes().data() + size_t(i) * elem,
                                      src.bytes().data() + size_t(at) * elem, elem);
                        });
}

struct ModOp {
  bool fmod;
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) throw Error(ErrorKind::invalid_argument, "integer modulo by zero");
      T r = static_cast<T>(a % b);
      // Without fmod the result takes the divisor's sign, as Python's %.
      if constexpr (std::is_signed_v<T>)
        if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
      return r;
    } else {
      return static_cast<T>(std::fmod(a, b));
    }
  }
};

}  // namespace

void register_elementwise(KernelRegistry& r) {
  r.add("Add", binary([](auto a, auto b) { return a + b; }));
  r.add("Sub", binary([](auto a, auto b) { return a - b; }));
  r.add("Mul", binary([](auto a, auto b) { return a * b; }));
  r.add("Div", binary(DivOp{}));
  r.add("Pow", binary(PowOp{}));
  r.add("Max", variadic([](auto a, auto b) { return std::max(a, b); }, false));
  r.add("Min", variadic([](auto a, auto b) { return std::min(a, b); }, false));
  r.add("Sum", variadic([](auto a, auto b) { return a + b; }, false));
  r.add("Mean", variadic([](auto a, auto b) { return a + b; }, true));

  r.add("Relu", unary_numeric([](auto v) { return v > 0 ? v : decltype(v){0}; }));
  r.add("Abs", unary_numeric([](auto v) {
          if constexpr (std::is_unsigned_v<decltype(v)>)
            return v;
          else
            return static_cast<decltype(v)>(v < 0 ? -v : v);
        }));
  r.add("Neg", unary_numeric([](auto v) { return static_cast<decltype(v)>(-v); }));
  r.add("Sigmoid", unary_float([](double v) { return 1.0 / (1.0 + std::exp(-v)); }));
  r.add("Tanh", unary_float([](double v) { return std::tanh(v); }));
  r.add("Sqrt", unary_float([](double v) { return std::sqrt(v); }));
  r.add("Exp", unary_float([](double v) { return std::exp(v); }));
  r.add("Log", unary_float([](double v) { return std::log(v); }));
  r.add("Erf", unary_float([](double v) { return std::erf(v); }));
  r.add("Reciprocal", unary_float([](double v) { return 1.0 / v; }));
  r.add("Floor", unary_float([](double v) { return std::floor(v); }));
  r.add("Ceil", unary_float([](double v) { return std::ceil(v); }));
  r.add("HardSwish", unary_float([](double v) { return v * std::clamp(v / 6.0 + 0.5, 0.0, 1.0); }));
  r.add("LeakyRelu", unary_float_with([](const Node& n) {
          const double alpha = n.attr_float("alpha", 0.01f);
          return [alpha](double v) { return v < 0 ? v * alpha : v; };
        }));
  r.add("Elu", unary_float_with([](const Node& n) {
          const double alpha = n.attr_float("alpha", 1.0f);
          return [alpha](double v) { return v < 0 ? alpha * (std::exp(v) - 1) : v; };
        }));
  r.add("HardSigmoid", unary_float_with([](const Node& n) {
          const double alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
          return [alpha, beta](double v) { return std::clamp(alpha * v + beta, 0.0, 1.0); };
        }));
  r.add("Sin", unary_float([](double v) { return std::sin(v); }));
  r.add("Cos", unary_float([](double v) { return std::cos(v); }));
  r.add("Tan", unary_float([](double v) { return std::tan(v); }));
  r.add("Asin", unary_float([](double v) { return std::asin(v); }));
  r.add("Acos", unary_float([](double v) { return std::acos(v); }));
  r.add("Atan", unary_float([](double v) { return std::atan(v); }));
  r.add("Sinh", unary_float([](double v) { return std::sinh(v); }));
  r.add("Cosh", unary_float([](double v) { return std::cosh(v); }));
  r.add("Asinh", unary_float([](double v) { return std::asinh(v); }));
  r.add("Acosh", unary_float([](double v) { return std::acosh(v); }));
  r.add("Atanh", unary_float([](double v) { return std::atanh(v); }));
  r.add("Softplus", unary_float([](double v) { return std::log1p(std::exp(v)); }));
  r.add("Softsign", unary_float([](double v) { return v / (1 + std::abs(v)); }));
  r.add("Round", unary_float([](double v) { return std::nearbyint(v); }));  // half to even
  r.add("Selu", unary_float_with([](const Node& n) {
          const double alpha = n.attr_float("alpha", 1.67326319217681884765625f);
          const double gamma = n.attr_float("gamma", 1.05070102214813232421875f);
          return [alpha, gamma](double v) {
            return v > 0 ? gamma * v : gamma * alpha * (std::exp(v) - 1);
          };
        }));
  r.add("ThresholdedRelu", unary_float_with([](const Node& n) {
          const double alpha = n.attr_float("alpha", 1.0f);
          return [alpha](double v) { return v > alpha ? v : 0.0; };
        }));
  r.add("Celu", unary_float_with([](const Node& n) {
          const double alpha = n.attr_float("alpha", 1.0f);
          return [alpha](double v) {
            return std::max(0.0, v) + std::min(0.0, alpha * (std::exp(v / alpha) - 1));
          };
        }));
  r.add("Sign", unary_numeric(
                    [](auto v) { return static_cast<decltype(v)>(v > 0 ? 1 : (v < 0 ? -1 : 0)); }));
  r.add("Mod", [](const KernelArgs& a) { binary(ModOp{a.node.attr_int("fmod", 0) != 0})(a); });
  r.add("Equal", compare([](auto x, auto y) { return x == y; }));
  r.add("Less", compare([](auto x, auto y) { return x < y; }));
  r.add("Greater", compare([](auto x, auto y) { return x > y; }));
  r.add("LessOrEqual", compare([](auto x, auto y) { return x <= y; }));
  r.add("GreaterOrEqual", compare([](auto x, auto y) { return x >= y; }));
  r.add("And", compare([](auto x, auto y) { return bool(x) && bool(y); }), false);
  r.add("Or", compare([](auto x, auto y) { return bool(x) || bool(y); }), false);
  r.add("Xor", compare([](auto x, auto y) { return bool(x) != bool(y); }), false);
  r.add(
      "Not",
      [](const KernelArgs& a) {
        auto px = a.in(0).data<bool>();
        auto py = a.out(0).data<bool>();
        for (size_t i = 0; i < px.size(); ++i) py[i] = !px[i];
      },
      false);
  r.add("Where", where, false);
  r.add("PRelu", prelu);
  r.add("Clip", clip);
  r.add(
      "IsNaN",
      [](const KernelArgs& a) {
        const auto v = a.in(0).to_doubles();
        auto py = a.out(0).data<bool>();
        for (size_t i = 0; i < v.size(); ++i) py[i] = std::isnan(v[i]);
      },
      false);
  r.add(
      "IsInf",
      [](const KernelArgs& a) {
        const bool neg = a.node.attr_int("detect_negative", 1) != 0,
                   pos = a.node.attr_int("detect_positive", 1) != 0;
        const auto v = a.in(0).to_doubles();
        auto py = a.out(0).data<bool>();
        for (size_t i = 0; i < v.size(); ++i)
          py[i] = std::isinf(v[i]) && ((v[i] > 0 && pos) || (v[i] < 0 && neg));
      },
      false);
  r.add(
      "CastLike", [](const KernelArgs& a) { a.outputs[0] = a.in(0).cast(a.output_types[0].dtype); },
      false);
  r.add("Hardmax", hardmax);
  r.add("Softmax", [](const KernelArgs& a) { softmax(a, false); });
  r.add("LogSoftmax", [](const KernelArgs& a) { softmax(a, true); });
  r.add(
      "Identity", [](const KernelArgs& a) { a.outputs[0] = a.in(0); }, false);
  r.add(
      "Cast", [](const KernelArgs& a) { a.outputs[0] = a.in(0).cast(a.output_types[0].dtype); },
      false);
}

}  // namespace edgeco::kernels::ref
