#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>

#include "edgeco/compress.h"

namespace edgeco {
namespace {

// One channel of a value: channel `index` of group `group` (before groups are merged).
struct Label {
  int group;
  int64_t index;
};
using Labels = std::vector<Label>;

bool is_channelwise_unary(const std::string& op) {
  static const std::set<std::string> ops{
      "Relu",          "Clip",    "HardSigmoid", "Sigmoid",     "HardSwish",
      "Identity",      "Tanh",    "LeakyRelu",   "Elu",         "Selu",
      "Softplus",      "Dropout", "MaxPool",     "AveragePool", "GlobalAveragePool",
      "GlobalMaxPool", "Neg",     "Abs"};
  return ops.count(op) > 0;
}

bool is_binary_elementwise(const std::string& op) {
  return op == "Add" || op == "Mul" || op == "Sub" || op == "Div";
}

// Channel groups over the graph's values, merged with union-find where operators tie them.
class ChannelGraph {
 public:
  explicit ChannelGraph(const Graph& g) : g_(g) {
    for (const std::string& in : g.inputs) fresh(in, channels_of(in), "a graph input");
    for (const Node& n : g.nodes) visit(n);
    for (const std::string& out : g.outputs) lock(out, "reaches a graph output");
  }

  int root(int group) {
    while (parent_[size_t(group)] != group)
      group = parent_[size_t(group)] = parent_[size_t(parent_[size_t(group)])];
    return group;
  }
  int groups() const { return int(parent_.size()); }
  int64_t size(int group) const { return sizes_[size_t(group)]; }
  const std::string& locked_because(int group) { return locked_[size_t(root(group))]; }
  const std::vector<std::string>& producers(int group) const { return producers_[size_t(group)]; }
  const Labels* labels(const std::string& value) const {
    auto it = labels_.find(value);
    return it == labels_.end() ? nullptr : &it->second;
  }

 private:
  int64_t channels_of(const std::string& value) const {
    const Value* v = g_.find_value(value);
    if (!v || !v->type || !v->type->rank_known || v->type->dims.size() < 2) return -1;
    return v->type->dims[1];
  }

  int new_group(int64_t channels, std::string locked) {
    parent_.push_back(int(parent_.size()));
    sizes_.push_back(channels);
    locked_.push_back(std::move(locked));
    producers_.emplace_back();
    return parent_.back();
  }

  void fresh(const std::string& value, int64_t channels, std::string locked,
             const std::string& producer = "") {
    if (channels <= 0) return;  // unknown channel count: the value is not tracked
    const int group = new_group(channels, std::move(locked));
    if (!producer.empty()) producers_[size_t(group)].push_back(producer);
    Labels& l = labels_[value];
    l.clear();
    for (int64_t i = 0; i < channels; ++i) l.push_back({group, i});
  }

  void lock(const std::string& value, const std::string& why) {
    if (const Labels* l = labels(value))
      for (const Label& c : *l) {
        std::string& reason = locked_[size_t(root(c.group))];
        if (reason.empty()) reason = why;
      }
  }

  void lock_all(const Node& n, const std::string& why) {
    for (const std::string& in : n.inputs)
      if (!in.empty()) lock(in, why);
  }

  // Ties two values' channels one to one; false when they are not both whole groups in order.
  bool unite(const Labels& a, const Labels& b) {
    if (a.size() != b.size() || a.empty()) return false;
    const int ga = a[0].group, gb = b[0].group;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].group != ga || b[i].group != gb || a[i].index != int64_t(i) ||
          b[i].index != int64_t(i))
        return false;
    if (sizes_[size_t(ga)] != int64_t(a.size()) || sizes_[size_t(gb)] != int64_t(b.size()))
      return false;
    const int ra = root(ga), rb = root(gb);
    if (ra == rb) return true;
    parent_[size_t(rb)] = ra;
    for (auto& p : producers_[size_t(rb)]) producers_[size_t(ra)].push_back(p);
    if (locked_[size_t(ra)].empty()) locked_[size_t(ra)] = locked_[size_t(rb)];
    return true;
  }

  bool is_constant(const std::string& value) const {
    const Value* v = g_.find_value(value);
    return v && v->initializer;
  }

  void visit(const Node& n) {
    const std::string& op = n.op_type;
    const std::string& out = n.outputs.empty() ? std::string() : n.outputs[0];
    const std::string what = "feeds " + n.label() + ", which the pruner does not rewrite";
    if (!n.domain.empty()) return lock_all(n, what);
    if (op == "Conv" && n.inputs.size() >= 2 && is_constant(n.inputs[1]) &&
        (n.inputs.size() < 3 || n.inputs[2].empty() || is_constant(n.inputs[2]))) {
      const Tensor& w = *g_.value(n.inputs[1]).initializer;
      const int64_t group = n.attr_int("group", 1);
      const Labels* x = labels(n.inputs[0]);
      if (!x) fresh(n.inputs[0], w.dim(1) * group, "an input whose channels are not known");
      if (group == 1) return fresh(out, w.dim(0), "", n.name);
      if (w.dim(1) == 1 && w.dim(0) == group && labels(n.inputs[0]) &&
          int64_t(labels(n.inputs[0])->size()) == group) {
        labels_[out] = *labels(n.inputs[0]);  // depthwise: channels pass through
        return;
      }
      lock(n.inputs[0], "feeds the grouped " + n.label());
      return fresh(out, w.dim(0), "comes from the grouped " + n.label(), n.name);
    }
    if (op == "Gemm" && n.inputs.size() >= 2 && is_constant(n.inputs[1]) &&
        n.attr_int("transA", 0) == 0 &&
        (n.inputs.size() < 3 || n.inputs[2].empty() || is_constant(n.inputs[2]))) {
      const Tensor& w = *g_.value(n.inputs[1]).initializer;
      const bool trans_b = n.attr_int("transB", 0) != 0;
      if (!labels(n.inputs[0])) fresh(n.inputs[0], w.dim(trans_b ? 1 : 0), "an unknown input");
      return fresh(out, w.dim(trans_b ? 0 : 1), "", n.name);
    }
    if (op == "BatchNormalization" || is_channelwise_unary(op)) {
      if (op == "BatchNormalization")
        for (size_t i = 1; i < n.inputs.size(); ++i)
          if (!is_constant(n.inputs[i])) return lock_all(n, what);
      if (const Labels* x = labels(n.inputs[0])) labels_[out] = *x;
      return;
    }
    if (op == "Flatten") {
      const Value& x = g_.value(n.inputs[0]);
      const bool channels_only = x.type && x.type->rank_known && n.attr_int("axis", 1) == 1 &&
                                 std::all_of(x.type->dims.begin() + 2, x.type->dims.end(),
                                             [](int64_t d) { return d == 1; });
      if (!channels_only) return lock_all(n, "feeds " + n.label() + " over several positions");
      if (const Labels* l = labels(n.inputs[0])) labels_[out] = *l;
      return;
    }
    if (is_binary_elementwise(op) && n.inputs.size() == 2) {
      const Labels* a = labels(n.inputs[0]);
      const Labels* b = labels(n.inputs[1]);
      if (a && b) {
        if (!unite(*a, *b)) return lock_all(n, "meets channels it cannot align in " + n.label());
        labels_[out] = *a;
        return;
      }
      const Labels* only = a ? a : b;
      const std::string& other = a ? n.inputs[1] : n.inputs[0];
      if (!only) return;
      // A constant operand must be per-channel-or-broadcast along axis 1 of the output.
      if (!is_constant(other)) return lock_all(n, what);
      labels_[out] = *only;
      return;
    }
    if (op == "Concat" && n.attr_int("axis", 0) == 1) {
      Labels joined;
      for (const std::string& in : n.inputs) {
        const Labels* l = labels(in);
        if (!l) return lock_all(n, what);
        joined.insert(joined.end(), l->begin(), l->end());
      }
      labels_[out] = std::move(joined);
      return;
    }
    lock_all(n, what);
  }

  const Graph& g_;
  std::vector<int> parent_;
  std::vector<int64_t> sizes_;
  std::vector<std::string> locked_;
  std::vector<std::vector<std::string>> producers_;
  std::map<std::string, Labels> labels_;
};

// The tensor with only the given indices (ascending) kept along `axis`.
Tensor take(const Tensor& t, size_t axis, std::span<const int64_t> keep) {
  Dims dims = t.dims();
  int64_t outer = 1, inner = int64_t(dtype_size(t.dtype()));
  for (size_t i = 0; i < axis; ++i) outer *= dims[i];
  for (size_t i = axis + 1; i < dims.size(); ++i) inner *= dims[i];
  const int64_t extent = dims[axis];
  dims[axis] = int64_t(keep.size());
  Tensor out(t.dtype(), dims);
  const std::byte* src = t.bytes().data();
  std::byte* dst = out.bytes().data();
  for (int64_t o = 0; o < outer; ++o)
    for (size_t k = 0; k < keep.size(); ++k)
      std::memcpy(dst + (o * int64_t(keep.size()) + int64_t(k)) * inner,
                  src + (o * extent + keep[k]) * inner, size_t(inner));
  return out;
}

// Per-channel scores of every group (indexed by root group, then channel), higher is kept.
using Scores = std::map<int, std::vector<double>>;

// Adds each producer filter's L1 norm to its channel's score.
void add_l1(const Graph& g, ChannelGraph& cg, Scores& scores) {
  for (const Node& n : g.nodes) {
    if ((n.op_type != "Conv" && n.op_type != "Gemm") || !cg.labels(n.outputs[0])) continue;
    const Labels& out = *cg.labels(n.outputs[0]);
    const Tensor w = g.value(n.inputs[1]).initializer->cast(DType::f32);
    const bool transposed = n.op_type == "Gemm" && n.attr_int("transB", 0) == 0;
    const std::span<const float> v = w.data<float>();
    const int64_t filters = transposed ? w.dim(1) : w.dim(0);
    const int64_t per = w.numel() / filters;
    if (int64_t(out.size()) != filters) continue;
    for (int64_t f = 0; f < filters; ++f) {
      double sum = 0;
      for (int64_t j = 0; j < per; ++j)
        sum += std::abs(transposed ? v[size_t(j * filters + f)] : v[size_t(f * per + j)]);
      const Label& l = out[size_t(f)];
      auto& s = scores[cg.root(l.group)];
      s.resize(size_t(cg.size(l.group)));
      s[size_t(l.index)] += sum / double(per);
    }
  }
}

// Adds each channel's mean feature-map rank (over the samples' images) to its score.
void add_hrank(const Graph& g, ChannelGraph& cg, std::span<const TensorMap> samples,
               const CalibrationRunner& run, Scores& scores) {
  if (samples.empty() || !run)
    throw Error(ErrorKind::invalid_argument, "HRank pruning needs sample inputs and a runner",
                g.name);
  std::map<std::string, std::vector<double>> rank_sums;  // producer output -> per channel
  std::set<std::string> wanted;
  for (const Node& n : g.nodes)
    if ((n.op_type == "Conv" || n.op_type == "Gemm") && cg.labels(n.outputs[0]))
      wanted.insert(n.outputs[0]);
  int64_t images = 0;
  for (const TensorMap& sample : samples) {
    run(sample, [&](const std::string& name, const Tensor& value) {
      if (!wanted.count(name) || value.rank() < 2) return;
      const Tensor f = value.cast(DType::f32);
      const int64_t n = f.dim(0), c = f.dim(1);
      const int64_t rows = f.rank() >= 3 ? f.dim(2) : 1;
      const int64_t cols = f.numel() / std::max<int64_t>(1, n * c * rows);
      auto& sums = rank_sums[name];
      sums.resize(size_t(c));
      for (int64_t b = 0; b < n; ++b)
        for (int64_t ch = 0; ch < c; ++ch)
          sums[size_t(ch)] += double(matrix_rank(
              f.data<float>().subspan(size_t((b * c + ch) * rows * cols), size_t(rows * cols)),
              rows, cols));
    });
    images += sample.begin()->second.dim(0);
  }
  for (const auto& [name, sums] : rank_sums) {
    const Labels& out = *cg.labels(name);
    if (out.size() != sums.size()) continue;
    for (size_t ch = 0; ch < sums.size(); ++ch) {
      auto& s = scores[cg.root(out[ch].group)];
      s.resize(size_t(cg.size(out[ch].group)));
      s[size_t(out[ch].index)] += sums[ch] / double(std::max<int64_t>(1, images));
    }
  }
}

}  // namespace

int64_t matrix_rank(std::span<const float> matrix, int64_t rows, int64_t cols) {
  std::vector<double> a(matrix.begin(), matrix.end());
  double largest = 0;
  for (double v : a) largest = std::max(largest, std::abs(v));
  if (largest == 0) return 0;
  const double tolerance = 1e-5 * largest;
  int64_t rank = 0;
  for (int64_t step = 0; step < std::min(rows, cols); ++step) {
    int64_t pr = step, pc = step;
    double best = 0;
    for (int64_t r = step; r < rows; ++r)
      for (int64_t c = step; c < cols; ++c)
        if (std::abs(a[size_t(r * cols + c)]) > best) {
          best = std::abs(a[size_t(r * cols + c)]);
          pr = r;
          pc = c;
        }
    if (best <= tolerance) break;
    ++rank;
    for (int64_t c = 0; c < cols; ++c)
      std::swap(a[size_t(step * cols + c)], a[size_t(pr * cols + c)]);
    for (int64_t r = 0; r < rows; ++r)
      std::swap(a[size_t(r * cols + step)], a[size_t(r * cols + pc)]);
    const double pivot = a[size_t(step * cols + step)];
    for (int64_t r = step + 1; r < rows; ++r) {
      const double factor = a[size_t(r * cols + step)] / pivot;
      if (factor == 0) continue;
      for (int64_t c = step; c < cols; ++c)
        a[size_t(r * cols + c)] -= factor * a[size_t(step * cols + c)];
    }
  }
  return rank;
}

Graph prune_channels(const Graph& untyped, const PruneOptions& options,
                     std::span<const TensorMap> samples, const CalibrationRunner& run,
                     PruneReport* report) {
  // The channel analysis reads value shapes (is a Flatten over 1x1 positions?).
  Graph model = untyped;
  infer_types(model, OpRegistry::builtin());
  if (!(options.ratio >= 0 && options.ratio < 1))
    throw Error(ErrorKind::invalid_argument,
                "pruning ratio must be in [0, 1), got " + std::to_string(options.ratio),
                model.name);
  ChannelGraph cg(model);
  Scores scores;
  if (options.criterion == PruneCriterion::l1)
    add_l1(model, cg, scores);
  else
    add_hrank(model, cg, samples, run, scores);
  if (options.criterion == PruneCriterion::hrank) {
    // Ranks tie often (1x1 maps have rank 0 or 1): the filter norm breaks ties.
    Scores l1;
    add_l1(model, cg, l1);
    for (auto& [group, s] : scores) {
      const auto& n = l1[group];
      const double top = n.empty() ? 0 : *std::max_element(n.begin(), n.end());
      for (size_t i = 0; i < s.size() && i < n.size(); ++i) s[i] += top > 0 ? 1e-3 * n[i] / top : 0;
    }
  }

  // Which channels each prunable root group keeps.
  std::map<int, std::vector<bool>> keep;
  std::vector<PruneGroup> groups;
  std::vector<int> group_ids;  // root group of each entry of `groups`
  std::vector<std::pair<double, std::pair<int, size_t>>> global;  // normalised score, channel
  for (int group = 0; group < cg.groups(); ++group) {
    if (cg.root(group) != group) continue;
    PruneGroup info{cg.producers(group), cg.size(group), cg.size(group), cg.locked_because(group)};
    if (info.producers.empty() && info.kept_because.empty()) info.kept_because = "no producer";
    const auto it = scores.find(group);
    if (info.kept_because.empty() &&
        (it == scores.end() || it->second.size() != size_t(info.channels)))
      info.kept_because = "no scores";
    if (info.kept_because.empty()) {
      const std::vector<double>& s = it->second;
      std::vector<size_t> order(s.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s[a] > s[b]; });
      const int64_t floor = std::min(info.channels, options.min_channels);
      std::vector<bool>& k = keep[group];
      k.assign(s.size(), false);
      if (options.scope == PruneScope::uniform) {
        const auto target =
            std::max(floor, int64_t(std::llround(double(info.channels) * (1 - options.ratio))));
        for (int64_t i = 0; i < target; ++i) k[order[size_t(i)]] = true;
      } else {
        const double mean = std::accumulate(s.begin(), s.end(), 0.0) / double(s.size());
        for (int64_t i = 0; i < int64_t(order.size()); ++i) {
          if (i < floor)
            k[order[size_t(i)]] = true;  // the floor is always kept
          else
            global.push_back(
                {mean > 0 ? s[order[size_t(i)]] / mean : 0, {group, order[size_t(i)]}});
        }
      }
    }
    groups.push_back(std::move(info));
    group_ids.push_back(group);
  }
  if (options.scope == PruneScope::global) {
    int64_t prunable = 0;
    for (const auto& [group, k] : keep) prunable += int64_t(k.size());
    std::sort(global.begin(), global.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    const auto kept_total = int64_t(std::llround(double(prunable) * (1 - options.ratio)));
    int64_t kept = 0;
    for (const auto& [group, k] : keep) kept += std::count(k.begin(), k.end(), true);
    for (const auto& [score, channel] : global) {
      if (kept >= kept_total) break;
      keep[channel.first][channel.second] = true;
      ++kept;
    }
  }

  // A value's kept channel positions; nullopt when the value keeps all of them.
  auto kept_positions = [&](const std::string& value) -> std::optional<std::vector<int64_t>> {
    const Labels* l = cg.labels(value);
    if (!l) return std::nullopt;
    std::vector<int64_t> positions;
    for (size_t i = 0; i < l->size(); ++i) {
      const auto it = keep.find(cg.root((*l)[i].group));
      if (it == keep.end() || it->second[size_t((*l)[i].index)]) positions.push_back(int64_t(i));
    }
    if (positions.size() == l->size()) return std::nullopt;
    return positions;
  };

  Graph out = model;
  std::set<std::string> rewritten;
  auto slice = [&](const Node& n, const std::string& value, size_t axis,
                   const std::vector<int64_t>& positions) {
    Value& v = out.value(value);
    if (!v.initializer) return;
    if (!rewritten.insert(value + "#" + std::to_string(axis)).second)
      throw Error(ErrorKind::unsupported,
                  "initializer '" + value + "' is shared by several pruned nodes", n.label());
    v.initializer = take(*v.initializer, axis, positions);
  };
  for (Node& n : out.nodes) {
    const auto out_keep = n.outputs.empty() ? std::nullopt : kept_positions(n.outputs[0]);
    const auto in_keep = n.inputs.empty() ? std::nullopt : kept_positions(n.inputs[0]);
    if (n.op_type == "Conv" && n.domain.empty()) {
      const int64_t group = n.attr_int("group", 1);
      if (group == 1) {
        if (out_keep) slice(n, n.inputs[1], 0, *out_keep);
        if (in_keep) slice(n, n.inputs[1], 1, *in_keep);
      } else if (out_keep) {  // depthwise: the channels it passes through
        slice(n, n.inputs[1], 0, *out_keep);
        n.attributes["group"] = Attribute{int64_t(out_keep->size())};
      }
      if (out_keep && n.has_input(2)) slice(n, n.inputs[2], 0, *out_keep);
    } else if (n.op_type == "Gemm" && n.domain.empty()) {
      const bool trans_b = n.attr_int("transB", 0) != 0;
      if (out_keep) slice(n, n.inputs[1], trans_b ? 0 : 1, *out_keep);
      if (in_keep) slice(n, n.inputs[1], trans_b ? 1 : 0, *in_keep);
      if (out_keep && n.has_input(2)) {
        const Tensor& b = *out.value(n.inputs[2]).initializer;
        if (b.rank() >= 1 && b.dims().back() > 1) slice(n, n.inputs[2], b.rank() - 1, *out_keep);
      }
    } else if (n.op_type == "BatchNormalization" && out_keep) {
      for (size_t i = 1; i < n.inputs.size(); ++i) slice(n, n.inputs[i], 0, *out_keep);
    } else if (is_binary_elementwise(n.op_type) && out_keep) {
      const size_t out_rank = cg.labels(n.outputs[0]) && model.value(n.outputs[0]).type
                                  ? model.value(n.outputs[0]).type->dims.size()
                                  : 0;
      for (const std::string& in : n.inputs) {
        const Value& v = out.value(in);
        if (!v.initializer || out_rank < 2) continue;
        const size_t rank = v.initializer->rank();
        if (rank + 1 < out_rank) continue;  // broadcast over the channel axis
        const size_t axis = rank - (out_rank - 1);
        if (v.initializer->dim(axis) > 1) slice(n, in, axis, *out_keep);
      }
    }
  }
  for (auto& [name, v] : out.values)
    if (std::find(out.inputs.begin(), out.inputs.end(), name) == out.inputs.end() && !v.initializer)
      v.type.reset();
  infer_types(out, OpRegistry::builtin());

  if (report) {
    for (size_t i = 0; i < groups.size(); ++i)
      if (const auto it = keep.find(group_ids[i]); it != keep.end())
        groups[i].kept = std::count(it->second.begin(), it->second.end(), true);
    report->groups = std::move(groups);
    auto filters = [](const Graph& g) {
      int64_t total = 0;
      for (const Node& n : g.nodes)
        if (n.op_type == "Conv" || n.op_type == "Gemm") {
          const Tensor* w =
              g.value(n.inputs[1]).initializer ? &*g.value(n.inputs[1]).initializer : nullptr;
          if (w)
            total += n.op_type == "Gemm" && n.attr_int("transB", 0) == 0 ? w->dim(1) : w->dim(0);
        }
      return total;
    };
    report->filters_before = filters(model);
    report->filters_after = filters(out);
  }
  return out;
}

}  // namespace edgeco
